"""The bad-input table (docs/bad_inputs.md): what `screenalytics run` does with each broken or unusual input.

A refused input exits non-zero through the CLI's error handler with one `error:` line that names the file (or
setting) and says what to do, no traceback, and no artifact a later run would trust (no `_done.json` of the failing
stage, no `screentime.parquet`). A valid but unusual input (variable frame rate, rotation, 4K, Matroska, VP9,
a black lead-in, odd characters in paths, photos in sub-folders) runs to exit 0 and its result is checked. Names
given by the user (episode ids, person names, file names) never leave the root and never reach a shell.

The media are made in tmp_path from the real clips in ../shared/data with the ffmpeg of imageio-ffmpeg, a few
seconds each.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from screenalytics.cli import app
from tests.conftest import GRID, SHARED
from tests.tasks.test_probe import make_bad

runner = CliRunner()
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
CLIP = GRID / "lbax4n.mpg"  # 3 s, 360x288 at 25 fps, one talking head, MP2 audio
PERSON = "lbax4n"  # the clip's person, as the facebank names them
PEOPLE = ("lbax4n", "lrwp9a", "lwbsza", "swiz3n", "bbaf2n", "brbk7n", "pwij3p", "sbia1a")  # GRID clips = people
H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
AAC = ("-c:a", "aac")
# What a message says to do: an instruction, what is needed, or where the allowed values are listed.
REMEDY = re.compile(r"\b(give|check|copy|download|re-?export|re-?download|re-?encode|convert|use|choose|add|crop|"
                    r"rebuild|pass|rename|delete|replace|enrol|make|install|leave|write)\b|\bneeds an?\b|"
                    r"\bexpected\b|\bshould be\b|docs/configuration\.md", re.IGNORECASE)
SAFE_PERSON_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# ---------------------------------------------------------------------------------------------------- helpers


def ffmpeg(*args: object) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *map(str, args)], check=True, timeout=120)


def invoke(*args: object, env: dict[str, str] | None = None):
    """`screenalytics ARGS` in-process; the output is printed so a failing test shows it."""
    result = runner.invoke(app, [str(a) for a in args], env=env)
    print("$ screenalytics", " ".join(repr(str(a)) for a in args), f"(env {env})" if env else "")
    print(result.output, f"exit {result.exit_code}", repr(result.exception) if result.exception else "")
    return result


def message(result, kind: str = "error") -> list[str]:
    """The `error:` (or `warning:`) lines of the output."""
    return [line for line in result.output.splitlines() if line.startswith(f"{kind}:")]


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.exists() else set()


def assert_refused(result, root: Path, *names: str, says: str, stage: str | None = None) -> str:
    """Exit non-zero through the CLI's error handler (in a terminal an uncaught exception is a traceback), one
    `error:` line naming each of `names`, saying `says` and what to do, and nothing a later run would trust: no
    `_done.json` at all (`stage` None: the input is refused before any stage) or none of `stage`, and no
    screen-time table or manifest."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output
    lines = message(result)
    assert len(lines) == 1, result.output
    line = lines[0]
    for name in names:
        assert name in line, f"the message does not name {name!r}: {line}"
    assert says in line, line
    assert REMEDY.search(line), f"the message does not say what to do: {line}"
    done = [p.as_posix() for p in root.rglob("_done.json")]
    assert not (done if stage is None else [p for p in done if f"/stages/{stage}/" in p]), done
    assert not list(root.rglob("screentime.parquet")) and not list(root.rglob("manifest.json"))
    return line


def assert_ran(result) -> None:
    assert result.exit_code == 0 and result.exception is None, result.output
    assert "Traceback" not in result.output and not message(result)


def published(root: Path, ep_id: str) -> dict:
    """A finished run's tables: the probe row, the screen time (one row per person, by name) and the manifest."""
    folder = root / "episodes" / ep_id
    table = pd.read_parquet(folder / "screentime.parquet")
    return {"probe": pd.read_parquet(folder / "episode.parquet").iloc[0], "people": table.set_index("name"),
            "manifest": json.loads((folder / "manifest.json").read_text())}


@pytest.fixture(scope="module")
def stills(tmp_path_factory) -> Path:
    """`{person}/still_N.jpg`: two stills of each GRID clip's person, the folder layout a facebank takes."""
    folder = tmp_path_factory.mktemp("stills")
    for person in PEOPLE:
        (folder / person).mkdir()
        for n, at in enumerate((0.6, 2.2)):
            ffmpeg("-ss", at, "-i", GRID / f"{person}.mpg", "-frames:v", 1, "-q:v", 2,
                   folder / person / f"still_{n}.jpg")
    return folder


