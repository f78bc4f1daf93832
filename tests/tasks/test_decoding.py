"""Decoding real media on the container timeline: video frames (sampled, downsized) and the first audio track
(offsets, rate, length, WAV output, `load_wav`)."""
from __future__ import annotations

import io
import re
import subprocess
import wave

import imageio_ffmpeg
import numpy as np
import pytest

from screenalytics.composer import EpisodeTruth
from screenalytics.tasks.decoding import Audio, FrameSampler, extract_audio, iter_frames, load_wav
from screenalytics.tasks.errors import InputError
from tests.conftest import GRID, HAMILTON


def video_only(folder):
    """The Hamilton clip with its audio track dropped."""
    silent = folder / "video_only.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i",
                    str(HAMILTON / "short_hamilton_clip.mp4"), "-an", "-c", "copy", str(silent)], check=True)
    return silent


def test_frames_on_the_container_clock_sampled_and_downsized(tmp_path):
    """Every frame is yielded with its container time; full pixels only for the sampled ones (by rate or stride),
    and with `small_width` a copy of every frame downsized keeping the aspect ratio."""
    frames = list(iter_frames(str(GRID / "bbaf2n.mpg"), FrameSampler(sample_fps=5), small_width=180))
    assert len(frames) == 75 and np.allclose([f.t_s for f in frames], np.arange(75) / 25)
    assert all(f.small_bgr.shape == (144, 180, 3) for f in frames)
    kept = [f for f in frames if f.image_bgr is not None]
    assert [f.index for f in kept] == list(range(0, 75, 5)) and kept[0].image_bgr.shape == (288, 360, 3)
    frames = list(iter_frames(str(HAMILTON / "short_hamilton_clip.mp4"), FrameSampler(stride=10)))
    assert len(frames) == 275 and frames[0].t_s == pytest.approx(0.852, abs=0.001)  # the video's own start
    kept = [f for f in frames if f.image_bgr is not None]
    assert [f.index for f in kept] == list(range(0, 275, 10)) and kept[0].image_bgr.shape == (360, 640, 3)
    with pytest.raises(ValueError, match="sample_fps or stride"):
        FrameSampler()
    with pytest.raises(InputError, match="file not found"):
        next(iter_frames(str(tmp_path / "nope.mp4")))


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
    assert extract_audio(str(video_only(tmp_path)), sample_rate=16000) is None


def test_load_wav_is_the_track_as_float_with_its_start(tmp_path):
    """`load_wav`: the first audio track as float32 in [-1, 1) (int16 / 32768) and the container time of its first
    sample; a file without audio is an error naming it."""
    clip = HAMILTON / "short_hamilton_clip.mp4"
    wav, start_s = load_wav(clip, 16000)
    audio = extract_audio(str(clip), sample_rate=16000)
    assert wav.dtype == np.float32 and start_s == audio.start_s
    assert np.array_equal(wav, audio.samples.astype(np.float32) / 32768.0)
    silent = video_only(tmp_path)
    with pytest.raises(InputError, match=re.escape(f"{silent}: no audio track")):
        load_wav(silent, 16000)
