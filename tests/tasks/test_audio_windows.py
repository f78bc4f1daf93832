"""Speech regions and windows of 16 kHz audio: loudness normalisation, speech segments from a voice-activity
model's probabilities (hysteresis, bridged pauses, dropped bursts, padding), and speech cut into pieces."""
from __future__ import annotations

import numpy as np
import pytest

from screenalytics.tasks.audio_windows import (
    WINDOW_S,
    cut,
    detect_speech,
    normalize_loudness,
    speech_segments,
    speech_windows,
)
from screenalytics.tasks.configs import VadConfig
from screenalytics.tasks.models.loader import Models


@pytest.fixture(scope="module")
def vad(settings):
    return Models(settings.models, settings.model_dir).get("vad")


def test_silence_has_no_speech(vad):
    cfg = VadConfig()
    probs = vad.probabilities(normalize_loudness(np.zeros(16000 * 5, np.int16), cfg.target_rms, cfg.max_gain))
    assert len(speech_segments(probs, cfg)) == 0


def test_loudness_is_scaled_to_the_target_with_the_gain_capped():
    tone = (1000 * np.sin(np.arange(16000) / 5)).astype(np.int16)  # RMS ~0.022 of full scale
    louder = normalize_loudness(tone, 0.05, 20.0)
    assert louder.dtype == np.float32 and np.sqrt(np.mean(louder**2)) == pytest.approx(0.05, rel=1e-3)
    quiet = normalize_loudness((tone // 100).astype(np.int16), 0.05, 20.0)  # would need ~230x: capped at 20x
    assert np.allclose(quiet, 20 * (tone // 100).astype(np.float32) / 32768, atol=1e-7)
    assert not normalize_loudness(np.zeros(100, np.int16), 0.05, 20.0).any()  # silence stays silence
    as_float = np.full(10, 0.5, np.float32)  # float audio is taken as it is (no /32768), then clipped
    assert np.allclose(normalize_loudness(as_float, 0.05, 20.0), 0.05)
    assert np.allclose(normalize_loudness(as_float, 2.0, 20.0), 1.0)


def test_speech_segments_hysteresis_bridging_bursts_and_padding():
    probs = np.r_[np.zeros(10), np.full(20, 0.6), np.full(5, 0.35), np.full(2, 0.1), np.full(10, 0.6),
                  np.zeros(20), np.full(2, 0.6), np.zeros(10)]
    cfg = VadConfig(threshold=0.5, hysteresis=0.2, min_speech_s=0.1, min_silence_s=0.1, pad_s=0.0)
    # 0.35 keeps speech on (above 0.5 - 0.2); the 2-window dip is bridged; the 2-window burst is dropped
    assert np.allclose(speech_segments(probs, cfg), [[10 * WINDOW_S, 47 * WINDOW_S]])
    no_hysteresis = speech_segments(probs, cfg.model_copy(update={"hysteresis": 0.0}))
    assert np.allclose(no_hysteresis, [[10 * WINDOW_S, 30 * WINDOW_S], [37 * WINDOW_S, 47 * WINDOW_S]])
    padded = speech_segments(probs, cfg.model_copy(update={"pad_s": 0.1}))
    assert np.allclose(padded, [[10 * WINDOW_S - 0.1, 47 * WINDOW_S + 0.1]])


def test_padding_stays_inside_the_track_and_merges_neighbours():
    gap = int(np.ceil(0.15 / WINDOW_S))  # longer than min_silence_s: two segments before padding
    probs = np.r_[np.full(10, 0.9), np.zeros(gap), np.full(10, 0.9)]
    cfg = VadConfig(threshold=0.5, hysteresis=0.0, min_speech_s=0.0, min_silence_s=0.1, pad_s=0.1)
    assert len(speech_segments(probs, cfg.model_copy(update={"pad_s": 0.0}))) == 2
    assert np.allclose(speech_segments(probs, cfg), [[0.0, len(probs) * WINDOW_S]])
    assert speech_segments(np.zeros(50), cfg).shape == (0, 2)


def test_detect_speech_runs_the_model_on_normalised_audio():
    class Recorder:
        def probabilities(self, samples):
            self.seen = samples
            return np.r_[np.zeros(5), np.full(20, 0.9), np.zeros(5)]

    samples = (1000 * np.sin(np.arange(30 * 512) / 5)).astype(np.int16)
    model, cfg = Recorder(), VadConfig(pad_s=0.0)
    segments = detect_speech(samples, cfg, model)
    assert np.array_equal(model.seen, normalize_loudness(samples, cfg.target_rms, cfg.max_gain))
    assert np.allclose(segments, [[5 * WINDOW_S, 25 * WINDOW_S]])
    detect_speech(samples, cfg.model_copy(update={"normalize": False}), model)
    assert np.array_equal(model.seen, samples.astype(np.float32) / 32768)


def test_speech_is_cut_into_pieces_of_about_piece_s():
    windows = speech_windows(np.array([[0.0, 3.0], [5.0, 5.5], [6.0, 7.9]]), 1.5)
    assert np.allclose(windows, [[0.0, 1.5], [1.5, 3.0], [5.0, 5.5], [6.0, 7.9]])
    assert speech_windows(np.zeros((0, 2)), 1.5).shape == (0, 2)
    wav = np.arange(16000 * 8, dtype=np.float32)
    pieces = cut(wav, windows)
    assert [len(p) for p in pieces] == [24000, 24000, 8000, 30400]
    assert pieces[2][0] == 5 * 16000 and pieces[3][-1] == int(7.9 * 16000) - 1
