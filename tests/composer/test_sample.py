"""build_sample and facebank stills."""

from __future__ import annotations

from pathlib import Path

from screenalytics.composer import STILL_TIMES_S, EpisodeTruth, build_sample, extract_stills
from tests.composer.conftest import A, C


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
