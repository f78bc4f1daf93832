"""Composer test media (three GRID clips) and a small composed episode: a solo shot, a side-by-side shot dissolving
into a second solo shot."""

from __future__ import annotations

from pathlib import Path

import pytest

from screenalytics.composer import EpisodeTruth, Layer, Shot, Source, compose_episode
from tests.conftest import GRID

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


@pytest.fixture(scope="package")
def episode(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EpisodeTruth]:
    out = tmp_path_factory.mktemp("ep") / "ep.mp4"
    return out, compose_episode(_plan(), out, fps=FPS, size=SIZE)
