"""Identity clustering: group track segments (see `appearance`) into identities.

Grouping is agglomerative on segment mean embeddings (centroid linkage), with candidate pairs from a faiss
nearest-neighbour search and a cannot-link rule: two segments seen in the same frame are different people.
"""
from __future__ import annotations

import heapq

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
    """Cluster label per row of `means` (centroid linkage; pairs from faiss kNN; cannot-link respected).

    Each step merges the closest pair of clusters (centroid distance below `threshold`) joined by a candidate pair
    and free of cannot-links; distances wait in a heap, and entries left stale by a merge are skipped when popped,
    so an episode's thousands of segments take O(pairs log pairs)."""
    n = len(means)
    if n == 0:
        return np.zeros(0, np.int64)
    data = np.ascontiguousarray(means, np.float32)
    index = faiss.IndexFlatL2(data.shape[1])
    index.add(data)
    _, nn = index.search(data, min(n, neighbors + 1))
    near: list[set[int]] = [set() for _ in range(n)]
    for i, row in enumerate(nn):
        for j in row[(row >= 0) & (row != i)].tolist():
            near[i].add(j)
            near[j].add(i)
    apart: list[set[int]] = [set() for _ in range(n)]
    for a, b in cannot:
        apart[a].add(b)
        apart[b].add(a)
    sums, size, version = data.astype(np.float64), np.ones(n), np.zeros(n, np.int64)
    label = np.arange(n)

    def distance(a: int, b: int) -> float:
        return float(np.linalg.norm(sums[a] / size[a] - sums[b] / size[b]))

    heap = [(d, a, b, 0, 0) for a in range(n) for b in near[a] if a < b and (d := distance(a, b)) < threshold]
    heapq.heapify(heap)
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if label[a] != a or label[b] != b or version[a] != va or version[b] != vb or b in apart[a]:
            continue  # merged away, moved since queued, or now kept apart (cannot-links only grow)
        label[label == b] = a
        sums[a] += sums[b]
        size[a] += size[b]
        version[a] += 1
        for mine, theirs in ((near, near[b]), (apart, apart[b])):
            for c in theirs - {a}:
                mine[c].discard(b)
                mine[c].add(a)
            mine[a] |= theirs - {a}
            mine[a].discard(b)
        for c in near[a]:
            if (d := distance(a, c)) < threshold:
                heapq.heappush(heap, (d, min(a, c), max(a, c), version[min(a, c)], version[max(a, c)]))
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
