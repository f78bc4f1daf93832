"""Tests of the episode composer (screenalytics.compose) on the shared GRID / crowd media."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from screenalytics.compose import (
    EPISODE_SOURCE_WINDOW_S,
    STILL_TIMES_S,
    EpisodeTruth,
    Layer,
    Shot,
    Source,
    build_sample,
    compose_episode,
    extract_stills,
    sample_plan,
    tv_hard_plan,
)
from screenalytics.compose_plans import GRID_FACE_FRAC, check_source_window

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GRID = DATA / "grid_av"
CROWD = DATA / "crowd_coventgarden_facenet" / "video.mp4"

A, B, C = (GRID / f"{n}.mpg" for n in ("lbax4n", "lwbsza", "swiz3n"))
FPS, SIZE = 25, (320, 240)


def _plan() -> list[Shot]:
    """C solo 1.0 s | A+B side by side 0.8 s, dissolving over 0.48 s into | C solo 1.0 s."""
    return [
        Shot(1.0, [Layer(C, "C", 0.0, (85, 60, 150, 120))], voice=Source(C, 0.0, "C")),
        Shot(0.8, [Layer(A, "A", 0.0, (5, 60, 150, 120)), Layer(B, "B", 0.5, (165, 60, 150, 120))],
             voice=Source(B, 0.5, "B"), dissolve_s=0.48),
        Shot(1.0, [Layer(C, "C", 1.0, (85, 60, 150, 120))], voice=Source(C, 1.0, "C"), dim=0.5),
    ]


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EpisodeTruth]:
    out = tmp_path_factory.mktemp("ep") / "ep.mp4"
    return out, compose_episode(_plan(), out, fps=FPS, size=SIZE)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.float32) for f in c.decode(video=0)]


def test_container_matches_plan(episode: tuple[Path, EpisodeTruth]) -> None:
    path, truth = episode
    n = 25 + 20 + 25 - 12  # dissolve overlaps 12 frames
    assert truth.n_frames == n and truth.duration_s == pytest.approx(n / FPS)
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == "h264" and a.codec_context.name == "aac"
        assert (v.codec_context.width, v.codec_context.height) == SIZE
        assert float(v.duration * v.time_base) == pytest.approx(n / FPS, abs=1e-3)
        assert a.start_time == 0 and float(a.duration * a.time_base) == pytest.approx(n / FPS, abs=0.03)
        pts = [f.pts for f in c.decode(v)]
    assert len(pts) == n and pts[0] == 0 and pts == sorted(pts)
    with av.open(str(path)) as c:
        assert next(c.decode(audio=0)).pts == 0


def test_truth_intervals(episode: tuple[Path, EpisodeTruth]) -> None:
    _, truth = episode
    vis = truth.visual.set_index("person")
    # side-by-side shot: both people get exactly the same interval, ending at the dissolve midpoint
    assert tuple(vis.loc["A"]) == tuple(vis.loc["B"]) == pytest.approx((1.0, 1.56))
    c_iv = truth.visual[truth.visual.person == "C"][["start_s", "end_s"]].to_numpy().ravel()
    assert c_iv.tolist() == pytest.approx([0.0, 1.0, 1.56, 2.32])
    assert truth.visual_s == pytest.approx({"A": 0.56, "B": 0.56, "C": 1.76})
    assert sum(truth.visual_s.values()) == pytest.approx(1.0 + 0.56 * 2 + 0.76)
    expect = pd.DataFrame({"person": ["C", "B", "C"], "start_s": [0.0, 1.0, 1.56],
                           "end_s": [1.0, 1.56, 2.32], "source_start_s": [0.0, 0.5, 1.24]})
    pd.testing.assert_frame_equal(truth.voice, expect, check_exact=False)


def test_dissolve_splits_at_midpoint(episode: tuple[Path, EpisodeTruth]) -> None:
    path, _ = episode
    f = _frames(path)
    # overlap = frames 33..44 (1.32-1.80 s); the picture moves steadily from shot 1 to shot 2
    dist = [np.abs(f[i] - f[46]).mean() for i in (31, 36, 41, 45)]
    assert dist == sorted(dist, reverse=True)
    left = (slice(70, 170), slice(10, 70))  # only A (shot 1) has pixels here; shot 2 is black
    assert f[38][left].mean() > f[39][left].mean() > 5 and f[47][left].mean() < 3


def test_audio_follows_voice_truth(episode: tuple[Path, EpisodeTruth]) -> None:
    path, truth = episode
    with av.open(str(path)) as c:
        audio = np.concatenate([fr.to_ndarray().reshape(-1) for fr in c.decode(audio=0)])
    assert np.sqrt(np.mean(audio ** 2)) > 0.01  # voices were placed
    assert truth.voice_s == pytest.approx({"B": 0.56, "C": 1.76})


def test_reading_past_source_end_raises(tmp_path: Path) -> None:
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="looping"):
        compose_episode([Shot(1.2, [Layer(A, "A", 2.0, (0, 0, 160, 128))])], out, size=SIZE)
    with pytest.raises(ValueError, match="voice"):
        compose_episode([Shot(0.4, voice=Source(A, 2.8))], out, size=SIZE)
    with pytest.raises(ValueError):
        compose_episode([Shot(1.0, [Layer(A, "A", 0.0, (200, 0, 160, 128))])], out, size=SIZE)
    assert not out.exists()


def test_truth_json_roundtrip(episode: tuple[Path, EpisodeTruth], tmp_path: Path) -> None:
    _, truth = episode
    back = EpisodeTruth.from_json(truth.to_json(tmp_path / "truth.json"))
    pd.testing.assert_frame_equal(back.visual, truth.visual)
    pd.testing.assert_frame_equal(back.voice, truth.voice)
    assert (back.duration_s, back.n_frames, back.size, back.visual_s) == \
        (truth.duration_s, truth.n_frames, truth.size, truth.visual_s)


def test_plans_use_only_the_episode_window() -> None:
    clips = {p.stem: p for p in sorted(GRID.glob("*.mpg"))}
    four = dict(list(clips.items())[:4])
    for plan in (sample_plan(four), sample_plan(clips), tv_hard_plan(four, CROWD), tv_hard_plan(clips)):
        check_source_window(plan)
    assert EPISODE_SOURCE_WINDOW_S[1] < min(STILL_TIMES_S)
    shots = sample_plan(four)
    assert 20 <= sum(s.duration_s for s in shots) <= 30
    solo = [s.layers[0].person for s in shots if len(s.layers) == 1]
    assert all(solo.count(p) >= 2 for p in four) and any(len(s.layers) == 2 for s in shots)
    assert all(s.voice and s.voice.name == s.layers[0].person for s in shots if len(s.layers) == 1)
    with pytest.raises(ValueError):
        check_source_window([Shot(1.0, [Layer(A, "A", 1.5, (0, 0, 10, 10))])])


def test_tv_hard_faces_are_40px(tmp_path: Path) -> None:
    clips = {p.stem: p for p in sorted(GRID.glob("*.mpg"))}
    plan = tv_hard_plan(clips, CROWD)
    grid, pip = plan[0], plan[1]
    assert len(grid.layers) == 9 and len({ly.person for ly in grid.layers}) == 9
    for ly in [*grid.layers, pip.layers[1]]:
        assert 30 <= ly.rect[3] * GRID_FACE_FRAC <= 50
    assert pip.layers[0].rect[3] * GRID_FACE_FRAC > 250  # inset over a full-size face
    assert plan[-1].background is not None and not plan[-1].layers and plan[-1].voice is None
    assert any(s.lower_third and s.jpeg for s in plan) and any(s.dissolve_s for s in plan)
    dlib = pytest.importorskip("dlib")
    compose_episode([grid], tmp_path / "grid.mp4")  # measure the rendered faces
    with av.open(str(tmp_path / "grid.mp4")) as c:
        img = next(f for i, f in enumerate(c.decode(video=0)) if i == 20).to_ndarray(format="rgb24")
    heights = [d.height() for d in dlib.get_frontal_face_detector()(img, 1)]
    # dlib's box is ~15% taller than the face (126 px box for a ~110 px GRID face); measured 44-53
    assert len(heights) >= 6 and all(30 <= h <= 60 for h in heights), heights
    assert 35 <= float(np.median(heights)) <= 55, heights


def test_build_sample_and_stills(tmp_path: Path) -> None:
    clips_dir = tmp_path / "clips"
    clips_dir.mkdir()
    for p in (A, C):
        (clips_dir / p.name).symlink_to(p)
    stills = extract_stills(A, tmp_path / "stills", STILL_TIMES_S)
    assert len(stills) == 3 and all(p.stat().st_size > 5000 for p in stills)
    r = build_sample(tmp_path / "out", clips_dir=clips_dir, kind="sample")
    truth = EpisodeTruth.from_json(r["truth"])
    assert set(truth.visual_s) == {"lbax4n", "swiz3n"} and r["episode"].stat().st_size > 10_000
    assert sorted(d.name for d in r["facebank"].iterdir()) == ["lbax4n", "swiz3n"]
    assert all(len(list(d.glob("still_*.jpg"))) == 3 for d in r["facebank"].iterdir())
