"""Identity clustering: group track segments (see `appearance`) into identities.

Grouping is agglomerative on segment mean embeddings (centroid linkage), with candidate pairs from a faiss
nearest-neighbour search and a cannot-link rule: two segments seen in the same frame are different people.
"""
from __future__ import annotations

import faiss
import numpy as np
from pandera.typing import DataFrame

from screenalytics.tasks.configs import ClusterConfig
from screenalytics.tasks.intervals import same_frame_pairs
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, stage_task
from screenalytics.tasks.schemas import Clusters, EmbeddedFaces, Segments, TrackSegments
from screenalytics.tasks.vectors import stack


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


def cluster_identities(faces: DataFrame[TrackSegments], embeddings: DataFrame[EmbeddedFaces],
                       segments: DataFrame[Segments], *, ep_id: str, cfg: ClusterConfig) -> DataFrame[Clusters]:
    """`Clusters`: every segment with its identity cluster. Cluster ids are ranked by screen presence."""
    with_faces = segments[segments["n_faces"] > 0]
    means = (np.stack([stack(g["vector"]).mean(axis=0) for _, g in embeddings.groupby("segment_id", sort=True)])
             if len(with_faces) else np.zeros((0, 1), np.float32))
    seg_ids = np.array(sorted(embeddings["segment_id"].unique()), np.int64)
    cannot: set[tuple[int, int]] = set()
    if cfg.cannot_link_cooccurring and len(seg_ids):
        position = {int(s): i for i, s in enumerate(seg_ids)}
        cannot = {(position[a], position[b]) for a, b in same_frame_pairs(faces, "segment_id")
                  if a in position and b in position}
    labels = group_segments(means, cannot, threshold=cfg.distance, neighbors=cfg.neighbors)
    cluster_of = dict(zip(seg_ids.tolist(), labels.tolist()))
    segments = segments.assign(cluster_id=segments["segment_id"].map(cluster_of).fillna(-1).astype(int))
    presence = (segments[segments["cluster_id"] >= 0].assign(d=lambda s: s["end_s"] - s["start_s"])
                .groupby("cluster_id")["d"].sum().sort_values(ascending=False))
    rank = {c: i for i, c in enumerate(presence.index)}
    segments["cluster_id"] = segments["cluster_id"].map(lambda c: rank.get(c, -1))
    return Clusters.validate(segments.assign(ep_id=ep_id)[list(Clusters.to_schema().columns)])


@stage_task("cluster", tables={"clusters": Clusters})
def cluster_task(run: StageRun, embed: StageOutput, cfg: ClusterConfig) -> Produced:
    clusters = cluster_identities(embed.table("track_segments"), embed.table("embeddings"), embed.table("segments"),
                                  ep_id=run.ctx.ep_id, cfg=cfg)
    named = clusters.loc[clusters["cluster_id"] >= 0, "cluster_id"]
    return {"clusters": clusters}, {"n_clusters": int(named.nunique())}
