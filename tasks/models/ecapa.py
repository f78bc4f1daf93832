"""SpeechBrain's ECAPA-TDNN speaker encoder (`spkrec-ecapa-voxceleb`, 192-d x-vectors) on onnxruntime.

The weights are `embedding_model.ckpt` (a plain state dict) from SpeechBrain's VoxCeleb recipe, read without torch
and rebuilt as an ONNX graph: TDNN → 3 SE-Res2Net blocks → multi-layer aggregation → attentive statistics pooling
with global context → BatchNorm → 1x1 conv to 192. The front end follows the recipe's `Fbank(n_mels=80)`: 25 ms
periodic Hamming windows every 10 ms (n_fft 400, centred with zero padding), power spectrum, 80 triangular HTK-mel
filters (0–8 kHz, SpeechBrain's symmetric triangles), 10·log10 with an 80 dB floor below the clip's peak, then the
per-utterance mean of each band is subtracted (`InputNormalization(norm_type="sentence", std_norm=False)`)."""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import normalize

from screenalytics.tasks.models.onnx_build import CheckpointNet, GraphBuilder, float_input

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 80
F_MIN, F_MAX = 0.0, 8000.0
AMIN, TOP_DB = 1e-10, 80.0
BN_EPS, STATS_EPS = 1e-5, 1e-12
CHANNELS, KERNELS, DILATIONS = [1024, 1024, 1024, 1024, 3072], [5, 3, 3, 3, 1], [1, 2, 3, 4, 1]
RES2NET_SCALE = 8
EMBEDDING_DIM = 192
MIN_SAMPLES = SAMPLE_RATE // 2  # shorter clips are zero-padded to 0.5 s
BATCH = 16
CROP = 0.1  # a clip loses at most this share of its length to share a batch


def _to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filters() -> np.ndarray:
    """SpeechBrain's triangular filters [201, 80]: centre hz[i+1], half-width hz[i+1] - hz[i] on both sides."""
    hz = _to_hz(np.linspace(_to_mel(F_MIN), _to_mel(F_MAX), N_MELS + 2))
    central, band = hz[1:-1], np.diff(hz)[:-1]
    freqs = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slope = (freqs[None, :] - central[:, None]) / band[:, None]
    return np.maximum(0.0, np.minimum(slope + 1.0, 1.0 - slope)).T.astype(np.float32)


_MEL = mel_filters()
_WINDOW = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # torch.hamming_window (periodic)


