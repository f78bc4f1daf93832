"""Visual screen time on composed episodes (with exact truth) under one model setting: per person truth vs result,
and the checks of the accuracy bars. Not a test: it runs the episode flow and writes JSON (and prints Markdown).

    python tests/extras/composed_accuracy.py OUT.json EPISODE_DIR... [--set models.face_embedder=dlib ...]

Each EPISODE_DIR is a `screenalytics sample` folder (episode.mp4, truth.json, facebank/). Per episode it records each
person's true and measured visual seconds, the names given to anyone not in the truth (extras named as cast), people
reported as several identities, and the seconds a person is reported while only others are on screen (a merge).
Bars (as tests/flows/test_episode.py): every person within max(0.5 s, 3%) of the truth, nobody else named, one
identity per person, at most 0.5 s reported on someone else.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml


def false_positive_s(intervals: pd.DataFrame, truth: pd.DataFrame, person: str) -> float:
    mine = intervals[(intervals["person_id"] == person) & (intervals["kind"] == "visual")]
    true = truth[truth["person"] == person]
    total = 0.0
    for start, end in zip(mine["start_s"], mine["end_s"]):
        inside = sum(max(0.0, min(end, te) - max(start, ts)) for ts, te in zip(true["start_s"], true["end_s"]))
        total += (end - start) - inside
    return total


def evaluate(folder: Path, root: Path, overrides: dict) -> dict:
    from screenalytics.composer import EpisodeTruth
    from screenalytics.flows.episode import episode

    truth = EpisodeTruth.from_json(folder / "truth.json")
    ep_id = folder.name
    started = time.perf_counter()
    manifest = episode(str(folder / "episode.mp4"), ep_id=ep_id, facebank=str(folder / "facebank"), root=str(root),
                       overrides=overrides)
    seconds = time.perf_counter() - started
    out = root / "episodes" / ep_id
    table = pd.read_parquet(out / "screentime.parquet")
    intervals = pd.read_parquet(out / "intervals.parquet")
    # cast names only: not unknown_N faces, unidentified segments nor voice_N (a voice linked to no face)
    named = table[~table["person_id"].str.startswith(("unknown_", "unidentified", "voice_"))]
    people = []
    for person, true_s in sorted(truth.visual_s.items()):
        rows = named[named["name"] == person]
        got = float(rows["visual_s"].sum()) if len(rows) else 0.0
        people.append({"person": person, "truth_s": round(true_s, 3), "got_s": round(got, 3),
                       "ok": abs(got - true_s) <= max(0.5, 0.03 * true_s) and len(rows) == 1,
                       "rows": int(len(rows)),
                       "on_others_s": round(false_positive_s(intervals, truth.visual, person), 3)})
    extras = sorted(set(named["name"]) - set(truth.visual_s))
    unknown = table[table["person_id"].str.startswith("unknown_")]
    return {"episode": ep_id, "people": people, "extras_named": extras,
            "unknown": {str(r.person_id): round(float(r.visual_s), 3) for r in unknown.itertuples()},
            "passes": all(p["ok"] and p["on_others_s"] <= 0.5 for p in people) and not extras,
            "models": {k: v.get("name") for k, v in manifest["models"].items() if k.startswith("face_")},
            "thresholds": {k: manifest["config"][s][f] for k, (s, f) in {
                "det_thresh": ("detect", "det_thresh"), "split": ("embed", "split_distance"),
                "cluster": ("cluster", "distance"), "accept": ("match", "accept_distance"),
                "margin": ("match", "min_margin")}.items()},
            "flow_s": round(seconds, 1),
            "stages_s": {k: round(v.get("seconds", 0.0), 2) for k, v in manifest["stages"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("episodes", type=Path, nargs="+")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="SECTION.FIELD=VALUE")
    args = parser.parse_args()
    overrides = {}
    for item in args.sets:
        key, value = item.split("=", 1)
        overrides[key] = yaml.safe_load(value)
    root = Path(tempfile.mkdtemp(prefix="sa-acc-"))
    results = []
    for folder in args.episodes:
        results.append(evaluate(folder, root, overrides))
        args.out.write_text(json.dumps(results, indent=1))
        r = results[-1]
        print(f"## {r['episode']} {r['models']} passes={r['passes']} extras={r['extras_named']} "
              f"unknown={r['unknown']} ({r['flow_s']} s)")
        for p in r["people"]:
            print(f"| {p['person']} | {p['truth_s']:.2f} | {p['got_s']:.2f} | {p['rows']} | {p['on_others_s']:.2f} |"
                  f" {'ok' if p['ok'] else 'FAIL'} |")
        print(flush=True)


if __name__ == "__main__":
    main()
