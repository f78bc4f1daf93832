"""Face detection on sampled frames, with a quality measure and a stored chip per face. The stage runs in the
shared decode pass (`scan`)."""
from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.configs import DetectConfig
from screenalytics.tasks.decoding import Frame, FrameSampler
from screenalytics.tasks.faces import Detector, make_chip, sharpness
from screenalytics.tasks.schemas import Chips, Detections, SampledFrames


class FaceScanner:
    """Face detection fed one frame at a time: `add(frame)` detects on frames that carry full pixels (others only
    count), `finish()` gives (`SampledFrames`, `Detections`, `Chips`)."""

    def __init__(self, detector: Detector, *, ep_id: str, cfg: DetectConfig) -> None:
        self.detector, self.ep_id, self.cfg = detector, ep_id, cfg
        self.rows: list[dict] = []
        self.chips: list[dict] = []
        self.sampled: list[dict] = []
        self.latest: tuple[int, np.ndarray, np.ndarray] | None = None  # frame_idx, det_ids, boxes [n, 4]

    def add(self, frame: Frame) -> None:
        if frame.image_bgr is None:
            return
        boxes, kps = self.detector.detect(frame.image_bgr)
        gray = None
        n_before = len(self.rows)
        for box, points in zip(boxes, kps):
            face_h = float(box[3] - box[1])
            if face_h < self.cfg.min_face_px:
                continue
            gray = cv2.cvtColor(frame.image_bgr, cv2.COLOR_BGR2GRAY) if gray is None else gray
            h, w = gray.shape
            fx1, fy1 = int(max(0, box[0])), int(max(0, box[1]))
            fx2, fy2 = int(min(w, box[2])), int(min(h, box[3]))
            det_id = len(self.rows)
            row = {"ep_id": self.ep_id, "det_id": det_id, "frame_idx": frame.index, "t_s": frame.t_s,
                   "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3], "score": float(box[4]),
                   "face_h_px": face_h, "sharpness": sharpness(gray[fy1:fy2, fx1:fx2])}
            for k, (px, py) in enumerate(points):
                row[f"kp{k}_x"], row[f"kp{k}_y"] = float(px), float(py)
            self.rows.append(row)
            jpeg, x0, y0, scale = make_chip(frame.image_bgr, box, self.cfg)
            self.chips.append({"det_id": det_id, "x0_px": x0, "y0_px": y0, "scale": scale, "jpeg": jpeg})
        self.sampled.append({"ep_id": self.ep_id, "frame_idx": frame.index, "t_s": frame.t_s,
                             "n_faces": len(self.rows) - n_before})
        mine = self.rows[n_before:]
        self.latest = (frame.index, np.array([r["det_id"] for r in mine], np.int64),
                       np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in mine], float).reshape(-1, 4))

    def boxes_at(self, frame_idx: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(det_ids, boxes) of the faces found on `frame_idx` when it is the frame just detected, else None."""
        return self.latest[1:] if self.latest is not None and self.latest[0] == frame_idx else None

    def finish(self) -> tuple[DataFrame[SampledFrames], DataFrame[Detections], DataFrame[Chips]]:
        detections = pd.DataFrame(self.rows, columns=list(Detections.to_schema().columns))
        chip_table = pd.DataFrame(self.chips, columns=list(Chips.to_schema().columns))
        frames_table = pd.DataFrame(self.sampled, columns=list(SampledFrames.to_schema().columns))
        return (SampledFrames.validate(frames_table), Detections.validate(detections),
                Chips.validate(chip_table))


def detect_faces(frames: Iterable[Frame], detector: Detector, *, ep_id: str, cfg: DetectConfig
                 ) -> tuple[DataFrame[SampledFrames], DataFrame[Detections], DataFrame[Chips]]:
    """Run the detector on frames that carry pixels; returns (`SampledFrames`, `Detections`, `Chips`)."""
    scanner = FaceScanner(detector, ep_id=ep_id, cfg=cfg)
    for frame in frames:
        scanner.add(frame)
    return scanner.finish()


def sampling_rate(cfg: DetectConfig, fps: float) -> float:
    """Effective detector sampling rate (frames per second of video)."""
    return fps / cfg.stride if cfg.stride else min(cfg.sample_fps, fps)


def frame_sampler(cfg: DetectConfig) -> FrameSampler:
    """The frames the detector sees: every `stride`th, or `sample_fps` on the container clock."""
    return FrameSampler(sample_fps=None if cfg.stride else cfg.sample_fps, stride=cfg.stride)
