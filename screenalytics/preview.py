"""A preview video of one episode's attribution, from its stored tables: each tracked face's box and name, green
while the active-speaker model scores it talking, red while it scores it quiet, grey where it was not scored, and
along the top who is credited with the speech heard (marked "off screen" when that person has no box). Only the
asked range is decoded; the episode's audio is muxed in."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd

from screenalytics.published import finished_run, stage_table, stored_audio
from screenalytics.tasks import storage
from screenalytics.tasks.decoding import Audio, frame_rotation, open_container, tag_rotation, upright
from screenalytics.tasks.errors import InputError

TALKING, QUIET, UNSCORED = (60, 200, 60), (60, 60, 220), (170, 170, 170)  # BGR
SCORE_REACH_S = 0.06  # a score stands for its frame's neighbours up to this far
HOLD_S = 1 / 6  # a box is drawn this long before a track's first and after its last detection


Track = tuple[np.ndarray, np.ndarray, np.ndarray]  # times [n], values [n, ...], names or nothing [n]


@dataclass
class EpisodeTables:
    """What the preview reads: the video, per-track boxes and names, speaking scores, credited turns, audio."""

    video: str
    boxes: pd.DataFrame  # track_id, t_s, x1, y1, x2, y2, name
    scores: pd.DataFrame  # track_id, t_s, score
    turns: pd.DataFrame  # start_s, end_s, name
    audio: Audio | None

    def __post_init__(self) -> None:
        """Each track's detections and scores as time-sorted arrays, split once (not per rendered frame)."""
        self.track_boxes = {int(k): (g["t_s"].to_numpy(), g[["x1", "y1", "x2", "y2"]].to_numpy(float),
                                     g["name"].to_numpy()) for k, g in self.boxes.groupby("track_id")}
        self.track_scores = {int(k): (g["t_s"].to_numpy(), g["score"].to_numpy(float), np.zeros(0))
                             for k, g in self.scores.sort_values("t_s").groupby("track_id")}


def load_tables(root: str, ep_id: str) -> EpisodeTables:
    """The episode's published tables and the stage outputs the preview needs (found by the manifest's keys)."""
    folder, manifest = finished_run(root, ep_id)
    detections = storage.read_parquet(storage.join(folder, "detections.parquet"))
    tracks = storage.read_parquet(storage.join(folder, "tracks.parquet"))
    identities = storage.read_parquet(storage.join(folder, "identities.parquet"))
    segments = stage_table(folder, manifest, "embed", "track_segments")
    boxes = detections.merge(tracks[["det_id", "track_id"]], on="det_id").merge(
        segments[["det_id", "segment_id"]], on="det_id", how="left")
    names = identities.set_index("segment_id")["name"]
    boxes["name"] = boxes["segment_id"].map(names).fillna("")
    scores = stage_table(folder, manifest, "asd", "scores")
    turns = (storage.read_parquet(storage.join(folder, "turn_speakers.parquet"))
             if storage.exists(storage.join(folder, "turn_speakers.parquet")) else None)
    person_names = storage.read_parquet(storage.join(folder, "screentime.parquet")).set_index("person_id")["name"]
    return EpisodeTables(
        video=storage.local_path(manifest["input"]["url"]) or manifest["input"]["url"],
        boxes=boxes[["track_id", "t_s", "x1", "y1", "x2", "y2", "name"]].sort_values(["track_id", "t_s"]),
        scores=(scores[["track_id", "t_s", "score"]].sort_values("t_s") if scores is not None
                else pd.DataFrame(columns=["track_id", "t_s", "score"])),
        turns=(turns.assign(name=turns["person_id"].map(person_names).fillna(turns["person_id"]))[
            ["start_s", "end_s", "name"]] if turns is not None else pd.DataFrame(columns=["start_s", "end_s", "name"])),
        audio=stored_audio(folder, manifest))


def faces_at(tracks: dict[int, Track], t: float) -> list[tuple[int, np.ndarray, str]]:
    """(track_id, box, name) of every track on screen at `t` (`EpisodeTables.track_boxes`): boxes interpolated
    between its detections."""
    out = []
    for track_id, (times, boxes, names) in tracks.items():
        if not times[0] - HOLD_S <= t <= times[-1] + HOLD_S:
            continue
        box = np.array([np.interp(t, times, boxes[:, c]) for c in range(4)])
        out.append((track_id, box, names[int(np.argmin(np.abs(times - t)))]))
    return out


