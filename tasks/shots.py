"""Shot cuts with PySceneDetect, on container timestamps (not frame index x nominal fps)."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from pandera.typing import DataFrame
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

from screenalytics.tasks.configs import ShotsConfig
from screenalytics.tasks.decoding import Frame, iter_frames
from screenalytics.tasks.runner import Produced, StageRun, local_input, stage_task
from screenalytics.tasks.schemas import EpisodeInfo, Shots

Progress = Callable[[int], None]


def _make_detector(cfg: ShotsConfig, fps: float) -> AdaptiveDetector | ContentDetector:
    min_len = max(1, math.ceil(cfg.min_shot_s * fps))
    if cfg.detector == "adaptive":
        return AdaptiveDetector(adaptive_threshold=cfg.threshold, min_scene_len=min_len,
                                min_content_val=cfg.min_content_val)
    return ContentDetector(threshold=cfg.threshold, min_scene_len=min_len)


def detect_shots(frames: Iterable[Frame], *, ep_id: str, fps: float, cfg: ShotsConfig,
                 progress: Progress | None = None) -> DataFrame[Shots]:
    """Split the frame stream into shots. Frames must carry (downscaled) pixels."""
    detector = _make_detector(cfg, fps)
    times: list[float] = []
    cut_frames: list[int] = []
    for frame in frames:
        times.append(frame.t_s)
        cut_frames += [tc.frame_num for tc in detector.process_frame(FrameTimecode(frame.index, fps),
                                                                      frame.image_bgr)]
        if progress:
            progress(1)
    if not times:
        raise ValueError("detect_shots got no frames")
    cut_frames += [tc.frame_num for tc in detector.post_process(FrameTimecode(len(times) - 1, fps))]
    return shots_from_cuts(np.asarray(times), sorted(set(cut_frames)), ep_id=ep_id)


def shots_from_cuts(times: np.ndarray, cut_frames: list[int], *, ep_id: str) -> DataFrame[Shots]:
    """Shots bounded by the timestamps of cut frames; the last shot ends one frame after the last frame."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    cuts = [times[i] for i in cut_frames if 0 < i < len(times)]
    bounds = [float(times[0]), *map(float, cuts), float(times[-1] + step)]
    return Shots.validate(pd.DataFrame({
        "ep_id": ep_id, "shot_id": np.arange(len(bounds) - 1),
        "start_s": bounds[:-1], "end_s": bounds[1:],
    }))


@stage_task("shots", tables={"shots": Shots})
def shots_task(run: StageRun, info: EpisodeInfo, cfg: ShotsConfig) -> Produced:
    with run.progress("shot cuts", info.n_frames) as advance:
        frames = iter_frames(local_input(run.ctx.video.url), width=cfg.analysis_width_px)
        table = detect_shots(frames, ep_id=run.ctx.ep_id, fps=info.fps, cfg=cfg, progress=advance)
    return {"shots": table}, {"n_shots": len(table)}
