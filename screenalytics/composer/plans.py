"""Plan builders for synthetic episodes made of GRID talking-head clips (rendered by episode.compose_episode).

All plans target a 1280x720 canvas at 25 fps and read cast clips only inside
EPISODE_SOURCE_WINDOW_S, so facebank stills taken at STILL_TIMES_S are never episode frames.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from screenalytics.composer.shots import EPISODE_SOURCE_WINDOW_S, Layer, Shot, Source

GRID_FACE_FRAC = 110 / 288  # face height / frame height in a GRID clip (360x288)
GRID_ASPECT = 360 / 288
SAMPLE_MAX_CAST = 4
W, H = 1280, 720


def head(path: Path, person: str, start_s: float, face_px: float, cx: float, cy: float,
         **fx: float | int) -> Layer:
    """A GRID layer scaled so the face is ~``face_px`` tall, centred on canvas point (cx, cy)."""
    h = round(face_px / GRID_FACE_FRAC)
    w = round(h * GRID_ASPECT)
    return Layer(Path(path), person, start_s, (round(cx - w / 2), round(cy - h / 2), w, h), **fx)


def _cast(clips: dict[str, Path], least: int) -> list[tuple[str, Path]]:
    if len(clips) < least:
        raise ValueError(f"need at least {least} clips, got {len(clips)}")
    return sorted((name, Path(p)) for name, p in clips.items())


def _solo(c: tuple[str, Path], face_px: float, cx: float = W / 2, cy: float = H / 2,
          start: float = 0.0, dur: float = 2.0, **kw: object) -> Shot:
    """A single-person shot where that person's own voice plays."""
    name, path = c
    return Shot(dur, [head(path, name, start, face_px, cx, cy)], voice=Source(path, start, name), **kw)


def check_source_window(shots: list[Shot], window: tuple[float, float] = EPISODE_SOURCE_WINDOW_S,
                        fps: int = 25) -> None:
    """Raise ValueError if a layer shows cast frames outside ``window`` (voices and backgrounds exempt: the
    facebank holds stills, never sound)."""
    for k, s in enumerate(shots):
        used = round(s.duration_s * fps) / fps
        for path, start in [(ly.path, ly.start_s) for ly in s.layers]:
            if start < window[0] or start + used > window[1] + 1e-9:
                raise ValueError(f"shot {k}: {Path(path).name} uses [{start}, {start + used}) s, "
                                 f"outside the episode window {window}")


def sample_plan(clips: dict[str, Path]) -> list[Shot]:
    """Demo plan (~22 s): solo shots of up to 4 people, two-shots, a closing 2x2 group.

    Each person appears at least twice with other shots in between, with large/medium faces;
    each solo shot plays that person's voice.
    """
    c = _cast(clips, 2)[:SAMPLE_MAX_CAST]
    n = len(c)
    shots = [_solo(p, 270) for p in c]  # large faces, full height
    shots.append(Shot(2.0, [head(c[0][1], c[0][0], 0.0, 185, 320, 370),
                            head(c[1][1], c[1][0], 0.0, 185, 960, 370)],
                      voice=Source(c[0][1], 0.0, c[0][0])))
    for i, k in enumerate([(j + 2) % n for j in range(n)]):  # medium, off-centre, other order
        shots.append(_solo(c[k], 200, 470 if i % 2 else 810, 380, start=0.2, dur=1.8))
    if n >= 4:
        shots.append(Shot(2.0, [head(c[2][1], c[2][0], 0.0, 185, 320, 370),
                                head(c[3][1], c[3][0], 0.0, 185, 960, 370)],
                          voice=Source(c[3][1], 0.0, c[3][0])))
    cells = [(320, 180), (960, 180), (320, 540), (960, 540)]
    shots.append(Shot(2.0, [head(p, name, 0.0, 125, *cells[i]) for i, (name, p) in enumerate(c)]))
    check_source_window(shots)
    return shots


