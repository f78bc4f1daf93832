"""Audio extraction on real media: offsets on the container timeline, rate, length, WAV output."""
from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from screenalytics.compose import EpisodeTruth
from screenalytics.tasks.audio import Audio, extract_audio
from tests.conftest import GRID, HAMILTON


def test_hamilton_audio_keeps_its_own_start():
    audio = extract_audio(str(HAMILTON / "short_hamilton_clip.mp4"), sample_rate=16000)
    assert audio.start_s == pytest.approx(0.008, abs=0.001)  # the video starts at 0.852 s (manifest)
    assert audio.duration_s == pytest.approx(10.0, abs=0.05)
    assert np.abs(audio.samples).mean() > 100


def test_grid_clip_and_wav_round_trip():
    audio = extract_audio(str(GRID / "bbaf2n.mpg"), sample_rate=16000)
    assert (audio.start_s, audio.sample_rate) == (0.0, 16000)
    assert audio.duration_s == pytest.approx(2.98, abs=0.02)
    with wave.open(io.BytesIO(audio.to_wav())) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert np.array_equal(np.frombuffer(wav.readframes(wav.getnframes()), np.int16), audio.samples)
    back = Audio.from_wav(audio.to_wav(), start_s=audio.start_s)
    assert back.sample_rate == 16000 and np.array_equal(back.samples, audio.samples)


def test_composed_episode_audio_is_loud_where_voices_play(grid_episode):
    truth = EpisodeTruth.from_json(grid_episode["truth"])
    audio = extract_audio(str(grid_episode["episode"]), sample_rate=16000)
    assert audio.start_s == pytest.approx(0.0, abs=0.01)
    assert audio.duration_s == pytest.approx(truth.duration_s, abs=0.05)
    rate = audio.sample_rate
    voiced = np.zeros(len(audio.samples), bool)
    for start, end in zip(truth.voice["start_s"], truth.voice["end_s"]):
        voiced[int(start * rate):int(end * rate)] = True
    level = np.abs(audio.samples.astype(np.float64))
    assert level[voiced].mean() > 10 * max(level[~voiced].mean(), 1.0)


def test_no_audio_track_gives_none(tmp_path):
    import subprocess

    import imageio_ffmpeg

    silent = tmp_path / "video_only.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i",
                    str(HAMILTON / "short_hamilton_clip.mp4"), "-an", "-c", "copy", str(silent)], check=True)
    assert extract_audio(str(silent), sample_rate=16000) is None
