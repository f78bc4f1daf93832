"""Embedding: pick the best K quality-gated faces per track, spread over its length, and embed their chips."""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd

from screenalytics.tasks.models.embedder import Embedder, FaceChip
from screenalytics.tasks.schemas import FaceEmbeddings
from screenalytics.tasks.settings import EmbedConfig

QUALITY_FACE_PX = 112.0  # faces this tall or taller get full marks for size
QUALITY_SHARPNESS = 200.0  # ...and this sharp
MIN_FACES_PER_TRACK = 2  # the appearance gate needs two faces to compare


def face_quality(dets: pd.DataFrame) -> pd.Series:
    """0..1: detector score x size x sharpness, each saturating at a level where embedding stops improving."""
    size = np.minimum(dets["face_h_px"] / QUALITY_FACE_PX, 1.0)
    sharp = np.minimum(dets["sharpness"] / QUALITY_SHARPNESS, 1.0)
    return dets["score"] * size * np.sqrt(sharp)


def gated_faces(tracks: pd.DataFrame, detections: pd.DataFrame, cfg: EmbedConfig) -> pd.DataFrame:
    """Tracked faces that pass the quality gate (size, detector score, sharpness), with their quality."""
    dets = tracks[["det_id", "track_id", "t_s"]].merge(
        detections[["det_id", "score", "face_h_px", "sharpness"]], on="det_id")
    gate = ((dets["face_h_px"] >= cfg.min_face_px) & (dets["score"] >= cfg.min_det_score)
            & (dets["sharpness"] >= cfg.min_sharpness))
    return dets[gate].assign(quality=lambda d: face_quality(d)).sort_values(["track_id", "t_s"])


def select_faces(gated: pd.DataFrame, cfg: EmbedConfig) -> pd.DataFrame:
    """Per track, split its gated faces into K time bins (K from the track's length) and keep each bin's best."""
    dets = gated
    rank = dets.groupby("track_id").cumcount()
    size = dets.groupby("track_id")["det_id"].transform("size")
    span = dets.groupby("track_id")["t_s"].transform(lambda t: t.max() - t.min())
    wanted = np.clip(np.ceil(span / cfg.seconds_per_face), MIN_FACES_PER_TRACK, cfg.faces_per_track)
    dets = dets.assign(bin=(rank * wanted // size))
    best = dets.loc[dets.groupby(["track_id", "bin"])["quality"].idxmax()]
    return best[["det_id", "track_id", "t_s", "quality"]].reset_index(drop=True)


def decode_chip(chip: pd.Series, det: pd.Series) -> FaceChip:
    image = cv2.imdecode(np.frombuffer(chip["jpeg"], np.uint8), cv2.IMREAD_COLOR)
    offset = np.array([chip["x0_px"], chip["y0_px"]], np.float32)
    box = (np.array([det["x1"], det["y1"], det["x2"], det["y2"]], np.float32).reshape(2, 2) - offset) * chip["scale"]
    kps = (det[[f"kp{k}_{a}" for k in range(5) for a in "xy"]].to_numpy(np.float32).reshape(5, 2) - offset)
    return FaceChip(image, box.reshape(4), kps * chip["scale"])


def embed_faces(selected: pd.DataFrame, detections: pd.DataFrame, chips: pd.DataFrame, embedder: Embedder, *,
                ep_id: str, batch: int = 32, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Embed the chips of `selected` faces; returns `FaceEmbeddings`."""
    det_by_id = detections.set_index("det_id")
    chip_by_id = chips.set_index("det_id")
    vectors: list[np.ndarray] = []
    ids = selected["det_id"].to_numpy()
    for start in range(0, len(ids), batch):
        part = ids[start:start + batch]
        faces = [decode_chip(chip_by_id.loc[i], det_by_id.loc[i]) for i in part]
        vectors.extend(embedder.embed(faces))
        if progress:
            progress(len(part))
    table = selected.assign(ep_id=ep_id, embedder=embedder.id, vector=[v.astype(np.float32) for v in vectors])
    return FaceEmbeddings.validate(table[list(FaceEmbeddings.to_schema().columns)])


def stack(vectors: pd.Series) -> np.ndarray:
    """A column of vectors as a float32 matrix `(N, dim)`."""
    if len(vectors) == 0:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.asarray(v, np.float32) for v in vectors])
