"""One place that builds every model a run uses, from the model folder, the device and the thread budget
(`ModelsConfig`), and says what identifies each (its weights' sha256 and its code) for the cache keys.

Stage functions never open a model: a task asks this loader for the one it needs and hands the stage a model
object with one verb (`detect`, `embed`, `probabilities`, `__call__`, `words`). Each model is built once per run,
on first use (thread-safe: the audio and vision branches run at the same time).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from screenalytics.tasks import code_identity
from screenalytics.tasks.configs import MODEL_DEFAULTS, ModelsConfig
from screenalytics.tasks.models import registry
from screenalytics.tasks.models.registry import PackagedModel

SPEAKER_EMBEDDERS = {"ecapa": (registry.ECAPA, "screenalytics.tasks.models.ecapa"),
                     "resemblyzer": (registry.VOICE_ENCODER, "screenalytics.tasks.models.voice_encoder")}
SILERO_THREADS = 1  # Silero is a small recurrent net: more threads only add overhead
NON_COMMERCIAL = {  # opt-in models whose weights may not be used commercially: a warning when they load
    "scrfd": "SCRFD: InsightFace's detector weights are licensed for non-commercial research only "
             "(models.face_detector=scrfd); the default, models.face_detector=yunet, is Apache-2.0.",
}
log = logging.getLogger(__name__)


def folder_sha256(folder: Path) -> str:
    """A folder's identity: its file names and their contents' hashes."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode())
        digest.update(registry.sha256_file(file).encode())
    return digest.hexdigest()


