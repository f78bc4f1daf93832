"""The audio stage (`audio_task`): the episode's track as a 16 kHz mono WAV in its stage folder, with its start on
the container timeline; reused when run again; a clear error for a video without sound."""
from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from screenalytics.flows.refs import prepare
from screenalytics.tasks import storage
from screenalytics.tasks.audio import audio_task
from screenalytics.tasks.configs import AudioConfig
from screenalytics.tasks.decoding import extract_audio
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.runner import read_audio
from tests.conftest import HAMILTON

CLIP = HAMILTON / "short_hamilton_clip.mp4"


@pytest.fixture(scope="module")
def models(settings):
    return Models(settings.models, settings.model_dir, det_thresh=settings.detect.det_thresh)


def context(video, settings, root):
    return prepare.fn(str(video), "clip", settings.model_copy(update={"root": str(root)}))


def test_stage_writes_the_track_on_the_container_timeline_and_reuses_it(settings, models, tmp_path):
    ctx = context(CLIP, settings, tmp_path)
    out = audio_task.fn(ctx, models, None, cfg=AudioConfig())
    assert not out.cached and set(out.files) == {"audio.wav"}
    expected = extract_audio(str(CLIP), sample_rate=16000)
    assert storage.read_bytes(out.url("audio.wav")) == expected.to_wav()
    track, info = read_audio(out)
    assert info.start_s == pytest.approx(0.008, abs=0.001)  # the audio's own start, not the video's 0.852 s
    assert info.duration_s == pytest.approx(10.0, abs=0.05) and info.sample_rate == 16000
    assert track.start_s == info.start_s and np.array_equal(track.samples, expected.samples)
    again = audio_task.fn(ctx, models, None, cfg=AudioConfig())
    assert again.cached and again.key == out.key and again.files == out.files
    other_rate = audio_task.fn(ctx, models, None, cfg=AudioConfig(sample_rate=8000))
    assert not other_rate.cached and other_rate.key != out.key
    assert read_audio(other_rate)[1].sample_rate == 8000


def test_video_without_sound_is_a_clear_error(settings, models, tmp_path):
    silent = tmp_path / "video_only.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(CLIP), "-an", "-c",
                    "copy", str(silent)], check=True)
    with pytest.raises(InputError, match="no audio track"):
        audio_task.fn(context(silent, settings, tmp_path / "root"), models, None, cfg=AudioConfig())
