"""Sample episode folders: the plan of each kind, rendered with its truth and a facebank of stills it never shows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import av
import cv2

from screenalytics.composer.episode import compose_episode
from screenalytics.composer.plans import (
    BENCH_MUSIC_DBFS,
    bench_plan,
    narrator_plan,
    sample_plan,
    tv_hard_plan,
    voices_plan,
    who_talks_plan,
)
from screenalytics.composer.shots import STILL_TIMES_S, Shot
from screenalytics.composer.speech_truth import speaking_truth

DEFAULT_CLIPS_DIR = Path(__file__).resolve().parents[2] / "samples" / "grid"


def plan_for(kind: str, clips: dict[str, Path], crowd: Path | None = None,
             duration_s: float | None = None) -> list[Shot]:
    """The plan of sample ``kind`` from GRID clips (name -> path); ``crowd`` is tv_hard's and bench's B-roll;
    ``duration_s`` is the bench episode's length (default 600 s; the other kinds have a fixed length)."""
    if kind == "bench":
        return bench_plan(clips, crowd, 600.0 if duration_s is None else duration_s)
    if duration_s is not None:
        raise ValueError(f"kind {kind!r} has a fixed length; duration_s is for kind 'bench'")
    if kind == "sample":
        return sample_plan(clips)
    if kind == "tv_hard":
        return tv_hard_plan(clips, crowd)
    if kind == "voices":
        return voices_plan(clips)
    if kind == "narrator":
        return narrator_plan(clips)
    if kind in ("who_talks", "at_once"):
        return who_talks_plan(clips, crowd, at_once=kind == "at_once")
    raise ValueError(f"unknown kind {kind!r}")


def extract_stills(video_path: str | Path, out_dir: str | Path,
                   times_s: Sequence[float] = STILL_TIMES_S) -> list[Path]:
    """Write JPEG stills (quality 95) of the frames shown at ``times_s`` (source seconds)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with av.open(str(video_path)) as c:
        fps = float(c.streams.video[0].average_rate)
        want = {math.floor(t * fps + 1e-6): t for t in times_s}
        for k, f in enumerate(c.decode(video=0)):
            if k in want:
                paths.append(out_dir / f"still_{round(want.pop(k) * 1000):04d}ms.jpg")
                cv2.imwrite(str(paths[-1]), f.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not want:
                break
    if want:
        raise ValueError(f"{Path(video_path).name} has no frame at {sorted(want.values())} s")
    return paths


def build_sample(out_dir: str | Path, clips_dir: str | Path = DEFAULT_CLIPS_DIR,
                 kind: Literal["sample", "tv_hard", "voices", "narrator", "who_talks", "at_once", "bench"] = "sample",
                 crowd: str | Path | None = None, duration_s: float | None = None) -> dict[str, Path]:
    """Compose a sample episode + truth + facebank into ``out_dir``; return their paths.

    Writes episode.mp4, truth.json and facebank/<person>/still_*.jpg (stills at STILL_TIMES_S,
    outside the episode's source window) for every cast person the plan shows or voices (not for layers marked
    `cast=False`). The ``bench`` kind
    (``duration_s`` long) plays a music bed under its speech.
    """
    out_dir = Path(out_dir)
    clips = {p.stem: p for p in sorted(Path(clips_dir).glob("*.mpg"))}
    shots = plan_for(kind, clips, Path(crowd) if crowd else None, duration_s)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = compose_episode(shots, out_dir / "episode.mp4",
                            music_dbfs=BENCH_MUSIC_DBFS if kind == "bench" else None)
    truth.speaking = speaking_truth(truth.voice, clips)
    truth_path = truth.to_json(out_dir / "truth.json")
    people = sorted({ly.person for s in shots for ly in s.layers if ly.cast}
                    | {v.name for s in shots for v in (s.voice, s.second_voice) if v})
    for name in people:
        extract_stills(clips[name], out_dir / "facebank" / name, STILL_TIMES_S)
    return {"episode": out_dir / "episode.mp4", "truth": truth_path, "facebank": out_dir / "facebank"}
