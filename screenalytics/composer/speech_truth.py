"""Speaking ground truth for composed episodes, from the clean source audio of each placed voice.

A GRID clip holds ~0.5 s of silence before its sentence and some after it, so a voice placement's length is not its
speech. Speech is found on the clean studio source, never on the mixed episode: 10 ms frames whose level is above
the point 40% of the way (in dB) from the clip's noise floor (10th percentile) to its peak, with pauses shorter
than 0.3 s bridged (the voice-activity convention) and bursts shorter than 50 ms dropped. A placement's speaking
truth is that speech, clipped to the part of the source it plays, moved onto the episode timeline."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from screenalytics.tasks.decoding import extract_audio

RATE = 16000
FRAME_S = 0.01
LEVEL_FRACTION = 0.4
MIN_PAUSE_S = 0.3
MIN_BURST_S = 0.05


@lru_cache(maxsize=64)
def source_speech(path: Path) -> tuple[tuple[float, float], ...]:
    """Speech spans (seconds from the source's first sample) of a clean recording."""
    audio = extract_audio(str(path), sample_rate=RATE)
    if audio is None:
        raise ValueError(f"{path} has no audio stream")
    hop = int(RATE * FRAME_S)
    x = audio.samples[: len(audio.samples) // hop * hop].astype(np.float64) / 32768.0
    level = 20 * np.log10(np.sqrt((x.reshape(-1, hop) ** 2).mean(axis=1)) + 1e-9)
    floor, peak = np.percentile(level, 10), level.max()
    on = level > floor + LEVEL_FRACTION * (peak - floor)
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0])).reshape(-1, 2) * FRAME_S
    spans: list[list[float]] = []
    for start, end in edges.tolist():
        if spans and start - spans[-1][1] < MIN_PAUSE_S:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return tuple((a, b) for a, b in spans if b - a >= MIN_BURST_S)


def speaking_truth(voice: pd.DataFrame, sources: dict[str, Path]) -> pd.DataFrame:
    """person, start_s, end_s of actual speech for voice placements (person, start_s, end_s, source_start_s)."""
    rows = []
    for placement in voice.itertuples(index=False):
        shift = placement.start_s - placement.source_start_s
        source_end = placement.source_start_s + placement.end_s - placement.start_s
        for a, b in source_speech(Path(sources[placement.person])):
            lo, hi = max(a, placement.source_start_s), min(b, source_end)
            if hi > lo:
                rows.append((placement.person, round(lo + shift, 6), round(hi + shift, 6)))
    return pd.DataFrame(rows, columns=["person", "start_s", "end_s"])
