"""The two baselines, timed on the same episode and scored against the same truth as the pipeline.

- `naive`: the per-frame loop: decode the frames the pipeline samples, detect, embed every face, name each face
  by its nearest facebank image (named when nearer than the pipeline's `match.accept_distance`), no tracks. The
  project's own detector and embedder through `Models`, with the profile's settings.
- `face_recognition`: the tool people use today (PyPI `face_recognition`, dlib underneath), as its video examples
  use it: every 5th frame at half scale, HOG face locations, its 128-d encodings, each face named by the nearest
  facebank encoding within its default tolerance (0.6).

Each returns {seconds, frames, faces, period_s, frame_times, samples}: frame_times are the sampled frames' times,
samples one row (t_s, person) per named face.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

PEER_EVERY = 5
PEER_SCALE = 0.5
PEER_TOLERANCE = 0.6  # face_recognition.compare_faces' default


def _crop(image: np.ndarray, box: np.ndarray, kps: np.ndarray) -> Any:
    """A face with half its size of margin (the embedder aligns it itself), in the crop's pixels."""
    from screenalytics.tasks.faces import FaceChip

    x1, y1, x2, y2 = box[:4]
    pad_w, pad_h = (x2 - x1) / 2, (y2 - y1) / 2
    x0, y0 = int(max(0, x1 - pad_w)), int(max(0, y1 - pad_h))
    xe, ye = int(min(image.shape[1], x2 + pad_w)), int(min(image.shape[0], y2 + pad_h))
    offset = np.array([x0, y0], np.float32)
    return FaceChip(np.ascontiguousarray(image[y0:ye, x0:xe]),
                    (np.asarray(box[:4], np.float32).reshape(2, 2) - offset).reshape(4), kps - offset)


def naive(video: Path, bank: pd.DataFrame, settings: Any) -> dict[str, Any]:
    from screenalytics.tasks.decoding import FrameSampler, iter_frames
    from screenalytics.tasks.models.loader import Models
    from screenalytics.tasks.vectors import stack

    vectors, names = stack(bank["vector"]), bank["name"].to_numpy()
    models = Models(settings.models, settings.model_dir, det_thresh=settings.detect.det_thresh)
    rows, times, faces = [], [], 0
    try:
        started = time.perf_counter()
        detector, embedder = models.get("face_detector"), models.get("face_embedder")
        sampler = FrameSampler(sample_fps=None if settings.detect.stride else settings.detect.sample_fps,
                               stride=settings.detect.stride)
        for frame in iter_frames(str(video), keep=sampler):
            if frame.image_bgr is None:
                continue
            times.append(frame.t_s)
            boxes, kps = detector.detect(frame.image_bgr)
            keep = (boxes[:, 3] - boxes[:, 1]) >= settings.detect.min_face_px if len(boxes) else []
            chips = [_crop(frame.image_bgr, b, k) for b, k, ok in zip(boxes, kps, keep) if ok]
            if not chips:
                continue
            faces += len(chips)
            found = embedder.embed(chips)
            dist = np.linalg.norm(found[:, None, :] - vectors[None, :, :], axis=2)
            best = dist.argmin(axis=1)
            rows += [(frame.t_s, names[j]) for i, j in enumerate(best)
                     if dist[i, j] < settings.match.accept_distance]
        seconds = time.perf_counter() - started
    finally:
        models.close()
    period = settings.detect.stride / 25.0 if settings.detect.stride else 1.0 / settings.detect.sample_fps
    return {"seconds": round(seconds, 2), "frames": len(times), "faces": faces, "period_s": period,
            "frame_times": times, "samples": pd.DataFrame(rows, columns=["t_s", "person"])}


def peer(video: Path, facebank: Path) -> dict[str, Any]:
    import face_recognition

    from screenalytics.tasks.decoding import FrameSampler, iter_frames

    known, names = [], []
    for person in sorted(p for p in facebank.iterdir() if p.is_dir()):
        for image in sorted(person.glob("*.jpg")):
            found = face_recognition.face_encodings(face_recognition.load_image_file(str(image)))
            if found:
                known.append(found[0])
                names.append(person.name)
    known_arr = np.array(known)
    rows, times, faces = [], [], 0
    started = time.perf_counter()
    for frame in iter_frames(str(video), keep=FrameSampler(stride=PEER_EVERY)):
        if frame.image_bgr is None:
            continue
        times.append(frame.t_s)
        small = cv2.resize(frame.image_bgr, (0, 0), fx=PEER_SCALE, fy=PEER_SCALE)[:, :, ::-1]
        small = np.ascontiguousarray(small)
        locations = face_recognition.face_locations(small)
        encodings = face_recognition.face_encodings(small, locations)
        faces += len(encodings)
        for encoding in encodings:
            dist = face_recognition.face_distance(known_arr, encoding)
            best = int(np.argmin(dist))
            if dist[best] <= PEER_TOLERANCE:
                rows.append((frame.t_s, names[best]))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "frames": len(times), "faces": faces, "period_s": PEER_EVERY / 25.0,
            "frame_times": times, "samples": pd.DataFrame(rows, columns=["t_s", "person"]), "enrolled": len(known)}
