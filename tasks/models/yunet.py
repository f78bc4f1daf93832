"""YuNet face detector (boxes + 5 landmarks) on onnxruntime, with its anchor-free decoding written out here.

YuNet (Wu, Peng, Yu, Machine Intelligence Research 2023; Apache-2.0 weights shipped in `weights/yunet/`) predicts,
for every cell of three grids (strides 8, 16, 32), a class and an objectness probability, a box (centre offset in
cells, log width and height in cells) and 5 landmarks (offsets in cells). The `_dynamic` file takes any input
height and width that are multiples of 32. The decoding follows OpenCV's `cv2.FaceDetectorYN` (score =
sqrt(cls * obj), BGR input in 0..255, padding at the bottom and right), which it matches on real frames.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from screenalytics.tasks.errors import MissingModelError
from screenalytics.tasks.models import registry
from screenalytics.tasks.models.sessions import session_options

STRIDES = (8, 16, 32)
DIVISOR = 32  # the input's height and width must be multiples of this


class YuNetDetector:
    """`detect(frame)` returns boxes `(N, 5)` as x1, y1, x2, y2, score and landmarks `(N, 5, 2)` in frame pixels,
    best score first. Landmarks: the eye on the image's left, the other eye, nose tip, then the mouth corners in
    the same order (as SCRFD and the ArcFace template).

    The frame is resized, keeping its aspect ratio, to `input_width` pixels wide (smaller faces are found at a
    larger width, at a higher cost) and padded at the bottom to a multiple of 32."""

    def __init__(self, *, model_path: Path, det_thresh: float, threads: int, providers: list[str] | None = None,
                 input_width: int = 640, nms_thresh: float = 0.3, top_k: int = 5000):
        if input_width < DIVISOR:
            raise ValueError(f"input_width must be at least {DIVISOR} pixels, got {input_width}")
        path = Path(model_path)
        if not path.is_file():
            raise MissingModelError(f"YuNet face detector not found at {path}. {registry.SHIPPED_HINT}")
        options = session_options(threads)
        self.providers = providers or registry.providers()
        try:
            self._session = ort.InferenceSession(str(path), options, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own classes for a file that is not a model
            raise MissingModelError(f"YuNet face detector at {path} cannot be loaded ({exc}). "
                                    f"{registry.SHIPPED_HINT}") from exc
        self._input = self._session.get_inputs()[0].name
        self._outputs = [f"{kind}_{stride}" for stride in STRIDES for kind in ("cls", "obj", "bbox", "kps")]
        self.det_thresh, self.nms_thresh, self.top_k = float(det_thresh), float(nms_thresh), int(top_k)
        self.input_width = int(input_width)
        self._grids: dict[tuple[int, int], list[np.ndarray]] = {}

    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = frame_bgr.shape[:2]
        scale = self.input_width / w
        width, height = self.input_width, max(1, round(h * scale))
        resized = frame_bgr
        if (width, height) != (w, h):
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            resized = cv2.resize(frame_bgr, (width, height), interpolation=interpolation)
        boxes, kps = self.detect_input(resized)
        factor = np.array([width / w, height / h], np.float32)  # the height was rounded: map each axis exactly
        boxes[:, :4] /= np.tile(factor, 2)
        kps /= factor
        return boxes, kps

    def detect_input(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detections on an image as the network sees it (no resizing; padded to multiples of 32), in its pixels."""
        h, w = image_bgr.shape[:2]
        pad_h, pad_w = -(-h // DIVISOR) * DIVISOR, -(-w // DIVISOR) * DIVISOR
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :h, :w] = image_bgr.transpose(2, 0, 1)
        outputs = dict(zip(self._outputs, self._session.run(self._outputs, {self._input: blob})))
        return self._decode(outputs, pad_h, pad_w)

    def _decode(self, outputs: dict[str, np.ndarray], pad_h: int, pad_w: int) -> tuple[np.ndarray, np.ndarray]:
        all_boxes, all_kps = [], []
        for stride, cells in zip(STRIDES, self._cells(pad_h, pad_w)):
            cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.det_thresh)
            if not len(keep):
                continue
            cell = cells[keep]  # (n, 2): column, row
            bbox = outputs[f"bbox_{stride}"][0, keep]
            centre = (cell + bbox[:, :2]) * stride
            size = np.exp(bbox[:, 2:4]) * stride
            x1y1 = centre - size / 2
            all_boxes.append(np.column_stack([x1y1, x1y1 + size, score[keep]]))
            all_kps.append((outputs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2) + cell[:, None, :]) * stride)
        if not all_boxes:
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        boxes = np.concatenate(all_boxes).astype(np.float32)
        kps = np.concatenate(all_kps).astype(np.float32)
        # OpenCV's FaceDetectorYN suppresses on boxes truncated to whole pixels: do the same, to match it exactly
        xywh = np.trunc(np.column_stack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]])).astype(np.float64)
        rects = [tuple(row) for row in xywh.tolist()]
        chosen = cv2.dnn.NMSBoxes(rects, boxes[:, 4].tolist(), self.det_thresh, self.nms_thresh, top_k=self.top_k)
        chosen = np.asarray(chosen, np.int64).reshape(-1)
        order = chosen[np.argsort(-boxes[chosen, 4], kind="stable")]
        return boxes[order], kps[order]

    def _cells(self, pad_h: int, pad_w: int) -> list[np.ndarray]:
        """(column, row) of every grid cell, per stride, in the order of the network's outputs (row-major)."""
        key = (pad_h, pad_w)
        if key not in self._grids:
            grids = []
            for stride in STRIDES:
                rows, cols = np.mgrid[0:pad_h // stride, 0:pad_w // stride]
                grids.append(np.column_stack([cols.ravel(), rows.ravel()]).astype(np.float32))
            self._grids[key] = grids
        return self._grids[key]
