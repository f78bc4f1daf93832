"""The command line as a user meets it: bad input, query, facebank, models."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from screenalytics.cli import app
from tests.conftest import HAMILTON, SHARED

runner = CliRunner()


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "truncated", "truncated_faststart"])
def test_bad_video_exits_nonzero_and_leaves_nothing_trusted(kind, tmp_path, prefect_harness):
    from tests.tasks.test_probe import make_bad

    video = make_bad(kind, tmp_path)
    root = tmp_path / "root"
    result = runner.invoke(app, ["run", str(video), "--root", str(root)])
    assert result.exit_code == 2, result.output
    assert video.name in result.output, "the error names the file"
    assert "Traceback" not in result.output
    assert not list(root.rglob("_done.json")) and not list(root.rglob("screentime.parquet"))


def test_bad_episode_id(tmp_path, prefect_harness):
    result = runner.invoke(app, ["run", str(HAMILTON / "short_hamilton_clip.mp4"), "--ep-id", "../up",
                                 "--root", str(tmp_path)])
    assert result.exit_code == 2 and "Invalid episode id" in result.output


def test_facebank_commands(tmp_path):
    root = ["--root", str(tmp_path)]
    folder = tmp_path / "people"
    for name in ("John_Salley", "John_Simm"):
        shutil.copytree(SHARED / "faces_dlib" / "johns" / name, folder / name)
    (folder / "John_Simm" / "broken.jpg").write_bytes(b"nope")
    result = runner.invoke(app, ["facebank", "import", str(folder), *root])
    assert result.exit_code == 0, result.output
    assert "22 image(s) enrolled" in result.output
    result = runner.invoke(app, ["facebank", "add", "Lennon", str(SHARED / "faces_openface" / "lennon-1.jpg"), *root])
    assert result.exit_code == 0 and "holds 3 people" in result.output
    listing = runner.invoke(app, ["facebank", "list", *root])
    assert "John_Salley" in listing.output and "Lennon" in listing.output
    assert runner.invoke(app, ["facebank", "remove", "Lennon", *root]).exit_code == 0
    assert "Lennon" not in runner.invoke(app, ["facebank", "list", *root]).output
    assert runner.invoke(app, ["facebank", "remove", "Nobody", *root]).exit_code == 2


def test_models_lists_backends():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "scrfd" in result.output and "dlib" in result.output and "arcface" in result.output


def test_query_over_published_outputs(tmp_path, prefect_harness, grid_episode):
    root = str(tmp_path / "root")
    run = runner.invoke(app, ["run", str(grid_episode["episode"]), "--ep-id", "demo", "--facebank",
                              str(grid_episode["facebank"]), "--root", root])
    assert run.exit_code == 0, run.output
    assert "Screen time (seconds): demo" in run.output and "screentime.parquet" in run.output
    result = runner.invoke(app, ["query", "select count(distinct person_id) as n from screentime", "--root", root])
    assert result.exit_code == 0 and " 4 " in result.output.replace("│", " ")
    bad = runner.invoke(app, ["query", "select * from nowhere", "--root", root])
    assert bad.exit_code == 2 and "query failed" in bad.output


def test_set_root_is_used_for_writing_and_reading(tmp_path, prefect_harness, grid_episode):
    root = tmp_path / "via_set"
    run = runner.invoke(app, ["run", str(grid_episode["episode"]), "--ep-id", "viaset", "--facebank",
                              str(grid_episode["facebank"]), "--set", f"root={root}"])
    assert run.exit_code == 0, run.output
    assert (root / "episodes" / "viaset" / "screentime.parquet").exists()


def test_set_overrides_reach_the_model_dependent_thresholds():
    from screenalytics.cli_common import parse_sets, settings_for

    assert settings_for(None, None, parse_sets(["models.face_embedder=arcface"])).cluster.distance == 1.1
    explicit = parse_sets(["models.face_embedder=arcface", "cluster.distance=0.9"])
    assert explicit == {"models.face_embedder": "arcface", "cluster.distance": 0.9}
    assert settings_for(None, None, explicit).cluster.distance == 0.9
    result = runner.invoke(app, ["diarize", str(HAMILTON / "short_hamilton_clip.mp4"), "--set", "cluster.distance"])
    assert result.exit_code == 2 and "use STAGE.FIELD=VALUE" in result.output


def test_empty_ep_id_and_root_are_refused_not_guessed(tmp_path, grid_episode):
    for args, option in ((["--ep-id", ""], "--ep-id"), (["--root", " "], "--root")):
        out = runner.invoke(app, ["run", str(grid_episode["episode"]), *args])
        assert out.exit_code != 0 and f"{option} is empty" in out.output and "Traceback" not in out.output
    assert not (tmp_path / "episodes").exists()


def test_paths_with_spaces_percent_hash_and_non_ascii_work(tmp_path, prefect_harness, grid_episode):
    """Video, facebank and root named with spaces, `%`, `#` and non-ASCII characters: the run reads and writes the
    literal folders (no percent-escaped twin), the id is made safe from the file name, and queries find it."""
    place = tmp_path / "A spaces ñ #%"
    place.mkdir()
    video = place / "my clip ñ#%.mp4"
    shutil.copy(grid_episode["episode"], video)
    shutil.copytree(grid_episode["facebank"], place / "face bank")
    root = place / "root 日本"
    out = runner.invoke(app, ["run", str(video), "--facebank", str(place / "face bank"), "--root", str(root)])
    assert out.exit_code == 0, out.output
    assert (root / "episodes" / "my-clip-n" / "screentime.parquet").is_file() and str(root) in out.output
    assert sorted(p.name for p in place.iterdir()) == ["face bank", "my clip ñ#%.mp4", "root 日本"]
    listed = runner.invoke(app, ["query", "episodes", "--root", str(root)])
    assert listed.exit_code == 0 and "my-clip-n" in listed.output


def test_two_videos_with_one_file_stem_do_not_replace_each_other(tmp_path, prefect_harness, grid_episode):
    """`a/clip.mp4` then `b/clip.mp4` (another video) under one root: the second run is refused with both files named
    and the way out, and the first run's outputs stay."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    shutil.copy(grid_episode["episode"], tmp_path / "a" / "clip.mp4")
    shutil.copy(SHARED / "grid_av" / "bbaf2n.mpg", tmp_path / "b" / "clip.mp4")
    root = str(tmp_path / "root")
    first = runner.invoke(app, ["run", str(tmp_path / "a" / "clip.mp4"), "--root", root])
    assert first.exit_code == 0, first.output
    kept = (tmp_path / "root" / "episodes" / "clip" / "screentime.parquet").read_bytes()
    second = runner.invoke(app, ["run", str(tmp_path / "b" / "clip.mp4"), "--root", root])
    assert second.exit_code != 0 and "already holds the outputs of another video" in second.output
    assert "--ep-id" in second.output and "Traceback" not in second.output
    assert (tmp_path / "root" / "episodes" / "clip" / "screentime.parquet").read_bytes() == kept
    again = runner.invoke(app, ["run", str(tmp_path / "a" / "clip.mp4"), "--root", root])
    assert again.exit_code == 0, again.output


def test_a_video_with_no_face_says_so(tmp_path, prefect_harness):
    """A 64x64 test pattern with no face: the run finishes and warns that no face was found, with what to try."""
    import imageio_ffmpeg

    video = tmp_path / "pattern.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x64:rate=25", "-t", "2", "-pix_fmt", "yuv420p", str(video)], check=True)
    out = runner.invoke(app, ["run", str(video), "--root", str(tmp_path / "root")])
    assert out.exit_code == 0, out.output
    assert "no face was found in the video" in out.output and "detect.min_face_px" in out.output
