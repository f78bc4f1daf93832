"""Appearance gate: split a track where its face embeddings jump (an identity switch the tracker missed).

The cut is first placed between the two sampled faces whose sides differ most; the faces in between are then
bisected (embedding one face per step) so the switch is located to one sampled frame, not to the sample spacing.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from screenalytics.tasks.intervals import segment_of
from screenalytics.tasks.vectors import stack

EmbedMore = Callable[[np.ndarray], pd.DataFrame]  # det_ids -> FaceEmbeddings rows


def split_points(vectors: np.ndarray, threshold: float) -> list[int]:
    """Indices where a time-ordered run of embeddings splits: the cut that best separates the two sides' means,
    applied recursively while that separation exceeds `threshold`."""
    n = len(vectors)
    if n < 2:
        return []
    cum = np.cumsum(vectors, axis=0)
    ks = np.arange(1, n)
    left = cum[:-1] / ks[:, None]
    right = (cum[-1] - cum[:-1]) / (n - ks)[:, None]
    gaps = np.linalg.norm(left - right, axis=1)
    best = int(np.argmax(gaps))
    if gaps[best] <= threshold:
        return []
    cut = best + 1
    return [*split_points(vectors[:cut], threshold), cut, *(cut + p for p in split_points(vectors[cut:], threshold))]


def _bisect(between: pd.DataFrame, left: np.ndarray, right: np.ndarray, embed_more: EmbedMore
            ) -> tuple[int, list[pd.DataFrame]]:
    """Number of faces in `between` (time-ordered) that belong to the left side, and the embeddings made."""
    lo, hi, made = 0, len(between), []
    while lo < hi:
        mid = (lo + hi) // 2
        row = embed_more(between["det_id"].to_numpy()[mid:mid + 1])
        made.append(row)
        vector = stack(row["vector"])[0]
        if np.linalg.norm(vector - left) <= np.linalg.norm(vector - right):
            lo = mid + 1
        else:
            hi = mid
    return lo, made


def segment_tracks(tracks: pd.DataFrame, embeddings: pd.DataFrame, candidates: pd.DataFrame, *, threshold: float,
                   embed_more: EmbedMore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (segments `segment_id, track_id, start_s, end_s, n_faces`, embeddings incl. bisection faces).

    `candidates` (`det_id, track_id, t_s`) are the faces that may be embedded to locate a switch."""
    rows: list[tuple] = []
    extra: list[pd.DataFrame] = []
    span = tracks.groupby("track_id")["t_s"].agg(["min", "max"])
    emb_by_track = {k: g.sort_values("t_s") for k, g in embeddings.groupby("track_id")}
    cand_by_track = {k: g.sort_values("t_s") for k, g in candidates.groupby("track_id")}
    for track_id, (t0, t1) in span.iterrows():
        emb = emb_by_track.get(track_id)
        if emb is None:
            rows.append((track_id, t0, t1, 0))
            continue
        times, vectors = emb["t_s"].to_numpy(), stack(emb["vector"])
        cuts = split_points(vectors, threshold)
        bounds = [t0]
        for k, cut in enumerate(cuts):
            lo_t, hi_t = times[cut - 1], times[cut]
            left = vectors[(cuts[k - 1] if k else 0):cut].mean(axis=0)
            right = vectors[cut:(cuts[k + 1] if k + 1 < len(cuts) else len(times))].mean(axis=0)
            pool = cand_by_track.get(track_id, candidates.iloc[:0])
            between = pool[(pool["t_s"] > lo_t) & (pool["t_s"] < hi_t)]
            n_left, made = _bisect(between, left, right, embed_more)
            extra += made
            last_left = between["t_s"].iloc[n_left - 1] if n_left else lo_t
            first_right = between["t_s"].iloc[n_left] if n_left < len(between) else hi_t
            bounds.append((last_left + first_right) / 2)
        bounds.append(t1)
        sizes = np.diff([0, *cuts, len(times)])
        rows += [(track_id, bounds[i], bounds[i + 1], int(sizes[i])) for i in range(len(sizes))]
    segments = pd.DataFrame(rows, columns=["track_id", "start_s", "end_s", "n_faces"])
    segments = segments.assign(segment_id=np.arange(len(segments)))
    embeddings = pd.concat([embeddings, *extra], ignore_index=True) if extra else embeddings
    counts = pd.Series(segment_of(embeddings, segments)).value_counts()
    segments["n_faces"] = segments["segment_id"].map(counts).fillna(0).astype(int)
    return segments, embeddings
