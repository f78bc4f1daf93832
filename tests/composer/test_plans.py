"""Plan builders: the source window the facebank relies on, and the TV-hard plan's small faces."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from screenalytics.composer import (
    EPISODE_SOURCE_WINDOW_S,
    STILL_TIMES_S,
    Layer,
    Shot,
    check_source_window,
    compose_episode,
    sample_plan,
    tv_hard_plan,
)
from screenalytics.composer.plans import GRID_FACE_FRAC
from tests.composer.conftest import A
from tests.conftest import CROWD, GRID


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

