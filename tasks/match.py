"""Facebank matching, decided per identity from all its sampled faces (never per frame by one distance).

An identity (cluster) takes a cast name when the median distance of its faces to that person is small, the
second-nearest person is clearly further (margin), and most of its faces vote for that person. A cast name given
to two identities seen together in one frame stays with the closer one. Everyone else is `unknown_N`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.configs import MatchConfig
from screenalytics.tasks.intervals import same_frame_pairs
from screenalytics.tasks.naming import UNNAMED_PREFIXES, slug
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, stage_task
from screenalytics.tasks.schemas import Clusters, EmbeddedFaces, FacebankEntries, Identities, TrackSegments
from screenalytics.tasks.vectors import stack


def person_distances(faces: np.ndarray, bank: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """`(n_faces, n_people)` distances: each face to the nearest enrolled image of each person."""
    names = sorted(bank["name"].unique())
    vectors = stack(bank["vector"])
    all_d = np.linalg.norm(faces[:, None, :] - vectors[None, :, :], axis=2)
    owner = bank["name"].to_numpy()
    return np.stack([all_d[:, owner == n].min(axis=1) for n in names], axis=1), names


def decide(dist: np.ndarray, names: list[str], accept: float, margin: float, vote_share: float) -> dict:
    """Name (or None) for one identity from its faces' distances to each person."""
    median = np.median(dist, axis=0)
    order = np.argsort(median)
    best = int(order[0])
    second = float(median[order[1]]) if len(order) > 1 else np.inf
    votes = float(np.mean(np.argmin(dist, axis=1) == best))
    gap = second - float(median[best])
    ok = median[best] < accept and gap >= margin and votes >= vote_share
    return {"name": names[best] if ok else None, "match_distance": float(median[best]),
            "match_margin": float(min(gap, 9.99)), "match_votes": votes}


def cooccurring_clusters(faces: DataFrame[TrackSegments], clusters: DataFrame[Clusters]) -> set[tuple[int, int]]:
    """Pairs of cluster ids whose faces appear in the same sampled frame."""
    seg_cluster = clusters.set_index("segment_id")["cluster_id"]
    tagged = faces.assign(cluster_id=seg_cluster.reindex(faces["segment_id"]).to_numpy())
    tagged = tagged[tagged["cluster_id"] >= 0]
    return {(a, b) for a, b in same_frame_pairs(tagged, "cluster_id") if a != b and min(a, b) >= 0}


def match_identities(clusters: DataFrame[Clusters], embeddings: DataFrame[EmbeddedFaces],
                     bank: DataFrame[FacebankEntries] | None, cooccur: set[tuple[int, int]], *, cfg: MatchConfig
                     ) -> DataFrame[Identities]:
    """`Identities`: clusters with `person_id`/`name`; `cooccur` holds cluster-id pairs seen in one frame."""
    decisions: dict[int, dict] = {}
    if bank is not None and len(bank):
        seg_cluster = clusters.set_index("segment_id")["cluster_id"]
        emb = embeddings.assign(cluster_id=embeddings["segment_id"].map(seg_cluster))
        for cluster_id, group in emb[emb["cluster_id"] >= 0].groupby("cluster_id"):
            dist, names = person_distances(stack(group["vector"]), bank)
            decisions[int(cluster_id)] = decide(dist, names, cfg.accept_distance, cfg.min_margin,
                                                cfg.min_vote_share)
    for a, b in sorted(cooccur):
        da, db = decisions.get(a, {}), decisions.get(b, {})
        if da.get("name") and da.get("name") == db.get("name"):
            loser = da if da["match_distance"] > db["match_distance"] else db
            loser["name"] = None
    names: dict[int, tuple[str, str]] = {}
    unknown = 0
    for cluster_id in sorted(c for c in clusters["cluster_id"].unique() if c >= 0):
        name = decisions.get(int(cluster_id), {}).get("name")
        if name is None:
            unknown += 1
            name_pair = (f"unknown_{unknown}", f"unknown_{unknown}")
        else:
            name_pair = (slug(name), name)
        names[int(cluster_id)] = name_pair
    out = clusters.copy()
    out["person_id"] = out["cluster_id"].map(lambda c: names.get(c, ("unidentified", ""))[0])
    out["name"] = out["cluster_id"].map(lambda c: names.get(c, ("unidentified", "unidentified"))[1])
    for key in ("match_distance", "match_margin", "match_votes"):
        out[key] = out["cluster_id"].map(lambda c, k=key: decisions.get(c, {}).get(k, np.nan)).astype(float)
    return Identities.validate(out[list(Identities.to_schema().columns)])


@stage_task("match", tables={"identities": Identities})
def match_task(run: StageRun, cluster: StageOutput, embed: StageOutput, facebank: StageOutput | None,
               cfg: MatchConfig) -> Produced:
    clusters = cluster.table("clusters")
    bank = facebank.table("facebank") if facebank is not None else None
    cooccur = cooccurring_clusters(embed.table("track_segments"), clusters)
    identities = match_identities(clusters, embed.table("embeddings"), bank, cooccur, cfg=cfg)
    named = sorted(identities.loc[~identities["person_id"].str.startswith(UNNAMED_PREFIXES), "name"].unique().tolist())
    return {"identities": identities}, {"named": named}
