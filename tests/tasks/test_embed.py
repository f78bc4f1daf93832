"""Embedder backends, the per-track face selection, and the embed stage's segments on real faces."""
from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper

from screenalytics.tasks.configs import EmbedConfig
from screenalytics.tasks.decoding import FrameSampler, iter_frames
from screenalytics.tasks.detect import detect_faces
from screenalytics.tasks.embed import gated_faces, segment_faces, select_faces
from screenalytics.tasks.errors import MissingModelError
from screenalytics.tasks.faces import FaceChip
from screenalytics.tasks.models.embedder import ArcFaceEmbedder, make_embedder
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.settings import load_settings
from tests.conftest import GRID


@pytest.fixture(scope="module")
def tiny_arcface(tmp_path_factory):
    """An ArcFace-shaped ONNX (input [N,3,112,112], output [N,512]): pooled 8x8 grid -> linear."""
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(3 * 8 * 8, 512)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", 512])],
        [helper.make_tensor("W", TensorProto.FLOAT, weight.shape, weight.flatten())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("onnx") / "tiny_arcface.onnx"
    onnx.save(model, path)
    return path


def grid_chip(detector, path):
    frame = next(iter_frames(str(path))).image_bgr
    boxes, kps = detector.detect(frame)
    return FaceChip(frame, boxes[0, :4], kps[0])


def test_arcface_backend_runs_a_local_onnx(tiny_arcface, detector):
    embedder = make_embedder("arcface", arcface_model=str(tiny_arcface), threads=1)
    assert isinstance(embedder, ArcFaceEmbedder) and embedder.dim == 512
    assert embedder.id.startswith("arcface-")
    a, b = grid_chip(detector, GRID / "bbaf2n.mpg"), grid_chip(detector, GRID / "swiz3n.mpg")
    vectors = embedder.embed([a, b, a])
    assert vectors.shape == (3, 512)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], rtol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


def test_missing_arcface_model_names_the_setting(tmp_path):
    with pytest.raises(MissingModelError, match="models.arcface_model"):
        make_embedder("arcface", arcface_model=None, threads=1)
    with pytest.raises(MissingModelError, match="not found"):
        make_embedder("arcface", arcface_model=str(tmp_path / "nope.onnx"), threads=1)


def test_select_faces_gates_quality_and_spreads_over_time():
    n = 20
    tracks = pd.DataFrame({"det_id": np.arange(n), "track_id": 0, "t_s": np.arange(n) * 0.2})
    dets = pd.DataFrame({"det_id": np.arange(n), "score": 0.9, "face_h_px": 80.0, "sharpness": 100.0})
    dets.loc[dets["det_id"] < 5, "face_h_px"] = 10.0  # too small: gated out
    dets.loc[dets["det_id"] == 12, "sharpness"] = 1.0  # too blurred: gated out
    cfg = EmbedConfig(faces_per_track=3, min_face_px=20, min_sharpness=5)
    chosen = select_faces(gated_faces(tracks, dets, cfg), cfg)
    assert len(chosen) == 3
    assert chosen["det_id"].min() >= 5 and 12 not in set(chosen["det_id"])
    assert chosen["t_s"].max() - chosen["t_s"].min() >= 1.5, "spread over the track, not bunched"


@pytest.fixture(scope="module", params=["yunet+sface", "scrfd+dlib"])
def face_models(request):
    """The default detector + embedder, and the previous defaults; settings with each pair's own thresholds."""
    detector, embedder = request.param.split("+")
    chosen = load_settings({"models.face_detector": detector, "models.face_embedder": embedder})
    models = Models(chosen.models, chosen.model_dir, det_thresh=chosen.detect.det_thresh)
    yield chosen, models.get("face_detector"), models.get("face_embedder")
    models.close()


def test_a_track_that_switches_person_is_split_at_the_switch(face_models, progress_log):
    """Two GRID speakers back to back in one track (a tracker that missed the switch at 3.0 s): the embed stage
    splits it there and every tracked face, embedded or not, lands in its person's segment."""
    settings, detector, embedder = face_models
    cfg = settings.detect
    parts = []
    for k, clip in enumerate(["bbaf2n.mpg", "swiz3n.mpg"]):
        frames, dets, chips = detect_faces(iter_frames(str(GRID / clip), keep=FrameSampler(sample_fps=cfg.sample_fps)),
                                           detector, ep_id="g", cfg=cfg)
        parts.append((dets.assign(det_id=dets["det_id"] + 100 * k, frame_idx=dets["frame_idx"] + 75 * k,
                                  t_s=dets["t_s"] + 3.0 * k), chips.assign(det_id=chips["det_id"] + 100 * k)))
    dets = pd.concat([d for d, _ in parts], ignore_index=True)
    chips = pd.concat([c for _, c in parts], ignore_index=True)
    tracks = dets[["ep_id", "det_id", "t_s"]].assign(track_id=0, shot_id=0)[["ep_id", "det_id", "track_id",
                                                                             "shot_id", "t_s"]]
    embedded, segments, tracked = segment_faces(tracks, dets, chips, embedder, settings.embed, ep_id="g",
                                                progress=progress_log)
    assert progress_log.log[0] == ("face embedding", settings.embed.faces_per_track, settings.embed.faces_per_track)
    assert len(segments) == 2 and segments["track_id"].eq(0).all()
    assert 2.68 - 1e-6 <= segments["end_s"].iloc[0] <= 3.0 + 1e-6, "cut between the last face of one and the next"
    first, second = segments["segment_id"].tolist()
    assert tracked["det_id"].tolist() == tracks["det_id"].tolist()
    assert (tracked["segment_id"] == np.where(tracked["t_s"] < 3.0, first, second)).all()
    assert (embedded["segment_id"] == np.where(embedded["t_s"] < 3.0, first, second)).all()
    assert segments["n_faces"].tolist() == embedded.groupby("segment_id").size().tolist()
