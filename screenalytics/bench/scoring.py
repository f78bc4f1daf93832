"""The pure arithmetic of the benchmark: visual accuracy against a composed episode's truth, per-sample names turned
into intervals, the floor, per-stage throughput and the headline figures with the issue's targets. No I/O, no
models: tests/test_benchmark.py checks each on small tables."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from screenalytics.tasks.intervals import intersect, merge_intervals

# Issue "Fast enough for a season: 3x real time on two cores": headline key -> (comparison, bound)
TARGETS: dict[str, tuple[str, float]] = {
    "realtime_x": (">=", 3.0), "visual_realtime_x": (">=", 6.0), "vs_naive_x": (">=", 3.0),
    "vs_peer_x": (">=", 5.0), "over_floor": ("<=", 0.25), "peak_rss_mb": ("<=", 2048.0),
}
HEADLINE = tuple(TARGETS)
VISION_STAGES = ("probe", "shots", "detect", "facecrops", "track", "embed", "cluster", "facebank", "match",
                 "screentime", "fusion")
SPANS = ["person", "start_s", "end_s"]


def span_rows(spans: pd.DataFrame) -> list[list]:
    """Named spans as [person, start_s, end_s] rows (kept in the JSON, so a run can be scored again)."""
    return [[str(p), round(float(a), 3), round(float(b), 3)] for p, a, b in spans[SPANS].itertuples(index=False)]


def seconds(spans: pd.DataFrame) -> float:
    """Length of the union of spans (start_s/end_s)."""
    if spans.empty:
        return 0.0
    merged = merge_intervals(spans["start_s"].to_numpy(float), spans["end_s"].to_numpy(float),
                             np.zeros(len(spans)), 0.0)
    return float((merged["end_s"] - merged["start_s"]).sum())


def overlap_s(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Seconds in both unions."""
    return 0.0 if a.empty or b.empty else seconds(intersect(a, b))


def sample_spans(samples: pd.DataFrame, period_s: float, duration_s: float,
                 frame_times: np.ndarray | None = None) -> pd.DataFrame:
    """Per-sample names (`t_s`, `person`; one row per named face) as merged spans: a sample at t names its person
    until the next sampled frame (`frame_times`: every sampled time, named or not; sampling on a frame grid makes
    the steps uneven), or over [t, t + period_s) without them or after the last, clipped to the episode."""
    if samples.empty:
        return pd.DataFrame(columns=SPANS).astype({"start_s": float, "end_s": float})
    starts = samples["t_s"].to_numpy(float)
    ends = starts + period_s
    if frame_times is not None and len(frame_times):
        grid = np.unique(np.asarray(frame_times, float))
        after = np.searchsorted(grid, starts, side="right")
        ends = np.where(after < len(grid), grid[np.minimum(after, len(grid) - 1)], ends)
    merged = merge_intervals(starts, np.minimum(ends, duration_s), samples["person"].astype(str).to_numpy(), 1e-6)
    return merged.rename(columns={"group": "person"})[SPANS].reset_index(drop=True)


