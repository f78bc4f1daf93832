"""Probe: what is in the container (duration, frame rate, size, rotation, VFR, audio) and is it whole."""
from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks import storage
from screenalytics.tasks.configs import LimitsConfig
from screenalytics.tasks.decoding import frame_rotation, open_container, tag_rotation
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.runner import Produced, StageRun, local_input, stage_task
from screenalytics.tasks.schemas import Episodes

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".mxf", ".ts", ".m4v"}
VFR_TOLERANCE = 0.05  # std of frame durations / median duration above which the stream counts as variable rate
TRUNCATION_TOLERANCE_S = 1.0  # readable packets must reach the declared duration within this (and 95% of it)
SHORT_TAIL_S = 0.5  # frames stopping more than this (and 2 frames) before the declared end are a warning


def check_file(path: str) -> None:
    file = Path(path)
    if not file.exists():
        raise InputError(f"{path}: file not found. Check the path (and --root if it is relative).")
    if file.is_dir():
        videos = sorted(f.name for f in file.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
        hint = f" (it holds {', '.join(videos[:3])})" if videos else ""
        raise InputError(f"{path}: is a folder, not a video file. Give the path of the video file inside it{hint}.")
    if os.path.getsize(file) == 0:
        raise InputError(f"{path}: the file is empty (0 bytes). Copy or download it again.")


def check_limits(path: str, width: int, height: int, duration_s: float, limits: LimitsConfig) -> None:
    """Refuse, before anything is decoded, a frame or a length that would exhaust memory."""
    megapixels = width * height / 1e6
    if megapixels > limits.max_frame_mpx:
        raise InputError(f"{path}: frames of {width}x{height} ({megapixels:.0f} megapixels) exceed the limit of "
                         f"{limits.max_frame_mpx:g} (limits.max_frame_mpx). Downscale it (e.g. to 3840 wide), or "
                         "raise the limit on a machine with the memory.")
    if duration_s > limits.max_duration_h * 3600:
        raise InputError(f"{path}: {duration_s / 3600:.1f} hours long, over the limit of {limits.max_duration_h:g} h "
                         "(limits.max_duration_h). Split it into episodes, or raise the limit on a machine with the "
                         "memory.")


def probe_video(path: str, *, ep_id: str, source_url: str, content_sha256: str,
                limits: LimitsConfig | None = None) -> DataFrame[Episodes]:
    """One `Episodes` row. Demuxes every packet (no decode) to measure frame timing and detect truncation; a file
    over the `limits` is refused first."""
    check_file(path)
    limits = limits or LimitsConfig()
    with open_container(path) as container:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream. Screenalytics needs a video file.")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise InputError(f"{path}: its video codec is unknown to this build of FFmpeg. Re-export it as MP4 "
                             "(H.264).")
        base = float(stream.time_base)
        declared = (float(stream.duration * base) if stream.duration
                    else (container.duration or 0) / av.time_base)
        check_limits(path, stream.codec_context.width, stream.codec_context.height, declared, limits)
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_start = float(audio.start_time * audio.time_base) if audio and audio.start_time is not None else None
        pts: list[int] = []
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    pts.append(packet.pts)
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: the file is damaged ({exc}). Re-export or re-download it.") from exc
        if not pts:
            raise InputError(f"{path}: the video stream holds no frames. Re-export or re-download it.")
        rotation = _first_frame_rotation(path)
    times = np.unique(np.asarray(pts, np.float64)) * base  # sorted; a timestamp met twice is one frame
    steps = np.diff(times)
    step = float(np.median(steps)) if len(steps) else 1.0 / float(stream.average_rate or 25)
    fps = round(1.0 / step, 3)
    start = float(times[0])
    measured = float(times[-1] - start + step)
    check_limits(path, 0, 0, measured, limits)
    if declared and measured + TRUNCATION_TOLERANCE_S < declared * 0.95:
        raise InputError(
            f"{path}: truncated: the header says {declared:.1f} s but frames stop at {measured:.1f} s. "
            "Copy or download the file again.")
    vfr = bool(len(steps) > 1 and float(np.std(steps)) / step > VFR_TOLERANCE)
    width, height = stream.codec_context.width, stream.codec_context.height
    if rotation in (90, -90, 270, -270):
        width, height = height, width
    row = {
        "ep_id": ep_id, "source_url": source_url, "content_sha256": content_sha256,
        "duration_s": measured, "declared_duration_s": declared or np.nan, "fps": fps,
        "n_frames": len(times), "width_px": width, "height_px": height,
        "rotation_deg": rotation, "variable_frame_rate": vfr, "video_start_s": start,
        "has_audio": audio is not None, "audio_start_s": audio_start,
        "video_codec": stream.codec_context.name,
    }
    return Episodes.validate(pd.DataFrame([row]))


def _first_frame_rotation(path: str) -> int:
    """Decode the first frame: proves the stream decodes and reads its display rotation."""
    with open_container(path) as container:
        try:
            frame = next(container.decode(video=0))
        except (StopIteration, av.error.FFmpegError) as exc:
            raise InputError(f"{path}: no frame could be decoded. Re-export or re-download it.") from exc
        return frame_rotation(frame, tag_rotation(container.streams.video[0]))


def short_tail_warning(row: pd.Series) -> list[str]:
    """A warning when frames stop short of the declared end by less than the refusal limit (a file cut near its end
    plays, but the results cover only what is there)."""
    declared, measured = row["declared_duration_s"], row["duration_s"]
    if pd.isna(declared) or declared - measured <= max(SHORT_TAIL_S, 2.0 / row["fps"]):
        return []
    where = storage.local_path(row["source_url"]) or row["source_url"]
    return [f"{where}: frames stop at {measured:.1f} s but the header says {declared:.1f} s: the file "
            f"may be cut short, and screen and speaking times cover only the first {measured:.1f} s. Copy or "
            "download it again if it should be longer."]


@stage_task("probe", tables={"episode": Episodes})
def probe_task(run: StageRun, limits: LimitsConfig) -> Produced:
    """The episode row; its facts travel on as `EpisodeInfo`."""
    ctx = run.ctx
    table = probe_video(local_input(ctx.video.url), ep_id=ctx.ep_id, source_url=ctx.video.url,
                        content_sha256=ctx.video.sha256, limits=limits)
    row = table.iloc[0]
    facts = {k: None if pd.isna(v) else v for k, v in row.to_dict().items()}
    return {"episode": table}, {**facts, "warnings": short_tail_warning(row)}
