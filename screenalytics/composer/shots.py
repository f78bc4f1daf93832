"""The plan vocabulary: a plan is a list of :class:`Shot`; each shot draws :class:`Layer` s (talking-head clips
placed on a canvas) over an optional background :class:`Source`, with shot-wide effects, and may play a voice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Plans may only use source frames in this window of every cast clip; the facebank stills
# come from STILL_TIMES_S (inside [2.2, 3.0) s), so the facebank never shows an episode frame.
EPISODE_SOURCE_WINDOW_S: tuple[float, float] = (0.0, 2.0)
STILL_TIMES_S: tuple[float, ...] = (2.2, 2.6, 2.96)


@dataclass(frozen=True)
class Source:
    """A media file read from ``start_s`` on: a shot background (extras, not persons) or a voice."""

    path: Path
    start_s: float = 0.0
    person: str | None = None  # voice owner; defaults to the file stem

    @property
    def name(self) -> str:
        return self.person or Path(self.path).stem


@dataclass(frozen=True)
class Layer:
    """A person's clip drawn for the whole shot, resized into ``rect`` = (x, y, w, h) canvas px."""

    path: Path
    person: str
    start_s: float
    rect: tuple[int, int, int, int]
    dim: float = 1.0  # brightness factor of this layer
    blur: float = 0.0  # gaussian sigma (px) on this layer
    border: int = 0  # white frame around the layer (px), e.g. for a picture-in-picture inset
    freeze: bool = False  # show the frame at start_s for the whole shot (a photo, a freeze-frame, a still listener)
    cast: bool = True  # False: a person the facebank does not hold (a photo of a stranger, an extra)


@dataclass(frozen=True)
class Shot:
    """One shot: ``duration_s`` (rounded to whole frames), layers, background and effects."""

    duration_s: float
    layers: Sequence[Layer] = ()
    background: Source | None = None  # None = black; else a video scaled to fill the frame
    dim: float = 1.0  # brightness factor
    blur: float = 0.0  # gaussian sigma (px)
    jpeg: int | None = None  # JPEG quality to damage every frame with, e.g. 8
    lower_third: str | None = None  # caption of an opaque bar over the bottom 25% of the frame
    zoom: tuple[float, float] | None = None  # scale about the centre, from a to b over the shot
    pan: tuple[float, float] | None = None  # horizontal offset (px), from a to b over the shot
    dissolve_s: float = 0.0  # cross-dissolve INTO the next shot (shots overlap this long)
    voice: Source | None = None  # audio played while the shot is visible; None = silence
    second_voice: Source | None = None  # another voice at the same time (two people talking at once)