class Models:
    """The models of one run. `identity(role)` is what a cache key records of a model; `get(role)` builds it."""

    ROLES = ("face_detector", "face_embedder", "active_speaker", "vad", "segmentation", "speaker_embedder", "pyannote",
             "transcriber")

    def __init__(self, cfg: ModelsConfig, model_dir: str, *, det_thresh: float | None = None):
        self.cfg = cfg
        self.model_dir = str(Path(model_dir).expanduser().resolve())
        # unset: the chosen detector's own threshold (its scores are on its own scale), as settings resolve it
        self.det_thresh = (MODEL_DEFAULTS["face_detector"][cfg.face_detector]["detect.det_thresh"]
                           if det_thresh is None else det_thresh)
        self._built: dict[str, Any] = {}
        self._ids: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def providers(self) -> list[str]:
        return registry.providers(self.cfg.device)

    def get(self, role: str) -> Any:
        """The model for `role`, built on first use."""
        with self._lock:
            if role not in self._built:
                self._built[role] = getattr(self, f"_build_{role}")()
            return self._built[role]

    def identity(self, role: str) -> dict[str, Any]:
        """{name, weights sha256, code digest} of the model for `role` (hashed once per run)."""
        with self._lock:
            if role not in self._ids:
                name, weights, module = self._describe(role)
                self._ids[role] = {"name": name, "sha256": weights, "device": self._device(role),
                                   "code": code_identity.code_digest((module,), follow_models=True)}
            return self._ids[role]

    def identities(self) -> dict[str, dict[str, Any]]:
        """The identity of every model this run has asked about (for the manifest)."""
        with self._lock:
            return dict(self._ids)

    def close(self) -> None:
        for model in self._built.values():
            if hasattr(model, "close"):
                model.close()
        self._built.clear()

    def _describe(self, role: str) -> tuple[str, str, str]:
        cfg = self.cfg
        if role == "face_detector":
            if cfg.face_detector == "yunet":
                registry.yunet_path()  # verified, or MissingModelError with the reinstall hint
                return registry.YUNET.name, registry.YUNET.sha256, "screenalytics.tasks.models.yunet"
            return registry.SCRFD.name, self._packaged(registry.SCRFD), "screenalytics.tasks.models.detector"
        if role == "face_embedder":
            if cfg.face_embedder == "sface":
                return (registry.embedder_identity("sface", None), self._packaged(registry.SFACE),
                        "screenalytics.tasks.models.sface")
            weights = (registry.sha256_file(registry.arcface_path(cfg.arcface_model)) if cfg.face_embedder == "arcface"
                       else registry.sha256_file(registry.dlib_paths()["recognition"]))
            return (registry.embedder_identity(cfg.face_embedder, cfg.arcface_model), weights,
                    "screenalytics.tasks.models.embedder")
        if role == "active_speaker":
            registry.LR_ASD.path()
            if self._asd_int8():
                registry.LR_ASD_INT8.path()
                return (registry.LR_ASD_INT8.name, f"{registry.LR_ASD.sha256}+{registry.LR_ASD_INT8.sha256}",
                        "screenalytics.tasks.models.lr_asd")
            return registry.LR_ASD.name, registry.LR_ASD.sha256, "screenalytics.tasks.models.lr_asd"
        if role == "vad":
            return registry.SILERO.name, self._packaged(registry.SILERO), "screenalytics.tasks.models.vad"
        if role == "segmentation":
            return (registry.SEGMENTATION.name, self._packaged(registry.SEGMENTATION),
                    "screenalytics.tasks.models.segmentation")
        if role == "speaker_embedder":
            model, module = SPEAKER_EMBEDDERS[cfg.speaker_embedder]
            return model.name, self._packaged(model), module
        if role == "pyannote":
            from screenalytics.tasks.models.pyannote_pipeline import pipeline_folder

            return ("pyannote-pipeline", folder_sha256(pipeline_folder(cfg.pyannote_dir)),
                    "screenalytics.tasks.models.pyannote_pipeline")
        if role == "transcriber":
            from screenalytics.tasks.models.transcriber import resolve_whisper_model

            path = Path(resolve_whisper_model(cfg.whisper_model))
            weights = registry.sha256_file(path / "model.bin")
            if cfg.transcriber == "whisperx" and cfg.align_model:
                weights += "+" + folder_sha256(Path(cfg.align_model).expanduser())
            return cfg.transcriber, weights, "screenalytics.tasks.models.transcriber"
        raise ValueError(f"unknown model role {role!r}; one of {', '.join(self.ROLES)}")

    def _device(self, role: str) -> str:
        """Where the role's model runs (results may differ in the last digits between CPU and CUDA)."""
        if role in ("vad",) or (role == "face_embedder" and self.cfg.face_embedder == "dlib"):
            return "cpu"
        if role in ("transcriber", "pyannote"):
            return self.cfg.device
        return "cuda" if self.providers()[0].startswith("CUDA") else "cpu"

    def _packaged(self, model: PackagedModel) -> str:
        model.path(self.model_dir)  # verified, or MissingModelError with the install hint
        return model.sha256

    def _build_face_detector(self) -> Any:
        if self.cfg.face_detector == "yunet":
            from screenalytics.tasks.models.yunet import YuNetDetector

            return YuNetDetector(model_path=registry.yunet_path(), det_thresh=self.det_thresh,
                                 threads=self.cfg.threads, providers=self.providers())
        from screenalytics.tasks.models.detector import FaceDetector

        log.warning(NON_COMMERCIAL["scrfd"])
        return FaceDetector(model_path=registry.SCRFD.path(self.model_dir), det_thresh=self.det_thresh,
                            threads=self.cfg.threads, providers=self.providers())

    def _build_face_embedder(self) -> Any:
        if self.cfg.face_embedder == "sface":
            from screenalytics.tasks.models.sface import SFaceEmbedder

            return SFaceEmbedder(model_path=registry.SFACE.path(self.model_dir), threads=self.cfg.threads,
                                 providers=self.providers())
        from screenalytics.tasks.models.embedder import make_embedder

        return make_embedder(self.cfg.face_embedder, arcface_model=self.cfg.arcface_model, threads=self.cfg.threads,
                             providers=self.providers() if self.cfg.face_embedder == "arcface" else None)

    def _asd_int8(self) -> bool:
        """Whether the active-speaker model runs its int8 graph (`models.active_speaker_precision`)."""
        precision = self.cfg.active_speaker_precision
        return precision == "int8" or (precision == "auto" and not self.providers()[0].startswith("CUDA"))

    def _build_active_speaker(self) -> Any:
        from screenalytics.tasks.models.lr_asd import ActiveSpeakerNet

        ranges = json.loads(registry.LR_ASD_INT8.path().read_text())["ranges"] if self._asd_int8() else None
        return ActiveSpeakerNet(registry.LR_ASD.path(), self.providers(), threads=self.cfg.threads, ranges=ranges)

    def _build_vad(self) -> Any:
        from screenalytics.tasks.models.vad import SileroVad

        return SileroVad(model_path=registry.SILERO.path(self.model_dir), threads=SILERO_THREADS)

    def _build_segmentation(self) -> Any:
        from screenalytics.tasks.models.segmentation import SegmentationModel

        return SegmentationModel(registry.SEGMENTATION.path(self.model_dir), self.providers(),
                                 threads=self.cfg.threads)

    def _build_speaker_embedder(self) -> Any:
        from importlib import import_module

        model, module = SPEAKER_EMBEDDERS[self.cfg.speaker_embedder]
        cls = {"ecapa": "EcapaEncoder", "resemblyzer": "VoiceEncoder"}[self.cfg.speaker_embedder]
        return getattr(import_module(module), cls)(model.path(self.model_dir), self.providers(),
                                                   threads=self.cfg.threads)

    def _build_pyannote(self) -> Any:
        from screenalytics.tasks.models.pyannote_pipeline import load_pipeline

        return load_pipeline(self.cfg.pyannote_dir)

    def _build_transcriber(self) -> Any:
        from screenalytics.tasks.models.transcriber import FasterWhisper, WhisperX, resolve_whisper_model

        path = resolve_whisper_model(self.cfg.whisper_model)
        if self.cfg.transcriber == "whisperx":
            return WhisperX(path, align_model=self.cfg.align_model, threads=self.cfg.threads)
        return FasterWhisper(path, threads=self.cfg.threads, device=self.cfg.device)