@pytest.fixture
def bank(stills, tmp_path) -> Path:
    """A facebank folder of four people, the clip's person among them (a copy the test may change)."""
    folder = tmp_path / "bank"
    for person in PEOPLE[:4]:
        shutil.copytree(stills / person, folder / person)
    return folder


@pytest.fixture
def root(tmp_path, monkeypatch, prefect_harness) -> Path:
    """The run's root; the working folder is tmp_path, so a relative path or a shell command would land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / "root"


# ------------------------------------------------------------------------------------------- broken videos


def truncated_mid_gop(tmp_path: Path, faststart: bool) -> Path:
    """The clip as H.264 MP4 with a keyframe every second, cut half-way through a packet half-way through the GOP
    of 1-2 s (far from the end: well past the 5% + 1 s a probe tolerates)."""
    whole = tmp_path / "whole.mp4"
    ffmpeg("-i", CLIP, *H264, "-g", 25, "-keyint_min", 25, "-sc_threshold", 0, *AAC,
           *(("-movflags", "+faststart") if faststart else ()), whole)
    with av.open(str(whole)) as container:
        packets = [(float(p.pts * p.time_base), p.is_keyframe, p.pos, p.size)
                   for p in container.demux(container.streams.video[0]) if p.size]
    keys = [t for t, key, _, _ in packets if key]
    at, _, pos, size = min((p for p in packets if not p[1]), key=lambda p: abs(p[0] - 1.5))
    assert any(k < at for k in keys) and any(k > at for k in keys), "the cut is inside a GOP"
    out = tmp_path / ("truncated_faststart.mp4" if faststart else "truncated.mp4")
    out.write_bytes(whole.read_bytes()[: pos + size // 2])
    return out


def audio_only(tmp_path: Path) -> Path:
    out = tmp_path / "audio_only.m4a"
    ffmpeg("-i", CLIP, "-vn", *AAC, out)
    return out


def a_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "season 1"
    folder.mkdir()
    shutil.copy(CLIP, folder / "episode.mpg")
    return folder


BROKEN = {  # row -> (make the input in tmp_path, what the message says)
    "missing": (lambda tmp: make_bad("missing", tmp), "file not found"),
    "zero_byte": (lambda tmp: make_bad("empty", tmp), "empty (0 bytes)"),
    "text_named_mp4": (lambda tmp: make_bad("text", tmp), "not a readable video"),
    "truncated_mid_gop": (lambda tmp: truncated_mid_gop(tmp, faststart=False), "not a readable video"),
    "truncated_mid_gop_faststart": (lambda tmp: truncated_mid_gop(tmp, faststart=True), "truncated"),
    "audio_only": (audio_only, "no video stream"),
    "folder": (a_folder, "folder"),
}


@pytest.mark.parametrize("row", list(BROKEN))
def test_a_broken_video_is_refused_before_any_stage(row, tmp_path, root):
    make, says = BROKEN[row]
    video = make(tmp_path)
    result = invoke("run", video, "--root", root)
    assert_refused(result, root, str(video), says=says)


# ------------------------------------------------------------------------------------ unusual, valid videos


def run_clip(video: Path, root: Path, ep_id: str, *args: object) -> dict:
    result = invoke("run", video, "--ep-id", ep_id, "--root", root, *args)
    assert_ran(result)
    out = published(root, ep_id)
    out["output"] = result.output
    return out


def test_variable_frame_rate_keeps_its_real_duration(tmp_path, root, bank):
    """25 fps for the first second, then every third frame (41 frames): the probe sees a variable rate and the
    stream's real duration (not 41 frames / 25 fps = 1.6 s), and the person is seen from start to end."""
    video = tmp_path / "vfr.mp4"
    ffmpeg("-i", CLIP, "-vf", "select='lt(n,25)+not(mod(n,3))'", "-fps_mode", "vfr", *H264, *AAC, video)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        real_s = float(stream.duration * stream.time_base)
    assert real_s > 2.9
    out = run_clip(video, root, "vfr", "--facebank", bank)
    probe = out["probe"]
    assert probe["variable_frame_rate"] and probe["n_frames"] == 41
    assert probe["duration_s"] == pytest.approx(real_s, abs=0.01)
    person = out["people"].loc[PERSON]
    assert person["first_seen_s"] < 0.5 and person["last_seen_s"] > 2.5
    assert person["visual_s"] == pytest.approx(3.0, abs=0.4)


