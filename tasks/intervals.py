"""Interval math shared by stages: unions with gap bridging, membership, intersection, and which track segment a
tracked face belongs to. All vectorised over numpy arrays; times in seconds."""
from __future__ import annotations

import numpy as np
import pandas as pd


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


def inside(times: np.ndarray, spans: pd.DataFrame) -> np.ndarray:
    """Whether each time falls in the union of `spans` (start_s/end_s)."""
    if spans.empty:
        return np.zeros(len(times), bool)
    merged = merge_intervals(spans["start_s"].to_numpy(), spans["end_s"].to_numpy(), np.zeros(len(spans)), 0.0)
    starts, ends = merged["start_s"].to_numpy(), merged["end_s"].to_numpy()
    idx = np.searchsorted(starts, times, side="right") - 1
    return (idx >= 0) & (times < ends[np.maximum(idx, 0)])


def intersect(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Intersection of two unions of spans (start_s/end_s), as merged spans."""
    edges = np.unique(np.r_[a["start_s"], a["end_s"], b["start_s"], b["end_s"]])
    if len(edges) < 2:
        return pd.DataFrame({"start_s": [], "end_s": []})
    mids = (edges[:-1] + edges[1:]) / 2
    keep = inside(mids, a) & inside(mids, b)
    spans = pd.DataFrame({"start_s": edges[:-1][keep], "end_s": edges[1:][keep]})
    merged = merge_intervals(spans["start_s"].to_numpy(), spans["end_s"].to_numpy(), np.zeros(len(spans)), 0.0)
    return merged[["start_s", "end_s"]]


def segment_of(points: pd.DataFrame, segments: pd.DataFrame) -> np.ndarray:
    """segment_id of each (track_id, t_s) row in `points`: a segment owns [start_s, next segment's start_s) of
    its track; the first owns everything before."""
    out = np.full(len(points), -1, np.int64)
    for track_id, seg in segments.groupby("track_id"):
        seg = seg.sort_values("start_s", kind="stable")  # searchsorted needs the track's segments in time order
        mask = (points["track_id"] == track_id).to_numpy()
        idx = np.searchsorted(seg["start_s"].to_numpy(), points.loc[mask, "t_s"].to_numpy(), side="right") - 1
        out[mask] = seg["segment_id"].to_numpy()[np.clip(idx, 0, len(seg) - 1)]
    return out


def same_frame_pairs(points: pd.DataFrame, column: str) -> set[tuple[int, int]]:
    """Pairs (a < b) of distinct `column` values seen at the same `t_s`."""
    pairs: set[tuple[int, int]] = set()
    for _, ids in points.groupby("t_s")[column]:
        uniq = np.unique(ids.to_numpy())
        for i in range(len(uniq)):
            for j in range(i + 1, len(uniq)):
                pairs.add((int(uniq[i]), int(uniq[j])))
    return pairs


def split_at(spans: pd.DataFrame, cuts: np.ndarray) -> pd.DataFrame:
    """`spans` (start_s/end_s and any other columns) cut at every time of `cuts` strictly inside a span; the other
    columns are repeated on each piece."""
    cuts = np.unique(np.asarray(cuts, float))
    starts, ends = spans["start_s"].to_numpy(float), spans["end_s"].to_numpy(float)
    lo = np.searchsorted(cuts, starts, side="right")
    pieces = np.searchsorted(cuts, ends, side="left") - lo + 1
    out = spans.loc[spans.index.repeat(pieces)].reset_index(drop=True)
    k = np.arange(len(out)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    first, last = np.repeat(lo, pieces), np.repeat(pieces, pieces) - 1
    bounds = np.r_[cuts, np.inf]
    out["start_s"] = np.where(k == 0, np.repeat(starts, pieces), bounds[np.clip(first + k - 1, 0, len(cuts))])
    out["end_s"] = np.where(k == last, np.repeat(ends, pieces), bounds[np.clip(first + k, 0, len(cuts))])
    return out


def clip_to(spans: pd.DataFrame, within: pd.DataFrame) -> pd.DataFrame:
    """`spans` (start_s/end_s and any other columns) cut to the union of `within`: each span keeps its pieces
    inside it, the other columns repeated on each."""
    pieces = split_at(spans, np.r_[within["start_s"].to_numpy(float), within["end_s"].to_numpy(float)])
    middle = ((pieces["start_s"] + pieces["end_s"]) / 2).to_numpy()
    keep = inside(middle, within) & (pieces["end_s"] > pieces["start_s"]).to_numpy()
    return pieces[keep].reset_index(drop=True)


def frame_counts(spans: pd.DataFrame, n: int, step_s: float) -> np.ndarray:
    """How many spans (start_s/end_s) cover each of `n` frames of `step_s` from 0 (edges rounded to frames)."""
    out = np.zeros(n + 1, np.int64)
    lo = np.clip(np.round(spans["start_s"].to_numpy(float) / step_s).astype(int), 0, n)
    hi = np.clip(np.round(spans["end_s"].to_numpy(float) / step_s).astype(int), 0, n)
    np.add.at(out, lo, 1)
    np.add.at(out, hi, -1)
    return np.cumsum(out)[:n]
