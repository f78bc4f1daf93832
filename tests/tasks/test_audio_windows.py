"""Speech regions and windows of 16 kHz audio: loudness normalisation, speech segments from a voice-activity
model's probabilities (hysteresis, bridged pauses, dropped bursts, padding), and speech cut into pieces."""
from __future__ import annotations

import numpy as np
import pytest

from screenalytics.tasks.audio_windows import (
    WINDOW_S,
    as_float,
    cut,
    detect_speech,
    loudness_gain,
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
    silence = np.zeros(16000 * 5, np.int16)
    probs = vad.probabilities(silence, loudness_gain(silence, cfg.target_rms, cfg.max_gain))
    assert len(speech_segments(probs, cfg)) == 0


def normalize_loudness(samples, target_rms, max_gain):
    return as_float(samples, loudness_gain(samples, target_rms, max_gain))


def test_loudness_is_scaled_to_the_target_with_the_gain_capped():
    tone = (1000 * np.sin(np.arange(16000) / 5)).astype(np.int16)  # RMS ~0.022 of full scale
    louder = normalize_loudness(tone, 0.05, 20.0)
    assert louder.dtype == np.float32 and np.sqrt(np.mean(louder**2)) == pytest.approx(0.05, rel=1e-3)
    quiet = normalize_loudness((tone // 100).astype(np.int16), 0.05, 20.0)  # would need ~230x: capped at 20x
    assert np.allclose(quiet, 20 * (tone // 100).astype(np.float32) / 32768, atol=1e-7)
    assert not normalize_loudness(np.zeros(100, np.int16), 0.05, 20.0).any()  # silence stays silence
    floats = np.full(10, 0.5, np.float32)  # float audio is taken as it is (no /32768), then clipped
    assert np.allclose(normalize_loudness(floats, 0.05, 20.0), 0.05)
    assert np.allclose(normalize_loudness(floats, 2.0, 20.0), 1.0)


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
    """The model is given the track as it is and the gain to bring it to the target loudness (it scales a call's
    stretch at a time: no copy of the track)."""
    class Recorder:
        def probabilities(self, samples, gain=1.0):
            self.seen, self.gain = samples, gain
            return np.r_[np.zeros(5), np.full(20, 0.9), np.zeros(5)]

    samples = (1000 * np.sin(np.arange(30 * 512) / 5)).astype(np.int16)
    model, cfg = Recorder(), VadConfig(pad_s=0.0)
    segments = detect_speech(samples, cfg, model)
    assert model.seen is samples
    assert np.sqrt(np.mean(as_float(samples, model.gain) ** 2)) == pytest.approx(cfg.target_rms, rel=1e-4)
    assert np.allclose(segments, [[5 * WINDOW_S, 25 * WINDOW_S]])
    detect_speech(samples, cfg.model_copy(update={"normalize": False}), model)
    assert model.gain == 1.0


def test_the_model_sees_each_stretch_scaled_as_the_whole_track_would_be(vad):
    """Probabilities of 70 s of speech-like audio (three model calls) from the int16 track and a gain equal those
    of the whole track normalised first, context carried across calls (the way it ran before)."""
    rng = np.random.default_rng(0)
    tone = np.sin(np.arange(16000 * 70) * 2 * np.pi * 180 / 16000) * (rng.random(16000 * 70) > 0.3)
    samples = (3000 * tone + rng.normal(0, 300, len(tone))).astype(np.int16)
    gain = loudness_gain(samples, 0.05, 20.0)
    whole = as_float(samples, gain)
    n = int(np.ceil(len(whole) / 512))
    padded = np.zeros(n * 512 + 64, np.float32)
    padded[64:64 + len(whole)] = whole
    windows = np.lib.stride_tricks.sliding_window_view(padded, 576)[::512]
    h = c = np.zeros((1, 1, 128), np.float32)
    expected = []
    for start in range(0, n, 1024):
        probs, h, c = vad._session.run(None, {"input": np.ascontiguousarray(windows[start:start + 1024]), "h": h,
                                              "c": c})
        expected.append(probs.reshape(-1))
    assert np.array_equal(vad.probabilities(samples, gain), np.concatenate(expected)[:n])


def test_speech_is_cut_into_pieces_of_about_piece_s():
    windows = speech_windows(np.array([[0.0, 3.0], [5.0, 5.5], [6.0, 7.9]]), 1.5)
    assert np.allclose(windows, [[0.0, 1.5], [1.5, 3.0], [5.0, 5.5], [6.0, 7.9]])
    assert speech_windows(np.zeros((0, 2)), 1.5).shape == (0, 2)
    wav = np.arange(16000 * 8, dtype=np.float32)
    pieces = cut(wav, windows)
    assert [len(p) for p in pieces] == [24000, 24000, 8000, 30400]
    assert pieces[2][0] == 5 * 16000 and pieces[3][-1] == int(7.9 * 16000) - 1
