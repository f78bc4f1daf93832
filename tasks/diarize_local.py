"""Local speakers of the segmentation model: sliding 5 s chunks scored for up to 3 speakers each (hysteresis-
binarised), local speakers of consecutive chunks that agree on their shared frames stitched into fragments, and the
fragments' frames on one global frame grid (sparse), cut into short solo pieces for speaker embedding."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components

from screenalytics.tasks.configs import DiarizeConfig
from screenalytics.tasks.models.specs import CHUNK_S, SAMPLE_RATE

FRAME_STEP = 270  # samples: SincNet stride 10 × three pools of 3
FRAME_STEP_S = FRAME_STEP / SAMPLE_RATE
FRAME_FIELD_S = 991 / SAMPLE_RATE  # receptive field of one output frame
MIN_LINK_S = 0.2  # shared speech needed to link local speakers of consecutive chunks
BATCH = 8  # chunks per model call: as fast as 32 (1.76 vs 1.81 s for 4 minutes) and ~210 MB lower at the peak


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


def segment(wav: np.ndarray, model: Callable[[np.ndarray], np.ndarray], p: DiarizeConfig,
            progress: Callable[[int], None] | None = None) -> LocalSpeakers:
    """Run the segmentation model over sliding chunks of a float waveform (`progress` counts chunks)."""
    size = int(CHUNK_S * SAMPLE_RATE)
    starts = chunk_starts(len(wav) / SAMPLE_RATE, p.step_s)
    padded = wav if len(wav) >= size else np.pad(wav, (0, size - len(wav)))  # no copy of a whole episode
    soft = []
    for i in range(0, len(starts), BATCH):
        offsets = (starts[i : i + BATCH] * SAMPLE_RATE).round().astype(int)
        soft.append(model(np.stack([padded[o : o + size] for o in offsets])))
        if progress is not None:
            progress(len(offsets))
    soft_all = np.concatenate(soft).astype(np.float32)
    return LocalSpeakers(starts, soft_all, hysteresis(soft_all, p.onset, p.offset))


def stitch(local: LocalSpeakers, p: DiarizeConfig) -> np.ndarray:
    """Link local speakers of consecutive chunks that agree on their shared frames (Hungarian matching on the
    intersection over union of their activity); linked chains are fragments. Returns a fragment id per (chunk, local
    speaker) [C, 3] (-1: never active)."""
    n_chunks, n_frames, n_local = local.soft.shape
    first = np.round(local.starts / FRAME_STEP_S).astype(int)
    min_frames = MIN_LINK_S / FRAME_STEP_S
    links = []
    for c in range(n_chunks - 1):
        shift = first[c + 1] - first[c]
        if shift >= n_frames:
            continue
        a, b = local.active[c, shift:], local.active[c + 1, : n_frames - shift]
        both = (a[:, :, None] & b[:, None, :]).sum(axis=0)
        iou = both / np.maximum((a[:, :, None] | b[:, None, :]).sum(axis=0), 1)
        links += [(c * n_local + i, (c + 1) * n_local + j) for i, j in zip(*linear_sum_assignment(-iou), strict=True)
                  if both[i, j] >= min_frames and iou[i, j] >= p.link_iou]
    edges = np.array(links, int).reshape(-1, 2)
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_chunks * n_local,) * 2)
    component = connected_components(graph, directed=False)[1].reshape(n_chunks, n_local)
    speaks = local.active.any(axis=1)
    fragment = np.full(component.shape, -1)
    fragment[speaks] = np.unique(component[speaks], return_inverse=True)[1]
    return fragment


def fragment_frames(local: LocalSpeakers, fragment: np.ndarray, total: int) -> tuple[sparse.csr_matrix, ...]:
    """Global frames where each fragment is active, and where it is its chunk's only active local speaker, as
    sparse boolean [fragments, frames] matrices (an episode has thousands of fragments and ~200k frames per hour)."""
    first = np.round(local.starts / FRAME_STEP_S).astype(int)
    solo = local.active & (local.active.sum(axis=2, keepdims=True) == 1)
    out = []
    for mask in (local.active, solo):
        chunks, frames, slots = np.nonzero(mask & (fragment >= 0)[:, None, :])
        rows, cols = fragment[chunks, slots], first[chunks] + frames
        keep = cols < total
        matrix = sparse.csr_matrix((np.ones(keep.sum(), bool), (rows[keep], cols[keep])),
                                   shape=(fragment.max() + 1, total))
        matrix.sum_duplicates()
        out.append(matrix)
    return out[0], out[1]


def frames_audio(wav: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The samples under the given (sorted, non-empty) global frame indices: a view of `wav` when they are one run
    (no copy: diarization holds thousands of these clips at once), else the runs joined."""
    runs = np.split(frames, np.flatnonzero(np.diff(frames) > 1) + 1)
    edges = [(int(r[0]) * FRAME_STEP, (int(r[-1]) + 1) * FRAME_STEP) for r in runs]  # exact: equal frames batch
    if len(edges) == 1:
        return wav[edges[0][0]:edges[0][1]]
    return np.concatenate([wav[a:b] for a, b in edges]) if edges else wav[:0]


def pieces(alone: sparse.csr_matrix, piece_frames: int, gap_frames: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Cut each fragment's solo frames at pauses of `gap_frames` or more (turns change there) and into pieces of
    about `piece_frames`; returns each piece's frames and its fragment."""
    frames_of, owner = [], []
    for f in range(alone.shape[0]):
        frames = alone.indices[alone.indptr[f] : alone.indptr[f + 1]]
        if not len(frames):
            continue
        for run in np.split(frames, np.flatnonzero(np.diff(frames) >= gap_frames) + 1):
            for part in np.array_split(run, max(1, int(round(len(run) / piece_frames)))):
                frames_of.append(part)
                owner.append(f)
    return frames_of, np.asarray(owner, int)
