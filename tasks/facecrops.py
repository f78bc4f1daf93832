"""Face crops for the active-speaker model, cut at the full frame rate in the shared decode pass (`scan`).

The face detector sees a few frames per second; the active-speaker model reads every frame. Each face of a sampled
frame owns the frames up to the next sampled frame: its box is interpolated, frame by frame, towards the box of the
face it overlaps most in the next sampled frame (at least `match_iou`; else it is held), and a grey 112x112 crop is
cut along it. The crop is LR-ASD's: a square 1.4 half-sizes wide (half-size = half the box's longer side), centred
0.4 half-sizes below the box centre (mouth and chin), grey 110 outside the picture. Only the frames between two
sampled frames are held in memory."""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.configs import FaceCropsConfig
from screenalytics.tasks.decoding import LIMITED_TO_FULL, Frame
from screenalytics.tasks.schemas import Detections, FaceCrops, SampledFrames

CROP_PX = 112
CROP_SCALE = 0.4  # LR-ASD's crop scale: the crop spans (1 + cs) half-sizes either side of its centre, then its
# centre half is kept
PAD_GREY = 110
SampledBoxes = Callable[[int], "tuple[np.ndarray, np.ndarray] | None"]


def speaker_crop(gray: np.ndarray, box: np.ndarray, limited: bool = False) -> np.ndarray:
    """The 112x112 grey crop LR-ASD reads for a face box (x1, y1, x2, y2) in `gray`'s pixels (`limited`: `gray`
    has 16-235 levels; the crop is stretched to 0-255)."""
    half = max(box[2] - box[0], box[3] - box[1]) / 2
    side = half * (1 + CROP_SCALE)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + CROP_SCALE * half
    scale = CROP_PX / max(side, 1e-3)
    warp = np.array([[scale, 0, (side / 2 - cx) * scale], [0, scale, (side / 2 - cy) * scale]], np.float32)
    crop = cv2.warpAffine(gray, warp, (CROP_PX, CROP_PX), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_GREY)
    return LIMITED_TO_FULL[crop] if limited else crop


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a [n, 4] and b [m, 4]."""
    lo, hi = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:4] - x[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def next_boxes(boxes: np.ndarray, later: np.ndarray, min_iou: float) -> np.ndarray:
    """For each box, the box it becomes in the next sampled frame: the later box it overlaps most (each later box
    taken once, greatest overlap first) when the overlap reaches `min_iou`, else itself."""
    out = boxes.copy()
    if not len(boxes) or not len(later):
        return out
    iou = iou_matrix(boxes, later)
    rows, cols = set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < min_iou:
            break
        if i not in rows and j not in cols:
            out[i] = later[j]
            rows.add(i)
            cols.add(j)
    return out


class CropCutter:
    """Crops fed one frame at a time: `add(frame)` (frames carry `gray`) with `sampled(frame_idx)` giving the
    (det_ids, boxes [n, 4]) of the faces detected on a sampled frame (None on other frames); `finish()` gives
    `FaceCrops`."""

    def __init__(self, sampled: SampledBoxes, cfg: FaceCropsConfig) -> None:
        self.sampled, self.cfg = sampled, cfg
        self.held: list[Frame] = []  # frames since the last sampled frame, that one first
        self.ids, self.boxes = np.zeros(0, np.int64), np.zeros((0, 4))
        self.rows: list[tuple[int, int, float, bytes]] = []

    def add(self, frame: Frame) -> None:
        found = self.sampled(frame.index)
        if found is not None:
            ids, boxes = found
            keep = (boxes[:, 3] - boxes[:, 1]) >= self.cfg.min_face_px
            self._cut(boxes[keep][:, :4])
            self.held, self.ids, self.boxes = [], ids[keep], boxes[keep][:, :4].astype(float)
        if len(self.ids):
            self.held.append(frame)

    def finish(self) -> DataFrame[FaceCrops]:
        self._cut(np.zeros((0, 4)))
        table = pd.DataFrame(self.rows, columns=["det_id", "frame_idx", "t_s", "jpeg"])
        return FaceCrops.validate(table)

    def _cut(self, later: np.ndarray) -> None:
        """Crops of the held frames, each face's box moving towards its match in `later`."""
        if not self.held or not len(self.ids):
            return
        target = next_boxes(self.boxes, later, self.cfg.match_iou)
        steps = len(self.held)
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.cfg.crop_jpeg_quality]
        for k, frame in enumerate(self.held):
            boxes = self.boxes + (target - self.boxes) * (k / steps)
            for det_id, box in zip(self.ids, boxes):
                ok, jpeg = cv2.imencode(".jpg", speaker_crop(frame.gray, box, frame.gray_limited), quality)
                if not ok:
                    raise RuntimeError("JPEG encoding of a face crop failed")
                self.rows.append((int(det_id), frame.index, frame.t_s, jpeg.tobytes()))


def detections_by_frame(frames: DataFrame[SampledFrames], detections: DataFrame[Detections]) -> SampledBoxes:
    """`sampled(frame_idx)` over stored tables (a sampled frame without faces gives empty arrays)."""
    by_frame = {int(f): (np.zeros(0, np.int64), np.zeros((0, 4))) for f in frames["frame_idx"]}
    by_frame.update({int(f): (g["det_id"].to_numpy(np.int64), g[["x1", "y1", "x2", "y2"]].to_numpy(float))
                     for f, g in detections.groupby("frame_idx")})
    return by_frame.get


def decode_crops(jpegs: list[bytes]) -> np.ndarray:
    """Stored crops as a [n, 112, 112] uint8 array."""
    return np.stack([cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_GRAYSCALE) for j in jpegs]) if jpegs \
        else np.zeros((0, CROP_PX, CROP_PX), np.uint8)
