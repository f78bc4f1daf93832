"""Generated face embeddings with known identities, shared by the appearance, cluster and match tests: tracks of
people whose faces scatter around one centre each (~1.9 apart, like dlib people; same person ~0.3)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from screenalytics.tasks.appearance import segment_tracks
from screenalytics.tasks.configs import ModelsConfig
from screenalytics.tasks.intervals import segment_of
from screenalytics.tasks.schemas import EmbeddedFaces, Segments, TrackSegments
from screenalytics.tasks.settings import Settings

DLIB = Settings(models=ModelsConfig(face_embedder="dlib"))  # thresholds resolved for the dlib embedder
CENTRES = {p: v.astype(np.float32) for p, v in zip("abcd", np.random.default_rng(0).normal(0, 0.12, (4, 128)))}
SPEC = {0: [("a", 0.0, 2.0)], 1: [("b", 0.0, 2.0)], 2: [("a", 3.0, 5.0)], 3: [("b", 6.0, 7.0), ("c", 7.2, 8.0)],
        4: [("d", 9.0, 10.0)]}


def faces(person: str, n: int, rng: np.random.Generator, spread: float = 0.02) -> list[np.ndarray]:
    return [CENTRES[person] + rng.normal(0, spread, 128).astype(np.float32) for _ in range(n)]


def episode(seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Tracks, FaceEmbeddings): every 0.2 s sample embedded. Tracks: 0=a (0-2 s), 1=b (0-2 s, same frames as 0),
    2=a (3-5 s), 3=b then c (identity switch between 7.0 and 7.2 s), 4=d (9-10 s)."""
    rng = np.random.default_rng(seed)
    track_rows, emb_rows, det = [], [], 0
    for track, parts in SPEC.items():
        for person, t0, t1 in parts:
            times = np.round(np.arange(t0, t1 + 1e-9, 0.2), 3)
            for t, v in zip(times, faces(person, len(times), rng)):
                track_rows.append(dict(ep_id="e", det_id=det, track_id=track, shot_id=0, t_s=t))
                emb_rows.append(dict(ep_id="e", det_id=det, track_id=track, t_s=t, quality=1.0, embedder="x",
                                     vector=v))
                det += 1
    return pd.DataFrame(track_rows), pd.DataFrame(emb_rows)


def segments_of(tracks: pd.DataFrame, emb: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The appearance gate with every face already embedded (nothing to bisect)."""
    return segment_tracks(tracks, emb, emb.iloc[:0], threshold=DLIB.embed.split_distance, embed_more=None)


def embed_tables(tracks: pd.DataFrame, emb: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What the embed stage hands on, built as `embed.segment_faces` builds it: (Segments, EmbeddedFaces,
    TrackSegments)."""
    segments, emb = segments_of(tracks, emb)
    segments = Segments.validate(segments.assign(ep_id="e"))
    embedded = EmbeddedFaces.validate(emb.assign(segment_id=segment_of(emb, segments)))
    tracked = tracks[["ep_id", "det_id", "track_id", "t_s"]].assign(segment_id=segment_of(tracks, segments))
    return segments, embedded, TrackSegments.validate(tracked)
