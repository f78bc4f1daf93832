"""Shot cuts with PySceneDetect, on container timestamps (not frame index x nominal fps). The stage runs in the
shared decode pass (`scan`)."""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from pandera.typing import DataFrame
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

from screenalytics.tasks.configs import ShotsConfig
from screenalytics.tasks.decoding import Frame
from screenalytics.tasks.schemas import Shots


def _make_detector(cfg: ShotsConfig, fps: float) -> AdaptiveDetector | ContentDetector:
    min_len = max(1, math.ceil(cfg.min_shot_s * fps))
    if cfg.detector == "adaptive":
        return AdaptiveDetector(adaptive_threshold=cfg.threshold, min_scene_len=min_len,
                                min_content_val=cfg.min_content_val)
    return ContentDetector(threshold=cfg.threshold, min_scene_len=min_len)


class ShotCutter:
    """Shot cuts fed one frame at a time: `add(frame)` reads its small (downscaled) pixels, `finish()` gives the
    `Shots` table."""

    def __init__(self, *, ep_id: str, fps: float, cfg: ShotsConfig) -> None:
        self.ep_id, self.fps = ep_id, fps
        self.detector = _make_detector(cfg, fps)
        self.times: list[float] = []
        self.cut_frames: list[int] = []

    def add(self, frame: Frame) -> None:
        self.times.append(frame.t_s)
        self.cut_frames += [tc.frame_num for tc in self.detector.process_frame(FrameTimecode(frame.index, self.fps),
                                                                               frame.small_bgr)]

    def finish(self) -> DataFrame[Shots]:
        if not self.times:
            raise ValueError("detect_shots got no frames")
        last = FrameTimecode(len(self.times) - 1, self.fps)
        self.cut_frames += [tc.frame_num for tc in self.detector.post_process(last)]
        return shots_from_cuts(np.asarray(self.times), sorted(set(self.cut_frames)), ep_id=self.ep_id)


def detect_shots(frames: Iterable[Frame], *, ep_id: str, fps: float, cfg: ShotsConfig) -> DataFrame[Shots]:
    """Split the frame stream into shots. Frames must carry small pixels (`iter_frames(small_width=...)`)."""
    cutter = ShotCutter(ep_id=ep_id, fps=fps, cfg=cfg)
    for frame in frames:
        cutter.add(frame)
    return cutter.finish()


def shots_from_cuts(times: np.ndarray, cut_frames: list[int], *, ep_id: str) -> DataFrame[Shots]:
    """Shots bounded by the timestamps of cut frames; the last shot ends one frame after the last frame."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    cuts = [times[i] for i in cut_frames if 0 < i < len(times)]
    bounds = [float(times[0]), *map(float, cuts), float(times[-1] + step)]
    return Shots.validate(pd.DataFrame({
        "ep_id": ep_id, "shot_id": np.arange(len(bounds) - 1),
        "start_s": bounds[:-1], "end_s": bounds[1:],
    }))
