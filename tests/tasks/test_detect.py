"""Face detection on real frames: GRID talking heads (one face per frame) and PASCAL VOC photos whose faces were
annotated by hand (dlib's examples); and the detect stage as the flow runs it (stage folder, key, reuse)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from screenalytics.tasks import storage
from screenalytics.tasks.configs import DetectConfig
from screenalytics.tasks.decoding import Frame, FrameSampler, iter_frames
from screenalytics.tasks.detect import detect_faces, sampling_rate
from screenalytics.tasks.faces import decode_chip
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.probe import probe_video
from screenalytics.tasks.progress import no_progress
from screenalytics.tasks.runner import Ref, RunContext, key_parts, stage_key
from screenalytics.tasks.scan import scan_task
from screenalytics.tasks.schemas import EpisodeInfo
from screenalytics.tasks.settings import load_settings
from tests.conftest import GRID, SHARED

CLIP = GRID / "bbaf2n.mpg"  # 3 s, 75 frames at 25 fps, 360x288, one speaker facing the camera
VOC = SHARED / "faces_dlib" / "faces"


def grid_faces(detector, cfg: DetectConfig):
    frames = iter_frames(str(CLIP), keep=FrameSampler(sample_fps=cfg.sample_fps))
    return detect_faces(frames, detector, ep_id="g", cfg=cfg)


def test_one_face_per_sampled_frame_of_a_talking_head(detector, settings):
    cfg = settings.detect
    frames, dets, chips = grid_faces(detector, cfg)
    assert len(frames) == 9 and np.allclose(np.diff(frames["t_s"]), 1 / cfg.sample_fps, atol=1 / 25)
    assert (frames["n_faces"] == 1).all() and len(dets) == len(chips) == 9
    assert dets["det_id"].tolist() == list(range(9)) and chips["det_id"].tolist() == list(range(9))
    assert dets["frame_idx"].tolist() == frames["frame_idx"].tolist()
    assert dets["t_s"].tolist() == frames["t_s"].tolist()
    assert (dets["score"] >= cfg.det_thresh).all()
    assert dets["face_h_px"].between(100, 250).all(), "a head-and-shoulders face on a 288-px frame"
    assert (dets["sharpness"] > settings.embed.min_sharpness).all(), "sharp enough for the embed quality gate"
    for det, chip in zip(dets.itertuples(), chips.itertuples()):
        xs = np.array([getattr(det, f"kp{k}_x") for k in range(5)])
        ys = np.array([getattr(det, f"kp{k}_y") for k in range(5)])
        assert ((xs > det.x1) & (xs < det.x2) & (ys > det.y1) & (ys < det.y2)).all(), "landmarks inside the box"
        assert max(ys[0], ys[1]) < min(ys[3], ys[4]), "eyes above the mouth corners"
        face = decode_chip(chips.loc[chip.Index], dets.loc[det.Index])
        h, w = face.image_bgr.shape[:2]
        assert 0 <= face.box[0] < face.box[2] <= w and 0 <= face.box[1] < face.box[3] <= h, "the face is in its chip"
        assert face.box[3] - face.box[1] <= cfg.chip_face_px + 1


def test_faces_smaller_than_min_face_px_are_dropped_but_the_frame_is_listed(detector, settings):
    cfg = settings.detect.model_copy(update={"min_face_px": 300.0})
    frames, dets, chips = grid_faces(detector, cfg)
    assert len(frames) == 9 and (frames["n_faces"] == 0).all()
    assert dets.empty and chips.empty


def voc_annotations() -> dict[str, list[tuple[int, int, int, int]]]:
    """Hand-annotated face boxes (x1, y1, x2, y2) of dlib's VOC example photos."""
    boxes: dict[str, list[tuple[int, int, int, int]]] = {}
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(VOC / xml).getroot().iter("image"):
            boxes[image.get("file")] = [
                (int(b.get("left")), int(b.get("top")), int(b.get("left")) + int(b.get("width")),
                 int(b.get("top")) + int(b.get("height"))) for b in image.iter("box")]
    return boxes


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


@pytest.fixture(scope="module", params=["yunet", "scrfd"])
def each_detector(request):
    """The default face detector and the optional one, each with its own score threshold."""
    chosen = load_settings({"models.face_detector": request.param})
    models = Models(chosen.models, chosen.model_dir, det_thresh=chosen.detect.det_thresh)
    yield chosen, models.get("face_detector")
    models.close()


def test_hand_annotated_faces_are_found_and_nothing_else_at_their_scale(each_detector):
    """Every annotated face (37-109 px) is found (IoU >= 0.5, the PASCAL criterion) and every detection at least
    30 px tall is an annotated face (smaller background faces were not annotated)."""
    settings, detector = each_detector
    annotated = voc_annotations()
    frames = [Frame(i, float(i), cv2.imread(str(VOC / name))) for i, name in enumerate(annotated)]
    cfg = settings.detect.model_copy(update={"min_face_px": 30.0})
    sampled, dets, _ = detect_faces(frames, detector, ep_id="voc", cfg=cfg)
    assert sum(len(b) for b in annotated.values()) == 43
    for i, (name, boxes) in enumerate(annotated.items()):
        found = dets[dets["frame_idx"] == i][["x1", "y1", "x2", "y2"]].to_numpy()
        assert len(found) == len(boxes) == int(sampled.loc[sampled["frame_idx"] == i, "n_faces"].iloc[0]), name
        overlap = np.array([[iou(box, det) for det in found] for box in boxes])
        rows, cols = linear_sum_assignment(-overlap)
        assert (overlap[rows, cols] >= 0.5).all(), (name, overlap[rows, cols])


