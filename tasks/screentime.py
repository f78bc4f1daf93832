"""The screentime stage: per-person visual intervals from tracked, identified faces, and the run's guardrails.

A detection on a sampled frame covers that frame's sampling interval (halfway to its neighbouring sampled frames,
never past its shot's edges; out to the edge for the first and last sampled frame of a shot). A person's coverage
is merged per shot (so two tracks of one person never count twice), gaps up to `max_gap_s` are bridged within a
shot (missed detections), never across a cut.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.configs import GuardrailsConfig, ScreenTimeConfig
from screenalytics.tasks.guardrails import run_metrics
from screenalytics.tasks.intervals import merge_intervals
from screenalytics.tasks.naming import NOT_COUNTED
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, stage_task
from screenalytics.tasks.schemas import EpisodeInfo, Identities, Intervals, SampledFrames, Shots, Tracks, TrackSegments


def coverage(tracks: pd.DataFrame, frames: pd.DataFrame, shots: pd.DataFrame) -> pd.DataFrame:
    """Each tracked detection's covered interval: halfway to the neighbouring sampled frames, and out to the
    shot's edge when it is the first or last sampled frame of its shot (a face seen right after a cut was there
    from the cut)."""
    starts = shots["start_s"].to_numpy()
    times = np.sort(frames["t_s"].to_numpy())
    frame_shot = np.clip(np.searchsorted(starts, times + 1e-9, side="right") - 1, 0, len(shots) - 1)
    t = tracks["t_s"].to_numpy()
    idx = np.clip(np.searchsorted(times, t - 1e-9), 0, len(times) - 1)
    shot = np.clip(np.searchsorted(starts, t + 1e-9, side="right") - 1, 0, len(shots) - 1)
    prev_idx, next_idx = np.maximum(idx - 1, 0), np.minimum(idx + 1, len(times) - 1)
    first_in_shot = (idx == 0) | (frame_shot[prev_idx] != shot)
    last_in_shot = (idx == len(times) - 1) | (frame_shot[next_idx] != shot)
    shot_start, shot_end = starts[shot], shots["end_s"].to_numpy()[shot]
    start = np.where(first_in_shot, shot_start, np.maximum((times[prev_idx] + t) / 2, shot_start))
    end = np.where(last_in_shot, shot_end, np.minimum((times[next_idx] + t) / 2, shot_end))
    return tracks.assign(start_s=start, end_s=np.maximum(end, start))


def visual_intervals(tracks: DataFrame[Tracks], faces: DataFrame[TrackSegments], frames: DataFrame[SampledFrames],
                     shots: DataFrame[Shots], identities: DataFrame[Identities], *, ep_id: str, cfg: ScreenTimeConfig
                     ) -> DataFrame[Intervals]:
    """`Intervals` of kind `visual`, one set per person_id."""
    covered = coverage(tracks, frames, shots)
    covered = covered.assign(segment_id=covered["det_id"].map(faces.set_index("det_id")["segment_id"]).to_numpy())
    covered = covered.merge(identities[["segment_id", "person_id"]], on="segment_id")
    covered = covered[~covered["person_id"].isin(NOT_COUNTED)]
    if cfg.min_track_s > 0:
        span = covered.groupby("segment_id")["end_s"].transform("max") - covered.groupby("segment_id")[
            "start_s"].transform("min")
        covered = covered[span >= cfg.min_track_s]
    key = covered["person_id"] + "\x00" + covered["shot_id"].astype(str)
    per_shot = merge_intervals(covered["start_s"].to_numpy(), covered["end_s"].to_numpy(), key.to_numpy(),
                               cfg.max_gap_s)
    person = per_shot["group"].str.split("\x00").str[0].to_numpy()
    merged = merge_intervals(per_shot["start_s"].to_numpy(), per_shot["end_s"].to_numpy(), person, 0.0)
    table = pd.DataFrame({"ep_id": ep_id, "person_id": merged["group"], "kind": "visual",
                          "start_s": merged["start_s"], "end_s": merged["end_s"]})
    return Intervals.validate(table.sort_values(["person_id", "start_s"], ignore_index=True))


@stage_task("screentime", tables={"intervals": Intervals})
def screentime_task(run: StageRun, match: StageOutput, cluster: StageOutput, embed: StageOutput, track: StageOutput,
                    detect: StageOutput, shots: StageOutput, info: EpisodeInfo, cfg: ScreenTimeConfig,
                    guardrails: GuardrailsConfig) -> Produced:
    tracks = track.table("tracks")
    intervals = visual_intervals(tracks, embed.table("track_segments"), detect.table("frames"), shots.table("shots"),
                                 match.table("identities"), ep_id=run.ctx.ep_id, cfg=cfg)
    metrics, warnings = run_metrics(tracks, cluster.table("clusters"), duration_s=info.duration_s, cfg=guardrails)
    return {"intervals": intervals}, {"metrics": metrics, "warnings": warnings}
