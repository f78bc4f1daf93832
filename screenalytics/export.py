"""Editor timelines: every appearance (and speaking turn) of one person as an OpenTimelineIO timeline, written as
`.otio`, CMX 3600 EDL or Final Cut Pro X XML through OTIO's adapters, with source timecodes that match the video
(its frame rate and its start timecode from the container), so a cutter jumps straight to each shot."""
from __future__ import annotations

from pathlib import Path

import av
import opentimelineio as otio
import pandas as pd

from screenalytics.published import finished_run
from screenalytics.tasks import storage

FORMATS = {"otio": ("otio_json", ".otio"), "edl": ("cmx_3600", ".edl"), "fcpxml": ("fcpx_xml", ".fcpxml")}


def start_timecode(video: str) -> str | None:
    """The container's start timecode (`timecode` tag of the file or of a stream, e.g. `01:00:00:00`), if any."""
    path = storage.local_path(video) or video
    if not Path(path).is_file():
        return None
    with av.open(path) as container:
        tags = [container.metadata, *(s.metadata for s in container.streams)]
    return next((t["timecode"] for t in tags if t.get("timecode")), None)


def person_timeline(intervals: pd.DataFrame, episode: pd.Series, person: str, name: str, speaking: bool,
                    timecode: str | None) -> otio.schema.Timeline:
    """A timeline of `person`'s visual intervals (track `on screen`) and, with `speaking`, their speaking turns
    (track `speaking`), each interval a clip of the source video; source times are the container's seconds
    minus the video's start, in frames of its rate, from its start timecode."""
    fps = float(episode["fps"])
    first = otio.opentime.from_timecode(timecode, fps) if timecode else otio.opentime.RationalTime(0, fps)
    media = otio.schema.ExternalReference(
        target_url=str(episode["source_url"]),
        available_range=otio.opentime.TimeRange(first, otio.opentime.RationalTime(int(episode["n_frames"]), fps)))
    timeline = otio.schema.Timeline(name=f"{name} in {episode['ep_id']}")
    timeline.global_start_time = otio.opentime.RationalTime(0, fps)
    kinds = [("visual", "on screen"), *([("speaking", "speaking")] if speaking else [])]
    mine = intervals[intervals["person_id"] == person]
    for kind, label in kinds:
        track = otio.schema.Track(name=label, kind=otio.schema.TrackKind.Video)
        for start_s, end_s in mine.loc[mine["kind"] == kind, ["start_s", "end_s"]].itertuples(index=False):
            a = round((start_s - float(episode["video_start_s"])) * fps)
            b = max(round((end_s - float(episode["video_start_s"])) * fps), a + 1)
            clip = otio.schema.Clip(
                name=f"{name} {label} {start_s:.2f}-{end_s:.2f}s", media_reference=media.clone(),
                source_range=otio.opentime.TimeRange(first + otio.opentime.RationalTime(a, fps),
                                                     otio.opentime.RationalTime(b - a, fps)))
            track.append(clip)
        timeline.tracks.append(track)
    return timeline


def export_person(root: str, ep_id: str, person: str, fmt: str, out: Path | None, speaking: bool) -> Path:
    """Write `person`'s (person_id or name) timeline of episode `ep_id` in `fmt` (`otio`, `edl`, `fcpxml`); the
    EDL holds one track: the appearances, or the speaking turns with `speaking`."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    folder, _ = finished_run(root, ep_id)
    screentime = storage.read_parquet(storage.join(folder, "screentime.parquet"))
    row = screentime[(screentime["person_id"] == person) | (screentime["name"] == person)]
    if row.empty:
        raise ValueError(f"{person!r} is not in episode {ep_id!r}; its people: {', '.join(screentime['name'])}")
    episode = storage.read_parquet(storage.join(folder, "episode.parquet")).iloc[0]
    intervals = storage.read_parquet(storage.join(folder, "intervals.parquet"))
    timeline = person_timeline(intervals, episode, str(row["person_id"].iloc[0]), str(row["name"].iloc[0]),
                               speaking, start_timecode(str(episode["source_url"])))
    if fmt == "edl":
        keep = timeline.tracks[-1] if speaking else timeline.tracks[0]
        timeline.tracks[:] = [keep.clone()]
    adapter, suffix = FORMATS[fmt]
    path = out or Path(f"{ep_id}-{row['person_id'].iloc[0]}{suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    otio.adapters.write_to_file(timeline, str(path), adapter_name=adapter)
    return path
