"""Decoding with PyAV, on the container timeline: video frames streamed one at a time with their timestamps
(seconds), and the first audio track as 16-bit mono PCM at a fixed rate (its first sample plays at `start_s`, which
may differ from the video's start)."""
from __future__ import annotations

import io
import queue
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import cv2
import numpy as np

from screenalytics.tasks.errors import InputError

_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, -270: cv2.ROTATE_90_COUNTERCLOCKWISE,
           -90: cv2.ROTATE_90_CLOCKWISE, 270: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, -180: cv2.ROTATE_180}


T = TypeVar("T")


@dataclass(frozen=True)
class Frame:
    """A decoded frame: full-size pixels when sampled (else None), a small copy and the full-size grey image when
    asked for every frame (`gray_limited`: its levels span 16-235; `LIMITED_TO_FULL` maps them to 0-255)."""

    index: int
    t_s: float
    image_bgr: np.ndarray | None
    small_bgr: np.ndarray | None = None
    gray: np.ndarray | None = None
    gray_limited: bool = False


DECODE_STALL_S = 120.0  # no frame decoded for this long: the scan stops with a clear error instead of hanging


def open_container(path: str) -> av.container.InputContainer:
    try:
        return av.open(path)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found. Check the path.") from exc
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:  # a mangled header can hold non-UTF-8 names
        raise InputError(
            f"{path}: not a readable video ({getattr(exc, 'strerror', None) or exc}). Re-export it as MP4 (H.264) "
            "or check that the download finished.") from exc


def iter_frames(path: str, keep: Callable[[int, float], bool] | None = None,
                small_width: int | None = None, gray: bool = False) -> Iterator[Frame]:
    """Yield every decoded frame in order: full-size pixels for the frames `keep(index, t_s)` selects (all when
    None; e.g. a `FrameSampler`), with `small_width`, every frame's pixels downsized to about that width (keeping
    the aspect ratio), and with `gray`, every frame's full-size grey image. Rotation metadata is applied."""
    with open_container(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base, tagged = float(stream.time_base), tag_rotation(stream)
        try:
            for index, frame in enumerate(container.decode(stream)):
                t_s = float(frame.pts * base) if frame.pts is not None else float(frame.time or 0.0)
                rotation = frame_rotation(frame, tagged)
                sampled = keep is None or keep(index, t_s)
                yield Frame(index, t_s, upright(frame, None, rotation) if sampled else None,
                            upright(frame, small_width, rotation) if small_width else None,
                            *(_gray(frame, rotation) if gray else (None, False)))
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: decoding failed at frame {index}: {exc}. The file is damaged; "
                             "re-export or re-download it.") from exc


def tag_rotation(stream: av.video.stream.VideoStream) -> int:
    """The rotation an older `rotate` stream tag asks for (degrees clockwise), as a display rotation (degrees
    anticlockwise, like a display matrix): FFmpeg 7 and later no longer apply the tag themselves."""
    tags = {key.lower(): value for key, value in stream.metadata.items()}  # Matroska writes ROTATE
    try:
        return -int(float(tags.get("rotate", 0))) % 360
    except (ValueError, OverflowError):  # not a number, or inf
        return 0


def frame_rotation(frame: av.VideoFrame, tagged: int) -> int:
    """A frame's display rotation: its display matrix, else its stream's `rotate` tag (`tag_rotation`)."""
    return int(getattr(frame, "rotation", 0) or 0) or tagged


def prefetch(items: Iterator[T], depth: int = 8, stall_s: float | None = None, source: str = "") -> Iterator[T]:
    """`items` produced in a thread, at most `depth` ahead of the caller (decode while the caller computes); an
    error there is raised here, and closing this generator stops the thread. With `stall_s`, a producer that yields
    nothing for that long (a decoder stuck on a pathological file) is an `InputError` naming `source`."""
    ready: queue.Queue = queue.Queue(depth)
    stop, end = threading.Event(), object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fill() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(end)
        except BaseException as exc:  # handed to the caller, raised there
            put(_Failed(exc))

    thread = threading.Thread(target=fill, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = ready.get(timeout=stall_s)
            except queue.Empty:
                raise InputError(f"{source}: the decoder produced nothing for {stall_s:g} s; the file is damaged or "
                                 "pathological. Re-export it (e.g. as H.264 MP4) and run again.") from None
            if item is end:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=stall_s)  # a decoder stuck inside a frame is left behind (a daemon thread)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def upright(frame: av.VideoFrame, width: int | None, rotation: int) -> np.ndarray:
    """A frame's BGR pixels as displayed (turned by `rotation`), about `width` wide when given."""
    image = _to_bgr(frame, width, swap=rotation in (90, -90, 270, -270))
    return cv2.rotate(image, _ROTATE[rotation]) if rotation in _ROTATE else image


LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def _gray(frame: av.VideoFrame, rotation: int) -> tuple[np.ndarray, bool]:
    """Full-size grey pixels, without a copy where possible, and whether they are limited-range (16-235): a view
    of the luma plane of YUV 4:2:0 frames, else swscale's full-range grey."""
    if frame.format.name == "yuv420p":
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
        limited = frame.color_range != 2  # 2: JPEG (full) range
    else:
        luma, limited = frame.to_ndarray(format="gray"), False
    return (cv2.rotate(luma, _ROTATE[rotation]) if rotation in _ROTATE else luma), limited


def _decimated_yuv420(frame: av.VideoFrame, step: int) -> np.ndarray:
    """BGR at 1/`step` size straight from the YUV 4:2:0 planes (nearest-neighbour): ~10x cheaper than swscale,
    good enough for cut analysis."""
    planes = frame.to_ndarray()
    h, w = frame.height, frame.width
    y = planes[:h:step, ::step]
    u = planes[h:h + h // 4].reshape(h // 2, w // 2)[:: step // 2, :: step // 2]
    v = planes[h + h // 4:].reshape(h // 2, w // 2)[:: step // 2, :: step // 2]
    rows, cols = min(len(y), len(u)), min(y.shape[1], u.shape[1])
    yuv = np.dstack([y[:rows, :cols], u[:rows, :cols], v[:rows, :cols]])
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)


def _to_bgr(frame: av.VideoFrame, width: int | None, swap: bool) -> np.ndarray:
    """Pixels as BGR, downsized so the displayed width is about `width` (`swap` when a 90-degree rotation will
    be applied afterwards)."""
    if not width:
        return frame.to_ndarray(format="bgr24")
    src_w, src_h = (frame.height, frame.width) if swap else (frame.width, frame.height)
    step = src_w // width
    if frame.format.name == "yuv420p" and step >= 2 and step % 2 == 0 and frame.height % 2 == 0 \
            and frame.width % 2 == 0:
        return _decimated_yuv420(frame, step)
    height = max(2, round(src_h * width / src_w))
    out_w, out_h = (height, width) if swap else (width, height)
    return frame.reformat(width=out_w, height=out_h, format="bgr24").to_ndarray()


class FrameSampler:
    """Selects frames by stride (every Nth) or by a target rate on the container clock."""

    def __init__(self, *, sample_fps: float | None = None, stride: int | None = None):
        if not stride and not sample_fps:
            raise ValueError("FrameSampler needs sample_fps or stride")
        self.stride = stride
        self.period = 1.0 / sample_fps if sample_fps else None
        self._next_t: float | None = None

    def __call__(self, index: int, t_s: float) -> bool:
        if self.stride:
            return index % self.stride == 0
        if self._next_t is None or t_s >= self._next_t - 1e-6:
            start = t_s if self._next_t is None else self._next_t
            self._next_t = start + self.period * max(1, int((t_s - start) / self.period) + 1)
            return True
        return False


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # int16, mono
    sample_rate: int
    start_s: float

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @classmethod
    def from_wav(cls, data: bytes, *, start_s: float) -> Audio:
        with wave.open(io.BytesIO(data)) as wav:
            if (wav.getnchannels(), wav.getsampwidth()) != (1, 2):
                raise ValueError("expected 16-bit mono WAV (as written by to_wav)")
            samples = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
            return cls(samples, wav.getframerate(), start_s)

    def to_wav(self) -> bytes:
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(self.samples.tobytes())
        return buf.getvalue()


def extract_audio(path: str, *, sample_rate: int) -> Audio | None:
    """Decode and resample the first audio track (None when the file has none)."""
    with open_container(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        start_s: float | None = None
        try:
            for frame in container.decode(stream):
                if start_s is None and frame.pts is not None:
                    start_s = float(frame.pts * frame.time_base)
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: the audio track is damaged ({exc}). Re-export the file.") from exc
    samples = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
    return Audio(samples, sample_rate, start_s or 0.0)


def load_wav(path: Path, sample_rate: int) -> tuple[np.ndarray, float]:
    """Any audio or video file as mono float32 at `sample_rate`, and the container time of its first sample."""
    audio = extract_audio(str(path), sample_rate=sample_rate)
    if audio is None:
        raise InputError(f"{path}: no audio track (give a recording or a video with sound)")
    return audio.samples.astype(np.float32) / 32768.0, audio.start_s
