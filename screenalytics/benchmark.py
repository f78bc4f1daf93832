"""The standard benchmark (issue "Fast enough for a season: 3x real time on two cores").

    make bench                                   # = python -m screenalytics.benchmark
    python -m screenalytics.benchmark --profiles balanced [--durations 600,120] [--baselines naive,peer]
    python -m screenalytics.benchmark --audio [--profile low_power]    # audio stages on real recordings

Composes once (cached under ~/.cache/screenalytics/bench/ by the plan's hash) the composer's `bench` episode,
1280x720 at 25 fps, of each duration (default 10 and 2 minutes), with its truth. For each input and profile it runs
the `episode` flow on a fresh root in a child process (wall clock, CPU seconds, peak RSS of the process tree), the
same flow on the episode's video stream alone (the vision stages), and measures the floor (each model's unit cost
alone, times the work the run gave it). On the longest input it times and scores the baselines (the naive per-frame
loop and `face_recognition`, `bench` extra). Writes docs/benchmarks.json and the generated section of
docs/benchmarks.md (screenalytics/bench/: the parts; scoring.py is the pure arithmetic).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from screenalytics.bench import scoring

PROFILES = ("low_power", "balanced", "high_accuracy")
WHO = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
BASELINES = ("naive", "peer")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def visual_spans(root: Path, ep_id: str) -> Any:
    import pandas as pd

    table = pd.read_parquet(root / "episodes" / ep_id / "intervals.parquet")
    return table[table["kind"] == "visual"].rename(columns={"person_id": "person"})[scoring.SPANS]


def stage_units(manifest: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """Throughput units of the stages that have one: frames, faces or seconds of audio."""
    st = manifest["stages"]
    units: dict[str, tuple[str, float]] = {}
    n_frames = st["probe"]["info"].get("n_frames")
    if n_frames:
        units["shots"] = ("frames", float(n_frames))
    units["detect"] = ("frames", float(st["detect"]["info"]["n_sampled"]))
    units["track"] = ("frames", float(st["detect"]["info"]["n_sampled"]))
    units["embed"] = ("faces", float(st["embed"]["info"]["n_embedded"]))
    if "audio" in st:
        for stage in ("audio", "vad", "diarize", "transcribe"):
            if stage in st:
                units[stage] = ("s of audio", float(st["audio"]["info"]["duration_s"]))
    return units


def run_profile(bench: dict[str, Any], profile: str, work: Path, truth: Any, extras: Any, floor: bool,
                logs: Path) -> dict[str, Any]:
    from screenalytics.bench.floor import unit_costs
    from screenalytics.bench.floor import work as floor_work
    from screenalytics.bench.inputs import facebank_parquet
    from screenalytics.bench.measure import run_child
    from screenalytics.tasks.settings import load_settings

    settings = load_settings({"profile": profile})
    bank = facebank_parquet(bench, settings)
    video_s = float(bench["duration_s"])
    out: dict[str, Any] = {"profile": profile}
    for label, video, ep_id in (("full", bench["episode"], "bench"), ("visual", bench["silent"], "bench-visual")):
        root = work / f"{round(video_s)}s-{profile}-{label}"
        shutil.rmtree(root, ignore_errors=True)
        log(f"{round(video_s)} s, {profile}: {label} pipeline run")
        r = run_child({"video": str(video), "ep_id": ep_id, "facebank": str(bank), "profile": profile,
                       "root": str(root)}, logs / f"{root.name}.log")
        manifest = r.pop("manifest")
        stage_sum = sum(float(s["seconds"]) for s in manifest["stages"].values())
        spans, period = visual_spans(root, ep_id), 1.0 / float(manifest["stages"]["detect"]["info"]["sample_fps"])
        if r["other_cpu_s"] > 0.1 * r["process_wall_s"]:
            log(f"warning: other processes used {r['other_cpu_s']} CPU s during this {r['process_wall_s']} s run")
        row = {**{k: r[k] for k in ("process_wall_s", "cpu_s", "other_cpu_s", "peak_rss_mb", "peak_rss_with_server_mb",
                                    "peak_pss_mb", "peak_breakdown", "peak_processes", "rss_trace")},
               "flow_wall_s": round(r["flow_wall_s"], 2), "stage_sum_s": round(stage_sum, 2),
               "realtime_x": scoring.ratio(video_s, r["flow_wall_s"]),
               "wall_per_min_s": round(r["flow_wall_s"] * 60 / video_s, 2),
               "cpu_per_min_s": round(r["cpu_s"] * 60 / video_s, 2),
               "stages": scoring.stage_table(manifest["stages"], stage_units(manifest)),
               "accuracy": scoring.score_visual(truth.visual, spans, bench["cast"], extras, period),
               "spans": scoring.span_rows(spans)}
        if label == "full":
            out |= row
            out["vision_stage_sum_s"] = round(sum(float(manifest["stages"][s]["seconds"])
                                                  for s in scoring.VISION_STAGES if s in manifest["stages"]), 2)
            if floor:
                log(f"{round(video_s)} s, {profile}: floor (unit costs alone)")
                detect = manifest["stages"]["detect"]["key"][:16]
                try:
                    stages = root / "episodes" / ep_id / "stages"
                    crops = (str(stages / "facecrops" / manifest["stages"]["facecrops"]["key"][:16])
                             if "asd" in manifest["stages"] else None)
                    units = unit_costs(bench["episode"], str(stages / "detect" / detect), settings, crops_dir=crops)
                except Exception as exc:  # a failed floor should not lose the runs: reported as not measured
                    log(f"floor failed: {exc!r}")
                    continue
                done = floor_work(manifest, settings)
                fl = scoring.floor_seconds(units, done)
                vis = sum(v for k, v in fl["parts"].items() if k in ("face_detector", "face_embedder"))
                out["floor"] = {"unit_s": {k: round(v, 5) for k, v in units.items()}, "work": done, **fl,
                                "over_floor": scoring.over_floor(r["flow_wall_s"], fl["total_s"]),
                                "over_floor_stage_sum": scoring.over_floor(stage_sum, fl["total_s"]),
                                "visual_total_s": round(vis, 3)}
        else:
            out["visual"] = row
            if "floor" in out:
                out["floor"]["visual_over_floor"] = scoring.over_floor(r["flow_wall_s"], out["floor"]["visual_total_s"])
        if not os.environ.get("SCREENALYTICS_BENCH_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
    return out


def run_baselines(bench: dict[str, Any], names: list[str], truth: Any, extras: Any) -> dict[str, Any]:
    import pandas as pd

    from screenalytics.bench import baselines
    from screenalytics.bench.inputs import facebank_parquet
    from screenalytics.bench.measure import busy_s
    from screenalytics.tasks.settings import load_settings

    settings = load_settings({"profile": "balanced"})
    video_s = float(bench["duration_s"])
    out = {}
    for name in names:
        log(f"{round(video_s)} s: baseline {name}")
        machine, own = busy_s(), sum(resource.getrusage(w)[0] + resource.getrusage(w)[1] for w in WHO)
        try:
            if name == "naive":
                r = baselines.naive(bench["episode"], pd.read_parquet(facebank_parquet(bench, settings)), settings)
                r["label"] = (f"naive per-frame loop ({settings.detect.sample_fps:g} fps, every face embedded, "
                              "nearest facebank image)")
            else:
                r = baselines.peer(bench["episode"], bench["facebank"])
                r["label"] = "face_recognition (HOG at half scale, every 5th frame, tolerance 0.6)"
        except Exception as exc:  # e.g. face_recognition not installed: reported as not measured
            log(f"baseline {name} failed: {exc!r}")
            continue
        own = sum(resource.getrusage(w)[0] + resource.getrusage(w)[1] for w in WHO) - own
        r["other_cpu_s"] = round(max(0.0, busy_s() - machine - own), 1)
        if r["other_cpu_s"] > 0.1 * r["seconds"]:
            log(f"warning: other processes used {r['other_cpu_s']} CPU s during this {r['seconds']} s baseline")
        spans = scoring.sample_spans(r.pop("samples"), r["period_s"], video_s, r.pop("frame_times"))
        out[name] = {**r, "realtime_x": scoring.ratio(video_s, r["seconds"]),
                     "accuracy": scoring.score_visual(truth.visual, spans, bench["cast"], extras, r["period_s"]),
                     "spans": scoring.span_rows(spans)}
    return out


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's figures, from the longest input at balanced (or the first profile run)."""
    name = max(results["inputs"], key=lambda k: results["inputs"][k]["duration_s"])
    entry = results["inputs"][name]
    profile = "balanced" if "balanced" in entry["profiles"] else next(iter(entry["profiles"]))
    run = entry["profiles"][profile]
    visual_wall = run.get("visual", {}).get("flow_wall_s")
    base = entry.get("baselines", {})
    figures = {"realtime_x": run["realtime_x"], "visual_realtime_x": run.get("visual", {}).get("realtime_x"),
               "vs_naive_x": scoring.ratio(base.get("naive", {}).get("seconds"), visual_wall),
               "vs_peer_x": scoring.ratio(base.get("peer", {}).get("seconds"), visual_wall),
               "over_floor": run.get("floor", {}).get("over_floor"), "peak_rss_mb": run["peak_rss_mb"]}
    return {"input": name, "profile": profile, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default=",".join(PROFILES), help="Comma-separated profiles to run.")
    parser.add_argument("--durations", default="600,120", help="Episode lengths in seconds (the longest is the "
                        "headline input; baselines run on it).")
    parser.add_argument("--baselines", default=",".join(BASELINES), help="naive, peer (face_recognition), or none.")
    parser.add_argument("--no-floor", action="store_true", help="Skip the floor measurement.")
    parser.add_argument("--clips", type=Path, default=SHARED / "grid_av")
    parser.add_argument("--crowd", type=Path, default=SHARED / "crowd_coventgarden_facenet" / "video.mp4")
    parser.add_argument("--docs", type=Path, default=REPO / "docs", help="Where benchmarks.md/.json are written.")
    parser.add_argument("--audio", action="store_true", help="Time the audio stages on real recordings instead.")
    parser.add_argument("--profile", default="balanced", help="Profile of --audio.")
    args = parser.parse_args()
    import screenalytics.flows  # noqa: F401  (offline Prefect defaults, inherited by the child runs)

    if args.audio:
        from screenalytics.bench.audio import run_audio

        run_audio(SHARED, args.profile)
        return
    import pandas as pd

    from screenalytics.bench import report
    from screenalytics.bench.inputs import bench_episode
    from screenalytics.composer import EpisodeTruth

    profiles = [p for p in args.profiles.split(",") if p]
    durations = sorted((float(d) for d in args.durations.split(",") if d), reverse=True)
    names = [b for b in args.baselines.split(",") if b in BASELINES]
    work = Path(tempfile.mkdtemp(prefix="sa-bench-"))
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python -m screenalytics.benchmark " + " ".join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
                   f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "inputs": {}}
    for k, duration in enumerate(durations):
        log(f"input: bench episode of {duration:g} s (composed once, cached)")
        bench = bench_episode(duration, args.clips, args.crowd if args.crowd.exists() else None)
        truth = EpisodeTruth.from_json(bench["truth"])
        extras = pd.DataFrame(bench["extras"], columns=["start_s", "end_s"])
        name = f"{duration / 60:g} min" if duration % 60 == 0 else f"{duration:g} s"
        entry = {"duration_s": duration, "plan_sha256": bench["plan_sha256"], "shots": bench["shots"],
                 "cast": len(bench["cast"]), "extras_s": round(float((extras["end_s"] - extras["start_s"]).sum()), 2),
                 "true_visual_s": round(sum(truth.visual_s.values()), 2), "profiles": {}}
        results["inputs"][name] = entry
        for profile in profiles:
            entry["profiles"][profile] = run_profile(bench, profile, work, truth, extras, not args.no_floor, work)
            (work / "partial.json").write_text(json.dumps(results, default=str))
        if k == 0 and names:
            entry["baselines"] = run_baselines(bench, names, truth, extras)
            (work / "partial.json").write_text(json.dumps(results, default=str))
    big = results["inputs"][max(results["inputs"], key=lambda k: results["inputs"][k]["duration_s"])]
    results["episode"] = (f"{big['duration_s'] / 60:g} minutes, {big['shots']} shots, {big['cast']} people, "
                          f"{big['extras_s']:g} s of crowd B-roll, speech under a music bed")
    results["headline"] = headline(results)
    results |= {k: results["headline"][k] for k in scoring.HEADLINE}
    results["targets"] = scoring.check_targets(results["headline"])
    if len(durations) > 1:
        profile = results["headline"]["profile"]
        short, long = (results["inputs"][n]["profiles"].get(profile) for n in list(results["inputs"])[::-1][:2])
        if short and long:
            results["flat"] = {"profile": profile, "short": list(results["inputs"])[-1],
                               "long": list(results["inputs"])[0], **scoring.flatness(short, long)}
    report.write(results, args.docs / "benchmarks.md", args.docs / "benchmarks.json")
    log(f"wrote {args.docs / 'benchmarks.md'} and benchmarks.json (run logs in {work})")
    for key, target in results["targets"].items():
        print(f"  {key}: {target['value']} (target {target['target']}: {target['met']})")


if __name__ == "__main__":
    main()
