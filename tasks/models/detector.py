"""SCRFD face detector (boxes + 5 landmarks) on onnxruntime, through insightface's model zoo."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from insightface.model_zoo import get_model

from screenalytics.tasks.models.registry import providers as default_providers
from screenalytics.tasks.models.sessions import session_options

INPUT_SIZE = (640, 640)  # the ONNX file's input shape is fixed


class FaceDetector:
    """`detect(frame)` returns boxes `(N, 5)` as x1, y1, x2, y2, score and landmarks `(N, 5, 2)`, in pixels."""

    def __init__(self, *, model_path: Path, det_thresh: float, threads: int, providers: list[str] | None = None):
        options = session_options(threads)
        chosen = providers or default_providers()
        self.providers = chosen
        self._model = get_model(str(model_path), providers=chosen, sess_options=options)
        ctx_id = 0 if "CUDAExecutionProvider" in chosen else -1
        self._model.prepare(ctx_id=ctx_id, input_size=INPUT_SIZE, det_thresh=det_thresh)

    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, kps = self._model.detect(frame_bgr, input_size=INPUT_SIZE)
        if boxes is None or len(boxes) == 0:
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        return boxes.astype(np.float32), kps.astype(np.float32)