@pytest.fixture
def clip_run(tmp_path):
    """The run context and episode facts of the GRID clip, as `prepare` and the probe stage hand them on."""
    url = CLIP.resolve().as_uri()
    ctx = RunContext(ep_id="g", episode_url=storage.join(storage.normalize_root(tmp_path), "episodes", "g"),
                     video=Ref(url=url, sha256=storage.sha256_url(url)))
    row = probe_video(str(CLIP), ep_id="g", source_url=url, content_sha256=ctx.video.sha256).iloc[0]
    return ctx, EpisodeInfo.model_validate(row.to_dict())


def test_one_decode_pass_writes_both_stage_folders_and_reuses_each(clip_run, models, detector, settings,
                                                                     progress_log):
    """The scan task: shots and detect from one decode (one progress bar over every frame), each in its own stage
    folder under its own key; a detect setting change re-runs detection alone, the shots folder reused."""
    ctx, info = clip_run
    cfg, shots_cfg = settings.detect, settings.shots
    out = scan_task.fn(ctx, models, progress_log, info=info, shots_cfg=shots_cfg, detect_cfg=cfg)
    det, shots = out["detect"], out["shots"]
    assert not det.cached and det.stage == "detect" and set(det.files) == {"frames", "detections", "chips"}
    assert det.info["n_sampled"] == det.info["n_faces"] == 9 and shots.info["n_shots"] == 1
    assert det.info["sample_fps"] == sampling_rate(cfg, info.fps) == 3.0
    assert progress_log.log == [("shot cuts + face detection", 75, 75)]
    frames, dets, chips = grid_faces(detector, cfg)
    pd.testing.assert_frame_equal(det.table("detections"), dets)
    pd.testing.assert_frame_equal(det.table("frames"), frames)
    assert det.table("chips")["jpeg"].tolist() == chips["jpeg"].tolist()
    assert shots.table("shots")[["start_s", "end_s"]].values.tolist() == [[0.0, 3.0]]
    for stage_out in (det, shots):
        folder = storage.join(ctx.episode_url, "stages", stage_out.stage, stage_out.key[:16])
        assert storage.exists(storage.join(folder, "_done.json"))
        assert all(ref.url.startswith(folder) and storage.sha256_url(ref.url) == ref.sha256
                   for ref in stage_out.files.values())
    # each key: that stage's code, its inputs by value and content, its models' identity
    parts = key_parts("detect", "screenalytics.tasks.detect", {"ctx": ctx, "info": info, "cfg": cfg},
                      {"face_detector": models.identity("face_detector")})
    assert stage_key(parts) == det.key and parts["models"]["face_detector"]["name"] == "yunet-n-dynamic"
    assert stage_key(key_parts("shots", "screenalytics.tasks.shots", {"ctx": ctx, "info": info, "cfg": shots_cfg},
                               {})) == shots.key

    again = scan_task.fn(ctx, models, progress_log, info=info, shots_cfg=shots_cfg, detect_cfg=cfg)
    assert again["detect"].cached and again["shots"].cached and again["detect"].files == det.files
    assert progress_log.log[-2:] == [("shots (reused)", 0, 0), ("detect (reused)", 0, 0)]

    other = scan_task.fn(ctx, models, progress_log, info=info, shots_cfg=shots_cfg,
                         detect_cfg=cfg.model_copy(update={"min_face_px": 300.0}))
    assert other["shots"].cached and not other["detect"].cached and other["detect"].info["n_faces"] == 0
    assert progress_log.log[-1] == ("face detection", 75, 75)
    assert scan_task.fn(ctx, models, no_progress, info=info, shots_cfg=shots_cfg, detect_cfg=cfg)["detect"].cached


def test_a_decode_error_reaches_the_caller_and_stops_the_thread(tmp_path):
    """prefetch: items arrive in order; an error in the producing thread is raised in the caller; closing early
    stops the thread."""
    import threading

    from screenalytics.tasks.decoding import prefetch

    assert list(prefetch(iter(range(50)), depth=4)) == list(range(50))

    def broken():
        yield 1
        raise RuntimeError("bad packet")

    got = []
    with pytest.raises(RuntimeError, match="bad packet"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1]
    stream = prefetch(iter(range(10**6)), depth=2)
    assert next(stream) == 0
    stream.close()
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())


def test_a_stalled_decoder_is_a_clear_error_not_a_hang():
    """A producer that yields nothing for `stall_s` (a decoder stuck on a pathological file) stops the scan with an
    error naming the file within about that time; a slow caller is not a stall."""
    import time

    from screenalytics.tasks.decoding import prefetch
    from screenalytics.tasks.errors import InputError

    def stuck():
        yield 1
        time.sleep(30)
        yield 2

    started, got = time.monotonic(), []
    with pytest.raises(InputError, match="clip.mp4: the decoder produced nothing for 0.5 s"):
        for item in prefetch(stuck(), stall_s=0.5, source="clip.mp4"):
            got.append(item)
    assert got == [1] and time.monotonic() - started < 5
    slow = []
    for item in prefetch(iter(range(3)), depth=1, stall_s=0.2, source="clip.mp4"):
        time.sleep(0.4)
        slow.append(item)
    assert slow == [0, 1, 2]
