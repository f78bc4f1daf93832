"""Mouth activity on real face chips: a GRID speaker's tracked faces."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screenalytics.tasks.decoding import FrameSampler, iter_frames
from screenalytics.tasks.detect import detect_faces
from screenalytics.tasks.mouth import MIN_MOUTH_PX, mouth_activity
from tests.conftest import GRID


@pytest.fixture(scope="module")
def speaker(detector, settings):
    """Detections and chips of one GRID speaker at 3 samples a second (9 samples)."""
    frames = iter_frames(str(GRID / "bbaf2n.mpg"), keep=FrameSampler(sample_fps=settings.detect.sample_fps))
    _, dets, chips = detect_faces(frames, detector, ep_id="g", cfg=settings.detect)
    return dets, chips


def test_activity_compares_each_sample_with_the_previous_one_of_its_track(speaker, settings):
    dets, chips = speaker
    tracks = dets[["ep_id", "det_id", "t_s"]].assign(track_id=(dets["det_id"] >= 5).astype(int), shot_id=0)
    got = mouth_activity(tracks, dets, chips, ep_id="g", patch_px=settings.fusion.mouth_px)
    assert got["det_id"].tolist() == dets["det_id"].tolist()
    first = got["det_id"].isin([0, 5])
    assert got.loc[first, "activity"].isna().all(), "a track's first sample has nothing to compare with"
    assert (got.loc[~first, "activity"] > 0).all(), "a talking face changes between samples"


def test_a_still_mouth_scores_zero_and_a_tiny_one_is_unreadable(speaker, settings):
    dets, chips = speaker
    twice = pd.concat([dets.iloc[[0]], dets.iloc[[0]].assign(det_id=1)], ignore_index=True)
    twice_chips = pd.concat([chips.iloc[[0]], chips.iloc[[0]].assign(det_id=1)], ignore_index=True)
    tracks = twice[["ep_id", "det_id", "t_s"]].assign(t_s=[0.0, 0.4], track_id=0, shot_id=0)
    got = mouth_activity(tracks, twice, twice_chips, ep_id="g", patch_px=settings.fusion.mouth_px)
    assert np.isnan(got["activity"].iloc[0]) and got["activity"].iloc[1] == pytest.approx(0.0, abs=1e-6)
    # mouth corners closer together than MIN_MOUTH_PX: too small to read
    tiny = twice.assign(kp4_x=twice["kp3_x"] + MIN_MOUTH_PX / 2, kp4_y=twice["kp3_y"])
    assert mouth_activity(tracks, tiny, twice_chips, ep_id="g", patch_px=settings.fusion.mouth_px)[
        "activity"].isna().all()