def fbank(wav: np.ndarray) -> np.ndarray:
    """Mean-normalised log-mel features [frames, 80] float32 of a 16 kHz float waveform (frames = 1 + len // 160)."""
    padded = np.pad(np.asarray(wav, np.float64), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][: 1 + len(wav) // HOP]
    spectrum = np.fft.rfft(frames * _WINDOW, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    db = 10.0 * np.log10(np.maximum(power @ _MEL.astype(np.float64), AMIN))
    db = np.maximum(db, db.max() - TOP_DB)
    return (db - db.mean(axis=0, keepdims=True)).astype(np.float32)


def int8_columns(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A [in, out] weight as symmetric int8 with one scale per output column: (int8 [in, out], scales [out])."""
    scale = np.maximum(np.abs(weight).max(axis=0), 1e-12) / 127.0
    return np.clip(np.round(weight / scale), -127, 127).astype(np.int8), scale.astype(np.float32)


def build_onnx(checkpoint: dict, int8: bool = False) -> bytes:
    """feats [B, frames, 80] → embedding [B, 192] (raw x-vector, as SpeechBrain's `encode_batch`; not normalised).

    `int8`: the 1x1 convolutions of 512 channels or more (85% of the multiply-adds) as onnxruntime's CPU
    `DynamicQuantizeMatMul`: int8 weights (one scale per output channel), activations quantized per call; 2.4x
    faster on two cores, embeddings within cosine 0.985 of float32 on AMI speech (docs/models.md). CPU only."""
    state = {k: v for k, v in checkpoint.items() if isinstance(v, np.ndarray)}
    g = GraphBuilder()

    def quantized_pointwise(x: str, weight: np.ndarray, bias: np.ndarray) -> str:
        """weight [out, in] · x [B, in, T] + bias, as an int8 matrix product over [B, T, in]."""
        values, scales = int8_columns(weight.T)
        y = g.op("DynamicQuantizeMatMul", [g.op("Transpose", [x], perm=[0, 2, 1]), g.const(values),
                                           g.const(scales), g.const(np.zeros(len(scales), np.int8)),
                                           g.const(bias.astype(np.float32))], domain="com.microsoft")
        return g.op("Transpose", [y], perm=[0, 2, 1])

    def conv(x: str, name: str, dilation: int = 1) -> str:
        """SpeechBrain Conv1d: 'same' length with reflect padding, stride 1."""
        weight = state[f"{name}.weight"].astype(np.float32)
        if int8 and weight.shape[2] == 1 and weight.shape[0] >= 512:
            return quantized_pointwise(x, weight[:, :, 0], state[f"{name}.bias"])
        pad = dilation * (weight.shape[2] - 1) // 2
        if pad:
            x = g.op("Pad", [x, g.const(np.array([0, 0, pad, 0, 0, pad], np.int64))], mode="reflect")
        return g.op("Conv", [x, g.const(weight), g.const(state[f"{name}.bias"].astype(np.float32))],
                    dilations=[dilation])

    def batch_norm(x: str, name: str) -> str:
        return g.op("BatchNormalization", [x] + [g.const(state[f"{name}.{k}"].astype(np.float32)) for k in
                                                 ("weight", "bias", "running_mean", "running_var")], epsilon=BN_EPS)

    def tdnn(x: str, name: str, dilation: int = 1) -> str:
        return batch_norm(g.op("Relu", [conv(x, f"{name}.conv.conv", dilation)]), f"{name}.norm.norm")

    def stats(x: str, weights: str | None) -> tuple[str, str]:
        """Mean and std over time (axis 2, keepdims) — uniform weights when `weights` is None, else weighted sums."""
        if weights is None:
            mean = g.op("ReduceMean", [x], axes=[2], keepdims=1)
            d = g.op("Sub", [x, mean])
            var = g.op("ReduceMean", [g.op("Mul", [d, d])], axes=[2], keepdims=1)
        else:
            mean = g.op("ReduceSum", [g.op("Mul", [x, weights]), g.const(np.array([2], np.int64))], keepdims=1)
            d = g.op("Sub", [x, mean])
            var = g.op("ReduceSum", [g.op("Mul", [weights, g.op("Mul", [d, d])]), g.const(np.array([2], np.int64))],
                       keepdims=1)
        return mean, g.op("Sqrt", [g.op("Max", [var, g.const(np.array(STATS_EPS, np.float32))])])

    def se_res2net(x: str, name: str, dilation: int) -> str:
        residual = conv(x, f"{name}.shortcut.conv") if f"{name}.shortcut.conv.weight" in state else x
        x = tdnn(x, f"{name}.tdnn1")
        width = state[f"{name}.tdnn1.conv.conv.weight"].shape[0] // RES2NET_SCALE
        chunks = g.ops("Split", [x, g.const(np.full(RES2NET_SCALE, width, np.int64))], RES2NET_SCALE, axis=1)
        outs = [chunks[0]]
        for i in range(1, RES2NET_SCALE):
            inp = chunks[i] if i == 1 else g.op("Add", [chunks[i], outs[-1]])
            outs.append(tdnn(inp, f"{name}.res2net_block.blocks.{i - 1}", dilation))
        x = tdnn(g.op("Concat", outs, axis=1), f"{name}.tdnn2")
        s = g.op("ReduceMean", [x], axes=[2], keepdims=1)
        s = g.op("Relu", [conv(s, f"{name}.se_block.conv1.conv")])
        s = g.op("Sigmoid", [conv(s, f"{name}.se_block.conv2.conv")])
        return g.op("Add", [g.op("Mul", [s, x]), residual])

    x = tdnn(g.op("Transpose", ["feats"], perm=[0, 2, 1]), "blocks.0", DILATIONS[0])
    layers = []
    for block in range(1, len(CHANNELS) - 1):
        x = se_res2net(x, f"blocks.{block}", DILATIONS[block])
        layers.append(x)
    x = tdnn(g.op("Concat", layers, axis=1), "mfa")  # [B, 3072, T]

    # Attentive statistics pooling. The global context concat([x, mean, std]) → 1x1 conv is split into
    # W_x·x + (W_mean·mean + W_std·std), the latter computed once per utterance and broadcast over time.
    channels = state["mfa.conv.conv.weight"].shape[0]
    weight, bias = state["asp.tdnn.conv.conv.weight"].astype(np.float32), state["asp.tdnn.conv.conv.bias"]
    mean, std = stats(x, None)
    parts = [g.op("Conv", [inp, g.const(np.ascontiguousarray(weight[:, i * channels : (i + 1) * channels]))])
             for i, inp in enumerate((x, mean, std))]
    attn = g.op("Add", [g.op("Add", [parts[0], g.op("Add", [parts[1], parts[2]])]),
                        g.const(bias.astype(np.float32)[None, :, None])])
    attn = g.op("Tanh", [batch_norm(g.op("Relu", [attn]), "asp.tdnn.norm.norm")])
    attn = g.op("Softmax", [conv(attn, "asp.conv.conv")], axis=2)
    mean, std = stats(x, attn)
    pooled = batch_norm(g.op("Concat", [mean, std], axis=1), "asp_bn.norm")  # [B, 6144, 1]
    out = conv(pooled, "fc.conv")
    g.op("Squeeze", [out, g.const(np.array([2], np.int64))])
    g.nodes[-1].output[0] = "embedding"
    return g.model([float_input("feats", ["batch", "frames", N_MELS])],
                   [float_input("embedding", ["batch", EMBEDDING_DIM])], "ecapa_tdnn")


class EcapaEncoder(CheckpointNet):
    """192-d speaker embeddings of whole 16 kHz clips (one pooled vector per clip, no windowing)."""

    build = staticmethod(build_onnx)

    def graph(self, checkpoint: dict) -> bytes:
        """int8 pointwise convolutions on CPU (`build_onnx`); float32 where CUDA runs it (the quantized matrix
        product is a CPU kernel)."""
        return self.build(checkpoint, int8="CUDAExecutionProvider" not in self.providers)

    def features(self, feats: np.ndarray) -> np.ndarray:
        """Raw x-vectors [B, 192] of a batch of equal-length feature matrices [B, frames, 80]."""
        return self.session.run(["embedding"], {"feats": feats.astype(np.float32)})[0]

    def embed(self, wavs: list[np.ndarray]) -> np.ndarray:
        """One unit vector per waveform [len(wavs), 192]; clips shorter than 0.5 s are zero-padded to 0.5 s.

        The graph has no masking, so a batch holds clips of one length: clips within `CROP` of each other's length
        share a batch, each centre-cropped to the batch's shortest (batching halves the cost per second of audio)."""
        out = np.zeros((len(wavs), EMBEDDING_DIM), np.float32)
        padded = [w if len(w) >= MIN_SAMPLES else np.pad(w, (0, MIN_SAMPLES - len(w))) for w in wavs]  # no copies
        for batch in length_batches([len(w) for w in padded], BATCH, CROP):
            size = min(len(padded[i]) for i in batch)
            crops = [padded[i][(len(padded[i]) - size) // 2:][:size] for i in batch]
            out[batch] = self.features(np.stack([fbank(c) for c in crops]))
        return normalize(out)


def length_batches(lengths: list[int], batch: int, crop: float) -> list[list[int]]:
    """Indices grouped longest first into batches of at most `batch`, the shortest in each at least (1 - `crop`) of
    the longest."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and len(groups[-1]) < batch and lengths[i] >= (1 - crop) * lengths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
