"""LR-ASD rebuilt for onnxruntime against the reference PyTorch network's outputs on a fixed input
(tests/fixtures/lr_asd_reference.md: made once from the public code in a throwaway environment), and its weights
shipped in the package."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from screenalytics.tasks.errors import MissingModelError
from screenalytics.tasks.models import registry
from screenalytics.tasks.models.lr_asd import ActiveSpeakerNet, mfcc

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lr_asd_reference.npz"


@pytest.fixture(scope="module")
def reference():
    """The fixture's outputs and its inputs, regenerated from the seed in the recorded order."""
    ref = np.load(FIXTURE)
    rng = np.random.default_rng(int(ref["seed"]))
    wav = (rng.standard_normal(16000 * 2) * 0.1).astype(np.float32)
    noise = rng.integers(0, 256, size=(50, 112, 112), dtype=np.uint8)
    coarse = rng.integers(0, 256, size=(50, 14, 14)).astype(np.float64)
    smooth = np.clip(np.stack([np.kron(f, np.ones((8, 8))) for f in coarse]), 0, 255).astype(np.uint8)
    audio = np.round(wav * 32767).astype(np.int16)
    assert hashlib.sha256(audio.tobytes()).hexdigest() == str(ref["wav_int16_sha256"])
    return ref, audio, {"noise": noise, "smooth": smooth}


def test_mfcc_matches_python_speech_features(reference):
    ref, audio, _ = reference
    ours = mfcc(audio)
    assert ours.shape == ref["mfcc"].shape == (199, 13)
    np.testing.assert_allclose(ours, ref["mfcc"], atol=1e-4)


def test_network_matches_the_reference_to_1e4(reference):
    """Both inputs (pure noise and smooth blobs) through the whole network: 49 frames with 196 MFCC frames."""
    ref, _, videos = reference
    net = ActiveSpeakerNet(registry.LR_ASD.path(), ["CPUExecutionProvider"], threads=1)
    for name, video in videos.items():
        scores = net.scores(ref["mfcc"][None, :196], video[None, :49].astype(np.float32))[0]
        np.testing.assert_allclose(scores, ref[f"score_{name}_trim"], atol=1e-4)
    with pytest.raises(ValueError, match="4 per frame"):
        net.scores(ref["mfcc"][None, :199], videos["noise"][None, :50].astype(np.float32))


def test_shipped_weights_are_verified(tmp_path):
    """The weights ship in the package with their licence; a damaged copy is refused with the reinstall hint."""
    path = registry.LR_ASD.path()
    assert (path.parent / "LICENSE").read_text().startswith("MIT License")
    copy = tmp_path / registry.LR_ASD.file
    copy.parent.mkdir(parents=True)
    shutil.copy(path, copy)
    assert registry.LR_ASD.path(tmp_path) == copy
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(MissingModelError, match="damaged.*reinstall"):
        registry.LR_ASD.path(tmp_path)
