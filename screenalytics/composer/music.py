"""A generated music bed to lay under a composed episode's speech: a repeating four-chord progression (decaying
harmonic tones, half a beat each) with a kick drum on the beat and a noise hi-hat off it. One 8 s bar is made
once and read modulo its length, so a bed of any length costs no memory."""

from __future__ import annotations

import numpy as np

BEAT_S = 0.5
CHORDS_HZ = ((261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7))


def music_bar(rate: int) -> np.ndarray:
    """One bar (4 chords x 4 beats, 8 s) at ``rate`` Hz, float32, unit RMS."""
    t = np.arange(int(BEAT_S * rate)) / rate
    decay = np.exp(-3 * t)
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.02)
    hat = np.random.default_rng(0).standard_normal(len(t)) * np.exp(-np.abs(t - 0.25) / 0.01) * (t >= 0.25)
    beats = [decay * sum(np.sin(2 * np.pi * f * h * t) / h for f in chord for h in range(1, 5)) + kick + 0.3 * hat
             for chord in CHORDS_HZ for _ in range(4)]
    bar = np.concatenate(beats)
    return (bar / np.sqrt(np.mean(bar**2))).astype(np.float32)


def music_chunk(bar: np.ndarray, start: int, stop: int, dbfs: float) -> np.ndarray:
    """Samples ``[start, stop)`` of the bed made by repeating ``bar``, at an RMS of ``dbfs`` dB full scale."""
    return bar[np.arange(start, stop) % len(bar)] * np.float32(10 ** (dbfs / 20))
