"""Screen time: per-person intervals and totals from tracked, identified faces.

A detection on a sampled frame covers that frame's sampling interval (halfway to its neighbouring sampled frames,
never past its shot's edges; out to the edge for the first and last sampled frame of a shot). A person's coverage
is merged per shot (so two tracks of one person never count twice), gaps up to `max_gap_s` are bridged within a
shot (missed detections), never across a cut.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from screenalytics.tasks.appearance import assign_segments
from screenalytics.tasks.schemas import Intervals, ScreenTime
from screenalytics.tasks.settings import ScreenTimeConfig

NOT_COUNTED = {"unidentified"}


def merge_intervals(starts: np.ndarray, ends: np.ndarray, groups: np.ndarray, max_gap: float) -> pd.DataFrame:
    """Union of intervals within each group, bridging gaps < `max_gap` (vectorised). Returns group/start/end."""
    if len(starts) == 0:
        return pd.DataFrame({"group": groups[:0], "start_s": starts[:0], "end_s": ends[:0]})
    order = np.lexsort((starts, groups))
    g, s, e = groups[order], starts[order], ends[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    run_end = pd.Series(e).groupby(np.cumsum(new_group)).cummax().to_numpy()
    prev_end = np.r_[-np.inf, run_end[:-1]]
    opens = new_group | (s > prev_end + max_gap)
    run = np.cumsum(opens)
    frame = pd.DataFrame({"run": run, "group": g, "start_s": s, "end_s": e})
    merged = frame.groupby("run").agg(group=("group", "first"), start_s=("start_s", "min"), end_s=("end_s", "max"))
    return merged.reset_index(drop=True)


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


def visual_intervals(tracks: pd.DataFrame, frames: pd.DataFrame, shots: pd.DataFrame, identities: pd.DataFrame,
                     *, ep_id: str, cfg: ScreenTimeConfig) -> pd.DataFrame:
    """`Intervals` of kind `visual`, one set per person_id."""
    covered = coverage(tracks, frames, shots)
    covered = covered.assign(segment_id=assign_segments(covered, identities))
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


def screen_time(intervals: pd.DataFrame, identities: pd.DataFrame, *, ep_id: str, duration_s: float,
                audio: bool = False) -> pd.DataFrame:
    """The output contract table: one row per person_id seen or heard. Without `audio` the speaking columns stay
    null (unknown); with it, people never heard speak 0 s, and voices with no face (`voice_N`) get rows too."""
    span = intervals.assign(d=intervals["end_s"] - intervals["start_s"])
    visual = span[span["kind"] == "visual"]
    agg = visual.groupby("person_id").agg(visual_s=("d", "sum"), appearances=("d", "size"),
                                          first_seen_s=("start_s", "min"), last_seen_s=("end_s", "max"))
    heard = span[span["kind"] == "speaking"]["person_id"].unique() if audio else []
    agg = agg.reindex(agg.index.union(pd.Index(heard, dtype=str))).rename_axis("person_id")
    agg = agg.fillna({"visual_s": 0.0, "appearances": 0}).astype({"appearances": int})
    names = identities.drop_duplicates("person_id").set_index("person_id")["name"]
    table = agg.reset_index().assign(ep_id=ep_id, share_of_episode=lambda t: np.clip(t["visual_s"] / duration_s, 0, 1))
    table["name"] = table["person_id"].map(names).fillna(table["person_id"])
    for kind in ("speaking", "overlap"):
        totals = span[span["kind"] == kind].groupby("person_id")["d"].sum()
        table[f"{kind}_s"] = table["person_id"].map(totals).fillna(0.0) if audio else np.nan
    table["offscreen_speaking_s"] = table["speaking_s"] - table["overlap_s"]
    table = table.sort_values(["visual_s", "speaking_s"], ascending=False, ignore_index=True)
    return ScreenTime.validate(table[list(ScreenTime.to_schema().columns)])
