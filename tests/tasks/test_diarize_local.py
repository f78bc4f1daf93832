"""Local speakers of the segmentation model: the sliding 5 s chunks, hysteresis binarisation, and the model's
frame-level speech and overlap against the pyannote sample's reference turns."""
from __future__ import annotations

import numpy as np
import pytest

from screenalytics.tasks.decoding import load_wav
from screenalytics.tasks.diarize_local import FRAME_FIELD_S, FRAME_STEP_S, chunk_starts, hysteresis, segment
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.models.specs import CHUNK_S
from screenalytics.tasks.rttm import read_rttm
from tests.conftest import SHARED

SAMPLE = SHARED / "pyannote_sample_2spk"


def test_chunks_cover_the_track_and_the_last_ends_with_it():
    assert chunk_starts(3.0, 1.0).tolist() == [0.0]  # shorter than a chunk: one, padded
    starts = chunk_starts(12.5, 1.0)
    assert starts.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 7.5]
    assert starts[-1] + CHUNK_S == pytest.approx(12.5)


def test_hysteresis_starts_above_onset_and_stops_below_offset():
    scores = np.array([[0.6, 0.4, 0.3, 0.45, 0.6], [0.4, 0.45, 0.55, 0.4, 0.3]])
    assert hysteresis(scores, 0.5, 0.35).tolist() == [[True, True, False, False, True],
                                                      [False, False, True, True, False]]


def test_segmentation_model_finds_speech_and_overlap(settings):
    """Frame-level speech (any local speaker active) against the sample's reference turns."""
    wav, _ = load_wav(SAMPLE / "sample.wav", 16000)
    model = Models(settings.models, settings.model_dir).get("segmentation")
    chunks = []
    local = segment(wav, model, settings.diarize, progress=chunks.append)
    assert sum(chunks) == len(local.starts) == len(chunk_starts(len(wav) / 16000, settings.diarize.step_s))
    ref = read_rttm(SAMPLE / "sample.rttm")
    frames = local.active.any(axis=2)
    times = local.starts[:, None] + np.arange(frames.shape[1]) * FRAME_STEP_S + FRAME_FIELD_S / 2
    inside = ((times[..., None] >= ref["start_s"].to_numpy()) & (times[..., None] < ref["end_s"].to_numpy()))
    speech = inside.any(axis=2)
    precision = (frames & speech).sum() / frames.sum()
    recall = (frames & speech).sum() / speech.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    two = local.active.sum(axis=2) >= 2
    assert (two & (inside.sum(axis=2) >= 2)).sum() / max(two.sum(), 1) >= 0.5, "found overlap is real overlap"
