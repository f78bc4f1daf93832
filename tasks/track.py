"""Face tracking with ByteTrack (PyPI `trackers`), reset at every shot cut, keeping the link to `det_id`.

The tracker is stepped once per sampled frame (frames without faces too), in fixed-rate mode. `trackers`'
ByteTrack gives a new track its id only on its second match and returns the spawning detection with id -1: we
remember which detection spawned each tracklet and hand it the id once confirmed; a tracklet never matched again
becomes a one-detection track, so brief faces are not lost.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import supervision as sv
from pandera.typing import DataFrame
from trackers import ByteTrackTracker

from screenalytics.tasks.configs import TrackConfig
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, stage_task
from screenalytics.tasks.schemas import Detections, SampledFrames, Shots, Tracks


def _new_tracker(cfg: TrackConfig, sample_fps: float) -> ByteTrackTracker:
    return ByteTrackTracker(
        lost_track_buffer=max(1, round(cfg.lost_track_buffer_s * sample_fps)),
        frame_rate=sample_fps,
        track_activation_threshold=cfg.track_activation_threshold,
        minimum_consecutive_frames=cfg.minimum_consecutive_frames,
        minimum_iou_threshold=cfg.minimum_iou_threshold,
        high_conf_det_threshold=cfg.high_conf_det_threshold,
    )


def _as_sv(frame: pd.DataFrame) -> sv.Detections:
    return sv.Detections(
        xyxy=frame[["x1", "y1", "x2", "y2"]].to_numpy(np.float32).reshape(-1, 4),
        confidence=frame["score"].to_numpy(np.float32),
        data={"det_id": frame["det_id"].to_numpy(np.int64)},
    )


def _track_shot(frame_ids: np.ndarray, dets: pd.DataFrame, cfg: TrackConfig, sample_fps: float) -> dict[int, int]:
    """Local track number per det_id for one shot."""
    tracker = _new_tracker(cfg, sample_fps)
    assigned: dict[int, int] = {}
    spawned: dict[int, tuple[object, int]] = {}  # id(tracklet) -> (tracklet, det_id that spawned it)
    local_ids: dict[object, int] = {}
    by_frame = {k: g for k, g in dets.groupby("frame_idx", sort=False)}
    empty = dets.iloc[:0]
    for frame_idx in frame_ids:
        known = {id(t) for t in tracker.tracks}
        out = tracker.update(_as_sv(by_frame.get(frame_idx, empty)))
        det_ids = out.data.get("det_id", np.zeros(0, np.int64)) if len(out) else np.zeros(0, np.int64)
        unlabeled = {int(d): box for d, box, tid in zip(det_ids, out.xyxy, out.tracker_id) if tid < 0}
        for tracklet in tracker.tracks:
            if id(tracklet) in known:
                continue
            state = np.asarray(tracklet.get_state_bbox(), np.float32)
            match = next((d for d, box in unlabeled.items() if np.allclose(box, state, atol=0.5)), None)
            if match is not None:
                spawned[id(tracklet)] = (tracklet, match)
                unlabeled.pop(match)
        for det_id, tid in zip(det_ids, out.tracker_id):
            if tid >= 0:
                assigned[int(det_id)] = local_ids.setdefault(int(tid), len(local_ids))
        for key, (tracklet, det_id) in list(spawned.items()):
            tid = getattr(tracklet, "tracker_id", -1)
            if tid >= 0:
                assigned[det_id] = local_ids.setdefault(int(tid), len(local_ids))
                spawned.pop(key)
    for key, (_, det_id) in spawned.items():
        assigned[det_id] = local_ids.setdefault(("single", key), len(local_ids))
    return assigned


def track_faces(frames: DataFrame[SampledFrames], detections: DataFrame[Detections], shots: DataFrame[Shots], *,
                cfg: TrackConfig, sample_fps: float) -> DataFrame[Tracks]:
    """Assign detections to tracks; a new tracker starts at each shot, ids are episode-unique."""
    columns = list(Tracks.to_schema().columns)
    if detections.empty:
        return Tracks.validate(pd.DataFrame(columns=columns))
    starts = shots["start_s"].to_numpy()

    def shot_of(t: pd.Series) -> np.ndarray:
        idx = np.searchsorted(starts, t.to_numpy() + 1e-9, side="right") - 1
        return shots["shot_id"].to_numpy()[np.clip(idx, 0, len(shots) - 1)]

    dets = detections.assign(shot_id=shot_of(detections["t_s"]))
    frames = frames.assign(shot_id=shot_of(frames["t_s"])).sort_values("t_s")
    rows: list[pd.DataFrame] = []
    offset = 0
    for shot_id, shot_dets in dets.groupby("shot_id", sort=True):
        frame_ids = frames.loc[frames["shot_id"] == shot_id, "frame_idx"].to_numpy()
        local = _track_shot(frame_ids, shot_dets, cfg, sample_fps)
        if not local:
            continue
        kept = shot_dets[shot_dets["det_id"].isin(local.keys())]
        track = kept["det_id"].map(local).to_numpy() + offset
        offset = int(track.max()) + 1
        rows.append(pd.DataFrame({"ep_id": kept["ep_id"].to_numpy(), "det_id": kept["det_id"].to_numpy(),
                                  "track_id": track, "shot_id": int(shot_id), "t_s": kept["t_s"].to_numpy()}))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    return Tracks.validate(table.sort_values(["track_id", "t_s"], ignore_index=True))


@stage_task("track", tables={"tracks": Tracks})
def track_task(run: StageRun, detect: StageOutput, shots: StageOutput, cfg: TrackConfig, sample_fps: float
               ) -> Produced:
    tracks = track_faces(detect.table("frames"), detect.table("detections"), shots.table("shots"), cfg=cfg,
                         sample_fps=sample_fps)
    return {"tracks": tracks}, {"n_tracks": int(tracks["track_id"].nunique())}
