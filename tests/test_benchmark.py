"""The benchmark harness's pure parts: accuracy against truth, samples to spans, the floor, the headline keys and
targets, the generated Markdown section, and the bench plan (no pipeline run, no composition: fast)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from screenalytics.bench import report, scoring
from screenalytics.bench.floor import work
from screenalytics.bench.inputs import extras_spans
from screenalytics.benchmark import headline, stage_units
from tests.conftest import CROWD, GRID


def spans(*rows: tuple[str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=scoring.SPANS)


def test_score_visual_errors_misnaming_and_extras() -> None:
    truth = spans(("a", 0.0, 10.0), ("b", 5.0, 8.0))
    measured = spans(("a", 0.0, 9.0), ("a", 12.0, 13.0),  # 1 s missed, 1 s named while a is not on screen
                     ("b", 5.0, 8.0), ("b", 13.2, 13.6),  # b named over an extra in the B-roll
                     ("unknown_1", 0.0, 20.0))  # not cast: ignored
    extras = pd.DataFrame({"start_s": [12.5], "end_s": [14.0]})
    got = scoring.score_visual(truth, measured, ["a", "b", "c"], extras)
    assert got["people"]["a"] == {"truth_s": 10.0, "measured_s": 10.0, "error_s": 0.0, "misnamed_s": 1.0,
                                  "found_s": 9.0, "overreach_s": 0.0}
    assert got["people"]["b"]["error_s"] == pytest.approx(0.4) and "c" not in got["people"]
    assert "unknown_1" not in got["people"]
    assert got["max_abs_error_s"] == pytest.approx(0.4) and got["recall"] == pytest.approx(12 / 13, abs=1e-4)
    assert got["misnamed_s"] == pytest.approx(1.4)
    # a's span from 12 s runs on into the B-roll (a sample's reach past the cut): not an extra named; b's starts there
    assert got["extras_named"] == 1 and got["extras_named_s"] == pytest.approx(0.4)


def test_named_just_past_a_cut_is_overreach_not_a_wrong_name() -> None:
    truth = spans(("a", 0.0, 2.0), ("a", 5.0, 6.0))
    measured = spans(("a", 0.0, 2.3), ("a", 4.9, 6.0), ("a", 3.0, 3.5))  # 0.3 + 0.1 s past the cuts, 0.5 s wrong
    got = scoring.score_visual(truth, measured, ["a"], tolerance_s=1 / 3)
    assert got["people"]["a"]["overreach_s"] == pytest.approx(0.4) and got["misnamed_s"] == pytest.approx(0.5)
    assert got["tolerance_s"] == pytest.approx(1 / 3) and got["people"]["a"]["error_s"] == pytest.approx(0.9)
    strict = scoring.score_visual(truth, measured, ["a"])
    assert strict["misnamed_s"] == pytest.approx(0.9) and strict["overreach_s"] == 0.0


def test_score_visual_counts_a_person_never_on_screen_as_misnamed() -> None:
    got = scoring.score_visual(spans(("a", 0.0, 4.0)), spans(("a", 0.0, 3.0), ("b", 1.0, 2.0)), ["a", "b"])
    assert got["people"]["b"] == {"truth_s": 0.0, "measured_s": 1.0, "error_s": 1.0, "misnamed_s": 1.0,
                                  "found_s": 0.0, "overreach_s": 0.0}
    assert got["max_abs_error_s"] == 1.0 and got["mean_abs_error_s"] == 1.0
    assert got["abs_error_pct"] == 50.0 and got["extras_named"] == 0


def test_samples_become_spans_of_their_period() -> None:
    samples = pd.DataFrame({"t_s": [0.0, 0.2, 0.4, 1.0, 9.9, 0.2], "person": ["a", "a", "a", "a", "a", "b"]})
    got = scoring.sample_spans(samples, 0.2, 10.0)
    a = got[got["person"] == "a"][["start_s", "end_s"]].to_numpy().tolist()
    assert a == [[0.0, pytest.approx(0.6)], [1.0, pytest.approx(1.2)], [9.9, 10.0]]  # clipped to the episode
    assert got[got["person"] == "b"][["start_s", "end_s"]].to_numpy().tolist() == [[0.2, pytest.approx(0.4)]]
    assert scoring.sample_spans(samples.iloc[:0], 0.2, 10.0).empty


def test_samples_on_a_frame_grid_cover_until_the_next_sampled_frame() -> None:
    """3 fps on 25 fps frames samples at 0, 0.36, 0.68, 1.0: a period of 1/3 s would leave holes (0.333-0.36)."""
    grid = np.array([0.0, 0.36, 0.68, 1.0, 1.36])
    samples = pd.DataFrame({"t_s": [0.0, 0.36, 0.68, 1.36], "person": ["a"] * 4})
    got = scoring.sample_spans(samples, 1 / 3, 1.5, grid)[["start_s", "end_s"]].to_numpy().tolist()
    assert got == [[0.0, 1.0], [1.36, 1.5]]  # 1.0 had no face; the last sample covers its period, clipped
    holes = scoring.sample_spans(samples, 1 / 3, 1.5)
    assert len(holes) == 3  # [0, 1/3) and [0.36, ...) do not touch


def test_floor_arithmetic() -> None:
    fl = scoring.floor_seconds({"face_detector": 0.066, "face_embedder": 0.1, "vad": 0.002, "unused": 1.0},
                               {"face_detector": 1800, "face_embedder": 500, "vad": 1200.0, "transcriber": 300.0})
    assert fl["parts"] == {"face_detector": 118.8, "face_embedder": 50.0, "vad": 2.4}
    assert fl["total_s"] == pytest.approx(171.2)
    assert scoring.over_floor(184.896, 171.2) == pytest.approx(0.08)
    assert scoring.over_floor(100.0, 125.0) == pytest.approx(-0.2)
    assert np.isnan(scoring.over_floor(10.0, 0.0))


def manifest(audio: bool = True) -> dict:
    stages = {"probe": {"seconds": 0.2, "info": {"n_frames": 15000}},
              "shots": {"seconds": 30.0, "info": {}}, "detect": {"seconds": 120.0, "info": {"n_sampled": 1800}},
              "track": {"seconds": 1.0, "info": {}}, "embed": {"seconds": 48.8, "info": {"n_embedded": 400}}}
    if audio:
        stages |= {"audio": {"seconds": 1.0, "info": {"duration_s": 600.0}},
                   "vad": {"seconds": 2.0, "info": {"speech_s": 250.0}}, "diarize": {"seconds": 60.0, "info": {}},
                   "transcribe": {"seconds": 40.0, "info": {}}}
    return {"stages": stages}


def profile_settings(diarizer: str = "segmentation", trim: float = 0.3) -> SimpleNamespace:
    return SimpleNamespace(models=SimpleNamespace(diarizer=diarizer), diarize=SimpleNamespace(trim_end_s=trim))


def test_work_read_from_the_manifest() -> None:
    assert work(manifest(), profile_settings()) == {
        "face_detector": 1800.0, "face_embedder": 400.0, "vad": 1200.0, "segmentation": 600.0,
        "speaker_embedder": 250.0, "transcriber": 250.0}
    low = manifest()
    del low["stages"]["transcribe"]
    assert work(low, profile_settings("vad", 0.3)) == {"face_detector": 1800.0, "face_embedder": 400.0,
                                                       "vad": 600.0, "speaker_embedder": 250.0}
    assert work(manifest(audio=False), profile_settings()) == {"face_detector": 1800.0, "face_embedder": 400.0}


def test_stage_table_shares_and_throughput() -> None:
    m = manifest()
    table = scoring.stage_table(m["stages"], stage_units(m))
    assert sum(row["share"] for row in table.values()) == pytest.approx(1.0, abs=1e-3)
    assert table["detect"] | {} == {"seconds": 120.0, "share": pytest.approx(120 / 303, abs=1e-4),
                                    "unit": "frames", "count": 1800.0, "per_s": 15.0}
    assert table["embed"]["per_s"] == pytest.approx(8.2, abs=0.01) and table["embed"]["unit"] == "faces"
    assert table["diarize"]["per_s"] == 10.0 and "unit" not in table["probe"]


def results() -> dict:
    def run(wall: float, rss: float, video_s: float) -> dict:
        return {"flow_wall_s": wall, "stage_sum_s": 2 * wall, "cpu_s": 1.9 * wall, "realtime_x": video_s / wall,
                "wall_per_min_s": 60 * wall / video_s, "cpu_per_min_s": 114 * wall / video_s,
                "peak_rss_mb": rss, "peak_pss_mb": rss - 100,
                "peak_rss_with_server_mb": rss + 200, "peak_breakdown": [["screenalytics.bench.child", rss]],
                "stages": scoring.stage_table(manifest()["stages"], stage_units(manifest())),
                "accuracy": scoring.score_visual(spans(("a", 0, 1)), spans(("a", 0, 1)), ["a"]),
                "visual": {"flow_wall_s": wall / 2, "realtime_x": 2 * video_s / wall},
                "floor": {"unit_s": {"face_detector": 0.06}, "work": {"face_detector": 1800.0},
                          "parts": {"face_detector": 108.0}, "total_s": 108.0, "over_floor": 0.1,
                          "over_floor_stage_sum": 1.2, "visual_total_s": 108.0}}

    base = {"naive": {"label": "naive", "seconds": 300.0, "frames": 1800, "faces": 3000, "realtime_x": 2.0,
                      "accuracy": scoring.score_visual(spans(("a", 0, 1)), spans(("a", 0, 2)), ["a"])},
            "peer": {"label": "face_recognition", "seconds": 1000.0, "frames": 3000, "faces": 5000,
                     "realtime_x": 0.6, "accuracy": scoring.score_visual(spans(("a", 0, 1)), spans(), ["a"])}}
    return {"date": "2026-12-03", "command": "python -m screenalytics.benchmark", "machine": "2 CPU cores",
            "episode": "10 minutes",
            "inputs": {"10 min": {"duration_s": 600.0, "profiles": {"balanced": run(150.0, 1500.0, 600.0)},
                                  "baselines": base},
                       "2 min": {"duration_s": 120.0, "profiles": {"balanced": run(33.0, 1450.0, 120.0)}}}}


def test_headline_keys_and_targets() -> None:
    r = results()
    h = headline(r)
    assert (h["input"], h["profile"]) == ("10 min", "balanced")
    assert set(scoring.HEADLINE) <= set(h)
    assert h["realtime_x"] == 4.0 and h["visual_realtime_x"] == 8.0
    assert h["vs_naive_x"] == 4.0 and h["vs_peer_x"] == pytest.approx(13.333)  # against the vision-only wall clock
    assert h["over_floor"] == 0.1 and h["peak_rss_mb"] == 1500.0
    targets = scoring.check_targets(h | {"peak_rss_mb": 2100.0, "vs_peer_x": None})
    assert set(targets) == set(scoring.HEADLINE)
    assert targets["realtime_x"] == {"target": ">= 3", "value": 4.0, "met": True}
    assert targets["peak_rss_mb"]["met"] is False and targets["vs_peer_x"]["met"] is None
    assert scoring.check_targets({"over_floor": 0.25})["over_floor"]["met"] is True
    short, long = (r["inputs"][k]["profiles"]["balanced"] for k in ("2 min", "10 min"))
    assert scoring.flatness(short, long) == {"per_minute_ratio": pytest.approx(0.909, abs=1e-3),
                                             "cpu_per_minute_ratio": pytest.approx(0.909, abs=1e-3),
                                             "peak_rss_ratio": pytest.approx(1.034, abs=1e-3)}


def test_report_writes_json_and_keeps_the_history(tmp_path: Path) -> None:
    r = results()
    r["headline"] = headline(r)
    r |= {k: r["headline"][k] for k in scoring.HEADLINE}
    r["targets"] = scoring.check_targets(r["headline"])
    md, js = tmp_path / "benchmarks.md", tmp_path / "benchmarks.json"
    md.write_text("# Benchmarks\n\nIntro.\n\n## History\n\nold figures\n")
    report.write(r, md, js)
    first = md.read_text()
    assert first.index("Intro.") < first.index(report.START) < first.index(report.END) < first.index("old figures")
    assert "| `realtime_x` | 4.00 | >= 3 | yes |" in first and "face_recognition" in first
    doc = json.loads(js.read_text())
    assert {*scoring.HEADLINE, "targets", "inputs", "headline"} <= set(doc)
    run = doc["inputs"]["10 min"]["profiles"]["balanced"]
    assert {"seconds", "share", "per_s"} <= set(run["stages"]["detect"])
    r["targets"]["realtime_x"]["value"] = 5.0
    report.write(r, md, js)  # regenerated in place: one section, history untouched
    second = md.read_text()
    assert second.count(report.START) == 1 and "| `realtime_x` | 5.00 |" in second and second.endswith("old figures\n")


def test_bench_plan_is_exact_standard_and_only_uses_the_episode_window() -> None:
    from screenalytics.composer import EPISODE_SOURCE_WINDOW_S, bench_plan, check_source_window

    clips = {p.stem: p for p in sorted(GRID.glob("*.mpg"))}
    for duration in (120.0, 600.0):
        plan = bench_plan(clips, CROWD, duration)
        check_source_window(plan, EPISODE_SOURCE_WINDOW_S)
        frames = [round(s.duration_s * 25) for s in plan]
        assert sum(frames) == round(duration * 25) and min(frames) >= 25 and max(frames) <= 50
        sizes = {len(s.layers) for s in plan}
        assert {0, 1, 2, 4, 9} <= sizes  # B-roll, solos, two-shots, 2x2 groups, 3x3 grids
        assert all(s.voice for s in plan if s.layers) and not any(s.voice for s in plan if not s.layers)
        assert {ly.person for s in plan for ly in s.layers} == set(clips)
        extras = extras_spans(plan)
        assert 0.05 * duration < sum(b - a for a, b in extras) < 0.25 * duration
    assert bench_plan(clips, CROWD, 120.0) == bench_plan(clips, CROWD, 120.0)  # deterministic: the cache key holds


def test_music_bed_level_and_seamless_repeat() -> None:
    from screenalytics.composer.music import music_bar, music_chunk

    bar = music_bar(8000)
    assert len(bar) == 8 * 8000 and np.sqrt(np.mean(bar**2)) == pytest.approx(1.0, rel=1e-3)
    whole = music_chunk(bar, 0, 3 * len(bar), -20.0)
    assert np.sqrt(np.mean(whole**2)) == pytest.approx(0.1, rel=1e-3)
    np.testing.assert_array_equal(np.concatenate([music_chunk(bar, 0, 70000, -20.0),
                                                  music_chunk(bar, 70000, 130000, -20.0)]), whole[:130000])


def test_profile_samples_go_to_the_first_bucket_whose_marker_the_stack_holds() -> None:
    """A model's samples count for the model, not for the stage that called it; waiting threads and Prefect's
    API server count for nothing; an unknown stack is "other"."""
    from screenalytics.bench.where_time_goes import buckets

    lines = [
        "process 1:\"python\";run (tasks/runner.py:208);asd_task (tasks/asd.py:171);scores (tasks/models/lr_asd.py:2)"
        ";Session.run (onnxruntime/capi/x.py:406) 50",
        "process 1:\"python\";asd_task (tasks/asd.py:171);audio_features (tasks/asd.py:40) 7",
        "process 1:\"python\";scan_task (tasks/scan.py:1);prefetch (tasks/decoding.py:9)"
        ";Condition.wait (threading.py:327) 900",
        "process 1:\"python\";scan_task (tasks/scan.py:1);iter_frames (tasks/decoding.py:60) 25",
        "process 2:\"uvicorn --factory prefect.server.api.server:create_app\";Connection._execute (x.py:1) 40",
        "process 1:\"python\";mystery (elsewhere.py:1) 3",
    ]
    assert buckets(lines) == {"active speaker: network": 50, "active speaker: crops and MFCCs": 7,
                              "decoding the video": 25, "other": 3}
