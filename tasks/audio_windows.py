"""Speech regions and windows of 16 kHz audio, shared by the vad, diarize and voicebank stages.

`detect_speech` turns a voice-activity model's per-window probabilities into speech segments (hysteresis, minimum
lengths, padding); `speech_windows` and `cut` turn segments into short pieces of samples for speaker embedding.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from screenalytics.tasks.configs import VadConfig
from screenalytics.tasks.models.specs import SAMPLE_RATE, VAD_WINDOW

WINDOW_S = VAD_WINDOW / SAMPLE_RATE


class SpeechProbabilities(Protocol):
    def probabilities(self, samples: np.ndarray, gain: float = 1.0) -> np.ndarray: ...


BLOCK = 1 << 20  # samples per step of `loudness_gain` (65 s): no whole-track temporary


def as_float(samples: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """int16 (taken as / 32768) or float audio as float32 times `gain`, clipped to [-1, 1]: a new array."""
    audio = samples.astype(np.float32)
    if samples.dtype == np.int16:
        audio /= 32768.0
    audio *= gain
    return np.clip(audio, -1.0, 1.0, out=audio)


def loudness_gain(samples: np.ndarray, target_rms: float, max_gain: float) -> float:
    """The gain that brings int16 or float audio to RMS `target_rms`, at most `max_gain` (1 for silence), summed a
    block at a time: a long track is never copied."""
    total = sum(float(np.dot(block, block)) for block in
                (samples[i:i + BLOCK].astype(np.float64) for i in range(0, len(samples), BLOCK)))
    scale = 32768.0 if samples.dtype == np.int16 else 1.0
    rms = np.sqrt(total / len(samples)) / scale if len(samples) else 0.0
    return min(max_gain, target_rms / rms) if rms > 0 else 1.0


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


def detect_speech(samples: np.ndarray, cfg: VadConfig, vad: SpeechProbabilities) -> np.ndarray:
    """Speech segments `(N, 2)` (seconds from the first sample) of 16 kHz int16 or float audio, loudness-normalised
    a model call at a time (no copy of the track)."""
    gain = loudness_gain(samples, cfg.target_rms, cfg.max_gain if cfg.normalize else 1.0)
    return speech_segments(vad.probabilities(samples, gain), cfg)


def speech_windows(speech: np.ndarray, piece_s: float) -> np.ndarray:
    """Speech segments (seconds, [N, 2]) cut into windows of about `piece_s`: [M, 2] seconds."""
    windows = []
    for start, end in speech:
        edges = np.linspace(start, end, max(1, int(round((end - start) / piece_s))) + 1)
        windows += list(zip(edges[:-1], edges[1:], strict=True))
    return np.array(windows, float).reshape(-1, 2)


def cut(wav: np.ndarray, bounds: np.ndarray) -> list[np.ndarray]:
    """The samples of each [start_s, end_s] row of `bounds`."""
    return [wav[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in bounds]
