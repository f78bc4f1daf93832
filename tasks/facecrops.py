"""Face crops for the active-speaker model, cut at the full frame rate in the shared decode pass (`scan`).

The face detector sees a few frames per second; the active-speaker model reads every frame. Each face of a sampled
frame owns the frames up to the next sampled frame: its box is interpolated, frame by frame, towards the box of the
face it overlaps most in the next sampled frame (at least `match_iou`; else it is held), and a grey 112x112 crop is
cut along it. The crop is LR-ASD's: a square 1.4 half-sizes wide (half-size = half the box's longer side), centred
0.4 half-sizes below the box centre (mouth and chin), grey 110 outside the picture. Only the frames between two
sampled frames are held in memory, and, when the cutter writes to a `storage.ParquetSink`, only the last few
thousand crops (one row group): the table grows with the episode, the memory does not."""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandera.typing import DataFrame

from screenalytics.tasks import storage
from screenalytics.tasks.configs import FaceCropsConfig
from screenalytics.tasks.decoding import LIMITED_TO_FULL, Frame
from screenalytics.tasks.schemas import Detections, FaceCrops, SampledFrames

CROP_PX = 112
CROP_SCALE = 0.4  # LR-ASD's crop scale: the crop spans (1 + cs) half-sizes either side of its centre, then its
# centre half is kept
PAD_GREY = 110
ROW_GROUP = 2048  # crops per Parquet row group (~7 MB): what a sink holds, and what a reader reads at once
ARROW_SCHEMA = pa.schema([("det_id", pa.int64()), ("frame_idx", pa.int64()), ("t_s", pa.float64()),
                          ("jpeg", pa.binary())])
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
    (det_ids, boxes [n, 4]) of the faces detected on a sampled frame (None on other frames). `finish()` gives the
    `FaceCrops` table, or, with a `sink`, writes it there a row group at a time and gives the placed file."""

    def __init__(self, sampled: SampledBoxes, cfg: FaceCropsConfig, sink: storage.ParquetSink | None = None) -> None:
        self.sampled, self.cfg, self.sink = sampled, cfg, sink
        self.held: list[Frame] = []  # frames since the last sampled frame, that one first
        self.ids, self.boxes = np.zeros(0, np.int64), np.zeros((0, 4))
        self.rows: list[tuple[int, int, float, bytes]] = []
        self.n_crops = 0

    def add(self, frame: Frame) -> None:
        found = self.sampled(frame.index)
        if found is not None:
            ids, boxes = found
            keep = (boxes[:, 3] - boxes[:, 1]) >= self.cfg.min_face_px
            self._cut(boxes[keep][:, :4])
            self.held, self.ids, self.boxes = [], ids[keep], boxes[keep][:, :4].astype(float)
            if self.sink is not None and len(self.rows) >= ROW_GROUP:
                self._flush()
        if len(self.ids):
            self.held.append(frame)

    def finish(self) -> DataFrame[FaceCrops] | storage.Placed:
        self._cut(np.zeros((0, 4)))
        if self.sink is None:
            return self._table()
        if self.rows:
            self._flush()
        return self.sink.close()

    def abort(self) -> None:
        if self.sink is not None:
            self.sink.abort()

    def _table(self) -> DataFrame[FaceCrops]:
        return FaceCrops.validate(pd.DataFrame(self.rows, columns=["det_id", "frame_idx", "t_s", "jpeg"]))

    def _flush(self) -> None:
        self.sink.write(pa.Table.from_pandas(self._table(), schema=ARROW_SCHEMA, preserve_index=False))
        self.rows = []

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
        self.n_crops += len(self.held) * len(self.ids)


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


class StoredCrops:
    """The JPEG crops of a stored `FaceCrops` file by row number, `crops(rows)`, read a row group at a time. Each
    call drops the groups before its first row: called in increasing order of first row, it holds a few groups."""

    def __init__(self, url: str) -> None:
        fs, path = storage.fs_for(url)
        self._handle = fs.open(path, "rb")
        self._file = pq.ParquetFile(self._handle)
        sizes = [self._file.metadata.row_group(g).num_rows for g in range(self._file.num_row_groups)]
        self._ends = np.cumsum(sizes)
        self._starts = self._ends - sizes
        self._groups: dict[int, list[bytes]] = {}

    def __call__(self, rows: np.ndarray) -> list[bytes]:
        groups = np.searchsorted(self._ends, rows, side="right")
        for old in [g for g in self._groups if g < groups.min()]:
            del self._groups[old]
        out = []
        for row, group in zip(rows.tolist(), groups.tolist()):
            if group not in self._groups:
                self._groups[group] = self._file.read_row_group(group, columns=["jpeg"]).column(0).to_pylist()
            out.append(self._groups[group][row - self._starts[group]])
        return out

    def __enter__(self) -> StoredCrops:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._groups.clear()
        self._handle.close()
