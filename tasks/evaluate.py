"""Scoring against references: diarization error rate with pyannote.metrics (the field's reference scorer), per
file and overall, and word error rate."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pyannote.core import Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from screenalytics.tasks.rttm import annotation

PARTS = ["false alarm", "missed detection", "confusion"]


def der_table(reference: pd.DataFrame, hypothesis: pd.DataFrame, *, uem: dict[str, Timeline] | None = None,
              collar: float = 0.25, skip_overlap: bool = False) -> pd.DataFrame:
    """One row per reference file plus `TOTAL`: seconds scored, DER and its parts (as rates of scored speech)."""
    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    rows = []
    for file in sorted(reference["file"].unique()):
        detail = metric(annotation(reference, file), annotation(hypothesis, file), uem=(uem or {}).get(file),
                        detailed=True)
        rows.append({"file": file, "speech_s": detail["total"], **{k: detail[k] for k in PARTS}})
    table = pd.DataFrame(rows)
    total = {"file": "TOTAL", "speech_s": table["speech_s"].sum(), **{k: table[k].sum() for k in PARTS}}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    for part in PARTS:
        table[part] = table[part] / table["speech_s"]
    table["der"] = table[PARTS].sum(axis=1)
    return table[["file", "speech_s", "der", *PARTS]]


DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _words(text: str, spell_digits: bool = False) -> list[str]:
    """Lowercase words without punctuation (hyphens split words; numbers stay as written, or with `spell_digits`
    each digit becomes its word: for references that spell digits out, as GRID's "f two" against "F2")."""
    text = text.lower().replace("-", " ")
    if spell_digits:
        text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", text)
    return re.sub(r"[^\w\s]", "", text).split()


def word_errors(ref: str, hyp: str, spell_digits: bool = False) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words) after normalising both texts."""
    ref_words, hyp_words = _words(ref, spell_digits), _words(hyp, spell_digits)
    steps = np.arange(len(hyp_words) + 1)
    row = steps.copy()
    for i, word in enumerate(ref_words, 1):
        diagonal = row[:-1] + np.array([word != h for h in hyp_words], dtype=np.int64)
        best = np.concatenate([[i], np.minimum(row[1:] + 1, diagonal)])  # deletion or substitution/match
        row = np.minimum.accumulate(best - steps) + steps  # insertions: best[k] + (j - k) for k <= j
    return int(row[-1]), len(ref_words)


def word_error_rate(ref: str, hyp: str) -> float:
    """Word error rate of `hyp` against `ref` (word-level Levenshtein distance / reference words)."""
    edits, n = word_errors(ref, hyp)
    if n == 0:
        raise ValueError("word_error_rate needs a reference with at least one word")
    return edits / n
