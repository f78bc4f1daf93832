"""Facebank matching per identity, on generated embeddings with known identities."""
from __future__ import annotations

import numpy as np
import pandas as pd

from screenalytics.tasks.cluster import cluster_identities
from screenalytics.tasks.configs import MatchConfig
from screenalytics.tasks.match import cooccurring_clusters, match_identities
from tests.tasks.synthetic_faces import CENTRES, DLIB, embed_tables, episode, faces


def clustered():
    segments, embedded, tracked = embed_tables(*episode())
    return cluster_identities(tracked, embedded, segments, ep_id="e", cfg=DLIB.cluster), embedded, tracked


def test_match_names_with_margin_and_keeps_strangers_unknown():
    clusters, embedded, tracked = clustered()
    rng = np.random.default_rng(2)
    bank = pd.DataFrame({"name": ["Ann", "Ann", "Bob", "Cat"],
                         "vector": faces("a", 2, rng) + faces("b", 1, rng) + faces("c", 1, rng)})
    bank = bank.assign(image="x", image_sha256="x", embedder="x")
    ids = match_identities(clusters, embedded, bank, cooccurring_clusters(tracked, clusters), cfg=DLIB.match)
    names = ids.groupby("track_id")["name"].apply(list).to_dict()
    assert names[0] == names[2] == ["Ann"]
    assert names[1] == ["Bob"] and names[3] == ["Bob", "Cat"]
    assert names[4][0].startswith("unknown_"), "d is not in the facebank"


def test_a_name_is_not_given_to_two_faces_in_one_frame():
    clusters, embedded, tracked = clustered()
    # a facebank whose only person sits between a and b: both tracks 0 and 1 (same frames) would match
    middle = (CENTRES["a"] + CENTRES["b"]) / 2
    bank = pd.DataFrame({"name": ["Mid"], "vector": [middle], "image": "x", "image_sha256": "x", "embedder": "x"})
    loose = MatchConfig(accept_distance=5.0, min_margin=0.0)
    ids = match_identities(clusters, embedded, bank, cooccurring_clusters(tracked, clusters), cfg=loose)
    first = ids[ids["track_id"].isin([0, 1])]
    assert (first["name"] == "Mid").sum() == 1
