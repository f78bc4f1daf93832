"""Speaker diarization: who speaks when, overlap included.

Default recipe (after pyannote's own pipeline, on onnxruntime): the segmentation model scores up to 3 local speakers
in 5 s chunks slid over the track (hysteresis-binarised); local speakers of consecutive chunks that agree on their
shared frames are stitched into fragments; each fragment's solo speech is cut into short pieces (at pauses and every
`piece_s`: the model may keep two voices in one local speaker) that get speaker embeddings; average-linkage
clustering on cosine distance gives the voices (the count from the best-separated cut, tiny voices absorbed); in
fragments whose pieces disagree, a second pass gives every `refine_hop_s` of solo speech the nearest voice; local
speakers heard at once in one chunk are kept as different voices, and a local speaker never heard alone (the second
voice of an overlap) takes the nearest voice not already heard there; chunk scores are averaged per voice on a global
frame grid (Hamming-weighted), and each frame keeps as many voices as the chunks counted there (overlap).
The fast backend (`diarize_speech`) clusters voice-activity windows instead, one voice at a time."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.metrics import silhouette_score

from screenalytics.tasks.audio_windows import cut, speech_windows
from screenalytics.tasks.configs import DiarizeConfig
from screenalytics.tasks.diarize_local import (
    FRAME_FIELD_S,
    FRAME_STEP_S,
    LocalSpeakers,
    fragment_frames,
    frames_audio,
    pieces,
    segment,
    stitch,
)
from screenalytics.tasks.intervals import merge_intervals
from screenalytics.tasks.models.specs import SAMPLE_RATE
from screenalytics.tasks.vectors import unit_centroids


def spread_labels(frames_of: list[np.ndarray], owner: np.ndarray, labels: np.ndarray, active: sparse.csr_matrix,
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fragment: its active frames and their speaker, the label of the nearest labelled (solo) frame in time."""
    out = []
    for f in range(active.shape[0]):
        frames = active.indices[active.indptr[f] : active.indptr[f + 1]]
        mine = np.flatnonzero(owner == f)
        if not len(mine) or not len(frames):
            out.append((frames, np.full(len(frames), -1)))
            continue
        known = np.concatenate([frames_of[j] for j in mine])
        known_label = np.concatenate([np.full(len(frames_of[j]), labels[j]) for j in mine])
        order = np.argsort(known)
        known, known_label = known[order], known_label[order]
        pos = np.clip(np.searchsorted(known, frames), 0, len(known) - 1)
        left = np.maximum(pos - 1, 0)
        pos = np.where(np.abs(frames - known[left]) <= np.abs(known[pos] - frames), left, pos)
        out.append((frames, known_label[pos]))
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


def cluster_pieces(vectors: np.ndarray, p: DiarizeConfig) -> np.ndarray:
    """Average-linkage clustering of piece embeddings on cosine distance. The count: `num_speakers` when set; else,
    with `count: silhouette`, the cut of the tree (2 to `max_speakers` groups) with the best mean silhouette, or one
    voice when no cut reaches `min_silhouette`; with `count: threshold`, the embedder's `cluster_threshold`."""
    n = len(vectors)
    if n < 2:
        return np.zeros(n, int)
    distance = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    if p.num_speakers:
        return fcluster(tree, min(p.num_speakers, n), criterion="maxclust") - 1
    if p.count == "threshold":
        return fcluster(tree, p.cluster_threshold, criterion="distance") - 1
    best, labels = p.min_silhouette, np.zeros(n, int)
    for k in range(2, min(p.max_speakers, n - 1) + 1):
        cut = fcluster(tree, k, criterion="maxclust") - 1
        if cut.max() + 1 < 2:
            continue
        score = silhouette_score(distance, cut, metric="precomputed")
        if score > best:
            best, labels = score, cut
    return labels