def rotated(tmp_path: Path, how: str) -> Path:
    """The clip stored sideways, with the rotation that shows it upright: an MP4 display matrix (90 degrees
    anticlockwise), or a Matroska `rotate` tag (90 degrees clockwise, as older tools wrote it)."""
    if how == "display_matrix":
        side = tmp_path / "side.mp4"
        ffmpeg("-i", CLIP, "-vf", "transpose=clock", *H264, *AAC, side)
        out = tmp_path / "display_matrix.mp4"
        ffmpeg("-display_rotation:v:0", 90, "-i", side, "-c", "copy", out)
    else:
        out = tmp_path / "rotate_tag.mkv"
        ffmpeg("-i", CLIP, "-vf", "transpose=cclock", *H264, *AAC, "-metadata:s:v:0", "rotate=90", out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (288, 360), "stored sideways"
    return out


@pytest.mark.parametrize("how", ["display_matrix", "rotate_tag"])
def test_rotation_metadata_turns_the_picture_upright(how, tmp_path, root, bank):
    out = run_clip(rotated(tmp_path, how), root, "rotated", "--facebank", bank)
    probe = out["probe"]
    assert (probe["width_px"], probe["height_px"]) == (360, 288), "width and height as displayed"
    assert abs(probe["rotation_deg"]) in (90, 270)
    assert out["people"].loc[PERSON, "visual_s"] > 2.0, "the upright face is found and named"
    preview = tmp_path / "preview.mp4"
    assert invoke("preview", "rotated", "--out", preview, "--root", root).exit_code == 0
    with av.open(str(preview)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (360, 288), "the preview is upright, like its boxes"


def test_4k_video_still_finds_the_face(tmp_path, root, bank):
    video = tmp_path / "uhd.mp4"
    ffmpeg("-i", CLIP, "-t", 2, "-vf", "scale=3840:2160", *H264, *AAC, video)
    out = run_clip(video, root, "uhd", "--facebank", bank)
    assert (out["probe"]["width_px"], out["probe"]["height_px"]) == (3840, 2160)
    assert out["people"].loc[PERSON, "visual_s"] > 1.5


@pytest.mark.parametrize("container", ["mkv", "webm"])
def test_matroska_and_vp9_webm_run(container, tmp_path, root, bank):
    video = tmp_path / f"clip.{container}"
    codecs = (*H264, *AAC) if container == "mkv" else ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used",
                                                       8, "-b:v", "600k", "-c:a", "libopus")
    ffmpeg("-i", CLIP, *codecs, video)
    out = run_clip(video, root, container, "--facebank", bank)
    assert out["probe"]["video_codec"] == ("h264" if container == "mkv" else "vp9")
    assert out["probe"]["has_audio"]
    assert out["people"].loc[PERSON, "visual_s"] == pytest.approx(3.0, abs=0.4)


def test_a_black_lead_in_delays_the_first_appearance(tmp_path, root, bank):
    """Two seconds of black (and silence) before the clip: the face is first seen after them, not before."""
    video = tmp_path / "lead_in.mp4"
    ffmpeg("-i", CLIP, "-vf", "tpad=start_duration=2:color=black", "-af", "adelay=2000:all=1", *H264, *AAC, video)
    out = run_clip(video, root, "lead-in", "--facebank", bank)
    assert out["probe"]["duration_s"] == pytest.approx(5.0, abs=0.1)
    assert 2.0 <= out["people"].loc[PERSON, "first_seen_s"] <= 2.5


def test_a_video_without_audio_gets_visual_screen_time_and_a_warning(tmp_path, root, bank):
    video = tmp_path / "silent.mp4"
    ffmpeg("-i", CLIP, "-an", *H264, video)
    result = invoke("run", video, "--ep-id", "silent", "--root", root, "--facebank", bank)
    assert result.exit_code == 0 and result.exception is None, result.output
    assert "warning: silent: the video has no audio track; visual screen time only" in result.output
    out = published(root, "silent")
    assert not out["probe"]["has_audio"]
    assert out["people"].loc[PERSON, "visual_s"] == pytest.approx(3.0, abs=0.4)
    assert out["people"][["speaking_s", "overlap_s", "offscreen_speaking_s"]].isna().all().all(), \
        "speaking time unknown, not 0 (docs/schemas.md)"


def test_a_one_frame_video_runs(tmp_path, root, bank):
    """One frame (and a moment of audio): the run finishes, the episode lasts one frame and the face in it counts
    for at most that long."""
    video = tmp_path / "one_frame.mp4"
    ffmpeg("-ss", 1, "-i", CLIP, "-frames:v", 1, "-t", 0.04, *H264, *AAC, video)
    out = run_clip(video, root, "one-frame", "--facebank", bank)
    assert out["probe"]["n_frames"] == 1
    assert out["probe"]["duration_s"] == pytest.approx(0.04, abs=0.01)
    assert (out["people"]["visual_s"] <= 0.04 + 1e-6).all()


# ----------------------------------------------------------------------------------------------- facebank


def unusable_image(kind: str, folder: Path) -> tuple[Path, str]:
    """An image the facebank cannot use, and why the warning says so."""
    if kind == "no_face":  # a still of the clip cropped below the chin: neck and shirt
        path = folder / "shirt.jpg"
        ffmpeg("-ss", 1, "-i", CLIP, "-frames:v", 1, "-vf", "crop=360:64:0:224", "-q:v", 2, path)
        return path, "no face"
    if kind == "animal_face":  # dogs, no person: the detector finds a face-like box, unlike the person's photos
        path = folder / "dogs.jpg"
        shutil.copy(SHARED / "faces_dlib" / "faces" / "dogs.jpg", path)
        (folder / "still_2.jpg").write_bytes((folder / "still_0.jpg").read_bytes())  # three photos of the person
        return path, f"does not look like the other photos of {PERSON}"
    if kind == "two_faces":
        path = folder / "longoria-cooper.jpg"
        shutil.copy(SHARED / "faces_openface" / "longoria-cooper.jpg", path)
        return path, "several faces"
    if kind == "not_an_image":
        path = folder / "notes.jpg"
        path.write_text("call agent about the headshots\n")
        return path, "not a readable image"
    path = folder / "dot.png"
    cv2.imwrite(str(path), np.full((1, 1, 3), 200, np.uint8))
    return path, "no face"


@pytest.mark.parametrize("kind", ["no_face", "animal_face", "two_faces", "not_an_image", "one_pixel"])
def test_an_unusable_facebank_image_is_skipped_with_a_warning(kind, tmp_path, root, bank):
    """The image sits beside the person's good stills: the run finishes, warns naming the image, why and what to
    do, and the person is still named from the others."""
    path, why = unusable_image(kind, bank / PERSON)
    result = invoke("run", CLIP, "--ep-id", "bank", "--root", root, "--facebank", bank)
    assert result.exit_code == 0 and result.exception is None, result.output
    warnings = [line for line in message(result, "warning") if str(path) in line]
    assert len(warnings) == 1, result.output
    assert why in warnings[0] and REMEDY.search(warnings[0]), warnings[0]
    out = published(root, "bank")
    assert PERSON in out["people"].index
    assert sorted(out["manifest"]["stages"]["facebank"]["info"]["people"]) == sorted(PEOPLE[:4])


def test_an_empty_facebank_folder_is_refused(tmp_path, root):
    folder = tmp_path / "empty bank"
    folder.mkdir()
    result = invoke("run", CLIP, "--ep-id", "empty-bank", "--root", root, "--facebank", folder)
    assert_refused(result, root, str(folder), says="no person sub-folders", stage="facebank")


def test_photos_in_sub_folders_of_a_person_count_for_that_person(tmp_path, root, bank):
    """`bank/<person>/<any sub-folders>/photo.jpg`: photos sorted into sub-folders (by shoot, by season) still
    belong to the person whose folder holds them."""
    for n, still in enumerate(sorted((bank / PERSON).glob("*.jpg"))):
        target = bank / PERSON / ("season 1" if n == 0 else "season 2/promo") / still.name
        target.parent.mkdir(parents=True, exist_ok=True)
        still.rename(target)
    assert not list((bank / PERSON).glob("*.jpg")), "the person's photos are all in sub-folders"
    out = run_clip(CLIP, root, "nested", "--facebank", bank)
    assert PERSON in out["manifest"]["stages"]["facebank"]["info"]["people"]
    assert out["people"].loc[PERSON, "visual_s"] > 2.0


# ------------------------------------------------------------------------------------------ paths and names


def test_a_voicebank_and_root_with_spaces_percent_hash_and_non_ascii_work(tmp_path, root):
    """The voicebank (and the root) named with spaces, `%`, `#` and non-ASCII characters: the voicebank is read
    from the literal folder and enrols its person; nothing is written under a percent-escaped twin. (The video and
    the facebank: tests/test_cli.py::test_paths_with_spaces_percent_hash_and_non_ascii_work.)"""
    place = tmp_path / "voices ñ #%"
    (place / "voice bank 日本 #%" / PERSON).mkdir(parents=True)
    ffmpeg("-i", CLIP, "-vn", "-ac", 1, "-ar", 16000, place / "voice bank 日本 #%" / PERSON / "take 1 ñ#%.wav")
    odd_root = place / "root ü #%"
    result = invoke("run", CLIP, "--ep-id", "voices", "--root", odd_root, "--voicebank", place / "voice bank 日本 #%")
    assert_ran(result)
    out = published(odd_root, "voices")
    assert out["manifest"]["stages"]["voicebank"]["info"]["people"] == [PERSON]
    assert sorted(p.name for p in place.iterdir()) == ["root ü #%", "voice bank 日本 #%"]
    assert not root.exists()


PLANTED = ("pwned", "pwned2", "pwned3")  # what a shell running one of the names below would create


def assert_contained(tmp_path: Path, before: set[Path], root: Path) -> None:
    """Nothing written outside the root, and no command of a name run by a shell."""
    outside = {p for p in files_under(tmp_path) - before if root not in p.parents and p != root}
    assert not outside, sorted(outside)
    for planted in PLANTED:
        assert not list(tmp_path.rglob(planted)) and not Path(planted).exists(), planted


BAD_EP_IDS = {"dotdot_slash": "../x", "slash": "a/b", "dotdot": "..", "dot": ".", "empty": "", "300_chars": "e" * 300,
              "command_substitution": "$(touch pwned)", "semicolon": "a;touch pwned", "backticks": "`touch pwned`"}


@pytest.mark.parametrize("row", list(BAD_EP_IDS))
def test_a_bad_episode_id_is_refused_and_touches_nothing(row, tmp_path, root):
    before = files_under(tmp_path)
    result = invoke("run", CLIP, "--ep-id", BAD_EP_IDS[row], "--root", root)
    assert_refused(result, root, "--ep-id", says="empty" if row == "empty" else "Invalid episode id")
    assert_contained(tmp_path, before, root)
    assert not (root / "episodes").exists()


def test_shell_metacharacters_in_file_and_person_folder_names_stay_text(tmp_path, root, stills):
    """A video file and a facebank person folder named with `$(...)`, `;` and backticks: the run finishes, the
    episode id made from the file name is safe, the person's name is kept verbatim with a safe person_id, and
    no shell runs them."""
    folder = tmp_path / "bank"
    name = "$(touch pwned); `touch pwned2`"
    shutil.copytree(stills / PERSON, folder / name)
    for person in PEOPLE[1:4]:
        shutil.copytree(stills / person, folder / person)
    video = tmp_path / "$(touch pwned3);`touch pwned3`.mpg"
    shutil.copy(CLIP, video)
    before = files_under(tmp_path)
    result = invoke("run", video, "--root", root, "--facebank", folder)
    assert_ran(result)
    (ep_id,) = [p.name for p in (root / "episodes").iterdir()]
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", ep_id), ep_id
    people = published(root, ep_id)["people"]
    assert name in people.index, "the person's name is kept verbatim"
    assert SAFE_PERSON_ID.match(people.loc[name, "person_id"])
    assert_contained(tmp_path, before, root)


ODD_NAMES = {"dotdot_slash": "../x", "slash": "AC/DC", "dotdot": "..", "dot": ".", "300_chars": "n" * 300,
             "command_substitution": "$(touch pwned)", "semicolon": "a;touch pwned2", "backticks": "`touch pwned3`"}


def test_person_names_are_text_never_paths_or_commands(tmp_path, root, stills):
    """`facebank add NAME` with names no folder can have (`/`, `..`, `.`, 300 characters) or shell syntax: each is
    stored verbatim in the root's facebank (but `.`, whose person_id would be that of `..`, is refused), a run
    names the clip's person with it under a safe person_id, an editor export of them lands under its safe file
    name, and nothing is written outside the root or run by a shell."""
    names = dict(zip(PEOPLE, ODD_NAMES.values()))
    before = files_under(tmp_path)
    for person, name in list(names.items()):
        result = invoke("facebank", "add", name, stills / person / "still_0.jpg", "--root", root)
        if name == ".":  # its person_id would be that of '..': two people's time would add up as one's
            assert result.exit_code == 2 and "the names '.', '..' would be one person" in result.output, \
                result.output
            del names[person]
            continue
        assert result.exit_code == 0 and result.exception is None, result.output
    bank = pd.read_parquet(root / "facebank" / "facebank.parquet")
    assert set(bank["name"]) == set(names.values())
    result = invoke("run", CLIP, "--ep-id", "names", "--root", root)
    assert_ran(result)
    people = published(root, "names")["people"]
    assert names[PERSON] in people.index
    person_id = people.loc[names[PERSON], "person_id"]
    assert SAFE_PERSON_ID.match(person_id), person_id
    exported = invoke("export", "names", "--person", names[PERSON], "--root", root, "--format", "edl")
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / f"names-{person_id}.edl").is_file()
    (tmp_path / f"names-{person_id}.edl").unlink()
    assert_contained(tmp_path, before, root)


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_person_name_is_refused(name, tmp_path, root, stills):
    result = invoke("facebank", "add", name, stills / PERSON / "still_0.jpg", "--root", root)
    assert_refused(result, root, says="empty")
    assert not (root / "facebank").exists()


