"""A short fuzz run over the probe: small real videos (2 s clips of the shared media), damaged by hypothesis (bytes
flipped, the file cut, ranges zeroed, chunks duplicated; in the header and in the middle), must give a valid
`Episodes` row or an `InputError` naming the file: never another exception, never a hang."""
from __future__ import annotations

import math
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import imageio_ffmpeg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from screenalytics.tasks.errors import InputError
from screenalytics.tasks.probe import probe_video
from screenalytics.tasks.schemas import Episodes
from tests.conftest import GRID, HAMILTON

PER_EXAMPLE_S = 10  # a probe of a 2 s clip takes ~0.1 s; anything near this is a hang
ROTATE_TAG = b"ZZZZZZZZZZZZ"  # a placeholder value of the Matroska clip's ROTATE tag, replaced by generated text
FUZZ = settings(max_examples=20, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """2 s clips: H.264/AAC MP4 with its index first (the header region holds the sample tables), MPEG-PS (GRID's
    own stream, copied), and Matroska with a ROTATE tag."""
    folder = tmp_path_factory.mktemp("fuzz_sources")
    mp4, mpg, mkv = folder / "clip.mp4", folder / "clip.mpg", folder / "clip.mkv"
    ffmpeg("-t", "2", "-i", str(HAMILTON / "short_hamilton_clip.mp4"), "-vf", "scale=160:-2", "-c:v", "libx264",
           "-preset", "ultrafast", "-c:a", "aac", "-b:a", "32k", "-movflags", "+faststart", str(mp4))
    ffmpeg("-t", "2", "-i", str(GRID / "bbaf2n.mpg"), "-c", "copy", str(mpg))
    ffmpeg("-i", str(mp4), "-c", "copy", "-metadata:s:v:0", f"ROTATE={ROTATE_TAG.decode()}", str(mkv))
    return {path.suffix: path for path in (mp4, mpg, mkv)}


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    def hung(signum, frame):
        raise Hang(f"probe ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def probe_is_valid_or_input_error(path: Path) -> None:
    """The property: a valid row, or an InputError naming the file."""
    try:
        with time_limit(PER_EXAMPLE_S):
            table = probe_video(str(path), ep_id="x", source_url=str(path), content_sha256="0")
    except InputError as exc:
        assert str(path) in str(exc), f"the error does not name the file: {exc}"
        return
    assert len(table) == 1
    Episodes.validate(table)
    row = table.iloc[0]
    assert row["source_url"] == str(path) and row["n_frames"] >= 1
    assert math.isfinite(row["duration_s"]) and row["duration_s"] > 0
    assert math.isfinite(row["fps"]) and row["fps"] > 0
    assert row["width_px"] > 0 and row["height_px"] > 0


# one damage: (operation, region, position, length, xor byte); positions are taken modulo the region's size
damages = st.tuples(st.sampled_from(["flip", "truncate", "zero", "duplicate", "repeat_file"]),
                    st.sampled_from(["header", "middle", "anywhere"]), st.integers(0, 2**20),
                    st.integers(1, 2**20), st.integers(1, 255))


def damaged(data: bytes, steps: list[tuple[str, str, int, int, int]]) -> bytes:
    out = bytearray(data)
    for operation, region, position, length, xor in steps:
        n = len(out)
        if n == 0:
            break
        if region == "header":
            at = position % min(n, 1024)
        elif region == "middle":
            at = n // 3 + position % max(1, n // 3)
        else:
            at = position % n
        if operation == "flip":
            for i in range(at, min(n, at + 1 + length % 16)):
                out[i] ^= xor
        elif operation == "truncate":
            del out[at:]
        elif operation == "zero":
            size = 1 + length % 8192
            out[at:at + size] = bytes(len(out[at:at + size]))
        elif operation == "duplicate":
            out[at:at] = out[at:at + 1 + length % n]
        else:  # the whole file twice (`cat a.mpg a.mpg`): concatenated MPEG program streams are common
            out.extend(bytes(out))
    return bytes(out)


@pytest.mark.parametrize("suffix", [".mp4", ".mpg", ".mkv"])
@FUZZ
@given(st.lists(damages, min_size=1, max_size=4))
@example([("flip", "header", 8, 1, 0x96)])  # MP4: ftyp's major brand not UTF-8 -> UnicodeDecodeError from av.open
@example([("repeat_file", "header", 0, 1, 1)])  # MPEG-PS twice: every frame time twice -> ZeroDivisionError
@example([("zero", "middle", 0, 8191, 1)])
@example([("truncate", "middle", 0, 1, 1)])
def test_damaged_video_gives_a_row_or_an_input_error_naming_it(clips, tmp_path_factory, suffix, steps):
    path = tmp_path_factory.getbasetemp() / f"damaged{suffix}"
    path.write_bytes(damaged(clips[suffix].read_bytes(), steps))
    probe_is_valid_or_input_error(path)


@FUZZ
@given(st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=len(ROTATE_TAG)),
                 st.floats().map(repr), st.integers(-10**6, 10**6).map(str)).filter(
    lambda text: len(text) <= len(ROTATE_TAG)))
@example("90")
@example("inf")  # OverflowError: cannot convert float infinity to integer (decoding.tag_rotation)
def test_any_rotate_tag_gives_a_row_or_an_input_error(clips, tmp_path_factory, tag):
    """The header's ROTATE tag (Matroska) rewritten in place with any text of its length."""
    data = clips[".mkv"].read_bytes()
    assert data.count(ROTATE_TAG) == 1
    path = tmp_path_factory.getbasetemp() / "rotate.mkv"
    path.write_bytes(data.replace(ROTATE_TAG, tag.encode().ljust(len(ROTATE_TAG))))
    probe_is_valid_or_input_error(path)


def test_a_video_codec_nobody_decodes_gives_an_input_error(clips, tmp_path):
    """Found by the fuzz run: a flipped bit in the MP4 sample entry's codec tag (`avc1` -> `` `vc1 ``) leaves the
    stream without a codec context (AttributeError: 'NoneType' object has no attribute 'width', in probe_video)."""
    data = clips[".mp4"].read_bytes()
    at = data.index(b"avc1", data.index(b"stsd"))
    path = tmp_path / "unknown_codec.mp4"
    path.write_bytes(data[:at] + b"`vc1" + data[at + 4:])
    probe_is_valid_or_input_error(path)
