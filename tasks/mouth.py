"""Mouth activity: how much the mouth region changes between consecutive samples of a face track.

Each face chip is warped so that its two mouth-corner landmarks (kp3, kp4: both face detectors give the 5 points in
the ArcFace template order, checked in tests/tasks/test_yunet.py) land on fixed points of a small square patch (head
motion, zoom and roll cancel), the patch is normalised for brightness and contrast, and the activity of a sample is
the mean absolute difference from the previous sample of the same track. Talking faces score high, listening faces
low; fusion compares a face's activity while a voice speaks with its activity otherwise."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.runner import Produced, StageOutput, StageRun, stage_task
from screenalytics.tasks.schemas import Chips, Detections, MouthActivity, Tracks

MIN_MOUTH_PX = 6.0  # mouth-corner distance (frame pixels) below which a sample is too small to read


def mouth_patch(chip_jpeg: bytes, corners: np.ndarray, size: int) -> np.ndarray | None:
    """Grey patch [size, size], zero mean and unit variance, with the mouth corners at 25% and 75% width, 35%
    height (so it spans the lips and the chin); None when the chip does not decode or is flat."""
    image = cv2.imdecode(np.frombuffer(chip_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    target = np.float32([[0.25 * size, 0.35 * size], [0.75 * size, 0.35 * size]])
    matrix, _ = cv2.estimateAffinePartial2D(corners.astype(np.float32), target)
    if matrix is None:
        return None
    patch = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    patch = patch.astype(np.float32)
    std = patch.std()
    return (patch - patch.mean()) / std if std > 1e-3 else None


def mouth_activity(tracks: DataFrame[Tracks], detections: DataFrame[Detections], chips: DataFrame[Chips], *,
                   ep_id: str, patch_px: int) -> DataFrame[MouthActivity]:
    """`MouthActivity` per tracked detection (NaN for a track's first sample and for faces too small to read)."""
    rows = tracks[["det_id", "track_id", "t_s"]].merge(
        detections[["det_id", "kp3_x", "kp3_y", "kp4_x", "kp4_y"]], on="det_id").merge(chips, on="det_id")
    rows = rows.sort_values(["track_id", "t_s"], ignore_index=True)
    activity = np.full(len(rows), np.nan)
    previous: tuple[int, np.ndarray | None] = (-1, None)
    for i, row in enumerate(rows.itertuples(index=False)):
        corners = np.array([[row.kp3_x, row.kp3_y], [row.kp4_x, row.kp4_y]])
        patch = None
        if np.linalg.norm(corners[1] - corners[0]) >= MIN_MOUTH_PX:
            patch = mouth_patch(row.jpeg, (corners - [row.x0_px, row.y0_px]) * row.scale, patch_px)
        if patch is not None and previous[0] == row.track_id and previous[1] is not None:
            activity[i] = float(np.abs(patch - previous[1]).mean())
        previous = (row.track_id, patch)
    return MouthActivity.validate(pd.DataFrame({"ep_id": ep_id, "det_id": rows["det_id"],
                                                "track_id": rows["track_id"], "t_s": rows["t_s"],
                                                "activity": activity}))


@stage_task("mouth", tables={"mouth": MouthActivity})
def mouth_task(run: StageRun, track: StageOutput, detect: StageOutput, patch_px: int) -> Produced:
    table = mouth_activity(track.table("tracks"), detect.table("detections"), detect.table("chips"),
                           ep_id=run.ctx.ep_id, patch_px=patch_px)
    return {"mouth": table}, {"readable": int(table["activity"].notna().sum())}