def tv_hard_plan(clips: dict[str, Path], crowd: Path | None = None) -> list[Shot]:
    """TV-hard plan (~20 s): 3x3 grid of ~40 px faces, picture-in-picture with a ~40 px inset,
    dim, blur, JPEG q8 under a lower third, slow zoom, pan, a cross-dissolve, and (if ``crowd``
    is given) crowd B-roll full of extras with no cast. With fewer than 9 clips the grid
    repeats people (at other source offsets)."""
    c = _cast(clips, 2)
    n = len(c)
    p = [c[i % n] for i in range(4)]
    grid = [head(c[i % n][1], c[i % n][0], 0.1 * (i // n), 40, W / 6 * (2 * (i % 3) + 1),
                 H / 6 * (2 * (i // 3) + 1)) for i in range(9)]
    inset = head(p[2][1], p[2][0], 0.0, 40, W - 280, 110, border=3)  # over the main clip
    shots = [
        Shot(1.6, grid, voice=Source(p[0][1], 0.0, p[0][0])),
        Shot(2.0, [head(p[1][1], p[1][0], 0.0, 275, W / 2, H / 2), inset],
             voice=Source(p[1][1], 0.0, p[1][0])),
        _solo(p[3], 230, dim=0.3),
        _solo(p[0], 180, blur=5.0),
        # layer bottom at y=652: the bar (y >= 540) covers the chin and mouth region
        _solo(p[1], 183, cy=412, jpeg=8, lower_third="SCREENALYTICS NEWS  |  LIVE"),
        _solo(p[2], 180, zoom=(1.0, 1.35)),
        Shot(2.0, [head(p[3][1], p[3][0], 0.0, 150, 380, 380),
                   head(p[0][1], p[0][0], 0.0, 150, 900, 380)], pan=(120.0, -120.0),
             voice=Source(p[3][1], 0.0, p[3][0])),
        _solo(p[0], 230, dissolve_s=0.8),
        _solo(p[1], 230),
    ]
    if crowd is not None:
        shots.append(Shot(3.0, background=Source(Path(crowd), 0.0)))
    check_source_window(shots)
    return shots


def voices_plan(clips: dict[str, Path]) -> list[Shot]:
    """Voice plan (~20 s, 4 people, each heard at least twice): own-voice solo shots, reaction shots (one face,
    another person's voice), two faces side by side with one voice, and a faceless (black) shot with a voice over
    it."""
    p = _cast(clips, 4)[:4]

    def pair(voice: int, left: int, right: int) -> Shot:
        return Shot(2.0, [head(p[left][1], p[left][0], 0.0, 185, 320, 370),
                          head(p[right][1], p[right][0], 0.0, 185, 960, 370)],
                    voice=Source(p[voice][1], 0.0, p[voice][0]))

    def reaction(face: int, voice: int) -> Shot:
        return Shot(1.4, [head(p[face][1], p[face][0], 0.0, 230, W / 2, H / 2)],
                    voice=Source(p[voice][1], 0.6, p[voice][0]))

    shots = [_solo(p[0], 270), _solo(p[1], 270), reaction(2, 0), pair(1, 1, 2),
             Shot(1.6, [], voice=Source(p[3][1], 0.5, p[3][0])),
             _solo(p[3], 230), _solo(p[2], 230, 470), reaction(1, 3), pair(0, 0, 3),
             _solo(p[1], 200, 810, start=0.2, dur=1.8), pair(2, 2, 0)]
    check_source_window(shots)
    return shots


def narrator_plan(clips: dict[str, Path]) -> list[Shot]:
    """Narrator plan (~22 s): 4 people each heard in two own-voice solo shots, and a fifth voice never on screen
    heard over three of them (their faces shown, their own sound replaced) and over a faceless shot, as voice-over
    narration over footage of the cast."""
    p = _cast(clips, 5)[:5]

    def narrated(face: int, start: float) -> Shot:
        return Shot(1.4, [head(p[face][1], p[face][0], 0.0, 230, W / 2, H / 2)], voice=Source(p[4][1], start, p[4][0]))

    shots = [_solo(p[0], 270), _solo(p[1], 270), narrated(0, 0.6), _solo(p[2], 230), narrated(1, 0.5),
             _solo(p[3], 230), Shot(1.6, [], voice=Source(p[4][1], 0.5, p[4][0])),
             _solo(p[0], 200, 810, start=0.2, dur=1.8), narrated(2, 0.7), _solo(p[1], 230, 500, start=0.2, dur=1.8),
             _solo(p[2], 250, 700, start=0.2, dur=1.8), _solo(p[3], 200, start=0.2, dur=1.8)]
    check_source_window(shots)
    return shots


def who_talks_plan(clips: dict[str, Path], crowd: Path | None = None, at_once: bool = False) -> list[Shot]:
    """Who-is-talking plan (~20 s): the failure cases of speaker attribution, with four cast members (A-D) heard in
    their own voices and a fifth person (E) who is not cast. A is only ever seen as a ~45 px picture-in-picture:
    A's voice over crowd B-roll of extras, then over that picture-in-picture of A talking (black instead of the
    crowd when ``crowd`` is None); B's voice over a
    photo of E (a still filling the screen); C's voice over a freeze-frame of C; a reaction shot of D as a still
    (closed mouth) while B speaks; B and D in turn in a two-shot, the listener a still; C and D talking at once in
    a two-shot (with the GRID clips' lead-ins, 1.5 s of both speaking) when ``at_once``. Every still is the first
    frame of its clip (the silent lead-in: a closed mouth)."""
    p = _cast(clips, 5)[:5]
    a, b, c, d, e = p

    def still(q: tuple[str, Path], face_px: float, cx: float, cy: float, cast: bool = True) -> Layer:
        return replace(head(q[1], q[0], 0.0, face_px, cx, cy), freeze=True, cast=cast)

    broll = Source(Path(crowd), 0.0) if crowd is not None else None
    shots = [
        _solo(b, 250), _solo(c, 230), _solo(d, 230),
        Shot(2.0, background=broll, voice=Source(a[1], 0.8, a[0])),
        Shot(2.0, [head(a[1], a[0], 0.0, 45, W - 200, 130, border=3)], background=broll,
             voice=Source(a[1], 0.0, a[0])),
        Shot(1.6, [still(e, 270, W / 2, H / 2, cast=False)], voice=Source(b[1], 0.6, b[0])),
        Shot(1.6, [still(c, 260, W / 2, H / 2)], voice=Source(c[1], 0.7, c[0])),
        Shot(1.4, [still(d, 230, W / 2, H / 2)], voice=Source(b[1], 0.9, b[0])),
        Shot(2.0, [head(b[1], b[0], 0.0, 185, 320, 370), still(d, 185, 960, 370)], voice=Source(b[1], 0.0, b[0])),
        Shot(2.0, [still(b, 185, 320, 370), head(d[1], d[0], 0.0, 185, 960, 370)], voice=Source(d[1], 0.0, d[0])),
        _solo(c, 200, 470, start=0.2, dur=1.8),
    ]
    if at_once:
        shots.insert(-1, Shot(2.0, [head(c[1], c[0], 0.0, 185, 320, 370), head(d[1], d[0], 0.0, 185, 960, 370)],
                              voice=Source(c[1], 0.0, c[0]), second_voice=Source(d[1], 0.0, d[0])))
    check_source_window(shots)
    return shots


BENCH_MUSIC_DBFS = -32.0  # the bench episode's music bed: ~15 dB under GRID speech (about -17 dBFS RMS)
BENCH_MIX = (("solo", 0.55), ("two", 0.2), ("group", 0.08), ("grid", 0.05), ("broll", 0.12))
BENCH_FPS = 25


def bench_plan(clips: dict[str, Path], crowd: Path | None = None, duration_s: float = 600.0,
               seed: int = 0) -> list[Shot]:
    """Benchmark plan: a standard episode of exactly ``duration_s`` (whole frames at 25 fps), cut from shots of
    1.2-2.0 s drawn with a fixed seed: ~55% solo talking heads in their own voice (faces 150-270 px at varied
    positions), ~20% two-shots (185 px, one of the two speaking), ~8% 2x2 groups (125 px), ~5% 3x3 grids
    (~60 px faces, one voice) and ~12% crowd B-roll (no cast, no voice; solo shots instead when ``crowd`` is
    None). Everyone is drawn from all clips, so each person recurs all through the episode. Play it with
    ``BENCH_MUSIC_DBFS`` (a music bed under the speech, as ``build_sample`` does)."""
    c = _cast(clips, 4)
    n = len(c)
    rng = np.random.default_rng(seed)
    kinds, weights = zip(*BENCH_MIX)
    total = round(duration_s * BENCH_FPS)
    shots: list[Shot] = []
    used = 0
    while used < total:
        rem = total - used
        frames = rem if rem <= 50 else rem // 2 if rem < 80 else int(rng.integers(30, 51))
        dur = frames / BENCH_FPS
        used += frames
        start = round(float(rng.uniform(0.0, EPISODE_SOURCE_WINDOW_S[1] - dur)) * BENCH_FPS) / BENCH_FPS
        kind = str(rng.choice(kinds, p=np.array(weights) / sum(weights)))
        if kind == "broll" and crowd is not None:
            shots.append(Shot(dur, background=Source(Path(crowd), round(float(rng.uniform(0.0, 4.0 - dur)), 2))))
            continue
        people = [c[int(i)] for i in rng.permutation(n)]
        if kind == "two":
            pair = [head(p, name, start, 185, x, 370) for (name, p), x in zip(people[:2], (320, 960))]
            speaker = people[int(rng.integers(2))]
            shots.append(Shot(dur, pair, voice=Source(speaker[1], start, speaker[0])))
        elif kind == "group":
            cells = [(320, 180), (960, 180), (320, 540), (960, 540)]
            layers = [head(p, name, start, 125, *cells[i]) for i, (name, p) in enumerate(people[:4])]
            shots.append(Shot(dur, layers, voice=Source(people[0][1], start, people[0][0])))
        elif kind == "grid" and n >= 9:
            layers = [head(p, name, start, 60, W / 6 * (2 * (i % 3) + 1), H / 6 * (2 * (i // 3) + 1))
                      for i, (name, p) in enumerate(people[:9])]
            shots.append(Shot(dur, layers, voice=Source(people[0][1], start, people[0][0])))
        else:
            face = float(rng.choice([270, 230, 200, 150]))
            h = face / GRID_FACE_FRAC  # the layer must stay on the canvas
            cx = float(rng.uniform(h * GRID_ASPECT / 2 + 1, W - h * GRID_ASPECT / 2 - 1))
            cy = float(rng.uniform(h / 2 + 1, H - h / 2 - 1))
            shots.append(_solo(people[0], face, cx, cy, start=start, dur=dur))
    check_source_window(shots)
    return shots
