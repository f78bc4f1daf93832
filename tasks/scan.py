"""One decode pass for the `shots`, `detect` and `facecrops` stages: a decode thread keeps a bounded queue of frames
ahead (`decoding.prefetch`); every frame's small copy feeds the shot-cut detector, the sampled frames' full pixels
feed the face detector, and every frame's grey pixels feed the face-crop cutter (which follows the faces the
detector found, or the stored detections when `detect` is reused). Each stage keeps its own key (its own module's
code, inputs and models, as `stage_task` makes it), so a finished one is reused and the pass feeds only the
others."""
from __future__ import annotations

import time
from typing import Any, NamedTuple

from prefect import task

from screenalytics.tasks import storage
from screenalytics.tasks.configs import DetectConfig, FaceCropsConfig, ShotsConfig
from screenalytics.tasks.decoding import DECODE_STALL_S, iter_frames, prefetch
from screenalytics.tasks.detect import FaceScanner, frame_sampler, sampling_rate
from screenalytics.tasks.facecrops import ARROW_SCHEMA, CropCutter, detections_by_frame
from screenalytics.tasks.progress import ProgressHook, log_progress
from screenalytics.tasks.runner import (
    TASK_OPTIONS,
    ModelSource,
    RunContext,
    StageOutput,
    find_stage,
    local_input,
    stage_dir,
    write_stage,
)
from screenalytics.tasks.schemas import Chips, Detections, EpisodeInfo, FaceCrops, SampledFrames, Shots
from screenalytics.tasks.shots import ShotCutter


class _Fed(NamedTuple):
    """A stage the pass feeds: its progress label, the module its key is made of, its tables, its model roles."""

    label: str
    module: str
    tables: dict[str, type]
    roles: tuple[str, ...]


STAGES = {"shots": _Fed("shot cuts", ShotCutter.__module__, {"shots": Shots}, ()),
          "detect": _Fed("face detection", FaceScanner.__module__,
                         {"frames": SampledFrames, "detections": Detections, "chips": Chips}, ("face_detector",)),
          "facecrops": _Fed("face crops", CropCutter.__module__, {"crops": FaceCrops}, ())}


class _Timed:
    """A stage's frame consumer, with the seconds spent in it."""

    def __init__(self, consumer: Any) -> None:
        self.consumer, self.seconds = consumer, 0.0

    def add(self, frame: Any) -> None:
        started = time.perf_counter()
        self.consumer.add(frame)
        self.seconds += time.perf_counter() - started

    def finish(self) -> Any:
        started = time.perf_counter()
        result = self.consumer.finish()
        self.seconds += time.perf_counter() - started
        return result


def _produced(stage: str, result: Any, consumer: Any, info: EpisodeInfo, detect_cfg: DetectConfig,
              detector: Any) -> tuple:
    if stage == "shots":
        return {"shots": result}, {"n_shots": len(result)}
    if stage == "facecrops":
        return {"crops": result}, {"n_crops": consumer.n_crops}
    frames, dets, chips = result
    return ({"frames": frames, "detections": dets, "chips": chips},
            {"n_sampled": len(frames), "n_faces": len(dets), "providers": detector.providers,
             "sample_fps": sampling_rate(detect_cfg, info.fps)})


@task(name="scan", **TASK_OPTIONS)
def scan_task(ctx: RunContext, models: ModelSource, progress: ProgressHook | None = None, *, info: EpisodeInfo,
              shots_cfg: ShotsConfig, detect_cfg: DetectConfig,
              facecrops_cfg: FaceCropsConfig | None = None) -> dict[str, StageOutput]:
    """The `shots`, `detect` and (when `facecrops_cfg` is enabled) `facecrops` stage outputs, from at most one
    decode of the video. A stage's seconds are its own compute plus an equal share of the time the pass waited for
    decoded frames (`info.decode_wait_s`)."""
    hook = progress or log_progress
    inputs: dict[str, dict[str, Any]] = {"shots": {"info": info, "cfg": shots_cfg},
                                         "detect": {"info": info, "cfg": detect_cfg}}
    if facecrops_cfg is not None and facecrops_cfg.enabled:
        inputs["facecrops"] = {"info": info, "cfg": facecrops_cfg}
    keys, done = {}, {}
    for stage in inputs:
        if stage == "facecrops":
            inputs[stage]["detect"] = keys["detect"]
        keys[stage], found = find_stage(stage, STAGES[stage].module, ctx, models, STAGES[stage].roles, inputs[stage],
                                        hook)
        if found is not None:
            done[stage] = found
    todo = [stage for stage in inputs if stage not in done]
    if not todo:
        return done
    detector = models.get("face_detector") if "detect" in todo else None
    fed: dict[str, _Timed] = {}
    if "shots" in todo:
        fed["shots"] = _Timed(ShotCutter(ep_id=ctx.ep_id, fps=info.fps, cfg=shots_cfg))
    if "detect" in todo:
        fed["detect"] = _Timed(FaceScanner(detector, ep_id=ctx.ep_id, cfg=detect_cfg))
    if "facecrops" in todo:  # after the detector: it follows the faces found on the frame just detected
        sampled = (fed["detect"].consumer.boxes_at if "detect" in fed
                   else detections_by_frame(done["detect"].table("frames"), done["detect"].table("detections")))
        sink = storage.ParquetSink(storage.join(stage_dir(ctx, "facecrops", keys["facecrops"]), "crops.parquet"),
                                   ARROW_SCHEMA)
        fed["facecrops"] = _Timed(CropCutter(sampled, facecrops_cfg, sink))
    path = local_input(ctx.video.url)
    frames = iter_frames(path,
                         keep=frame_sampler(detect_cfg) if "detect" in todo else (lambda _i, _t: False),
                         small_width=shots_cfg.analysis_width_px if "shots" in todo else None,
                         gray="facecrops" in todo)
    started = time.perf_counter()
    try:
        with hook(" + ".join(STAGES[stage].label for stage in todo), info.n_frames) as step:
            for frame in prefetch(frames, stall_s=DECODE_STALL_S, source=path):
                for consumer in fed.values():
                    consumer.add(frame)
                step(1)
            results = {stage: consumer.finish() for stage, consumer in fed.items()}
    except BaseException:
        if "facecrops" in fed:
            fed["facecrops"].consumer.abort()
        raise
    waited = time.perf_counter() - started - sum(c.seconds for c in fed.values())
    for stage in todo:
        produced = _produced(stage, results[stage], fed[stage].consumer, info, detect_cfg, detector)
        produced[1]["decode_wait_s"] = round(waited, 3)
        done[stage] = write_stage(ctx, stage, keys[stage], produced, STAGES[stage].tables,
                                  fed[stage].seconds + waited / len(todo))
    return {stage: done[stage] for stage in inputs}
