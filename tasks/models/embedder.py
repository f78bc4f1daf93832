"""Face embedders behind one verb: `embed(chips) -> (N, dim)`.

`dlib`: ResNet 128-d aligned by dlib's own 5-point predictor; compare with L2 (same person < ~0.6).
`arcface`: any ArcFace ONNX (112x112 input, `norm_crop` alignment from the detector's landmarks), L2-normalised 512-d.
`sface`, the default, is `sface.SFaceEmbedder`, built by the loader.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from screenalytics.tasks.faces import Embedder, FaceChip
from screenalytics.tasks.models import registry
from screenalytics.tasks.models.sessions import session_options


class DlibEmbedder:
    """dlib runs one face at a time on one core (and holds the GIL), so with `workers` > 1 batches are split over
    that many worker processes (started once, on first use; `close()` stops them)."""

    dim = 128

    def __init__(self, *, workers: int = 1):
        self.id = registry.embedder_identity("dlib", None)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._local: _DlibModel | None = None

    def embed(self, chips: list[FaceChip]) -> np.ndarray:
        if self.workers < 2 or len(chips) < 2:
            self._local = self._local or _DlibModel()
            return self._local.embed(chips)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        parts = [list(part) for part in np.array_split(np.arange(len(chips)), self.workers) if len(part)]
        results = self._pool.map(_embed_in_worker, [[chips[i] for i in part] for part in parts])
        return np.concatenate(list(results)).reshape(len(chips), self.dim)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class _DlibModel:
    def __init__(self) -> None:
        import dlib

        paths = registry.dlib_paths()
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(paths["shape_predictor"]))
        self._model = dlib.face_recognition_model_v1(str(paths["recognition"]))

    def embed(self, chips: list[FaceChip]) -> np.ndarray:
        out = np.zeros((len(chips), DlibEmbedder.dim), np.float32)
        for i, chip in enumerate(chips):
            rgb = np.ascontiguousarray(chip.image_bgr[:, :, ::-1])
            x1, y1, x2, y2 = (int(round(v)) for v in chip.box[:4])
            shape = self._predictor(rgb, self._dlib.rectangle(x1, y1, x2, y2))
            out[i] = np.asarray(self._model.compute_face_descriptor(rgb, shape), np.float32)
        return out


_WORKER_MODEL: _DlibModel | None = None


def _embed_in_worker(chips: list[FaceChip]) -> np.ndarray:
    global _WORKER_MODEL
    _WORKER_MODEL = _WORKER_MODEL or _DlibModel()
    return _WORKER_MODEL.embed(chips)


class ArcFaceEmbedder:
    dim = 512

    def __init__(self, *, model_path: str | None, threads: int = 1, providers: list[str] | None = None):
        import logging

        logging.getLogger(__name__).warning(
            "ArcFace: InsightFace weights are licensed for non-commercial research only "
            "(models.face_embedder=arcface).")
        from insightface.model_zoo import get_model

        path = registry.arcface_path(model_path)
        options = session_options(threads)
        chosen = providers or registry.providers()
        self._model = get_model(str(path), providers=chosen, sess_options=options)
        if not hasattr(self._model, "get_feat"):
            raise registry.MissingModelError(f"{path} is not an ArcFace recognition ONNX (input [N,3,112,112]).")
        self._model.prepare(ctx_id=0 if "CUDAExecutionProvider" in chosen else -1)
        self.id = registry.embedder_identity("arcface", str(path))
        output = self._model.session.get_outputs()[0].shape
        self.dim = int(output[-1]) if isinstance(output[-1], int) else 512

    def close(self) -> None:
        """Nothing to release (onnxruntime threads live with the session)."""

    def embed(self, chips: list[FaceChip]) -> np.ndarray:
        from insightface.utils.face_align import norm_crop

        if not chips:
            return np.zeros((0, self.dim), np.float32)
        aligned = [norm_crop(chip.image_bgr, chip.kps.astype(np.float32), 112) for chip in chips]
        feats = np.asarray(self._model.get_feat(aligned), np.float32).reshape(len(chips), -1)
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        return feats / np.maximum(norms, 1e-12)


def make_embedder(backend: str, *, arcface_model: str | None, threads: int, providers: list[str] | None = None
                  ) -> Embedder:
    if backend == "dlib":
        return DlibEmbedder(workers=threads)
    if backend == "arcface":
        return ArcFaceEmbedder(model_path=arcface_model, threads=threads, providers=providers)
    raise ValueError(f"Unknown embedder backend {backend!r}: use 'dlib' or 'arcface' (SFace: models.loader).")
