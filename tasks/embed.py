"""The embed stage: pick the best K quality-gated faces per track, spread over its length, embed their chips, then
split tracks where their appearance jumps (`appearance`) and record, once, which segment every tracked face is in."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.appearance import segment_tracks
from screenalytics.tasks.configs import EmbedConfig
from screenalytics.tasks.faces import Embedder, decode_chip
from screenalytics.tasks.intervals import segment_of
from screenalytics.tasks.progress import ProgressHook, no_progress
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, stage_task
from screenalytics.tasks.schemas import (
    Chips,
    Detections,
    EmbeddedFaces,
    FaceEmbeddings,
    Segments,
    Tracks,
    TrackSegments,
)

QUALITY_FACE_PX = 112.0  # faces this tall or taller get full marks for size
QUALITY_SHARPNESS = 200.0  # ...and this sharp
MIN_FACES_PER_TRACK = 2  # the appearance gate needs two faces to compare


def face_quality(dets: pd.DataFrame) -> pd.Series:
    """0..1: detector score x size x sharpness, each saturating at a level where embedding stops improving."""
    size = np.minimum(dets["face_h_px"] / QUALITY_FACE_PX, 1.0)
    sharp = np.minimum(dets["sharpness"] / QUALITY_SHARPNESS, 1.0)
    return dets["score"] * size * np.sqrt(sharp)


def gated_faces(tracks: DataFrame[Tracks], detections: DataFrame[Detections], cfg: EmbedConfig) -> pd.DataFrame:
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


def embed_faces(selected: pd.DataFrame, detections: DataFrame[Detections], chips: DataFrame[Chips],
                embedder: Embedder, *, ep_id: str, batch: int = 32, progress: Callable[[int], None] | None = None
                ) -> DataFrame[FaceEmbeddings]:
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


def segment_faces(tracks: DataFrame[Tracks], detections: DataFrame[Detections], chips: DataFrame[Chips],
                  embedder: Embedder, cfg: EmbedConfig, *, ep_id: str,
                  progress: ProgressHook = no_progress
                  ) -> tuple[DataFrame[EmbeddedFaces], DataFrame[Segments], DataFrame[TrackSegments]]:
    """Embed the chosen faces, split tracks by appearance (embedding a few more faces to locate each switch);
    returns the embeddings and the tracked faces with their segment, and the segments."""
    gated = gated_faces(tracks, detections, cfg)
    selected = select_faces(gated, cfg)
    with progress("face embedding", len(selected)) as advance:
        table = embed_faces(selected, detections, chips, embedder, ep_id=ep_id, progress=advance)

    def embed_more(det_ids: np.ndarray) -> pd.DataFrame:
        return embed_faces(gated[gated["det_id"].isin(det_ids)], detections, chips, embedder, ep_id=ep_id)

    segments, table = segment_tracks(tracks, table, gated, threshold=cfg.split_distance, embed_more=embed_more)
    segments = Segments.validate(segments.assign(ep_id=ep_id))
    embedded = EmbeddedFaces.validate(table.assign(segment_id=segment_of(table, segments)))
    faces = tracks[["ep_id", "det_id", "track_id", "t_s"]].assign(segment_id=segment_of(tracks, segments))
    return embedded, segments, TrackSegments.validate(faces.reset_index(drop=True))


@stage_task("embed", tables={"embeddings": EmbeddedFaces, "segments": Segments, "track_segments": TrackSegments},
            models=("face_embedder",))
def embed_task(run: StageRun, track: StageOutput, detect: StageOutput, cfg: EmbedConfig) -> Produced:
    embedder = run.models.get("face_embedder")
    embedded, segments, faces = segment_faces(track.table("tracks"), detect.table("detections"),
                                              detect.table("chips"), embedder, cfg, ep_id=run.ctx.ep_id,
                                              progress=run.progress)
    return ({"embeddings": embedded, "segments": segments, "track_segments": faces},
            {"n_embedded": len(embedded), "n_split": int(len(segments) - segments["track_id"].nunique()),
             "embedder": embedder.id})
