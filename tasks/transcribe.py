"""The transcribe stage: word-level speech-to-text on the container timeline (`models.transcriber`, see
`models/transcriber.py`). Only speech is decoded: diarization's turns when it ran (each turn decoded on its own,
so each word belongs to one turn and fusion gives it the turn's speaker), else the voice-activity stage's speech
regions (else the whole track); punctuation-only tokens are dropped."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.configs import TranscribeConfig
from screenalytics.tasks.intervals import clip_to, split_at
from screenalytics.tasks.models.specs import SAMPLE_RATE
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, read_audio, stage_task
from screenalytics.tasks.schemas import Words

COLUMNS = ["ep_id", "start_s", "end_s", "word", "probability", "segment", "speaker"]
WORD = r"\w"  # a token is kept as a word when it holds a letter or digit (punctuation-only tokens are dropped)


class Transcriber(Protocol):
    """`words(audio, ...)` -> start_s, end_s, word, probability, segment (seconds from the first sample)."""

    def words(self, audio: np.ndarray, *, clips: list[float], language: str | None, beam_size: int,
              batch_size: int, progress: Callable[[float], None] | None = None) -> pd.DataFrame: ...


def _clips(speech: list[tuple[float, float]], offset_s: float, duration_s: float) -> list[float]:
    """Speech regions (container timeline) as faster-whisper `clip_timestamps` (seconds from the first sample)."""
    spans = [(max(start - offset_s, 0.0), min(end - offset_s, duration_s)) for start, end in speech]
    return [t for start, end in spans if end > start for t in (start, end)]


def transcribe(samples: np.ndarray, sample_rate: int, transcriber: Transcriber, cfg: TranscribeConfig, *,
               offset_s: float = 0.0, speech: list[tuple[float, float]] | None = None, ep_id: str = "",
               progress: Callable[[int], None] | None = None) -> DataFrame[Words]:
    """One row per word (`Words`, speaker null). `samples`: int16 mono at 16 kHz whose first sample plays at
    `offset_s`; `speech`: (start, end) regions on the output's timeline (None: the whole track); `transcriber` has
    the verb `words` (`models/transcriber.py`); `progress` is told the whole seconds of track decoded, as they pass."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"transcribe needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise ValueError(f"transcribe needs int16 mono samples, got {samples.dtype} with shape {samples.shape}")
    duration_s = len(samples) / SAMPLE_RATE
    clips = _clips([(offset_s, offset_s + duration_s)] if speech is None else speech, offset_s, duration_s)
    if not clips:  # faster-whisper would decode the whole track for an empty clip list
        return Words.validate(pd.DataFrame(columns=COLUMNS))
    done = [0]

    def advance(seconds: float) -> None:
        if progress is not None:
            progress(int(seconds) - done[0])
        done[0] = int(seconds)

    table = transcriber.words(samples.astype(np.float32) / 32768.0, clips=clips, language=cfg.language,
                              beam_size=cfg.beam_size, batch_size=cfg.batch_size, progress=advance)
    table = table[table["word"].map(lambda w: re.search(WORD, w) is not None).astype(bool)]
    table = table.assign(ep_id=ep_id, start_s=table["start_s"] + offset_s, end_s=table["end_s"] + offset_s,
                         speaker=None)
    return Words.validate(table[COLUMNS].reset_index(drop=True))


def turn_regions(turns: pd.DataFrame, speech: pd.DataFrame) -> list[tuple[float, float]]:
    """The speech of diarization's turns as ordered, non-overlapping regions: turns clipped to voice activity's
    speech and cut wherever a turn starts or ends (two voices at once make one region of their own)."""
    pieces = split_at(clip_to(turns, speech), np.r_[turns["start_s"].to_numpy(float), turns["end_s"].to_numpy(float)])
    bounds = pieces[["start_s", "end_s"]].drop_duplicates().sort_values("start_s")
    return [(float(a), float(b)) for a, b in bounds.to_numpy() if b > a]


@stage_task("transcribe", tables={"words": Words}, models=("transcriber",))
def transcribe_task(run: StageRun, audio: StageOutput, speech: StageOutput, cfg: TranscribeConfig,
                    speakers: StageOutput | None = None) -> Produced:
    track, info = read_audio(audio)
    heard = speech.table("speech")
    regions = (turn_regions(speakers.table("turns"), heard) if speakers is not None
               else [tuple(r) for r in heard[["start_s", "end_s"]].to_numpy()])
    with run.progress("transcript (s)", int(info.duration_s)) as advance:
        words = transcribe(track.samples, track.sample_rate, run.models.get("transcriber"), cfg,
                           offset_s=info.start_s, speech=regions, ep_id=run.ctx.ep_id, progress=advance)
    return {"words": words}, {"n_words": len(words)}
