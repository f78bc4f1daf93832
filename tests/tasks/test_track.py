"""Tracking on generated detections with known identities."""
from __future__ import annotations

import numpy as np
import pandas as pd

from screenalytics.tasks.configs import TrackConfig
from screenalytics.tasks.track import track_faces


def scene(n_frames: int = 10, step_s: float = 0.2):
    """Two faces moving slowly for n frames; a cut half way; a brief third face seen once after the cut."""
    rows, det = [], 0
    truth = {}
    for f in range(n_frames):
        for person, (x, y) in {"a": (10 + 3 * f, 10), "b": (300, 100 - 2 * f)}.items():
            rows.append(dict(ep_id="e", det_id=det, frame_idx=f * 5, t_s=f * step_s, x1=x, y1=y, x2=x + 60,
                             y2=y + 60, score=0.9))
            truth[det] = (person, f * step_s >= 1.0)
            det += 1
    rows.append(dict(ep_id="e", det_id=det, frame_idx=(n_frames - 1) * 5, t_s=(n_frames - 1) * step_s, x1=600,
                     y1=300, x2=640, y2=340, score=0.9))
    truth[det] = ("c", True)
    frames = pd.DataFrame({"frame_idx": np.arange(n_frames) * 5, "t_s": np.arange(n_frames) * step_s})
    shots = pd.DataFrame({"shot_id": [0, 1], "start_s": [0.0, 1.0], "end_s": [1.0, 2.0]})
    return frames, pd.DataFrame(rows), shots, truth


def test_one_track_per_person_per_shot_and_link_to_detections():
    frames, dets, shots, truth = scene()
    tracks = track_faces(frames, dets, shots, cfg=TrackConfig(), sample_fps=5.0)
    assert set(tracks["det_id"]) == set(dets["det_id"]), "every confident detection is tracked, none dropped"
    groups = {}
    for det_id, track_id in zip(tracks["det_id"], tracks["track_id"]):
        groups.setdefault(track_id, set()).add(truth[det_id])
    assert all(len(members) == 1 for members in groups.values()), "no track mixes people or crosses the cut"
    assert len(groups) == 5  # a, b before the cut; a, b after; c alone
    assert tracks.groupby("track_id")["shot_id"].nunique().max() == 1


def test_empty_input():
    frames, dets, shots, _ = scene()
    assert track_faces(frames, dets.iloc[:0], shots, cfg=TrackConfig(), sample_fps=5.0).empty
