"""Face chips and the face-model verbs shared by detect, embed and facebank: a stored JPEG around each face, the
crop handed to an embedder, and a blur measure."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import pandas as pd

from screenalytics.tasks.configs import DetectConfig

SHARPNESS_HEIGHT_PX = 64  # faces are resized to this height before measuring blur, so sizes compare fairly


@dataclass(frozen=True)
class FaceChip:
    """A crop around one face. `box` (x1, y1, x2, y2) and `kps` (5, 2) are in the crop's pixels."""

    image_bgr: np.ndarray
    box: np.ndarray
    kps: np.ndarray


class Detector(Protocol):
    """`detect(frame)` -> boxes `(N, 5)` (x1, y1, x2, y2, score) and landmarks `(N, 5, 2)`, in pixels."""

    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class Embedder(Protocol):
    """`embed(chips)` -> `(N, dim)` vectors; `id` names the weights (vectors of two ids are never compared)."""

    id: str
    dim: int

    def embed(self, chips: list[FaceChip]) -> np.ndarray: ...

    def close(self) -> None: ...


def sharpness(gray_face: np.ndarray) -> float:
    """Variance of the Laplacian of a face resized to a fixed height (higher = sharper)."""
    h, w = gray_face.shape[:2]
    if h < 2 or w < 2:
        return 0.0
    scale = SHARPNESS_HEIGHT_PX / h
    resized = cv2.resize(gray_face, (max(2, round(w * scale)), SHARPNESS_HEIGHT_PX), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(resized, cv2.CV_64F).var())


def make_chip(image: np.ndarray, box: np.ndarray, cfg: DetectConfig) -> tuple[bytes, int, int, float]:
    """JPEG of the face plus margin, downscaled so the face is at most `chip_face_px` tall."""
    x1, y1, x2, y2 = box[:4]
    pad_w, pad_h = (x2 - x1) * cfg.chip_margin, (y2 - y1) * cfg.chip_margin
    h, w = image.shape[:2]
    x0, y0 = int(max(0, np.floor(x1 - pad_w))), int(max(0, np.floor(y1 - pad_h)))
    xe, ye = int(min(w, np.ceil(x2 + pad_w))), int(min(h, np.ceil(y2 + pad_h)))
    crop = image[y0:ye, x0:xe]
    scale = min(1.0, cfg.chip_face_px / max(1.0, y2 - y1))
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, cfg.chip_jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding of a face chip failed")
    return jpeg.tobytes(), x0, y0, scale


def decode_chip(chip: pd.Series, det: pd.Series) -> FaceChip:
    """A stored chip (`Chips` row) with its detection (`Detections` row) as a FaceChip in the chip's pixels."""
    image = cv2.imdecode(np.frombuffer(chip["jpeg"], np.uint8), cv2.IMREAD_COLOR)
    offset = np.array([chip["x0_px"], chip["y0_px"]], np.float32)
    box = (np.array([det["x1"], det["y1"], det["x2"], det["y2"]], np.float32).reshape(2, 2) - offset) * chip["scale"]
    kps = (det[[f"kp{k}_{a}" for k in range(5) for a in "xy"]].to_numpy(np.float32).reshape(5, 2) - offset)
    return FaceChip(image, box.reshape(4), kps * chip["scale"])
