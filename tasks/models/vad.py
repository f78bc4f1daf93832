"""Silero VAD v6 (ONNX, MIT) on onnxruntime: speech probability per 32 ms window of 16 kHz audio."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from screenalytics.tasks.audio_windows import as_float
from screenalytics.tasks.models.sessions import session_options
from screenalytics.tasks.models.specs import VAD_WINDOW

WINDOW = VAD_WINDOW  # samples per decision (32 ms)
CONTEXT = 64  # samples of the previous window the model sees before each window
BATCH = 1024  # windows per session call (33 s): memory stays flat in the track's length (8192 held ~100 MB
# more, and were no faster); the recurrent state carries across calls


class SileroVad:
    """`probabilities(samples)` -> one speech probability per 32 ms window."""

    def __init__(self, *, model_path: Path, threads: int = 1):
        options = session_options(threads)
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def probabilities(self, samples: np.ndarray, gain: float = 1.0) -> np.ndarray:
        """`samples`: int16 or float mono at 16 kHz, each call's stretch taken as `as_float(stretch, gain)`: only
        that stretch is converted, never the whole track."""
        n = int(np.ceil(len(samples) / WINDOW))
        if n == 0:
            return np.zeros(0, np.float32)
        h = np.zeros((1, 1, 128), np.float32)
        c = np.zeros((1, 1, 128), np.float32)
        context = np.zeros(CONTEXT, np.float32)  # the first window's context is silence
        out = []
        for start in range(0, n, BATCH):  # each call's [windows, CONTEXT + WINDOW] input is built in turn
            stop = min(start + BATCH, n)
            audio = np.zeros(CONTEXT + (stop - start) * WINDOW, np.float32)
            audio[:CONTEXT] = context
            part = as_float(samples[start * WINDOW: stop * WINDOW], gain)
            audio[CONTEXT: CONTEXT + len(part)] = part
            context = audio[-CONTEXT:].copy()
            batch = np.lib.stride_tricks.sliding_window_view(audio, CONTEXT + WINDOW)[::WINDOW]
            probs, h, c = self._session.run(None, {"input": np.ascontiguousarray(batch), "h": h, "c": c})
            out.append(np.asarray(probs, np.float32).reshape(-1))
        return np.concatenate(out)[:n]