def speaking_state(scores: dict[int, Track], track_id: int, t: float) -> bool | None:
    """Whether the track is scored talking at `t` (`EpisodeTables.track_scores`; None: not scored near `t`)."""
    if track_id not in scores:
        return None
    times, values, _ = scores[track_id]
    nearest = int(np.argmin(np.abs(times - t)))
    return bool(values[nearest] > 0) if abs(times[nearest] - t) <= SCORE_REACH_S else None


def _label(image: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """Text outlined in black, sized to the frame (readable at 360p and 1080p)."""
    scale = max(0.45, image.shape[0] / 900)
    thick = max(1, round(scale * 1.5))
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def draw(image: np.ndarray, faces: list, scores: dict[int, Track], turns: pd.DataFrame, t: float) -> np.ndarray:
    """One frame's overlay: boxes, names and the credited speakers."""
    shown = set()
    line = max(2, image.shape[0] // 240)
    for track_id, box, name in faces:
        state = speaking_state(scores, track_id, t)
        colour = UNSCORED if state is None else TALKING if state else QUIET
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, line)
        if name:
            _label(image, name, (x1, max(16, y1 - 8)), colour)
            shown.add(name)
    heard = turns[(turns["start_s"] <= t) & (turns["end_s"] > t)]["name"].unique()
    if len(heard):
        _label(image, "speaking: " + ", ".join(n if n in shown else f"{n} (off screen)" for n in heard),
               (10, max(24, image.shape[0] // 24)), (255, 255, 255))
    return image


def render(tables: EpisodeTables, out: Path, start_s: float = 0.0, end_s: float | None = None) -> int:
    """Write the preview of [start_s, end_s) to `out` (MP4, H.264 or MPEG-4 video, AAC audio); returns frames."""
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open_container(tables.video) as source, av.open(str(out), "w") as sink:
        stream = source.streams.video[0]
        rate, tagged = stream.average_rate or 25, tag_rotation(stream)
        video = sink.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=rate)
        video.pix_fmt = "yuv420p"
        source.seek(int(max(0.0, start_s - 1.0) / float(stream.time_base)), stream=stream, backward=True)
        sound = sink.add_stream("aac", rate=tables.audio.sample_rate) if tables.audio is not None else None
        first_t = None
        for frame in source.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
            if t < start_s - 1e-6:
                continue
            if end_s is not None and t >= end_s:
                break
            pixels = upright(frame, None, frame_rotation(frame, tagged))  # the boxes are in displayed pixels
            if first_t is None:
                first_t, (video.height, video.width) = t, pixels.shape[:2]
            image = draw(pixels, faces_at(tables.track_boxes, t), tables.track_scores, tables.turns, t)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                sink.mux(packet)
            written += 1
        for packet in video.encode():
            sink.mux(packet)
        if sound is not None and first_t is not None:
            _mux_audio(sink, sound, tables.audio, first_t, first_t + written / float(rate))
    if not written:
        raise InputError(f"{tables.video}: no frames between {start_s} s and {end_s} s; check --start/--end")
    return written


def _mux_audio(sink: av.container.OutputContainer, stream: av.AudioStream, audio: Audio, start_s: float,
               end_s: float) -> None:
    """The episode audio heard over [start_s, end_s), encoded into `stream`."""
    rate = audio.sample_rate
    lo = max(0, int(round((start_s - audio.start_s) * rate)))
    hi = max(lo, int(round((end_s - audio.start_s) * rate)))
    samples = audio.samples[lo:hi]
    step = 1024
    for i in range(0, len(samples), step):
        chunk = av.AudioFrame.from_ndarray(samples[i:i + step].reshape(1, -1), format="s16", layout="mono")
        chunk.sample_rate, chunk.pts = rate, i
        for packet in stream.encode(chunk):
            sink.mux(packet)
    for packet in stream.encode():
        sink.mux(packet)
