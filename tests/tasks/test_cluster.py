"""Identity clustering on generated embeddings with known identities."""
from __future__ import annotations

import numpy as np

from screenalytics.tasks.cluster import cluster_identities, group_segments
from tests.tasks.synthetic_faces import CENTRES, DLIB, embed_tables, episode


def test_clusters_follow_people_and_cannot_link():
    segments, embedded, faces = embed_tables(*episode())
    clusters = cluster_identities(faces, embedded, segments, ep_id="e", cfg=DLIB.cluster)
    label = {tuple(r) for r in clusters[["track_id", "start_s", "cluster_id"]].itertuples(index=False)}
    by_track = clusters.groupby("track_id")["cluster_id"].apply(list).to_dict()
    assert by_track[0] == by_track[2], "the two tracks of a are one identity"
    assert len({by_track[0][0], by_track[1][0], by_track[3][1], by_track[4][0]}) == 4
    assert by_track[1][0] == by_track[3][0], "b's second appearance joins b"
    assert len(label) == 6
    # forcing everything together is blocked for faces seen in the same frame
    labels = group_segments(np.stack([CENTRES["a"], CENTRES["a"]]), {(0, 1)}, threshold=10.0, neighbors=5)
    assert labels[0] != labels[1]
