from __future__ import annotations

import shutil
import subprocess

import imageio_ffmpeg
import pytest

from screenalytics.tasks import storage
from screenalytics.tasks.configs import LimitsConfig
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.probe import probe_task, probe_video
from screenalytics.tasks.runner import Ref, RunContext, stage_dir
from screenalytics.tasks.schemas import EpisodeInfo
from tests.conftest import GRID, HAMILTON, SHARED


def probe(path):
    return probe_video(str(path), ep_id="x", source_url=str(path), content_sha256="0").iloc[0]


def test_probe_uses_container_timestamps():
    row = probe(HAMILTON / "short_hamilton_clip.mp4")
    assert row["n_frames"] == 275
    assert row["fps"] == pytest.approx(29.97, abs=0.01)
    assert row["video_start_s"] == pytest.approx(0.852, abs=0.001)
    assert row["audio_start_s"] == pytest.approx(0.008, abs=0.001)
    assert (row["width_px"], row["height_px"], row["rotation_deg"]) == (640, 360, 0)
    assert not row["variable_frame_rate"]


def test_probe_grid_clip():
    row = probe(GRID / "bbaf2n.mpg")
    assert (row["n_frames"], row["fps"], row["duration_s"]) == (75, 25.0, 3.0)


def test_audio_only_file_is_a_clear_error():
    path = SHARED / "asr_clips" / "jfk.flac"
    with pytest.raises(InputError, match="no video stream") as err:
        probe(path)
    assert str(path) in str(err.value)


def make_bad(kind, tmp_path, keep=0.5):
    """A broken copy of a real clip; truncated kinds keep the first `keep` of its bytes."""
    path = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n")
    elif kind.startswith("truncated"):
        source = HAMILTON / "short_hamilton_clip.mp4"
        if kind == "truncated_faststart":  # index first, so the container opens and frames just stop
            source = tmp_path / "faststart.mp4"
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i",
                            str(HAMILTON / "short_hamilton_clip.mp4"), "-c", "copy", "-movflags", "+faststart",
                            str(source)], check=True)
        data = source.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize("kind,message", [("missing", "not found"), ("empty", "empty"),
                                          ("text", "not a readable video"),
                                          ("truncated", "not a readable video"),
                                          ("truncated_faststart", "truncated: the header says 9.2 s")])
def test_bad_input_is_a_clear_error(kind, message, tmp_path):
    path = make_bad(kind, tmp_path)
    with pytest.raises(InputError, match=message) as err:
        probe(path)
    assert str(path) in str(err.value)


def stage(video, root):
    """The probe stage as the flow runs it (no models, no progress hook)."""
    url = video.resolve().as_uri()
    ctx = RunContext(ep_id="g", episode_url=storage.join(storage.normalize_root(root), "episodes", "g"),
                     video=Ref(url=url, sha256=storage.sha256_url(url)))
    return ctx, probe_task.fn(ctx, None, None, limits=LimitsConfig())


def test_probe_stage_is_reused_for_the_same_bytes_and_rerun_when_its_folder_is_not_whole(tmp_path):
    ctx, first = stage(GRID / "bbaf2n.mpg", tmp_path)
    assert not first.cached and EpisodeInfo.model_validate(first.info).n_frames == 75
    assert first.table("episode")["content_sha256"].tolist() == [ctx.video.sha256]
    assert stage(GRID / "bbaf2n.mpg", tmp_path)[1].cached
    copy = tmp_path / "elsewhere" / "renamed.mpg"
    copy.parent.mkdir()
    shutil.copy(GRID / "bbaf2n.mpg", copy)
    _, moved = stage(copy, tmp_path)
    assert moved.cached and moved.key == first.key, "the same bytes under another name: the same stage"
    _, other = stage(GRID / "swiz3n.mpg", tmp_path)
    assert not other.cached and other.key != first.key
    done = storage.join(stage_dir(ctx, "probe", first.key), "_done.json")
    assert storage.remove(done)
    _, rerun = stage(GRID / "bbaf2n.mpg", tmp_path)
    assert not rerun.cached and rerun.key == first.key and storage.exists(done)


def test_a_bad_video_fails_the_probe_stage_and_leaves_nothing_trusted(tmp_path):
    video = make_bad("text", tmp_path)
    with pytest.raises(InputError, match="not a readable video"):
        stage(video, tmp_path / "root")
    assert not list((tmp_path / "root").rglob("_done.json"))


def test_a_file_cut_near_its_end_runs_with_a_warning_that_names_it(tmp_path):
    """Cut at 93% of its bytes (index first), the clip stops ~0.6 s before its header's end: inside the refusal
    limit (5% + 1 s), so it runs, but the stage's warnings say the results cover only what is there."""
    video = make_bad("truncated_faststart", tmp_path, keep=0.93)
    _, out = stage(video, tmp_path / "root")
    row = out.table("episode").iloc[0]
    assert row["declared_duration_s"] - row["duration_s"] > 0.5
    assert len(out.info["warnings"]) == 1 and "cut short" in out.info["warnings"][0]
    assert video.name in out.info["warnings"][0]
    _, whole = stage(HAMILTON / "short_hamilton_clip.mp4", tmp_path / "root")
    assert whole.info["warnings"] == [] and whole.info["declared_duration_s"] == pytest.approx(
        whole.info["duration_s"], abs=0.1)


def lavfi(tmp_path, name, source, *encode):
    path = tmp_path / name
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", source, *encode,
                    str(path)], check=True)
    return path


def test_a_ten_hour_file_and_a_16k_frame_are_refused_before_decoding(tmp_path):
    """Real files (a 10-hour 16x16 video at 1 fps, one 15360x8640 frame): refused from the header, naming the
    setting that allows them."""
    ten_hours = lavfi(tmp_path, "ten hours.mp4", "color=c=gray:size=16x16:rate=1", "-t", "36000", "-c:v", "libx264",
                      "-preset", "ultrafast")
    with pytest.raises(InputError, match="10.0 hours long, over the limit of 4 h") as err:
        probe(ten_hours)
    assert str(ten_hours) in str(err.value) and "limits.max_duration_h" in str(err.value)
    frame16k = lavfi(tmp_path, "16k.mkv", "color=c=gray:size=15360x8640:rate=1", "-frames:v", "1", "-c:v", "mjpeg",
                     "-pix_fmt", "yuvj420p")
    with pytest.raises(InputError, match="frames of 15360x8640 .133 megapixels. exceed the limit") as err:
        probe(frame16k)
    assert "limits.max_frame_mpx" in str(err.value)
    row = probe_video(str(frame16k), ep_id="x", source_url="", content_sha256="0",
                      limits=LimitsConfig(max_frame_mpx=140)).iloc[0]
    assert (row["width_px"], row["height_px"]) == (15360, 8640), "a raised limit lets it through"