def refine(wav: np.ndarray, solo: sparse.csr_matrix, centroids: np.ndarray,
           embed: Callable[[list[np.ndarray]], np.ndarray], p: DiarizeConfig,
           frames_of: list[np.ndarray], owner: np.ndarray, labels: np.ndarray,
           ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Second pass at finer time resolution, on the fragments whose pieces went to different voices (the
    segmentation model kept two voices in one local speaker there): every `refine_hop_s` of their solo speech takes
    the voice whose centroid is nearest to the embedding of the `piece_s` of solo speech around it, so the change of
    speaker no longer falls on a piece boundary. Returns the pieces, their fragments and labels, those fragments'
    pieces replaced."""
    voices = pd.Series(labels).groupby(owner).nunique()
    mixed = voices.index[voices > 1].to_numpy()
    if not len(mixed):
        return frames_of, owner, labels
    hop, half = int(round(p.refine_hop_s / FRAME_STEP_S)), int(round(p.piece_s / 2 / FRAME_STEP_S))
    steps, step_owner = pieces(solo[mixed], hop, int(round(p.pause_s / FRAME_STEP_S)))
    windows = []
    for frames, row in zip(steps, step_owner, strict=True):
        mine = solo[mixed[row]].indices
        middle = (frames[0] + frames[-1]) // 2
        windows.append(mine[(mine >= middle - half) & (mine <= middle + half)])
    step_labels = np.argmax(embed([frames_audio(wav, w) for w in windows]) @ centroids.T, axis=1)
    keep = ~np.isin(owner, mixed)
    return ([f for f, k in zip(frames_of, keep, strict=True) if k] + steps, np.r_[owner[keep], mixed[step_owner]],
            np.r_[labels[keep], step_labels])


def label_overlap_only(wav: np.ndarray, frame_label: list[tuple[np.ndarray, np.ndarray]], centroids: np.ndarray,
                       embed: Callable[[list[np.ndarray]], np.ndarray]) -> None:
    """Fragments never heard alone (the model's second local speaker while two people talk at once) get a voice
    (in place): the one whose centroid is nearest to the embedding of their audio, among the voices not already
    heard at most of their frames (the mixture sounds most like the louder voice, which another local speaker
    carries there). Without this, the second voice of an overlap had no label and was dropped."""
    unlabelled = [f for f, (frames, labels) in enumerate(frame_label) if len(frames) and (labels < 0).all()]
    if not unlabelled or not len(centroids):
        return
    total = max(int(frames[-1]) + 1 for frames, _ in frame_label if len(frames))
    heard = np.zeros((total, len(centroids)), bool)
    for frames, labels in frame_label:
        ok = labels >= 0
        heard[frames[ok], labels[ok]] = True
    similarity = embed([frames_audio(wav, frame_label[f][0]) for f in unlabelled]) @ centroids.T
    for f, row in zip(unlabelled, similarity, strict=True):
        frames = frame_label[f][0]
        row = np.where(heard[frames].mean(axis=0) > 0.5, -np.inf, row)
        if np.isfinite(row).any():
            frame_label[f] = (frames, np.full(len(frames), int(np.argmax(row))))


def trim_ends(table: pd.DataFrame, speech: np.ndarray, max_s: float) -> pd.DataFrame:
    """Move each turn's end back to where voice activity (sorted [N, 2] seconds) last heard speech inside it, by at
    most `max_s` (the segmentation model's activity decays ~0.2 s after speech stops; a turn with no detected speech
    is left as is)."""
    if not len(table) or not len(speech) or max_s <= 0:
        return table
    start, end = table["start_s"].to_numpy(float), table["end_s"].to_numpy(float)
    last = np.searchsorted(speech[:, 0], end, side="left") - 1
    heard = speech[np.maximum(last, 0), 1]
    inside = (last >= 0) & (heard > start)
    new_end = np.where(inside, np.maximum(np.minimum(heard, end), end - max_s), end)
    return table.assign(end_s=new_end)


def main_voices(frame_label: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per fragment, the voice most of its frames carry (-1: none)."""
    return np.array([np.bincount(labels[labels >= 0]).argmax() if (labels >= 0).any() else -1
                     for _, labels in frame_label], int)


def separate_co_active(speaker: dict[int, np.ndarray], main: dict[int, int]) -> None:
    """Two local speakers of one chunk heard at the same frame are two voices: where both carry the same voice, the
    one whose fragment is mostly another voice takes that voice there (in place). Both fragments mostly that voice
    (the model split one voice in two) stay as they are."""
    slots = sorted(speaker)
    for i, a in enumerate(slots):
        for b in slots[i + 1 :]:
            same = (speaker[a] == speaker[b]) & (speaker[a] >= 0)
            for k in (a, b):
                move = same & (speaker[k] != main[k])
                speaker[k][move] = main[k]
                same &= ~move


def reconstruct(local: LocalSpeakers, fragment: np.ndarray, frame_label: list[tuple[np.ndarray, np.ndarray]],
                duration_s: float) -> np.ndarray:
    """Global binary activity [frames, speakers] on the FRAME_STEP_S grid: chunk scores averaged per speaker
    (Hamming-weighted, co-active local speakers kept apart), and at each frame the top-N speakers kept, N being the
    average count of active local speakers there."""
    n_speakers = max((labels.max() + 1 for _, labels in frame_label if len(labels)), default=0)
    n_frames = local.soft.shape[1]
    weight = np.hamming(n_frames) + 1e-3  # chunk edges see half a context: trust them least (as pyannote does)
    total = int(np.ceil(duration_s / FRAME_STEP_S)) + 1
    score = np.zeros((total, max(n_speakers, 1)))
    count = np.zeros(total)
    cover = np.zeros(total)
    main = main_voices(frame_label)
    for c, start in enumerate(local.starts):
        first = int(round(start / FRAME_STEP_S))
        rows = np.arange(first, min(first + n_frames, total))
        span = len(rows)
        w = weight[:span]
        cover[rows] += w
        count[rows] += local.active[c, :span].sum(axis=1) * w
        chunk_score = np.zeros((span, score.shape[1]))
        speaker = {}
        for k in np.flatnonzero(fragment[c] >= 0):
            frames, labels = frame_label[fragment[c, k]]
            pos = np.clip(np.searchsorted(frames, rows), 0, max(len(frames) - 1, 0))
            speaker[k] = np.where(frames[pos] == rows, labels[pos], -1) if len(frames) else np.full(span, -1)
        separate_co_active(speaker, {k: main[fragment[c, k]] for k in speaker})
        for k, voice in speaker.items():
            ok = voice >= 0
            idx = (np.flatnonzero(ok), voice[ok])
            chunk_score[idx] = np.maximum(chunk_score[idx], local.soft[c, :span, k][ok])
        score[rows] += chunk_score * w[:, None]
    cover = np.maximum(cover, 1e-6)
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
    merged = merge_intervals(table["start_s"].to_numpy(float), table["end_s"].to_numpy(float),
                             table["speaker"].to_numpy(int), p.min_off_s)
    merged = merged[merged["end_s"] - merged["start_s"] >= p.min_on_s]
    return pd.DataFrame({"start_s": merged["start_s"], "end_s": merged["end_s"],
                         "speaker": merged["group"].astype(int)}).sort_values("start_s", ignore_index=True)


def no_turns() -> tuple[pd.DataFrame, np.ndarray]:
    """The result for a track where nobody speaks: no turns, no voices."""
    return pd.DataFrame(columns=["start_s", "end_s", "speaker"]), np.zeros((0, 0), np.float32)


def diarize(wav: np.ndarray, segmentation: Callable[[np.ndarray], np.ndarray],
            embed: Callable[[list[np.ndarray]], np.ndarray], p: DiarizeConfig,
            progress: Callable[[int], None] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Speaker turns of a 16 kHz float waveform, and one unit centroid d-vector per speaker."""
    duration = len(wav) / SAMPLE_RATE
    local = segment(wav, segmentation, p, progress)
    fragment = stitch(local, p)
    if fragment.max() < 0:
        return no_turns()
    total = int(np.ceil(duration / FRAME_STEP_S)) + 1
    active, alone = fragment_frames(local, fragment, total)
    size, gap = int(round(p.piece_s / FRAME_STEP_S)), int(round(p.pause_s / FRAME_STEP_S))
    frames_of, owner = pieces(alone, size, gap)
    if not len(owner):  # nobody speaks alone anywhere: embed whole fragments
        frames_of, owner = pieces(active, size, gap)
    vectors = embed([frames_audio(wav, frames) for frames in frames_of])
    labels = cluster_pieces(vectors, p)
    labels = absorb_small(labels, vectors, np.array([len(f) for f in frames_of]) * FRAME_STEP_S, p.min_speaker_s)
    centroids = unit_centroids(vectors, labels)
    if len(centroids) > 1 and p.refine_hop_s > 0:
        frames_of, owner, labels = refine(wav, alone if alone.nnz else active, centroids, embed, p,
                                          frames_of, owner, labels)
    frame_label = spread_labels(frames_of, owner, labels, active)
    label_overlap_only(wav, frame_label, centroids, embed)
    table = turns(reconstruct(local, fragment, frame_label, duration), p)
    table = table[table["start_s"] < duration]
    table["end_s"] = table["end_s"].clip(upper=duration)
    return table, centroids


def diarize_speech(wav: np.ndarray, speech: np.ndarray, embed: Callable[[list[np.ndarray]], np.ndarray],
                   p: DiarizeConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """The fast backend: voice-activity segments (seconds, [N, 2]) cut into `piece_s` windows, embedded and
    clustered; one speaker at a time (overlap is not found)."""
    bounds = speech_windows(speech, p.piece_s)
    if not len(bounds):
        return no_turns()
    vectors = embed(cut(wav, bounds))
    labels = cluster_pieces(vectors, p)
    labels = absorb_small(labels, vectors, bounds[:, 1] - bounds[:, 0], p.min_speaker_s)
    merged = merge_turns(pd.DataFrame({"start_s": bounds[:, 0], "end_s": bounds[:, 1], "speaker": labels}), p)
    return merged, unit_centroids(vectors, labels)
