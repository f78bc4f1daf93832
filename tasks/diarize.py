"""Speaker diarization: who speaks when, overlap included.

Default backend (the recipe of pyannote's own pipeline, on onnxruntime): the segmentation model scores up to 3 local
speakers in 5 s chunks slid over the track; each local speaker's clean speech gets a Resemblyzer d-vector; the
vectors are clustered across chunks with an automatic speaker count (NME-SC: spectral clustering on a per-row
pruned affinity, the pruning and count chosen together by the normalised eigengap); local speakers are then mapped to
clusters chunk by chunk (never two local speakers to one cluster), chunk scores are averaged on a global frame grid,
and each frame keeps as many speakers as the chunks counted there."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import squareform

from screenalytics.tasks.models.segmentation import CHUNK_S, SAMPLE_RATE
from screenalytics.tasks.settings import DiarizeConfig

FRAME_STEP_S = 270 / SAMPLE_RATE  # SincNet stride 10 × three pools of 3
FRAME_FIELD_S = 991 / SAMPLE_RATE  # receptive field of one output frame
MIN_LINK_S = 0.2  # shared speech needed to link local speakers of consecutive chunks
BATCH = 32  # chunks per model call


@dataclass
class LocalSpeakers:
    """Per chunk: start time, soft activity [frames, 3] and its hysteresis binarisation."""

    starts: np.ndarray  # [C]
    soft: np.ndarray  # [C, F, 3]
    active: np.ndarray  # [C, F, 3] bool


def chunk_starts(duration_s: float, step_s: float) -> np.ndarray:
    """Chunk start times covering the track; the last chunk ends at the track's end."""
    if duration_s <= CHUNK_S:
        return np.zeros(1)
    starts = np.arange(0.0, duration_s - CHUNK_S, step_s)
    return np.r_[starts, duration_s - CHUNK_S]


def hysteresis(scores: np.ndarray, onset: float, offset: float) -> np.ndarray:
    """Binarise along axis 1: on above `onset`, stays on until below `offset` (vectorised over other axes)."""
    out = np.zeros(scores.shape, bool)
    state = scores[:, 0] > onset
    out[:, 0] = state
    for j in range(1, scores.shape[1]):
        state = np.where(state, scores[:, j] > offset, scores[:, j] > onset)
        out[:, j] = state
    return out


def segment(wav: np.ndarray, model: Callable[[np.ndarray], np.ndarray], p: DiarizeConfig) -> LocalSpeakers:
    """Run the segmentation model over sliding chunks of a float waveform."""
    size = int(CHUNK_S * SAMPLE_RATE)
    starts = chunk_starts(len(wav) / SAMPLE_RATE, p.step_s)
    padded = np.pad(wav, (0, max(0, size - len(wav))))
    soft = []
    for i in range(0, len(starts), BATCH):
        offsets = (starts[i : i + BATCH] * SAMPLE_RATE).round().astype(int)
        soft.append(model(np.stack([padded[o : o + size] for o in offsets])))
    soft_all = np.concatenate(soft).astype(np.float32)
    return LocalSpeakers(starts, soft_all, hysteresis(soft_all, p.onset, p.offset))


def stitch(local: LocalSpeakers, p: DiarizeConfig) -> np.ndarray:
    """Link local speakers of consecutive chunks that agree on their shared frames (Hungarian matching on the mean
    activity difference); returns a fragment id per (chunk, local speaker) [C, 3] (-1: never active)."""
    n_chunks, n_frames, n_local = local.soft.shape
    parent = np.arange(n_chunks * n_local)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = np.round(local.starts / FRAME_STEP_S).astype(int)
    min_frames = MIN_LINK_S / FRAME_STEP_S
    for c in range(n_chunks - 1):
        shift = first[c + 1] - first[c]
        if shift >= n_frames:
            continue
        a, b = local.active[c, shift:], local.active[c + 1, : n_frames - shift]
        both = (a[:, :, None] & b[:, None, :]).sum(axis=0)
        either = (a[:, :, None] | b[:, None, :]).sum(axis=0)
        iou = both / np.maximum(either, 1)
        for i, j in zip(*linear_sum_assignment(-iou), strict=True):
            if both[i, j] >= min_frames and iou[i, j] >= p.link_iou:
                parent[root(c * n_local + i)] = root((c + 1) * n_local + j)
    roots = np.array([root(i) for i in range(len(parent))]).reshape(n_chunks, n_local)
    roots[~local.active.any(axis=1)] = -1
    _, fragment = np.unique(roots, return_inverse=True)
    fragment = fragment.reshape(n_chunks, n_local) - (roots.min() < 0)
    return np.where(roots < 0, -1, fragment)


