"""Shot cuts on a composed episode whose cuts are known exactly."""
from __future__ import annotations

import numpy as np

from screenalytics.composer import EpisodeTruth
from screenalytics.tasks.configs import ShotsConfig
from screenalytics.tasks.decoding import iter_frames
from screenalytics.tasks.shots import detect_shots


def test_cuts_match_the_composed_truth(grid_episode):
    truth = EpisodeTruth.from_json(grid_episode["truth"])
    bounds = np.unique(np.r_[truth.visual["start_s"], truth.visual["end_s"]])
    true_cuts = bounds[(bounds > 0) & (bounds < truth.duration_s - 1e-6)]
    cfg = ShotsConfig()
    shots = detect_shots(iter_frames(str(grid_episode["episode"]), keep=lambda _i, _t: False,
                                       small_width=cfg.analysis_width_px), ep_id="g",
                         fps=float(truth.fps), cfg=cfg)
    found = shots["start_s"].to_numpy()[1:]
    frame = 1.0 / truth.fps
    assert len(found) == len(true_cuts), (found, true_cuts)
    np.testing.assert_allclose(found, true_cuts, atol=frame + 1e-6)
    assert shots["end_s"].iloc[-1] == truth.duration_s
