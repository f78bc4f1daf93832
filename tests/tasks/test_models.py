"""Model files: verified installs and clear errors when they are missing or damaged; the loader that builds each
model of a run once and says what identifies it."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from screenalytics.tasks.errors import MissingModelError
from screenalytics.tasks.models import registry
from screenalytics.tasks.models.detector import FaceDetector
from screenalytics.tasks.models.embedder import DlibEmbedder
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.models.registry import (
    SCRFD,
    SFACE,
    SILERO,
    YUNET,
    describe,
    embedder_identity,
    providers,
    scrfd_path,
)
from screenalytics.tasks.models.sface import SFaceEmbedder
from screenalytics.tasks.models.yunet import YuNetDetector


def test_missing_detector_names_the_install_command(tmp_path):
    with pytest.raises(MissingModelError, match="screenalytics models install"):
        scrfd_path(str(tmp_path))


def test_damaged_detector_is_refused(tmp_path):
    (tmp_path / SCRFD.file).write_bytes(b"not the model")
    with pytest.raises(MissingModelError, match="damaged"):
        scrfd_path(str(tmp_path))


def test_installed_models_are_listed_as_usable(settings):
    rows = {row.name: row for row in describe(settings.model_dir, None)}
    assert rows["yunet-n-dynamic"].usable and rows["sface-2021dec"].usable
    assert rows["scrfd-2.5g-kps"].usable and rows["dlib-resnet-v1"].usable
    assert not rows["arcface"].usable
    assert rows["yunet-n-dynamic"].licence == "Apache-2.0" and rows["sface-2021dec"].licence.startswith("Apache-2.0")
    assert "non-commercial" in rows["scrfd-2.5g-kps"].licence and "non-commercial" in rows["arcface"].licence
    assert providers()[-1] == "CPUExecutionProvider"


def test_loader_builds_each_model_once_even_when_asked_at_once(settings, monkeypatch):
    built: list[int] = []

    def build(self):
        time.sleep(0.05)
        built.append(1)
        return object()

    monkeypatch.setattr(Models, "_build_face_detector", build)
    models = Models(settings.models, settings.model_dir)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: models.get("face_detector"), range(8)))
    assert len(built) == 1 and all(g is got[0] for g in got)
    assert models.get("face_detector") is got[0]


def test_loader_builds_the_configured_models(models, settings):
    """The defaults: YuNet and SFace (Apache-2.0), with the detector's own score threshold."""
    detector = models.get("face_detector")
    assert isinstance(detector, YuNetDetector) and models.get("face_detector") is detector
    assert detector.providers == providers(settings.models.device)
    assert detector.det_thresh == settings.detect.det_thresh == models.det_thresh
    boxes, kps = detector.detect(np.zeros((64, 64, 3), np.uint8))
    assert boxes.shape == (0, 5) and kps.shape == (0, 5, 2)
    embedder = models.get("face_embedder")
    assert isinstance(embedder, SFaceEmbedder) and embedder.id == embedder_identity("sface", None)


def test_loader_builds_the_optional_face_models_and_warns_of_non_commercial_weights(settings, caplog):
    chosen = settings.models.model_copy(update={"face_detector": "scrfd", "face_embedder": "dlib"})
    models = Models(chosen, settings.model_dir)
    assert models.det_thresh == 0.5, "unset: SCRFD's own threshold"
    caplog.clear()
    with caplog.at_level("WARNING"):
        detector = models.get("face_detector")
    assert isinstance(detector, FaceDetector) and detector.providers == providers(settings.models.device)
    assert "non-commercial" in caplog.text and "models.face_detector=scrfd" in caplog.text
    assert isinstance(models.get("face_embedder"), DlibEmbedder)
    assert Models(chosen, settings.model_dir, det_thresh=0.3).det_thresh == 0.3
    models.close()
    caplog.clear()
    with caplog.at_level("WARNING"):
        default = Models(settings.models, settings.model_dir)
        default.get("face_detector"), default.get("face_embedder")
        default.close()
    assert "non-commercial" not in caplog.text, "the default face models are free for commercial use"