# ---------------------------------------------------------------------------------------------- settings


SETTINGS = {  # row -> (arguments, environment, what the message names, what it says)
    "set_unknown_field": (["--set", "detect.nonsense=1"], {}, "detect.nonsense", "unknown"),
    "set_unknown_stage": (["--set", "detekt.sample_fps=3"], {}, "detekt", "unknown"),
    "set_wrong_type": (["--set", "detect.stride=every"], {}, "detect.stride", "valid integer"),
    "set_out_of_range": (["--set", "detect.det_thresh=2"], {}, "detect.det_thresh", "less than or equal to 1"),
    "set_negative": (["--set", "cluster.distance=-1"], {}, "cluster.distance", "greater than 0"),
    "set_not_yaml": (["--set", "detect.sample_fps=[1"], {}, "detect.sample_fps", "not a value"),
    "set_without_value": (["--set", "cluster.distance"], {}, "cluster.distance", "STAGE.FIELD=VALUE"),
    "profile_unknown": (["--profile", "turbo"], {}, "turbo", "Unknown profile"),
    "profile_a_path": (["--profile", "../profiles/balanced"], {}, "../profiles/balanced", "Unknown profile"),
    "env_wrong_type": ([], {"SCREENALYTICS_DETECT__STRIDE": "every"}, "SCREENALYTICS_DETECT__STRIDE",
                       "valid integer"),
    "env_not_yaml": ([], {"SCREENALYTICS_DETECT__SAMPLE_FPS": "[1"}, "SCREENALYTICS_DETECT__SAMPLE_FPS",
                     "not a value"),
    "env_out_of_range": ([], {"SCREENALYTICS_MODELS__THREADS": "1000"}, "SCREENALYTICS_MODELS__THREADS",
                         "less than or equal to 64"),
    "env_unknown_field": ([], {"SCREENALYTICS_DETECT__NONSENSE": "1"}, "SCREENALYTICS_DETECT__NONSENSE", "unknown"),
    "env_unknown_profile": ([], {"SCREENALYTICS_PROFILE": "turbo"}, "SCREENALYTICS_PROFILE", "Unknown profile"),
}


@pytest.mark.parametrize("row", list(SETTINGS))
def test_a_bad_setting_is_refused_naming_it(row, tmp_path, root):
    args, env, names, says = SETTINGS[row]
    result = invoke("run", CLIP, "--root", root, *args, env=env)
    assert_refused(result, root, names, says=says)
    assert not root.exists()


def test_an_empty_root_in_the_environment_is_refused_not_guessed(tmp_path, root):
    """`SCREENALYTICS_ROOT=` (set, but empty): refused like `--root ""`, never a run written into the working
    folder."""
    result = invoke("run", CLIP, "--ep-id", "envroot", env={"SCREENALYTICS_ROOT": ""})
    assert_refused(result, tmp_path, "SCREENALYTICS_ROOT", says="empty")
    assert not (tmp_path / "episodes").exists() and not (tmp_path / "data").exists()
