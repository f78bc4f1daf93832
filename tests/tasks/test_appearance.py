"""The appearance gate: tracks split where their face embeddings jump, on generated embeddings with known
identities."""
from __future__ import annotations

from screenalytics.tasks.appearance import segment_tracks
from tests.tasks.synthetic_faces import DLIB, episode, segments_of


def test_split_at_identity_switch():
    tracks, emb = episode()
    segments, _ = segments_of(tracks, emb)
    switched = segments[segments["track_id"] == 3]
    assert len(switched) == 2
    assert abs(switched["end_s"].iloc[0] - 7.1) < 1e-6
    assert (segments.groupby("track_id").size().drop(3) == 1).all()


def test_switch_located_by_bisection_between_sparse_samples():
    """Only 3 faces of track 3 embedded up front (6.0, 6.6, 8.0 s); the others are embedded on
    demand, and the cut lands between 7.0 and 7.2 s, the true switch, with few extra embeddings."""
    tracks, emb = episode()
    track3 = emb[emb["track_id"] == 3]
    sparse = track3[track3["t_s"].isin([6.0, 6.6, 8.0])]
    asked: list[int] = []

    def embed_more(det_ids):
        asked.extend(det_ids)
        return track3[track3["det_id"].isin(det_ids)]

    segments, out = segment_tracks(tracks[tracks["track_id"] == 3], sparse, track3,
                                   threshold=DLIB.embed.split_distance, embed_more=embed_more)
    assert len(segments) == 2 and abs(segments["end_s"].iloc[0] - 7.1) < 1e-6
    assert len(asked) <= 3 and len(out) == 3 + len(asked)
    assert segments["n_faces"].sum() == len(out), "faces embedded by bisection count in their segment"