def test_identity_names_the_weights_the_code_and_the_device(models, settings):
    detector = models.identity("face_detector")
    assert set(detector) == {"name", "sha256", "device", "code"}
    assert (detector["name"], detector["sha256"]) == ("yunet-n-dynamic", YUNET.sha256)
    assert detector["device"] == ("cuda" if providers(settings.models.device)[0].startswith("CUDA") else "cpu")
    assert "screenalytics.tasks.models.yunet" in detector["code"]
    assert all(len(d) == 16 for d in detector["code"].values())
    vad = models.identity("vad")
    assert (vad["name"], vad["sha256"]) == ("silero-vad-v6", SILERO.sha256)
    assert "screenalytics.tasks.models.vad" in vad["code"]
    embedder = models.identity("face_embedder")
    assert embedder["name"] == models.get("face_embedder").id == f"sface-2021dec-{SFACE.sha256[:12]}"
    assert embedder["sha256"] == SFACE.sha256 and "screenalytics.tasks.models.sface" in embedder["code"]
    assert set(models.identities()) >= {"face_detector", "vad", "face_embedder"}
    with pytest.raises(ValueError, match="unknown model role"):
        models.identity("nose_detector")
    optional = Models(settings.models.model_copy(update={"face_detector": "scrfd", "face_embedder": "dlib"}),
                      settings.model_dir)
    scrfd = optional.identity("face_detector")
    assert (scrfd["name"], scrfd["sha256"]) == ("scrfd-2.5g-kps", SCRFD.sha256)
    assert "screenalytics.tasks.models.detector" in scrfd["code"]
    dlib = optional.identity("face_embedder")
    assert dlib["name"] == "dlib-resnet-v1" and "screenalytics.tasks.models.embedder" in dlib["code"]
    assert dlib["device"] == "cpu"


def test_missing_model_file_is_a_missing_model_error(settings, tmp_path):
    assert registry.MissingModelError is MissingModelError, "still importable from the registry"
    models = Models(settings.models, str(tmp_path))
    with pytest.raises(MissingModelError, match="screenalytics models install"):
        models.get("face_embedder")
    with pytest.raises(MissingModelError, match="screenalytics models install"):
        models.identity("face_embedder")
    assert models.identity("face_detector")["sha256"] == YUNET.sha256, "YuNet ships with the package"
    scrfd = Models(settings.models.model_copy(update={"face_detector": "scrfd"}), str(tmp_path))
    with pytest.raises(MissingModelError, match="screenalytics models install"):
        scrfd.get("face_detector")
    with pytest.raises(MissingModelError, match="screenalytics models install"):
        models.identity("vad")
    arcface = Models(settings.models.model_copy(update={"face_embedder": "arcface"}), settings.model_dir)
    with pytest.raises(MissingModelError, match="models.arcface_model"):
        arcface.get("face_embedder")


def test_close_releases_what_was_built(settings, monkeypatch):
    closed: list[str] = []

    class Fake:
        def close(self):
            closed.append("detector")

    monkeypatch.setattr(Models, "_build_face_detector", lambda self: Fake())
    models = Models(settings.models, settings.model_dir)
    first = models.get("face_detector")
    models.close()
    assert closed == ["detector"]
    assert models.get("face_detector") is not first, "after close a model is built again when asked for"


def test_embedder_identity_holds_its_weights_hash(models, settings):
    from screenalytics.tasks.models.registry import SFACE, dlib_paths, sha256_file

    embedder = models.identity("face_embedder")
    assert embedder["name"] == embedder_identity("sface", None) and embedder["sha256"] == SFACE.sha256
    dlib = Models(settings.models.model_copy(update={"face_embedder": "dlib"}), settings.model_dir)
    assert dlib.identity("face_embedder")["device"] == "cpu"
    assert dlib.identity("face_embedder")["sha256"] == sha256_file(dlib_paths()["recognition"])


def test_the_active_speaker_precision_is_part_of_its_identity(settings):
    """int8 (the CPU default) and float32 are different models to a cache key: changing the precision re-runs
    the `asd` stage, and only it."""
    from screenalytics.tasks.models.registry import LR_ASD, LR_ASD_INT8

    def identity(precision: str) -> tuple[str, str, bool]:
        loader = Models(settings.models.model_copy(update={"active_speaker_precision": precision, "device": "cpu"}),
                        settings.model_dir)
        found = loader.identity("active_speaker")
        return found["name"], found["sha256"], loader.get("active_speaker").ranges is not None

    assert identity("float32") == ("lr-asd-ava", LR_ASD.sha256, False)
    assert identity("int8") == identity("auto") == ("lr-asd-ava-int8", f"{LR_ASD.sha256}+{LR_ASD_INT8.sha256}", True)
