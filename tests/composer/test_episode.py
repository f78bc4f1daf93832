"""compose_episode on a small plan: the container, the truth intervals, dissolves, audio and source checks."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from screenalytics.composer import EpisodeTruth, Layer, Shot, Source, compose_episode
from tests.composer.conftest import FPS, SIZE, A


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

