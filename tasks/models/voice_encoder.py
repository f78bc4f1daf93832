"""Resemblyzer's speaker encoder (GE2E d-vectors, 256-d) on onnxruntime.

The weights are `resemblyzer/pretrained.pt` from the Apache-2.0 `resemblyzer` wheel, read without torch and rebuilt as
an ONNX graph (3-layer LSTM over 40-band mel frames → linear → ReLU → L2 norm). The mel front end follows the
package's (25 ms Hann windows every 10 ms, Slaney mel filters, power spectrum, no log)."""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import normalize

from screenalytics.tasks.models.onnx_build import CheckpointNet, GraphBuilder, float_input

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40
PARTIAL_FRAMES = 160  # 1.6 s of mel frames per d-vector
TARGET_DBFS = -30.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, np.float64)
    mel = hz / (200.0 / 3)
    log = hz >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def mel_filters() -> np.ndarray:
    """Slaney-normalised triangular filters [40, 201]."""
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    ramps = mel_f[:, None] - freqs[None, :]
    fdiff = np.diff(mel_f)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return (weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]).astype(np.float32)


_MEL = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def mel_frames(wav: np.ndarray) -> np.ndarray:
    """Mel power spectrogram [frames, 40] of a float waveform (centred frames, reflect padding)."""
    padded = np.pad(wav.astype(np.float32), N_FFT // 2, mode="reflect")
    count = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return (power @ _MEL.T).astype(np.float32)


def normalize_volume(wav: np.ndarray) -> np.ndarray:
    """Raise (never lower) the level to -30 dBFS, as Resemblyzer's preprocessing does."""
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))) if len(wav) else 0.0
    if rms <= 0:
        return wav
    gain = 10 ** ((TARGET_DBFS - 20 * np.log10(rms)) / 20)
    return wav * gain if gain > 1 else wav


def build_onnx(checkpoint: dict) -> bytes:
    """mels [B, frames, 40] → L2-normalised embeddings [B, 256]."""
    state = checkpoint["model_state"]
    g = GraphBuilder()
    x = g.op("Transpose", ["mels"], perm=[1, 0, 2])
    for layer in range(3):
        x = g.lstm(x, state, "lstm", layer, bidirectional=False)
    last = g.op("Squeeze", [g.last_hidden, g.const(np.array([0], np.int64))])
    x = g.op("Relu", [g.linear(last, state["linear.weight"], state["linear.bias"])])
    g.op("LpNormalization", [x], axis=-1, p=2)
    g.nodes[-1].output[0] = "embedding"
    return g.model([float_input("mels", ["batch", "frames", N_MELS])], [float_input("embedding", ["batch", 256])],
                   "resemblyzer_encoder")


class VoiceEncoder(CheckpointNet):
    """d-vectors for stretches of 16 kHz speech: 1.6 s partials (half-overlapping), averaged and L2-normalised."""

    build = staticmethod(build_onnx)

    def partials(self, mels: np.ndarray) -> np.ndarray:
        """Embeddings of a batch of mel windows [B, frames, 40]."""
        return self.session.run(["embedding"], {"mels": mels.astype(np.float32)})[0]

    def embed(self, wavs: list[np.ndarray], step_frames: int = PARTIAL_FRAMES // 2) -> np.ndarray:
        """One unit vector per waveform [len(wavs), 256]; each is padded to at least one 1.6 s partial."""
        windows, owner = [], []
        for index, wav in enumerate(wavs):
            mel = mel_frames(normalize_volume(wav))
            if len(mel) < PARTIAL_FRAMES:
                mel = np.pad(mel, ((0, PARTIAL_FRAMES - len(mel)), (0, 0)))
            starts = range(0, len(mel) - PARTIAL_FRAMES + 1, step_frames)
            windows += [mel[s : s + PARTIAL_FRAMES] for s in starts]
            owner += [index] * len(starts)
        if not windows:
            return np.zeros((0, 256), np.float32)
        vectors = self.partials(np.stack(windows))
        out = np.zeros((len(wavs), vectors.shape[1]), np.float64)
        np.add.at(out, np.asarray(owner), vectors)
        return normalize(out).astype(np.float32)
