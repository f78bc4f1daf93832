"""Voice activity: speech segments from per-window speech probabilities (hysteresis, minimum lengths, padding),
on the container timeline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from screenalytics.tasks.models.vad import SAMPLE_RATE, WINDOW
from screenalytics.tasks.schemas import SpeechSegments
from screenalytics.tasks.settings import VadConfig

WINDOW_S = WINDOW / SAMPLE_RATE


def normalize_loudness(samples: np.ndarray, target_rms: float, max_gain: float) -> np.ndarray:
    """Scale int16 or float audio to float32 with RMS `target_rms` (gain capped; silence stays silence)."""
    audio = samples.astype(np.float32) / (32768.0 if samples.dtype == np.int16 else 1.0)
    rms = float(np.sqrt(np.mean(audio**2))) if len(audio) else 0.0
    gain = min(max_gain, target_rms / rms) if rms > 0 else 1.0
    return np.clip(audio * gain, -1.0, 1.0)


def speech_segments(probs: np.ndarray, cfg: VadConfig) -> np.ndarray:
    """`(N, 2)` start/end seconds (from the audio's first sample). Speech starts above `threshold`, ends below
    `threshold - hysteresis`; shorter silences are bridged, shorter speech dropped, segments padded."""
    on = cfg.threshold
    off = max(0.0, cfg.threshold - cfg.hysteresis)
    segments: list[list[float]] = []
    active = False
    for i, p in enumerate(probs):
        if not active and p >= on:
            active, start = True, i
        elif active and p < off:
            active = False
            segments.append([start * WINDOW_S, i * WINDOW_S])
    if active:
        segments.append([start * WINDOW_S, len(probs) * WINDOW_S])
    merged: list[list[float]] = []
    for seg in segments:
        if merged and seg[0] - merged[-1][1] < cfg.min_silence_s:
            merged[-1][1] = seg[1]
        else:
            merged.append(seg)
    kept = np.array([s for s in merged if s[1] - s[0] >= cfg.min_speech_s], np.float64).reshape(-1, 2)
    total = len(probs) * WINDOW_S
    kept[:, 0] = np.maximum(kept[:, 0] - cfg.pad_s, 0.0)
    kept[:, 1] = np.minimum(kept[:, 1] + cfg.pad_s, total)
    if len(kept) > 1:  # padding may make neighbours touch: merge them
        starts, ends = kept[:, 0], np.maximum.accumulate(kept[:, 1])
        opens = np.r_[True, starts[1:] > ends[:-1]]
        groups = np.cumsum(opens) - 1
        kept = np.column_stack([starts[opens], pd.Series(ends).groupby(groups).max().to_numpy()])
    return kept


def detect_speech(samples: np.ndarray, cfg: VadConfig, model_path: Path) -> np.ndarray:
    """Speech segments `(N, 2)` (seconds from the first sample) of 16 kHz int16 or float audio."""
    from screenalytics.tasks.models.vad import SileroVad

    audio = normalize_loudness(samples, cfg.target_rms, cfg.max_gain if cfg.normalize else 1.0)
    return speech_segments(SileroVad(model_path=model_path).probabilities(audio), cfg)


def speech_table(segments: np.ndarray, *, ep_id: str, offset_s: float) -> pd.DataFrame:
    return SpeechSegments.validate(pd.DataFrame({
        "ep_id": ep_id, "start_s": segments[:, 0] + offset_s, "end_s": segments[:, 1] + offset_s}))
