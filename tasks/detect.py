"""Face detection on sampled frames, with a quality measure and a stored chip per face."""
from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.configs import DetectConfig
from screenalytics.tasks.decoding import Frame, FrameSampler, iter_frames
from screenalytics.tasks.faces import Detector, make_chip, sharpness
from screenalytics.tasks.runner import Produced, StageRun, local_input, stage_task
from screenalytics.tasks.schemas import Chips, Detections, EpisodeInfo, SampledFrames


def detect_faces(frames: Iterable[Frame], detector: Detector, *, ep_id: str, cfg: DetectConfig,
                 progress: Callable[[int], None] | None = None
                 ) -> tuple[DataFrame[SampledFrames], DataFrame[Detections], DataFrame[Chips]]:
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


def sampling_rate(cfg: DetectConfig, fps: float) -> float:
    """Effective detector sampling rate (frames per second of video)."""
    return fps / cfg.stride if cfg.stride else min(cfg.sample_fps, fps)


@stage_task("detect", tables={"frames": SampledFrames, "detections": Detections, "chips": Chips},
            models=("face_detector",))
def detect_task(run: StageRun, info: EpisodeInfo, cfg: DetectConfig) -> Produced:
    detector = run.models.get("face_detector")
    sampler = FrameSampler(sample_fps=None if cfg.stride else cfg.sample_fps, stride=cfg.stride)
    with run.progress("face detection", info.n_frames) as advance:
        frames, dets, chips = detect_faces(iter_frames(local_input(run.ctx.video.url), keep=sampler), detector,
                                           ep_id=run.ctx.ep_id, cfg=cfg, progress=advance)
    return ({"frames": frames, "detections": dets, "chips": chips},
            {"n_sampled": len(frames), "n_faces": len(dets), "providers": detector.providers,
             "sample_fps": sampling_rate(cfg, info.fps)})
