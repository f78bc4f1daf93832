"""Visual screen time with hand-computed truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screenalytics.tasks.configs import ScreenTimeConfig
from screenalytics.tasks.fusion import screen_time
from screenalytics.tasks.intervals import segment_of
from screenalytics.tasks.schemas import TrackSegments
from screenalytics.tasks.screentime import visual_intervals


def setup_episode():
    """Sampling every 0.2 s over 4 s; a cut at 2.0 s. Person p: track 0 at 0-0.8 s (sample 0.6 s missed) and
    track 1 (same person, overlapping in time) 0.4-1.2 s; track 2 in shot 1 from 2.0 s to the end. Person q: one
    sample at 3.0 s. Each sample covers halfway to its neighbours; a shot's first/last sample reaches its edge.
    Returns the frames, shots, tracks, each tracked face's segment (one segment per track, as the embed stage
    records it) and the identities."""
    times = np.round(np.arange(0, 4.0, 0.2), 3)
    frames = pd.DataFrame({"frame_idx": np.arange(len(times)), "t_s": times})
    shots = pd.DataFrame({"shot_id": [0, 1], "start_s": [0.0, 2.0], "end_s": [2.0, 4.0]})
    rows = [(0, t, 0) for t in (0.0, 0.2, 0.4, 0.8)] + [(1, t, 0) for t in (0.4, 0.6, 0.8, 1.0, 1.2)]
    rows += [(2, t, 1) for t in times[times >= 2.0]] + [(3, 3.0, 1)]
    tracks = pd.DataFrame(rows, columns=["track_id", "t_s", "shot_id"]).assign(
        det_id=lambda d: np.arange(len(d)), ep_id="e")
    identities = pd.DataFrame({"segment_id": [0, 1, 2, 3], "track_id": [0, 1, 2, 3],
                               "start_s": [0.0, 0.4, 2.0, 3.0], "end_s": [0.8, 1.2, 3.8, 3.0],
                               "person_id": ["p", "p", "p", "q"], "name": ["P", "P", "P", "unknown_1"]})
    faces = TrackSegments.validate(tracks[["ep_id", "det_id", "track_id", "t_s"]].assign(
        segment_id=segment_of(tracks, identities)))
    return frames, shots, tracks, faces, identities


def test_visual_intervals_merge_tracks_and_never_bridge_cuts():
    frames, shots, tracks, faces, identities = setup_episode()
    iv = visual_intervals(tracks, faces, frames, shots, identities, ep_id="e", cfg=ScreenTimeConfig(max_gap_s=0.5))
    p = iv[iv["person_id"] == "p"][["start_s", "end_s"]].to_numpy()
    np.testing.assert_allclose(p, [[0.0, 1.3], [2.0, 4.0]])  # the two overlapping tracks count once
    np.testing.assert_allclose(iv[iv["person_id"] == "q"][["start_s", "end_s"]].to_numpy(), [[2.9, 3.1]])
    table = screen_time(iv, identities, ep_id="e", duration_s=4.0).set_index("person_id")
    assert table.loc["p", "visual_s"] == pytest.approx(3.3)
    assert table.loc["p", "appearances"] == 2
    assert table.loc["p", "share_of_episode"] == pytest.approx(0.825)
    assert table.loc["q", "name"] == "unknown_1"


def test_gap_bridging_is_configurable():
    frames, shots, tracks, faces, identities = setup_episode()
    only0 = tracks[tracks["track_id"].isin([0])]
    iv = visual_intervals(only0, faces, frames, shots, identities, ep_id="e", cfg=ScreenTimeConfig(max_gap_s=0.0))
    np.testing.assert_allclose(iv[["start_s", "end_s"]].to_numpy(), [[0.0, 0.5], [0.7, 0.9]])
