"""pyannote's `segmentation` model (PyanNet: SincNet → 4 bi-LSTM → 2 linear → 3 sigmoids) on onnxruntime.

The weights are the MIT-licensed checkpoint that ships in the `whisperx` wheel; its state dict is read without
torch and rebuilt here as an ONNX graph. Input: 5 s chunks of 16 kHz mono audio; output: per ~17 ms frame, the
activity of up to 3 local speakers (overlap included; speaker order is arbitrary per chunk)."""
from __future__ import annotations

import numpy as np

from screenalytics.tasks.models.onnx_build import CheckpointNet, GraphBuilder, float_input
from screenalytics.tasks.models.specs import SAMPLE_RATE

_MIN_LOW_HZ = _MIN_BAND_HZ = 50.0


def sinc_filters(state: dict[str, np.ndarray]) -> np.ndarray:
    """The 80 SincNet band-pass kernels [80, 1, 251] (cosine then sine halves) from their learnt cut-offs."""
    prefix = "sincnet.conv1d.0.filterbank."
    low = _MIN_LOW_HZ + np.abs(state[prefix + "low_hz_"].astype(np.float64))
    high = np.clip(low + _MIN_BAND_HZ + np.abs(state[prefix + "band_hz_"]), _MIN_LOW_HZ, SAMPLE_RATE / 2)
    window, n = state[prefix + "window_"].astype(np.float64), state[prefix + "n_"].astype(np.float64)
    band = (high - low)[:, 0]
    ft_low, ft_high = low @ n, high @ n
    cos_left = (np.sin(ft_high) - np.sin(ft_low)) / (n / 2) * window
    sin_left = (np.cos(ft_low) - np.cos(ft_high)) / (n / 2) * window
    cos = np.concatenate([cos_left, 2 * band[:, None], cos_left[:, ::-1]], axis=1)
    sin = np.concatenate([sin_left, np.zeros_like(band[:, None]), -sin_left[:, ::-1]], axis=1)
    kernels = np.concatenate([cos, sin]) / (2 * np.concatenate([band, band])[:, None])
    return kernels[:, None, :].astype(np.float32)


def build_onnx(checkpoint: dict) -> bytes:
    """ONNX graph of PyanNet from the Lightning checkpoint: waveform [B, 1, T] → activity [B, frames, 3]."""
    state, hp = checkpoint["state_dict"], checkpoint["hyper_parameters"]
    g = GraphBuilder()

    def norm(x: str, name: str) -> str:
        return g.op("InstanceNormalization", [x, g.const(state[f"{name}.weight"]), g.const(state[f"{name}.bias"])],
                    epsilon=1e-5)

    x = norm("waveform", "sincnet.wav_norm1d")
    x = g.op("Abs", [g.op("Conv", [x, g.const(sinc_filters(state))], strides=[hp["sincnet"]["stride"]])])
    for layer in range(3):
        if layer:
            conv = f"sincnet.conv1d.{layer}"
            x = g.op("Conv", [x, g.const(state[conv + ".weight"]), g.const(state[conv + ".bias"])])
        x = g.op("MaxPool", [x], kernel_shape=[3], strides=[3])
        x = g.op("LeakyRelu", [norm(x, f"sincnet.norm1d.{layer}")], alpha=0.01)
    x = g.op("Transpose", [x], perm=[2, 0, 1])  # [frames, B, 60]
    for layer in range(hp["lstm"]["num_layers"]):
        x = g.lstm(x, state, "lstm", layer, hp["lstm"]["bidirectional"])
    x = g.op("Transpose", [x], perm=[1, 0, 2])  # [B, frames, 256]
    for layer in range(hp["linear"]["num_layers"]):
        x = g.op("LeakyRelu", [g.linear(x, state[f"linear.{layer}.weight"], state[f"linear.{layer}.bias"])],
                 alpha=0.01)
    x = g.op("Sigmoid", [g.linear(x, state["classifier.weight"], state["classifier.bias"])])
    g.nodes[-1].output[0] = "activity"
    return g.model([float_input("waveform", ["batch", 1, "samples"])],
                   [float_input("activity", ["batch", "frames", 3])], "pyannet_segmentation")


class SegmentationModel(CheckpointNet):
    """Runs the segmentation network on batches of 5 s chunks (CUDA when onnxruntime has it)."""

    build = staticmethod(build_onnx)

    def __call__(self, chunks: np.ndarray) -> np.ndarray:
        """chunks [B, samples] float32 in [-1, 1] → activity [B, frames, 3] in [0, 1]."""
        return self.session.run(["activity"], {"waveform": chunks[:, None, :].astype(np.float32)})[0]
