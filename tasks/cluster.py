"""Identity clustering: group track segments (see `appearance`) into identities.

Grouping is agglomerative on segment mean embeddings (centroid linkage), with candidate pairs from a faiss
nearest-neighbour search and a cannot-link rule: two segments seen in the same frame are different people.
"""
from __future__ import annotations

import faiss
import numpy as np
import pandas as pd

from screenalytics.tasks.appearance import assign_segments
from screenalytics.tasks.embed import stack
from screenalytics.tasks.schemas import Clusters
from screenalytics.tasks.settings import ClusterConfig


def _cannot_link(tracks: pd.DataFrame) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for _, ids in tracks.groupby("t_s")["segment_id"]:
        uniq = np.unique(ids.to_numpy())
        for i in range(len(uniq)):
            for j in range(i + 1, len(uniq)):
                pairs.add((int(uniq[i]), int(uniq[j])))
    return pairs


def group_segments(means: np.ndarray, cannot: set[tuple[int, int]], *, threshold: float,
                   neighbors: int) -> np.ndarray:
    """Cluster label per row of `means` (centroid linkage; pairs from faiss kNN; cannot-link respected)."""
    n = len(means)
    if n == 0:
        return np.zeros(0, np.int64)
    data = np.ascontiguousarray(means, np.float32)
    index = faiss.IndexFlatL2(data.shape[1])
    index.add(data)
    _, nn = index.search(data, min(n, neighbors + 1))
    candidates = {(min(i, int(j)), max(i, int(j))) for i in range(n) for j in nn[i] if j >= 0 and j != i}
    members = {i: {i} for i in range(n)}
    label = np.arange(n)
    sums = data.astype(np.float64).copy()
    while True:
        best, pair = threshold, None
        for a, b in {(min(label[i], label[j]), max(label[i], label[j])) for i, j in candidates}:
            if a == b:
                continue
            dist = float(np.linalg.norm(sums[a] / len(members[a]) - sums[b] / len(members[b])))
            if dist < best and not any((min(x, y), max(x, y)) in cannot for x in members[a] for y in members[b]):
                best, pair = dist, (a, b)
        if pair is None:
            break
        a, b = pair
        members[a] |= members.pop(b)
        sums[a] += sums[b]
        label[list(members[a])] = a
    return label


def cluster_identities(tracks: pd.DataFrame, embeddings: pd.DataFrame, segments: pd.DataFrame, *, ep_id: str,
                       backend: str, cfg: ClusterConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (`Clusters`, embeddings with `segment_id`). Cluster ids are ranked by screen presence."""
    embeddings = embeddings.assign(segment_id=assign_segments(embeddings, segments))
    with_faces = segments[segments["n_faces"] > 0]
    means = (np.stack([stack(g["vector"]).mean(axis=0) for _, g in embeddings.groupby("segment_id", sort=True)])
             if len(with_faces) else np.zeros((0, 1), np.float32))
    seg_ids = np.array(sorted(embeddings["segment_id"].unique()), np.int64)
    cannot: set[tuple[int, int]] = set()
    if cfg.cannot_link_cooccurring and len(seg_ids):
        tagged = tracks.assign(segment_id=assign_segments(tracks, segments))
        position = {int(s): i for i, s in enumerate(seg_ids)}
        cannot = {(position[a], position[b]) for a, b in _cannot_link(tagged) if a in position and b in position}
    labels = group_segments(means, cannot, threshold=cfg.distance[backend], neighbors=cfg.neighbors)
    cluster_of = dict(zip(seg_ids.tolist(), labels.tolist()))
    segments = segments.assign(cluster_id=segments["segment_id"].map(cluster_of).fillna(-1).astype(int))
    presence = (segments[segments["cluster_id"] >= 0].assign(d=lambda s: s["end_s"] - s["start_s"])
                .groupby("cluster_id")["d"].sum().sort_values(ascending=False))
    rank = {c: i for i, c in enumerate(presence.index)}
    segments["cluster_id"] = segments["cluster_id"].map(lambda c: rank.get(c, -1))
    return Clusters.validate(segments.assign(ep_id=ep_id)[list(Clusters.to_schema().columns)]), embeddings


def cooccurring_clusters(tracks: pd.DataFrame, clusters: pd.DataFrame) -> set[tuple[int, int]]:
    """Pairs of cluster ids whose faces appear in the same sampled frame."""
    seg_cluster = clusters.set_index("segment_id")["cluster_id"]
    tagged = tracks.assign(segment_id=seg_cluster.reindex(assign_segments(tracks, clusters)).to_numpy())
    tagged = tagged[tagged["segment_id"] >= 0]
    return {(a, b) for a, b in _cannot_link(tagged) if a != b and min(a, b) >= 0}
