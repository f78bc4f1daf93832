"""SFace face embedder (OpenCV Zoo, 2021dec; Apache-2.0; rewritten at install by `sface_graph`) on onnxruntime:
128-d unit vectors, compared by cosine (or L2 on the unit vectors: L2^2 = 2 * cosine distance).

Each face is aligned as OpenCV's `cv2.FaceRecognizerSF.alignCrop` does it: a least-squares similarity transform
(Umeyama, no reflection) of its 5 landmarks onto the 112x112 ArcFace template, bilinear warp, black border. The
network takes RGB in 0..255 (it subtracts 127.5 and scales by 1/128 itself) and its features, unit-normalised,
match `cv2.FaceRecognizerSF.feature` on the same file to ~1e-6.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from screenalytics.tasks.errors import MissingModelError
from screenalytics.tasks.faces import FaceChip
from screenalytics.tasks.models import registry
from screenalytics.tasks.models.sessions import session_options

SIZE = 112
# The ArcFace 5-point template in a 112x112 crop (image-left eye, other eye, nose tip, mouth corners), as in
# OpenCV's face_recognize.cpp and insightface's `arcface_dst`.
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]], np.float32)
BATCH = 8  # as fast per face as 32 on two threads (8.1 ms), at half the peak memory (docs/benchmarks.md)


def similarity_transform(src: np.ndarray, dst: np.ndarray = TEMPLATE) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation; no reflection) that maps `src` points onto `dst`
    with the least squared error (Umeyama 1991)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    variance = (src_c ** 2).sum() / len(src)
    if variance < 1e-12:
        raise ValueError("face landmarks are degenerate (all at one point): cannot align the face")
    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(covariance) < 0:
        d[-1] = -1
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / variance
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align(image_bgr: np.ndarray, kps: np.ndarray) -> np.ndarray:
    """The 112x112 BGR crop of a face, its 5 landmarks moved onto the ArcFace template."""
    matrix = similarity_transform(np.asarray(kps, np.float32).reshape(5, 2))
    return cv2.warpAffine(image_bgr, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


class SFaceEmbedder:
    """`embed(chips)` -> `(N, 128)` float32 unit vectors (cosine distance ~0.6 separates people; see
    docs/models.md). Faces are aligned from the chips' landmarks and run `batch` at a time."""

    dim = 128

    def __init__(self, *, model_path: Path, threads: int, providers: list[str] | None = None, batch: int = BATCH):
        path = Path(model_path)
        if not path.is_file():
            raise MissingModelError(f"SFace face embedder not found at {path}. {registry.INSTALL_HINT}")
        sha = registry.sha256_file(path)
        if sha != registry.SFACE.sha256:
            raise MissingModelError(f"SFace face embedder at {path} is damaged (sha256 mismatch). "
                                    f"{registry.INSTALL_HINT}")
        self.id = registry.embedder_identity("sface", None)  # the weights are SFACE's: checked above
        self.batch = max(1, int(batch))
        options = session_options(threads)
        self.providers = providers or registry.providers()
        self._session = ort.InferenceSession(str(path), options, providers=self.providers)
        self._input = self._session.get_inputs()[0].name

    def embed(self, chips: list[FaceChip]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        out = np.empty((len(chips), self.dim), np.float32)
        for start in range(0, len(chips), self.batch):
            part = chips[start:start + self.batch]
            blob = np.stack([align(chip.image_bgr, chip.kps)[:, :, ::-1].transpose(2, 0, 1) for chip in part])
            out[start:start + len(part)] = self.features(blob.astype(np.float32))
        return out

    def features(self, blob_rgb: np.ndarray) -> np.ndarray:
        """Unit vectors of aligned faces given as an `(N, 3, 112, 112)` RGB float32 blob in 0..255."""
        feats = self._session.run(None, {self._input: blob_rgb})[0].astype(np.float32)
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)

    def close(self) -> None:
        """Nothing to release (onnxruntime threads live with the session)."""