def fragment_frames(local: LocalSpeakers, fragment: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
    """Global frames where each fragment is active [F, total] and where it is the only active local speaker."""
    n_fragments = fragment.max() + 1
    active = np.zeros((n_fragments, total), bool)
    alone = np.zeros((n_fragments, total), bool)
    solo = local.active & (local.active.sum(axis=2, keepdims=True) == 1)
    first = np.round(local.starts / FRAME_STEP_S).astype(int)
    for c, k in zip(*np.nonzero(fragment >= 0), strict=True):
        rows = np.arange(first[c], min(first[c] + local.soft.shape[1], total))
        active[fragment[c, k], rows] |= local.active[c, : len(rows), k]
        alone[fragment[c, k], rows] |= solo[c, : len(rows), k]
    return active, alone


def frames_audio(wav: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The samples under the selected global frames."""
    edges = (np.arange(len(frames) + 1) * FRAME_STEP_S * SAMPLE_RATE).astype(int)
    mask = np.zeros(len(wav), bool)
    for i in np.flatnonzero(frames):
        mask[edges[i] : edges[i + 1]] = True
    return wav[mask]


def pieces(alone: np.ndarray, piece_frames: int, gap_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut each fragment's solo frames at pauses of `gap_frames` or more (turns change there) and into pieces of
    about `piece_frames`; returns the piece id per (fragment, frame) [F, total] (-1 elsewhere) and each piece's
    fragment."""
    piece = np.full(alone.shape, -1)
    owner = []
    for f in range(len(alone)):
        frames = np.flatnonzero(alone[f])
        if not len(frames):
            continue
        for run in np.split(frames, np.flatnonzero(np.diff(frames) >= gap_frames) + 1):
            for part in np.array_split(run, max(1, int(round(len(run) / piece_frames)))):
                piece[f, part] = len(owner)
                owner.append(f)
    return piece, np.asarray(owner, int)


def spread_labels(piece_label: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Speaker per (fragment, frame) for every active frame: the label of the nearest labelled frame in time."""
    out = np.full(active.shape, -1)
    for f in range(len(active)):
        known = np.flatnonzero(piece_label[f] >= 0)
        frames = np.flatnonzero(active[f])
        if not len(known) or not len(frames):
            continue
        pos = np.clip(np.searchsorted(known, frames), 0, len(known) - 1)
        left = np.maximum(pos - 1, 0)
        pos = np.where(np.abs(frames - known[left]) <= np.abs(known[pos] - frames), left, pos)
        out[f, frames] = piece_label[f, known[pos]]
    return out


def absorb_small(labels: np.ndarray, vectors: np.ndarray, seconds: np.ndarray, min_s: float) -> np.ndarray:
    """Clusters with less than `min_s` of speech join the nearest larger cluster; labels renumbered 0..K-1."""
    totals = np.bincount(labels, weights=seconds)
    big = np.flatnonzero(totals >= min_s)
    if len(big) and len(big) < len(totals):
        centroids = np.stack([vectors[labels == j].mean(axis=0) for j in big])
        for j in np.flatnonzero(totals < min_s):
            rows = labels == j
            labels[rows] = big[int(np.argmax(centroids @ vectors[rows].mean(axis=0)))]
    return np.unique(labels, return_inverse=True)[1]


def cluster_fragments(vectors: np.ndarray, cannot: np.ndarray, p: DiarizeConfig) -> np.ndarray:
    """Average-linkage clustering of fragment d-vectors on cosine distance; co-active fragments never merge.
    The count comes from `cluster_threshold`, unless `num_speakers` fixes it."""
    n = len(vectors)
    if n < 2:
        return np.zeros(n, int)
    distance = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    distance[cannot] = 2.0
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    if p.num_speakers:
        return fcluster(tree, min(p.num_speakers, n), criterion="maxclust") - 1
    return fcluster(tree, p.cluster_threshold, criterion="distance") - 1


def reconstruct(local: LocalSpeakers, fragment: np.ndarray, frame_label: np.ndarray, duration_s: float,
                ) -> np.ndarray:
    """Global binary activity [frames, speakers] on the FRAME_STEP_S grid: chunk scores averaged per speaker, and
    at each frame the top-N speakers kept, N being the average count of active local speakers there."""
    n_speakers = frame_label.max() + 1
    n_frames = local.soft.shape[1]
    total = int(np.ceil(duration_s / FRAME_STEP_S)) + 1
    score = np.zeros((total, max(n_speakers, 1)))
    count = np.zeros(total)
    cover = np.zeros(total)
    for c, start in enumerate(local.starts):
        first = int(round(start / FRAME_STEP_S))
        rows = np.arange(first, min(first + n_frames, total))
        span = len(rows)
        cover[rows] += 1
        count[rows] += local.active[c, :span].sum(axis=1)
        chunk_score = np.zeros((span, score.shape[1]))
        for k in np.flatnonzero(fragment[c] >= 0):
            speaker = frame_label[fragment[c, k], rows]
            ok = speaker >= 0
            idx = (np.flatnonzero(ok), speaker[ok])
            chunk_score[idx] = np.maximum(chunk_score[idx], local.soft[c, :span, k][ok])
        score[rows] += chunk_score
    cover = np.maximum(cover, 1)
    score /= cover[:, None]
    speakers = np.round(count / cover).astype(int)
    ranks = np.argsort(np.argsort(-score, axis=1), axis=1)
    return (ranks < speakers[:, None]) & (score > 0)


def turns(binary: np.ndarray, p: DiarizeConfig) -> pd.DataFrame:
    """Binary frames → speaker turns (start_s, end_s, speaker index), short gaps filled, short turns dropped."""
    rows = []
    for s in range(binary.shape[1]):
        edges = np.flatnonzero(np.diff(np.r_[0, binary[:, s].astype(int), 0])).reshape(-1, 2)
        rows += [(a, b, s) for a, b in (edges * FRAME_STEP_S + (FRAME_FIELD_S - FRAME_STEP_S) / 2).tolist()]
    return merge_turns(pd.DataFrame(rows, columns=["start_s", "end_s", "speaker"]), p)


def merge_turns(table: pd.DataFrame, p: DiarizeConfig) -> pd.DataFrame:
    """Per speaker: bridge pauses shorter than `min_off_s`, then drop turns shorter than `min_on_s`."""
    rows = []
    for speaker, group in table.sort_values("start_s").groupby("speaker"):
        merged: list[list[float]] = []
        for start, end in group[["start_s", "end_s"]].to_numpy().tolist():
            if merged and start - merged[-1][1] < p.min_off_s:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        rows += [(a, b, int(speaker)) for a, b in merged if b - a >= p.min_on_s]
    return pd.DataFrame(rows, columns=["start_s", "end_s", "speaker"]).sort_values("start_s", ignore_index=True)


def unit_centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One L2-normalised mean vector per label 0..K-1."""
    centroids = np.stack([vectors[labels == j].mean(axis=0) for j in range(labels.max() + 1)])
    return centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)


def diarize(wav: np.ndarray, segmentation: Callable[[np.ndarray], np.ndarray],
            embed: Callable[[list[np.ndarray]], np.ndarray], p: DiarizeConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Speaker turns of a 16 kHz float waveform, and one unit centroid d-vector per speaker."""
    duration = len(wav) / SAMPLE_RATE
    local = segment(wav, segmentation, p)
    fragment = stitch(local, p)
    if fragment.max() < 0:
        return pd.DataFrame(columns=["start_s", "end_s", "speaker"]), np.zeros((0, 256), np.float32)
    total = int(np.ceil(duration / FRAME_STEP_S)) + 1
    active, alone = fragment_frames(local, fragment, total)
    size, gap = int(round(p.piece_s / FRAME_STEP_S)), int(round(p.pause_s / FRAME_STEP_S))
    piece, owner = pieces(alone, size, gap)
    if not len(owner):  # nobody speaks alone anywhere: embed whole fragments
        piece, owner = pieces(active, size, gap)
    clips = [frames_audio(wav, (piece == j).any(axis=0)) for j in range(len(owner))]
    vectors = embed(clips)
    piece_active = np.stack([(piece == j).any(axis=0) for j in range(len(owner))])
    co_active = (active[owner][:, None, :] & piece_active[None, :, :]).any(axis=2)
    co_active = (co_active | co_active.T) & (owner[:, None] != owner[None, :])
    labels = cluster_fragments(vectors, co_active, p)
    labels = absorb_small(labels, vectors, piece_active.sum(axis=1) * FRAME_STEP_S, p.min_speaker_s)
    centroids = unit_centroids(vectors, labels)
    piece_label = np.where(piece >= 0, labels[np.maximum(piece, 0)], -1)
    frame_label = spread_labels(piece_label, active)
    table = turns(reconstruct(local, fragment, frame_label, duration), p)
    table = table[table["start_s"] < duration]
    table["end_s"] = table["end_s"].clip(upper=duration)
    return table, centroids


def diarize_speech(wav: np.ndarray, speech: np.ndarray, embed: Callable[[list[np.ndarray]], np.ndarray],
                   p: DiarizeConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """The fast backend: voice-activity segments (seconds, [N, 2]) cut into `piece_s` windows, embedded and
    clustered; one speaker at a time (overlap is not found)."""
    windows = []
    for start, end in speech:
        n = max(1, int(round((end - start) / p.piece_s)))
        edges = np.linspace(start, end, n + 1)
        windows += list(zip(edges[:-1], edges[1:], strict=True))
    if not windows:
        return pd.DataFrame(columns=["start_s", "end_s", "speaker"]), np.zeros((0, 256), np.float32)
    bounds = np.array(windows)
    vectors = embed([wav[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in bounds])
    labels = cluster_fragments(vectors, np.zeros((len(bounds), len(bounds)), bool), p)
    labels = absorb_small(labels, vectors, bounds[:, 1] - bounds[:, 0], p.min_speaker_s)
    merged = merge_turns(pd.DataFrame({"start_s": bounds[:, 0], "end_s": bounds[:, 1], "speaker": labels}), p)
    return merged, unit_centroids(vectors, labels)
