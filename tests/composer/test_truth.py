"""EpisodeTruth's JSON form."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from screenalytics.composer import EpisodeTruth


def test_truth_json_roundtrip(episode: tuple[Path, EpisodeTruth], tmp_path: Path) -> None:
    _, truth = episode
    back = EpisodeTruth.from_json(truth.to_json(tmp_path / "truth.json"))
    pd.testing.assert_frame_equal(back.visual, truth.visual)
    pd.testing.assert_frame_equal(back.voice, truth.voice)
    assert (back.duration_s, back.n_frames, back.size, back.visual_s) == \
        (truth.duration_s, truth.n_frames, truth.size, truth.visual_s)
