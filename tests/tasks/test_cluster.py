"""Appearance splitting, clustering and matching on generated embeddings with known identities."""
from __future__ import annotations

import numpy as np
import pandas as pd

from screenalytics.tasks.appearance import segment_tracks
from screenalytics.tasks.cluster import cluster_identities, cooccurring_clusters, group_segments
from screenalytics.tasks.match import match_identities
from screenalytics.tasks.settings import ClusterConfig, MatchConfig

rng = np.random.default_rng(0)
CENTRES = {p: rng.normal(0, 0.12, 128).astype(np.float32) for p in "abcd"}  # ~1.4 apart, like dlib people


def faces(person: str, n: int, spread: float = 0.02) -> list[np.ndarray]:
    return [CENTRES[person] + rng.normal(0, spread, 128).astype(np.float32) for _ in range(n)]


SPEC = {0: [("a", 0.0, 2.0)], 1: [("b", 0.0, 2.0)], 2: [("a", 3.0, 5.0)], 3: [("b", 6.0, 7.0), ("c", 7.2, 8.0)],
        4: [("d", 9.0, 10.0)]}


def episode():
    """Every 0.2 s sample embedded. Tracks: 0=a (0-2 s), 1=b (0-2 s, same frames as 0), 2=a (3-5 s),
    3=b then c (identity switch between 7.0 and 7.2 s), 4=d (9-10 s)."""
    spec = SPEC
    track_rows, emb_rows, det = [], [], 0
    for track, parts in spec.items():
        for person, t0, t1 in parts:
            times = np.round(np.arange(t0, t1 + 1e-9, 0.2), 3)
            vecs = faces(person, len(times))
            for t, v in zip(times, vecs):
                track_rows.append(dict(ep_id="e", det_id=det, track_id=track, shot_id=0, t_s=t))
                emb_rows.append(dict(ep_id="e", det_id=det, track_id=track, t_s=t, quality=1.0, embedder="x",
                                     vector=v))
                det += 1
    return pd.DataFrame(track_rows), pd.DataFrame(emb_rows)


def segments_of(tracks, emb):
    return segment_tracks(tracks, emb, emb.iloc[:0], threshold=0.75, embed_more=None)


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

    segments, out = segment_tracks(tracks[tracks["track_id"] == 3], sparse, track3, threshold=0.75,
                                   embed_more=embed_more)
    assert len(segments) == 2 and abs(segments["end_s"].iloc[0] - 7.1) < 1e-6
    assert len(asked) <= 3 and len(out) == 3 + len(asked)
    assert segments["n_faces"].sum() == len(out), "faces embedded by bisection count in their segment"


def test_clusters_follow_people_and_cannot_link():
    tracks, emb = episode()
    clusters, seg_emb = cluster_identities(tracks, emb, segments_of(tracks, emb)[0], ep_id="e", backend="dlib",
                                           cfg=ClusterConfig())
    label = {tuple(r) for r in clusters[["track_id", "start_s", "cluster_id"]].itertuples(index=False)}
    by_track = clusters.groupby("track_id")["cluster_id"].apply(list).to_dict()
    assert by_track[0] == by_track[2], "the two tracks of a are one identity"
    assert len({by_track[0][0], by_track[1][0], by_track[3][1], by_track[4][0]}) == 4
    assert by_track[1][0] == by_track[3][0], "b's second appearance joins b"
    assert len(label) == 6
    # forcing everything together is blocked for faces seen in the same frame
    labels = group_segments(np.stack([CENTRES["a"], CENTRES["a"]]), {(0, 1)}, threshold=10.0, neighbors=5)
    assert labels[0] != labels[1]


def test_match_names_with_margin_and_keeps_strangers_unknown():
    tracks, emb = episode()
    clusters, seg_emb = cluster_identities(tracks, emb, segments_of(tracks, emb)[0], ep_id="e", backend="dlib",
                                           cfg=ClusterConfig())
    bank = pd.DataFrame({"name": ["Ann", "Ann", "Bob", "Cat"], "vector": faces("a", 2) + faces("b", 1) + faces("c", 1)})
    bank = bank.assign(image="x", image_sha256="x", embedder="x")
    ids = match_identities(clusters, seg_emb, bank, cooccurring_clusters(tracks, clusters), backend="dlib",
                           cfg=MatchConfig())
    names = ids.groupby("track_id")["name"].apply(list).to_dict()
    assert names[0] == names[2] == ["Ann"]
    assert names[1] == ["Bob"] and names[3] == ["Bob", "Cat"]
    assert names[4][0].startswith("unknown_"), "d is not in the facebank"


def test_a_name_is_not_given_to_two_faces_in_one_frame():
    tracks, emb = episode()
    clusters, seg_emb = cluster_identities(tracks, emb, segments_of(tracks, emb)[0], ep_id="e", backend="dlib",
                                           cfg=ClusterConfig())
    # a facebank whose only person sits between a and b: both tracks 0 and 1 (same frames) would match
    middle = (CENTRES["a"] + CENTRES["b"]) / 2
    bank = pd.DataFrame({"name": ["Mid"], "vector": [middle], "image": "x", "image_sha256": "x", "embedder": "x"})
    loose = MatchConfig(accept_distance={"dlib": 5.0, "arcface": 5.0}, min_margin={"dlib": 0.0, "arcface": 0.0})
    ids = match_identities(clusters, seg_emb, bank, cooccurring_clusters(tracks, clusters), backend="dlib",
                           cfg=loose)
    first = ids[ids["track_id"].isin([0, 1])]
    assert (first["name"] == "Mid").sum() == 1
