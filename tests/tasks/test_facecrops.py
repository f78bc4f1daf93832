"""Face crops at the full frame rate: LR-ASD's crop geometry, boxes interpolated between sampled detections, and
the crops cut in the shared decode pass (from the detector's faces or from stored detections alike)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from screenalytics.tasks import facecrops, storage
from screenalytics.tasks.configs import FaceCropsConfig
from screenalytics.tasks.decoding import Frame, iter_frames
from screenalytics.tasks.facecrops import (
    ARROW_SCHEMA,
    PAD_GREY,
    CropCutter,
    StoredCrops,
    decode_crops,
    next_boxes,
    speaker_crop,
)
from screenalytics.tasks.probe import probe_video
from screenalytics.tasks.runner import Ref, RunContext
from screenalytics.tasks.scan import scan_task
from screenalytics.tasks.schemas import EpisodeInfo
from tests.conftest import GRID

CLIP = GRID / "bbaf2n.mpg"


def test_the_crop_is_the_mouth_and_chin_square_lr_asd_reads():
    """A 1.4-half-size square centred 0.4 half-sizes below the box centre; grey 110 beyond the picture; limited
    range luma stretched to 0-255."""
    image = np.zeros((400, 400), np.uint8)
    box = np.array([150.0, 100.0, 250.0, 200.0])  # half-size 50: the crop spans x 165-235, y 135-205
    image[135:205, 165:235] = 200
    crop = speaker_crop(image, box)
    assert crop.shape == (112, 112) and crop[2:-2, 2:-2].min() == 200
    wider = speaker_crop(image, np.array([140.0, 90.0, 260.0, 210.0]))  # spans x 158-242, y 132-216
    assert wider[:3].max() == 0 and wider[:, :8].max() == 0 and wider[40:70, 40:70].min() == 200
    off = speaker_crop(image, np.array([-60.0, 100.0, 40.0, 200.0]))  # crop spans x -45..25
    assert (off[:, :50] == PAD_GREY).all() and (off[:, 80:] == 0).all()
    assert speaker_crop(np.full((50, 50), 235, np.uint8), np.array([10.0, 10.0, 30.0, 30.0]), limited=True).min() == 255


def test_faces_are_followed_to_the_overlapping_face_of_the_next_sample_one_to_one():
    boxes = np.array([[0, 0, 10, 10], [100, 0, 110, 10], [200, 0, 210, 10]], float)
    later = np.array([[102, 0, 112, 10], [1, 0, 11, 10], [400, 0, 410, 10]], float)
    out = next_boxes(boxes, later, 0.3)
    np.testing.assert_array_equal(out, [[1, 0, 11, 10], [102, 0, 112, 10], [200, 0, 210, 10]])  # the third holds
    twins = next_boxes(np.array([[0, 0, 10, 10], [1, 0, 11, 10]], float), np.array([[0, 0, 10, 10]], float), 0.3)
    np.testing.assert_array_equal(twins, [[0, 0, 10, 10], [1, 0, 11, 10]])  # one match only: the better one


def _moving_square(n: int, step: float) -> tuple[list[Frame], dict]:
    """Frames of a textured square moving right by `step` px per frame, detected every 5th frame."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (60, 60), np.uint8)
    frames, sampled = [], {}
    for i in range(n):
        image = np.full((200, 400), 30, np.uint8)
        x = int(round(20 + step * i))
        image[50:110, x:x + 60] = texture
        frames.append(Frame(i, i / 25, None, gray=image))
        if i % 5 == 0:
            sampled[i] = (np.array([i]), np.array([[x, 50, x + 60, 110]], float))
    return frames, sampled