def score_visual(truth: pd.DataFrame, measured: pd.DataFrame, cast: Iterable[str],
                 extras: pd.DataFrame | None = None, tolerance_s: float = 0.0) -> dict[str, Any]:
    """Visual accuracy of named spans (`measured`: person, start_s, end_s; people outside `cast`, such as unknown_N,
    are ignored) against the truth (same columns). Per person: truth, measured, error (measured - truth), found
    (true seconds measured), misnamed seconds (named while that person is not on screen, nor within `tolerance_s`
    of it: a wrong name) and overreach seconds (named within `tolerance_s` around their time on screen: a sample's
    reach past a cut, pass the sampling period). Totals: the largest and mean absolute error, the total absolute
    error as % of true screen time, recall (true seconds found) and naming errors: `misnamed_s`, and
    `extras_named`, the named spans that start inside `extras` (spans where only extras are on screen, e.g. crowd
    B-roll: a span starting there began by naming an extra; one running on into it from the shot before is the
    sampling's reach past a cut), with `extras_named_s` their seconds inside the extras."""
    cast = sorted(set(cast))
    named = measured[measured["person"].isin(cast)]
    extras = extras if extras is not None else pd.DataFrame(columns=["start_s", "end_s"])
    people: dict[str, dict[str, float]] = {}
    for person in sorted(set(truth["person"]) | set(named["person"])):
        t, m = truth[truth["person"] == person], named[named["person"] == person]
        true_s, got_s, hit_s = seconds(t), seconds(m), overlap_s(t, m)
        near_s = overlap_s(t.assign(start_s=t["start_s"] - tolerance_s, end_s=t["end_s"] + tolerance_s), m)
        people[person] = {"truth_s": round(true_s, 3), "measured_s": round(got_s, 3),
                          "error_s": round(got_s - true_s, 3), "found_s": round(hit_s, 3),
                          "misnamed_s": round(got_s - near_s, 3), "overreach_s": round(near_s - hit_s, 3)}
    errors = np.array([abs(p["error_s"]) for p in people.values()]) if people else np.zeros(1)
    total_true = sum(p["truth_s"] for p in people.values())
    starts = named["start_s"].to_numpy(float)
    inside = np.zeros(len(named), bool)
    for a, b in extras[["start_s", "end_s"]].to_numpy(float):
        inside |= (starts >= a - 1e-6) & (starts < b)
    extras_named = int(inside.sum())
    return {"people": people, "max_abs_error_s": round(float(errors.max()), 3),
            "mean_abs_error_s": round(float(errors.mean()), 3),
            "abs_error_pct": round(100 * float(errors.sum()) / total_true, 2) if total_true else 0.0,
            "recall": round(sum(p["found_s"] for p in people.values()) / total_true, 4) if total_true else 1.0,
            "misnamed_s": round(sum(p["misnamed_s"] for p in people.values()), 3),
            "overreach_s": round(sum(p["overreach_s"] for p in people.values()), 3), "tolerance_s": tolerance_s,
            "extras_named_s": round(overlap_s(named[inside], extras), 3), "extras_named": extras_named}


def floor_seconds(unit_s: Mapping[str, float], work: Mapping[str, float]) -> dict[str, Any]:
    """The floor: each model's isolated unit cost (seconds per frame, face or second of audio) times the work the
    pipeline gave it (models absent from either mapping cost nothing)."""
    parts = {m: round(unit_s[m] * work[m], 3) for m in unit_s if m in work}
    return {"parts": parts, "total_s": round(sum(parts.values()), 3)}


def over_floor(compute_s: float, floor_s: float) -> float:
    """How far above the floor the pipeline runs: 0.08 = 8% over (negative: below it, e.g. by concurrency)."""
    return round(compute_s / floor_s - 1.0, 4) if floor_s > 0 else float("nan")


def stage_table(stages: Mapping[str, Mapping[str, Any]], units: Mapping[str, tuple[str, float]]
                ) -> dict[str, dict[str, Any]]:
    """Per stage of a manifest (`stages.<s>.seconds`): seconds, share of the stage sum, and throughput where the
    stage has a unit (`units[s]` = (unit, count): frames, faces or seconds of audio handled per second)."""
    total = sum(float(s.get("seconds", 0.0)) for s in stages.values()) or 1.0
    out = {}
    for name, stage in stages.items():
        spent = float(stage.get("seconds", 0.0))
        row: dict[str, Any] = {"seconds": round(spent, 3), "share": round(spent / total, 4)}
        if name in units:
            unit, count = units[name]
            row |= {"unit": unit, "count": count, "per_s": round(count / spent, 2) if spent > 0 else None}
        out[name] = row
    return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return round(numerator / denominator, 3) if numerator and denominator else None


def check_targets(figures: Mapping[str, float | None]) -> dict[str, dict[str, Any]]:
    """Each issue target with its value and whether it is met (None when not measured)."""
    out = {}
    for key, (op, bound) in TARGETS.items():
        value = figures.get(key)
        met = None if value is None or value != value else (value >= bound if op == ">=" else value <= bound)
        out[key] = {"target": f"{op} {bound:g}", "value": value, "met": met}
    return out


def flatness(short: Mapping[str, Any], long: Mapping[str, Any]) -> dict[str, float | None]:
    """Long input over short input, for wall-clock and CPU seconds per minute of video and peak RSS (1.0 = flat)."""
    return {"per_minute_ratio": ratio(long.get("wall_per_min_s"), short.get("wall_per_min_s")),
            "cpu_per_minute_ratio": ratio(long.get("cpu_per_min_s"), short.get("cpu_per_min_s")),
            "peak_rss_ratio": ratio(long.get("peak_rss_mb"), short.get("peak_rss_mb"))}
