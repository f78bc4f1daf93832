"""Face detection on sampled frames, with a quality measure and a stored chip per face."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import cv2
import numpy as np
import pandas as pd

from screenalytics.tasks.schemas import Chips, Detections, SampledFrames
from screenalytics.tasks.settings import DetectConfig
from screenalytics.tasks.video import Frame

SHARPNESS_HEIGHT_PX = 64  # faces are resized to this height before measuring blur, so sizes compare fairly


class Detector(Protocol):
    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


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


def detect_faces(frames: Iterable[Frame], detector: Detector, *, ep_id: str, cfg: DetectConfig,
                 progress: Callable[[int], None] | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run the detector on frames that carry pixels; returns (`SampledFrames`, `Detections`, `Chips`)."""
    rows: list[dict] = []
    chips: list[dict] = []
    sampled: list[dict] = []
    for frame in frames:
        if progress:
            progress(1)
        if frame.image_bgr is None:
            continue
        boxes, kps = detector.detect(frame.image_bgr)
        gray = None
        n_before = len(rows)
        for box, points in zip(boxes, kps):
            face_h = float(box[3] - box[1])
            if face_h < cfg.min_face_px:
                continue
            gray = cv2.cvtColor(frame.image_bgr, cv2.COLOR_BGR2GRAY) if gray is None else gray
            h, w = gray.shape
            fx1, fy1 = int(max(0, box[0])), int(max(0, box[1]))
            fx2, fy2 = int(min(w, box[2])), int(min(h, box[3]))
            det_id = len(rows)
            row = {"ep_id": ep_id, "det_id": det_id, "frame_idx": frame.index, "t_s": frame.t_s,
                   "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3], "score": float(box[4]),
                   "face_h_px": face_h, "sharpness": sharpness(gray[fy1:fy2, fx1:fx2])}
            for k, (px, py) in enumerate(points):
                row[f"kp{k}_x"], row[f"kp{k}_y"] = float(px), float(py)
            rows.append(row)
            jpeg, x0, y0, scale = make_chip(frame.image_bgr, box, cfg)
            chips.append({"det_id": det_id, "x0_px": x0, "y0_px": y0, "scale": scale, "jpeg": jpeg})
        sampled.append({"ep_id": ep_id, "frame_idx": frame.index, "t_s": frame.t_s, "n_faces": len(rows) - n_before})
    columns = list(Detections.to_schema().columns)
    detections = pd.DataFrame(rows, columns=columns)
    chip_table = pd.DataFrame(chips, columns=list(Chips.to_schema().columns))
    frames_table = pd.DataFrame(sampled, columns=list(SampledFrames.to_schema().columns))
    return SampledFrames.validate(frames_table), Detections.validate(detections), Chips.validate(chip_table)
