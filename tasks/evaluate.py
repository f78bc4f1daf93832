"""Diarization error rate with pyannote.metrics (the field's reference scorer), per file and overall."""
from __future__ import annotations

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
