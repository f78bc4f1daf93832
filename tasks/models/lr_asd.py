"""LR-ASD (Liao et al., IJCV 2025; MIT): is a face visibly talking while speech is heard, frame by frame.

The weights are LR-ASD's `pretrain_AVA.model` (a PyTorch state dict, read without torch) rebuilt as an ONNX graph:
a visual encoder over grey 112x112 face crops at 25 fps (three blocks of per-frame spatial convolutions followed by
temporal convolutions, max-pooled over space), an audio encoder over 13 MFCCs at 100 frames per second (three
blocks of cepstral then temporal convolutions, pooled 4:1 in time and averaged over the cepstrum), a gated fusion of
the two 128-d streams, a forward and a backward GRU, a second gated fusion, and the classifier's "speaking" logit.
Batch normalisation is folded into the preceding convolution. The MFCC front end follows
`python_speech_features.mfcc` (the recipe LR-ASD was trained with): pre-emphasis 0.97, 25 ms rectangular windows
every 10 ms, 512-point power spectrum, 26 mel filters, log, DCT-II (orthonormal), 13 coefficients, sine lifter 22,
the first coefficient replaced by the log frame energy.

On CPU the graph runs its visual encoder in int8 (`build_onnx(ranges=...)`, `models.active_speaker_precision`):
~1.6x faster, the same talking call as float32 on 99.96% of face-frames (docs/active_speaker.md, "Cost")."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper
from scipy.fft import dct

from screenalytics.tasks.models.onnx_build import CheckpointNet, GraphBuilder, float_input
from screenalytics.tasks.models.sessions import session_options

SAMPLE_RATE = 16000
FPS = 25  # video frames per second the network was trained on
MFCC_PER_FRAME = 4  # 100 MFCC frames per second
WIN, HOP, NFFT, N_FILTERS, N_CEPS, LIFTER, PREEMPH = 400, 160, 512, 26, 13, 22, 0.97
BN_EPS = 1e-3
CROP_SIZE = 112
PIXEL_MEAN, PIXEL_STD = 0.4161, 0.1688
PIXEL_ZERO = round(255 * PIXEL_MEAN)  # the uint8 video's zero point in the int8 graph
WEIGHT_LEVELS = 63  # 7-bit weights: no int16 saturation in u8 x s8 products on CPUs without VNNI
EPS = np.finfo(float).eps


def _mel_filterbank() -> np.ndarray:
    """26 triangular filters [257, 26] on FFT bins floor(513 * hz / 16000) of mel-spaced points from 0 to 8 kHz."""
    mel = np.linspace(0.0, 2595.0 * np.log10(1.0 + (SAMPLE_RATE / 2) / 700.0), N_FILTERS + 2)
    bins = np.floor((NFFT + 1) * (700.0 * (10.0 ** (mel / 2595.0) - 1.0)) / SAMPLE_RATE).astype(int)
    bank = np.zeros((N_FILTERS, NFFT // 2 + 1))
    for j in range(N_FILTERS):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        bank[j, lo:mid] = (np.arange(lo, mid) - lo) / (mid - lo)
        bank[j, mid:hi] = (hi - np.arange(mid, hi)) / (hi - mid)
    return bank.T


_FILTERS = _mel_filterbank()
_LIFT = 1.0 + (LIFTER / 2.0) * np.sin(np.pi * np.arange(N_CEPS) / LIFTER)


def mfcc(signal: np.ndarray) -> np.ndarray:
    """MFCCs [frames, 13] of 16 kHz audio on the int16 scale (as LR-ASD read its wav files); frame i covers samples
    [160 i, 160 i + 400), the last frame zero-padded; frames = 1 + ceil((len - 400) / 160)."""
    x = np.asarray(signal, np.float64)
    x = np.append(x[:1], x[1:] - PREEMPH * x[:-1])
    n = 1 if len(x) <= WIN else 1 + int(np.ceil((len(x) - WIN) / HOP))
    x = np.pad(x, (0, (n - 1) * HOP + WIN - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP][:n]
    power = np.abs(np.fft.rfft(frames, NFFT)) ** 2 / NFFT
    energy = power.sum(axis=1)
    feats = np.log(np.where((f := power @ _FILTERS) == 0, EPS, f))
    ceps = dct(feats, type=2, axis=1, norm="ortho")[:, :N_CEPS] * _LIFT
    ceps[:, 0] = np.log(np.where(energy == 0, EPS, energy))
    return ceps.astype(np.float32)


def build_onnx(checkpoint: dict, ranges: dict[str, float] | None = None, taps: bool = False) -> bytes:
    """audio [B, 4T, 13] MFCCs and video [B, T, 112, 112] grey pixels (0-255) → score [B, T], the "speaking" logit
    (> 0: talking). With `ranges` (the largest output of each visual convolution, keyed by its checkpoint prefix such
    as `model.visualEncoder.block1.s_1`: `activation_ranges`), the visual encoder runs in int8 (`QLinearConv`) and
    `video` is uint8; with `taps`, each visual convolution's output is also a graph output named by its key."""
    state = {k: v for k, v in checkpoint.items() if isinstance(v, np.ndarray)}
    g = GraphBuilder()
    tapped: list[str] = []

    def folded(conv: str, norm: str) -> tuple[np.ndarray, np.ndarray]:
        """A bias-free convolution's weight and bias with the batch norm that follows it folded in."""
        scale = state[f"{norm}.weight"] / np.sqrt(state[f"{norm}.running_var"] + BN_EPS)
        weight = state[f"{conv}.weight"] * scale.reshape(-1, *[1] * (state[f"{conv}.weight"].ndim - 1))
        return weight.astype(np.float32), (state[f"{norm}.bias"] - state[f"{norm}.running_mean"] * scale).astype(
            np.float32)

    def conv_relu(x: str, prefix: str, conv: str, norm: str, **attrs) -> str:
        weight, bias = folded(f"{prefix}.{conv}", f"{prefix}.{norm}")
        return g.op("Relu", [g.op("Conv", [x, g.const(weight), g.const(bias)], **attrs)])

    quantized = ranges is not None
    held = {"scale": 1 / (255 * PIXEL_STD), "zero": PIXEL_ZERO}  # the uint8 tensor's: p stands for (p - zero) * scale

    def visual_conv(x: str, key: str, weight: np.ndarray, bias: np.ndarray, **attrs) -> str:
        """Convolution and ReLU; in int8, `QLinearConv` from the uint8 tensor `held` describes to uint8 at the
        range's scale, whose zero point 0 is the ReLU."""
        if not quantized:
            y = g.op("Relu", [g.op("Conv", [x, g.const(weight), g.const(bias)], **attrs)])
            if taps:
                g.nodes[-1].output[0] = y = key
                tapped.append(key)
            return y
        w_scale = np.abs(weight).reshape(len(weight), -1).max(axis=1) / WEIGHT_LEVELS  # per output channel
        w_scale = np.where(w_scale > 0, w_scale, 1.0).astype(np.float32)
        w_q = np.round(weight / w_scale.reshape(-1, *[1] * (weight.ndim - 1))).astype(np.int8)
        y_scale = ranges[key] / 255
        y = g.op("QLinearConv", [x, g.const(np.array(held["scale"], np.float32)),
                                 g.const(np.array(held["zero"], np.uint8)),
                                 g.const(w_q), g.const(w_scale), g.const(np.zeros(len(weight), np.int8)),
                                 g.const(np.array(y_scale, np.float32)), g.const(np.array(0, np.uint8)),
                                 g.const(np.round(bias / (held["scale"] * w_scale)).astype(np.int32))], **attrs)
        held.update(scale=y_scale, zero=0)
        return y

    def max_pool(x: str) -> str:
        """3x3, stride 2 (uint8 through float: onnxruntime's uint8 MaxPool is ~10x slower than its float one,
        and the result is the same)."""
        if not quantized:
            return g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        x = g.op("MaxPool", [g.op("Cast", [x], to=TensorProto.FLOAT)], kernel_shape=[3, 3], strides=[2, 2],
                 pads=[1, 1, 1, 1])
        return g.op("Cast", [x], to=TensorProto.UINT8)

    def visual_block(x: str, prefix: str, down: bool, side: int) -> str:
        """Spatial (1,k,k) convolutions as 2-D ones over [B*T, C, H, W], then temporal (k,1,1) ones as (k,1)
        convolutions over [B, C, T, H*W] (onnxruntime's 2-D convolutions are ~2x faster than its 3-D ones);
        'same' padding. Returns [B*T, C, side, side]."""
        for conv, norm in (("s_1", "s_norm_1"), ("s_2", "s_norm_2")):
            weight, bias = folded(f"{prefix}.{conv}", f"{prefix}.{norm}")
            k = weight.shape[-1] // 2
            x = visual_conv(x, f"{prefix}.{conv}", weight[:, :, 0], bias, pads=[k] * 4,
                            strides=[2, 2] if down and conv == "s_1" else [1, 1])
        channels = weight.shape[0]
        frames = g.op("Concat", [batch, g.const(np.array([-1, channels, side * side], np.int64))], axis=0)
        x = g.op("Transpose", [g.op("Reshape", [x, frames])], perm=[0, 2, 1, 3])  # [B, C, T, H*W]
        for conv, norm in (("t_1", "t_norm_1"), ("t_2", "t_norm_2")):
            weight, bias = folded(f"{prefix}.{conv}", f"{prefix}.{norm}")
            k = weight.shape[2] // 2
            x = visual_conv(x, f"{prefix}.{conv}", weight[:, :, :, :, 0], bias, pads=[k, 0, k, 0])
        x = g.op("Transpose", [x], perm=[0, 2, 1, 3])  # [B, T, C, H*W]
        return g.op("Reshape", [x, g.const(np.array([-1, channels, side, side], np.int64))])

    def audio_block(x: str, prefix: str) -> str:
        """Cepstral (k,1) convolutions, then temporal (1,k) ones, on [B, C, 13, time]."""
        for conv, norm in (("m_1", "m_norm_1"), ("m_2", "m_norm_2"), ("t_1", "t_norm_1"), ("t_2", "t_norm_2")):
            kernel = state[f"{prefix}.{conv}.weight"].shape[2:]
            pads = [k // 2 for k in kernel]
            x = conv_relu(x, prefix, conv, norm, pads=pads + pads)
        return x

    def gate(x: str, prefix: str) -> str:
        """x * sigmoid(BN(W x)) over the channels of x [T, B, C] (LR-ASD's `Fusion` after its concatenation)."""
        weight, bias = folded(f"{prefix}.attention", f"{prefix}.bn")
        w = g.op("Sigmoid", [g.linear(x, weight[:, :, 0], bias)])
        return g.op("Mul", [x, w])

    batch = g.op("Slice", [g.op("Shape", ["video"]), g.const(np.array([0], np.int64)),
                           g.const(np.array([1], np.int64))])
    v = g.op("Reshape", ["video", g.const(np.array([-1, 1, CROP_SIZE, CROP_SIZE], np.int64))])  # [B*T, 1, H, W]
    if not quantized:
        v = g.op("Div", [g.op("Sub", [g.op("Div", [v, g.const(np.array(255.0, np.float32))]),
                                      g.const(np.array(PIXEL_MEAN, np.float32))]),
                         g.const(np.array(PIXEL_STD, np.float32))])
    for i, down in ((1, True), (2, False), (3, False)):  # 112 → 56, pooled to 28 → 28, to 14 → 14
        v = visual_block(v, f"model.visualEncoder.block{i}", down, CROP_SIZE >> i)
        if i < 3:
            v = max_pool(v)
    v = g.op("ReduceMax", [v], axes=[2, 3], keepdims=0)  # [B*T, 128]
    if quantized:
        v = g.op("DequantizeLinear", [v, g.const(np.array(held["scale"], np.float32)),
                                      g.const(np.array(0, np.uint8))])
    v = g.op("Transpose", [g.op("Reshape", [v, g.op("Concat", [batch, g.const(np.array([-1, 128], np.int64))],
                                                       axis=0)])], perm=[0, 2, 1])  # [B, 128, T]

    a = g.op("Transpose", [g.op("Unsqueeze", ["audio", g.const(np.array([1], np.int64))])], perm=[0, 1, 3, 2])
    for i in (1, 2, 3):  # [B, C, 13, 4T] → [B, 128, 13, T]
        a = audio_block(a, f"model.audioEncoder.block{i}")
        if i < 3:
            a = g.op("MaxPool", [a], kernel_shape=[1, 3], strides=[1, 2], pads=[0, 1, 0, 1])
    a = g.op("ReduceMean", [a], axes=[2], keepdims=0)  # [B, 128, T]

    x = g.op("Transpose", [g.op("Concat", [a, v], axis=1)], perm=[2, 0, 1])  # [T, B, 256]
    x = gate(x, "model.fusion")

    def gru_weights(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PyTorch packs GRU gates (reset, update, new); ONNX wants (update, reset, hidden)."""
        def order(w: np.ndarray) -> np.ndarray:
            r, z, n = np.split(w.astype(np.float32), 3, axis=0)
            return np.concatenate([z, r, n], axis=0)
        prefix = f"model.detector.{name}"
        return (order(state[f"{prefix}.weight_ih_l0"]), order(state[f"{prefix}.weight_hh_l0"]),
                np.concatenate([order(state[f"{prefix}.bias_ih_l0"]), order(state[f"{prefix}.bias_hh_l0"])]))

    forward, backward = gru_weights("gru_forward"), gru_weights("gru_backward")
    hidden = forward[1].shape[1]
    y = g.ops("GRU", [x, *(g.const(np.stack([f, b])) for f, b in zip(forward, backward))], 2,
              hidden_size=hidden, direction="bidirectional", linear_before_reset=1)[0]  # [T, 2, B, H]
    y = g.op("Reshape", [g.op("Transpose", [y], perm=[0, 2, 1, 3]), g.const(np.array([0, 0, -1], np.int64))])
    y = gate(y, "model.detector.attention")  # [T, B, 128]
    fc_w, fc_b = state["lossAV.FC.weight"], state["lossAV.FC.bias"]
    score = g.linear(y, fc_w[1:2], fc_b[1:2])  # [T, B, 1]
    g.op("Transpose", [g.op("Squeeze", [score, g.const(np.array([2], np.int64))])], perm=[1, 0])
    g.nodes[-1].output[0] = "score"
    video_type = TensorProto.UINT8 if quantized else TensorProto.FLOAT
    return g.model([float_input("audio", ["batch", "audio_frames", N_CEPS]),
                    helper.make_tensor_value_info("video", video_type, ["batch", "frames", CROP_SIZE, CROP_SIZE])],
                   [float_input("score", ["batch", "frames"]),
                    *(float_input(key, ["n", "c", "h", "w"]) for key in (tapped if taps else []))], "lr_asd")


def activation_ranges(checkpoint: dict, windows: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """The largest output of each visual convolution of the float network over (audio [1, 4T, 13], video
    [1, T, 112, 112] uint8) windows: the int8 graph's activation ranges (`build_onnx(ranges=...)`)."""
    session = ort.InferenceSession(build_onnx(checkpoint, taps=True), session_options(2, arena=True),
                                   providers=["CPUExecutionProvider"])
    keys = [output.name for output in session.get_outputs()[1:]]
    ranges = dict.fromkeys(keys, 0.0)
    for audio, video in windows:
        for key, out in zip(keys, session.run(keys, {"audio": audio, "video": video.astype(np.float32)})):
            ranges[key] = max(ranges[key], float(out.max()))
    return ranges


class ActiveSpeakerNet(CheckpointNet):
    """Per-frame speaking logits of face-crop sequences with the audio heard over them; with `ranges`, the int8
    graph (its visual encoder quantised: ~1.6x faster on CPU, docs/active_speaker.md)."""

    arena = True  # inputs are at most a window long (`asd.window_s`): a bounded arena

    def __init__(self, path: Path, providers: list[str], threads: int = 2,
                 ranges: dict[str, float] | None = None) -> None:
        super().__init__(path, providers, threads)
        self.ranges = ranges

    def graph(self, checkpoint: dict) -> bytes:
        return build_onnx(checkpoint, self.ranges)

    def scores(self, audio: np.ndarray, video: np.ndarray) -> np.ndarray:
        """audio [B, 4T, 13] MFCCs, video [B, T, 112, 112] grey crops (0-255) → [B, T] logits (> 0: talking)."""
        if audio.shape[1] != MFCC_PER_FRAME * video.shape[1]:
            raise ValueError(f"{audio.shape[1]} MFCC frames for {video.shape[1]} video frames; need 4 per frame")
        pixels = video.astype(np.uint8) if self.ranges is not None else video.astype(np.float32, copy=False)
        return self.session.run(["score"], {"audio": audio.astype(np.float32, copy=False), "video": pixels})[0]
