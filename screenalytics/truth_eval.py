"""A run's screen time scored against a truth file (`screenalytics eval screentime`).

The truth is the composer's `truth.json` (docs/analytics.md, "Truth files"): per person, intervals on screen
(`visual`) and of actual speech (`speaking`), seconds on the container timeline; overlap is their intersection.

Per truth person: the run's visual, speaking and overlap seconds against the truth's, each within
max(absolute, relative × truth). Per run identity: which truth person it mostly shows, from the time where exactly
one truth person is on screen, so that a person shown under two identities is a **split**, an identity showing two
people (each at least a fifth of its time) a **merge**, a named identity that is not the person it shows a
**misnamed** row, and an `unknown_N` a row a person may have lost seconds to."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from screenalytics.tasks.intervals import frame_counts
from screenalytics.tasks.naming import is_named

STEP_S = 0.01  # resolution of the interval arithmetic


class Tolerance(NamedTuple):
    """An error passes when it is at most max(`seconds`, `relative` × truth)."""

    seconds: float
    relative: float

    def allows(self, error: float, truth: float) -> bool:
        return abs(error) <= max(self.seconds, self.relative * truth) + 1e-6


def _mask(spans: pd.DataFrame, n: int) -> np.ndarray:
    return frame_counts(spans, n, STEP_S) > 0


def intersection_s(a: pd.DataFrame, b: pd.DataFrame, duration_s: float) -> float:
    """Seconds covered by both interval sets (start_s, end_s)."""
    n = int(np.ceil(duration_s / STEP_S)) + 1
    return float((_mask(a, n) & _mask(b, n)).sum() * STEP_S)


def person_errors(screentime: pd.DataFrame, truth_visual: pd.DataFrame, truth_speaking: pd.DataFrame | None,
                  duration_s: float, tolerances: dict[str, Tolerance]) -> pd.DataFrame:
    """Per truth person: truth and measured seconds, error and pass/fail, for visual, speaking and overlap (the
    last two only when the truth has speech). A truth person is matched to the run's row of the same name."""
    rows = []
    people = sorted(set(truth_visual["person"]) | set(() if truth_speaking is None else truth_speaking["person"]))
    by_name = screentime.set_index("name")
    for person in people:
        seen = truth_visual[truth_visual["person"] == person]
        truth = {"visual": float((seen["end_s"] - seen["start_s"]).sum())}
        if truth_speaking is not None:
            spoke = truth_speaking[truth_speaking["person"] == person]
            truth["speaking"] = float((spoke["end_s"] - spoke["start_s"]).sum())
            truth["overlap"] = intersection_s(seen, spoke, duration_s)
        for kind, expected in truth.items():
            got = float(by_name[f"{kind}_s"].get(person, 0.0)) if person in by_name.index else 0.0
            got = 0.0 if got != got else got
            rows.append({"person": person, "kind": kind, "truth_s": round(expected, 3), "run_s": round(got, 3),
                         "error_s": round(got - expected, 3), "ok": tolerances[kind].allows(got - expected, expected)})
    return pd.DataFrame(rows, columns=["person", "kind", "truth_s", "run_s", "error_s", "ok"])


def identity_map(intervals: pd.DataFrame, names: dict[str, str], truth_visual: pd.DataFrame, duration_s: float,
                 min_share: float = 0.2) -> pd.DataFrame:
    """Per run identity with visual intervals (`names`: person_id -> name): the truth person it mostly shows
    (`shows`, from the time exactly one truth person is on screen), that share, the other people it shows for at
    least `min_share`, and a verdict: `right`, `misnamed`, `merge` (two or more people), `split` (another identity
    shows the same person too; the unnamed ones are flagged) or `unseen` (on screen only where no single truth
    person is)."""
    n = int(np.ceil(duration_s / STEP_S)) + 1
    people = sorted(set(truth_visual["person"]))
    masks = np.stack([_mask(truth_visual[truth_visual["person"] == p], n) for p in people]) if people else np.zeros(
        (0, n), bool)
    alone = masks & (masks.sum(axis=0) == 1)
    rows = []
    visual = intervals[intervals["kind"] == "visual"]
    for person_id, spans in visual.groupby("person_id"):
        own = _mask(spans, n)
        seconds = (alone & own).sum(axis=1) * STEP_S
        total = float(seconds.sum())
        if total <= 0:
            rows.append({"person_id": person_id, "name": names.get(person_id, person_id), "shows": None,
                         "share": 0.0, "also": "", "verdict": "unseen"})
            continue
        shares = seconds / total
        best = int(np.argmax(shares))
        also = [people[k] for k in np.flatnonzero(shares >= min_share) if k != best]
        rows.append({"person_id": person_id, "name": names.get(person_id, person_id), "shows": people[best],
                     "share": round(float(shares[best]), 3),
                     "also": ", ".join(also), "verdict": "merge" if also else "right"})
    table = pd.DataFrame(rows, columns=["person_id", "name", "shows", "share", "also", "verdict"])
    shown_by = table.groupby("shows")["person_id"].transform("count") if len(table) else table["shows"]
    named = table["person_id"].map(is_named)
    right = table["verdict"] == "right"
    table.loc[right & named & (table["name"] != table["shows"]), "verdict"] = "misnamed"
    table.loc[right & (shown_by > 1) & ~(named & (table["name"] == table["shows"])), "verdict"] = "split"
    return table


def failures(errors: pd.DataFrame, identities: pd.DataFrame) -> list[str]:
    """What fails: a person's seconds out of tolerance, a named identity that shows someone else or two people."""
    out = [f"{r.person} {r.kind}: {r.run_s:.2f} s vs truth {r.truth_s:.2f} s ({r.error_s:+.2f} s)"
           for r in errors.itertuples() if not r.ok]
    bad = identities[identities["person_id"].map(is_named) & identities["verdict"].isin(["misnamed", "merge"])]
    out += [f"{r.name} is {r.verdict}: it mostly shows {r.shows}" + (f" and also {r.also}" if r.also else "")
            for r in bad.itertuples()]
    return out