@pytest.mark.parametrize("match_iou, steady", [(0.3, True), (1.0, False)])
def test_boxes_between_samples_are_interpolated_so_the_crop_follows_the_face(match_iou, steady):
    """Every frame gets a crop, owned by the sampled face it follows. Interpolated, the moving square stays put in
    its crops; held (no match allowed), it drifts by up to four frames' motion."""
    frames, sampled = _moving_square(21, 3.0)
    cutter = CropCutter(sampled.get, FaceCropsConfig(match_iou=match_iou, crop_jpeg_quality=100))
    for frame in frames:
        cutter.add(frame)
    table = cutter.finish()
    assert table["frame_idx"].tolist() == list(range(21))
    assert table["det_id"].tolist() == [5 * (i // 5) for i in range(21)]
    crops = decode_crops(table["jpeg"].tolist()).astype(float)
    drift = max(np.abs(crops[i] - crops[5 * (i // 5)]).mean() for i in range(20))
    assert (drift < 3.0) == steady


def test_a_face_ends_at_a_sampled_frame_without_it():
    frames, sampled = _moving_square(11, 0.0)
    sampled[5] = (np.zeros(0, np.int64), np.zeros((0, 4)))
    cutter = CropCutter(sampled.get, FaceCropsConfig())
    for frame in frames:
        cutter.add(frame)
    assert cutter.finish()["frame_idx"].tolist() == [0, 1, 2, 3, 4, 10]


def test_crops_are_cut_in_the_scan_pass_and_again_from_stored_detections_alike(tmp_path, models, settings,
                                                                              progress_log):
    """One decode: shots, detect and facecrops; every frame of the one-face GRID clip gets a crop. With detect
    reused, crops cut following the stored detections are the same bytes."""
    def run(root):
        url = CLIP.resolve().as_uri()
        ctx = RunContext(ep_id="g", episode_url=storage.join(storage.normalize_root(root), "episodes", "g"),
                         video=Ref(url=url, sha256=storage.sha256_url(url)))
        info = EpisodeInfo.model_validate(probe_video(str(CLIP), ep_id="g", source_url=url,
                                                      content_sha256=ctx.video.sha256).iloc[0].to_dict())
        return ctx, info

    ctx, info = run(tmp_path / "a")
    common = {"info": info, "shots_cfg": settings.shots, "detect_cfg": settings.detect}
    out = scan_task.fn(ctx, models, progress_log, **common, facecrops_cfg=settings.facecrops)
    crops = out["facecrops"].table("crops")
    assert progress_log.log[-1] == ("shot cuts + face detection + face crops", 75, 75)
    assert crops["frame_idx"].tolist() == list(range(75)) and out["facecrops"].info["n_crops"] == 75
    assert set(crops["det_id"]) == set(out["detect"].table("detections")["det_id"])

    ctx, info = run(tmp_path / "b")
    first = scan_task.fn(ctx, models, progress_log, **common)
    assert "facecrops" not in first
    later = scan_task.fn(ctx, models, progress_log, **common, facecrops_cfg=settings.facecrops)
    assert later["detect"].cached and not later["facecrops"].cached
    assert progress_log.log[-1] == ("face crops", 75, 75)
    assert later["facecrops"].table("crops")["jpeg"].tolist() == crops["jpeg"].tolist()
    off = scan_task.fn(ctx, models, progress_log, **common, facecrops_cfg=settings.facecrops.model_copy(
        update={"enabled": False}))
    assert set(off) == {"shots", "detect"}


def test_a_sink_takes_the_crops_a_row_group_at_a_time_and_they_read_back_by_row(tmp_path, models, monkeypatch):
    """Written to a `ParquetSink`, the cutter holds at most a row group and a sampling period's crops, the file is
    the table the cutter would have held, placed whole (no temporary file left), and `StoredCrops` gives any rows'
    JPEGs in increasing order of first row, holding a few groups. An aborted sink leaves nothing."""
    monkeypatch.setattr(facecrops, "ROW_GROUP", 16)
    detector, sampled = models.get("face_detector"), {}
    url = (tmp_path / "crops.parquet").as_uri()
    memory = CropCutter(sampled.get, FaceCropsConfig())
    streamed = CropCutter(sampled.get, FaceCropsConfig(), storage.ParquetSink(url, ARROW_SCHEMA))
    held = []
    for frame in iter_frames(str(CLIP), keep=lambda i, _t: i % 8 == 0, gray=True):
        if frame.image_bgr is not None:
            boxes, _ = detector.detect(frame.image_bgr)
            sampled[frame.index] = (np.arange(len(boxes)) + 100 * frame.index, boxes[:, :4].astype(float))
        memory.add(frame)
        streamed.add(frame)
        held.append(len(streamed.rows))
    table, placed = memory.finish(), streamed.finish()
    assert max(held) < 16 + 8 and streamed.n_crops == len(table) == 75
    assert placed.url == url and placed.sha256 == storage.sha256_url(url)
    assert [p.name for p in tmp_path.iterdir()] == ["crops.parquet"]
    assert pq.ParquetFile(tmp_path / "crops.parquet").num_row_groups >= 4
    pd.testing.assert_frame_equal(storage.read_parquet(url), table)
    with StoredCrops(url) as jpegs:
        for rows in (np.array([0, 3, 17]), np.array([15, 16, 40, 33]), np.array([40, 74, 41])):
            assert jpegs(rows) == table["jpeg"].to_numpy()[rows].tolist()
            assert len(jpegs._groups) <= 3

    aborted = storage.ParquetSink((tmp_path / "other.parquet").as_uri(), ARROW_SCHEMA)
    aborted.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["crops.parquet"]
