"""Episode rendering: :func:`compose_episode` streams a plan's frames into an H.264 + AAC mp4 and returns the
:class:`~screenalytics.composer.truth.EpisodeTruth` (who is visible when, whose voice plays when), exact by
construction. Frame ``i`` of the output is shown at ``i / fps`` and covers ``[i / fps, (i + 1) / fps)``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from screenalytics.composer.music import music_bar, music_chunk
from screenalytics.composer.shots import Shot, Source
from screenalytics.composer.truth import _VIS, _VOX, EpisodeTruth, _frame

AUDIO_RATE = 48_000
TWO_VOICES_GAIN = 0.7  # each of two voices heard at once, so that their sum stays clear of clipping
_CACHE_LIMIT_BYTES = 64 * 2**20  # decode small clips once; stream bigger ones
_EPS = 1e-6


def _probe(path: Path) -> tuple[int, float, int, int]:
    """(frame count, fps, width, height) of the first video stream."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = s.frames or sum(1 for p in c.demux(s) if p.size)
        return n, float(s.average_rate), s.codec_context.width, s.codec_context.height


def _src_index(start_s: float, j: int, fps: int, src_fps: float) -> int:
    return math.floor((start_s + j / fps) * src_fps + _EPS)


_Cache = dict[Path, tuple[float, list[np.ndarray]]]


class _Video:
    """Forward-only frame access (BGR) to one video; small clips are decoded once and shared."""

    def __init__(self, path: Path, cache: _Cache) -> None:
        self._c, self._k, self._img = None, -1, None
        if path in cache:
            self.fps, self.frames = cache[path]
            return
        n, self.fps, w, h = _probe(path)
        if n * w * h * 3 <= _CACHE_LIMIT_BYTES:
            with av.open(str(path)) as c:
                self.frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
            cache[path] = (self.fps, self.frames)
        else:
            self.frames, self._c = None, av.open(str(path))
            self._it = self._c.decode(video=0)

    def get(self, k: int) -> np.ndarray:
        if self.frames is not None:
            return self.frames[k]
        while self._k < k:
            self._img, self._k = next(self._it).to_ndarray(format="bgr24"), self._k + 1
        assert self._img is not None
        return self._img

    def close(self) -> None:
        if self._c is not None:
            self._c.close()


def _load_audio(path: Path) -> np.ndarray:
    """Whole audio track as float32 (2, samples) at AUDIO_RATE."""
    rs = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
    with av.open(str(path)) as c:
        if not c.streams.audio:
            raise ValueError(f"{path} has no audio stream")
        out = [g.to_ndarray() for f in c.decode(audio=0) for g in rs.resample(f)]
    out += [g.to_ndarray() for g in rs.resample(None)]
    return np.concatenate(out, axis=1).astype(np.float32)


def _timeline(shots: Sequence[Shot], fps: int, size: tuple[int, int]) -> list[tuple[int, int, int]]:
    """Validate the plan's geometry/timing; return (start frame, frames, dissolve frames) per shot."""
    if not shots:
        raise ValueError("empty plan")
    if size[0] % 2 or size[1] % 2:
        raise ValueError(f"size {size} must be even for yuv420p")
    ns = [round(s.duration_s * fps) for s in shots]
    ds = [round(s.dissolve_s * fps) for s in shots]
    if min(ns) < 1 or min(ds) < 0 or ds[-1]:
        raise ValueError("shots need >= 1 frame, dissolves >= 0 and no dissolve after the last shot")
    out, t = [], 0
    for k, (n, d) in enumerate(zip(ns, ds)):
        if d + (ds[k - 1] if k else 0) > n or (d and d > ns[k + 1]):
            raise ValueError(f"shot {k}: dissolves longer than the shots they join")
        for x, y, w, h in (ly.rect for ly in shots[k].layers):
            if w < 1 or h < 1 or x < 0 or y < 0 or x + w > size[0] or y + h > size[1]:
                raise ValueError(f"shot {k}: layer rect {(x, y, w, h)} outside the {size} canvas")
            for m in (_camera(shots[k], 0.0, size), _camera(shots[k], 1.0, size)):  # linear motion
                cx, cy = m @ (x + w / 2, y + h / 2, 1.0)
                if not (0 <= cx < size[0] and 0 <= cy < size[1]):
                    raise ValueError(f"shot {k}: zoom/pan moves a layer's centre off screen")
        out.append((t, n, d))
        t += n - d
    return out


def _check_sources(shots: Sequence[Shot], tl: list[tuple[int, int, int]], fps: int,
                   audio: dict[Path, np.ndarray]) -> None:
    """Raise ValueError if any layer/background/voice needs media beyond its source's end."""
    probes: dict[Path, tuple[int, float, int, int]] = {}
    for shot, (_, n, _) in zip(shots, tl):
        srcs = [(Path(ly.path), ly.start_s) for ly in shot.layers]
        srcs += [(Path(shot.background.path), shot.background.start_s)] if shot.background else []
        for path, start in srcs:
            if path not in probes:
                probes[path] = _probe(path)
            nsrc, sfps, _, _ = probes[path]
            if start < 0 or _src_index(start, n - 1, fps, sfps) >= nsrc:
                raise ValueError(f"{path.name}: needs [{start}, {start + n / fps}) s but the "
                                 f"source has {nsrc / sfps:.3f} s (looping is not allowed)")
        for voice in _voices(shot):
            vp = Path(voice.path)
            a = audio[vp] = audio[vp] if vp in audio else _load_audio(vp)
            if voice.start_s < 0 or round((voice.start_s + n / fps) * AUDIO_RATE) > a.shape[1]:
                raise ValueError(f"{Path(voice.path).name}: voice needs audio beyond its end")


def _voices(shot: Shot) -> list[Source]:
    """The voices a shot plays (two when two people talk at once)."""
    return [v for v in (shot.voice, shot.second_voice) if v is not None]


def _visible(tl: list[tuple[int, int, int]], k: int) -> tuple[int, int]:
    """Frames [a, b) where shot k counts as visible (alpha >= 0.5 during dissolves)."""
    s, n, d = tl[k]
    d_in = tl[k - 1][2] if k else 0
    return s + d_in // 2, s + n - d + (d + 1) // 2


def _voice_span(tl: list[tuple[int, int, int]], k: int) -> tuple[int, int]:
    """Frames [a, b) where shot k's voice plays: it cuts at dissolve midpoints, never overlapping."""
    a, b = _visible(tl, k)
    return a, (tl[k + 1][0] + tl[k][2] // 2 if k + 1 < len(tl) else b)


def _truth(shots: Sequence[Shot], tl: list[tuple[int, int, int]], fps: int,
           size: tuple[int, int]) -> EpisodeTruth:
    spans: dict[str, list[tuple[int, int]]] = {}
    vox = []
    for k, shot in enumerate(shots):
        a, b = _visible(tl, k)
        for ly in shot.layers:
            spans.setdefault(ly.person, []).append((a, b))
        for voice in _voices(shot):
            a, b = _voice_span(tl, k)
            vox.append((voice.name, a / fps, b / fps, voice.start_s + (a - tl[k][0]) / fps))
    vis = []
    for person, iv in spans.items():
        merged: list[list[int]] = []
        for a, b in sorted(iv):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        vis += [(person, a / fps, b / fps) for a, b in merged]
    n_frames = tl[-1][0] + tl[-1][1]
    vis_df = _frame(vis, _VIS).sort_values(["start_s", "person"], ignore_index=True)
    return EpisodeTruth(vis_df, _frame(vox, _VOX), n_frames / fps, fps, n_frames, size)


def _fx(img: np.ndarray, dim: float, blur: float) -> np.ndarray:
    if dim != 1.0:
        img = cv2.convertScaleAbs(img, alpha=dim)
    return cv2.GaussianBlur(img, (0, 0), blur) if blur > 0 else img


def _camera(shot: Shot, t: float, size: tuple[int, int]) -> np.ndarray:
    """2x3 affine of the shot's zoom/pan at shot progress t in [0, 1]."""
    z0, z1 = shot.zoom or (1.0, 1.0)
    p0, p1 = shot.pan or (0.0, 0.0)
    s, tx = z0 + (z1 - z0) * t, p0 + (p1 - p0) * t
    cx, cy = size[0] / 2, size[1] / 2
    return np.array([[s, 0, cx - s * cx + tx], [0, s, cy - s * cy]], np.float64)


def _render(shot: Shot, vids: list[_Video], j: int, n: int, fps: int,
            size: tuple[int, int]) -> np.ndarray:
    """Frame j of n of a shot (BGR uint8), with all its effects."""
    W, H = size
    canvas = np.zeros((H, W, 3), np.uint8)
    if shot.background:
        bg = vids[-1].get(_src_index(shot.background.start_s, j, fps, vids[-1].fps))
        canvas = cv2.resize(bg, size, interpolation=cv2.INTER_AREA)
    for ly, v in zip(shot.layers, vids):
        x, y, w, h = ly.rect
        img = v.get(_src_index(ly.start_s, 0 if ly.freeze else j, fps, v.fps))
        shrink = w * h < img.shape[0] * img.shape[1]
        img = _fx(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC),
                  ly.dim, ly.blur)
        if ly.border:
            b = ly.border
            canvas[max(y - b, 0):y + h + b, max(x - b, 0):x + w + b] = 255
        canvas[y:y + h, x:x + w] = img
    if shot.zoom or shot.pan:
        canvas = cv2.warpAffine(canvas, _camera(shot, j / max(n - 1, 1), size), size,
                                flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    canvas = _fx(canvas, shot.dim, shot.blur)
    if shot.lower_third is not None:
        top = H - round(0.25 * H)
        canvas[top:] = (70, 35, 15)
        canvas[top:top + max(H // 90, 2)] = (0, 170, 255)
        cv2.putText(canvas, shot.lower_third, (W // 20, top + round(0.14 * H)),
                    cv2.FONT_HERSHEY_DUPLEX, H / 720 * 1.4, (255, 255, 255), max(H // 360, 1), cv2.LINE_AA)
    if shot.jpeg is not None:
        ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, int(shot.jpeg)])
        canvas = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return canvas


def compose_episode(shots: Sequence[Shot], out_path: str | Path, fps: int = 25,
                    size: tuple[int, int] = (1280, 720), music_dbfs: float | None = None) -> EpisodeTruth:
    """Render ``shots`` into an H.264/AAC mp4 (first frame PTS 0, audio from 0); return the truth.

    Frames are streamed, never all held in memory. Shot k+1 starts ``dissolve_s`` before shot
    k ends; at overlap frame j of d the incoming alpha is (j + 0.5) / d, and a layer counts as
    visible while its alpha >= 0.5 (even d: the truth cuts exactly at the dissolve midpoint).
    Voices also cut there. With ``music_dbfs``, a music bed (:mod:`.music`) at that RMS level plays
    under the whole soundtrack (the truth is unchanged: speech is the voices' own). Raises ValueError,
    before writing anything, if the plan is inconsistent or a source would have to loop past its end.
    """
    tl = _timeline(shots, fps, size)
    audio: dict[Path, np.ndarray] = {}
    _check_sources(shots, tl, fps, audio)
    truth = _truth(shots, tl, fps, size)
    segs = []  # (first sample, end sample, track, track sample at first sample, gain)
    for k, shot in enumerate(shots):
        gain = TWO_VOICES_GAIN if shot.second_voice else 1.0
        for voice in _voices(shot):
            a, b = _voice_span(tl, k)
            s0 = round(a * AUDIO_RATE / fps)
            src0 = round((voice.start_s + (a - tl[k][0]) / fps) * AUDIO_RATE)
            segs.append((s0, round(b * AUDIO_RATE / fps), audio[Path(voice.path)], src0, gain))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cache: _Cache = {}
    bar = music_bar(AUDIO_RATE) if music_dbfs is not None else None
    open_vids: dict[int, list[_Video]] = {}
    with av.open(str(out_path), "w", options={"movflags": "+faststart"}) as c:
        vs = c.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        aus = c.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        nxt = 0
        for i in range(truth.n_frames):
            while nxt < len(shots) and tl[nxt][0] <= i:
                sh = shots[nxt]
                srcs = [ly.path for ly in sh.layers] + ([sh.background.path] if sh.background else [])
                open_vids[nxt] = [_Video(Path(p), cache) for p in srcs]
                nxt += 1
            imgs = [(k, _render(shots[k], vids, i - tl[k][0], tl[k][1], fps, size))
                    for k, vids in sorted(open_vids.items())]
            img = imgs[-1][1]
            if len(imgs) == 2:  # outgoing, incoming
                alpha = (i - tl[imgs[1][0]][0] + 0.5) / tl[imgs[0][0]][2]
                img = cv2.addWeighted(imgs[0][1], 1 - alpha, imgs[1][1], alpha, 0)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            c.mux(vs.encode(frame))
            s0, s1 = round(i * AUDIO_RATE / fps), round((i + 1) * AUDIO_RATE / fps)
            chunk = np.zeros((2, s1 - s0), np.float32)
            if bar is not None:
                chunk += music_chunk(bar, s0, s1, music_dbfs)
            mixed = np.zeros_like(chunk)
            voiced = np.zeros(s1 - s0, bool)
            for a, b, track, src0, gain in segs:
                lo, hi = max(a, s0), min(b, s1)
                if lo < hi:
                    mixed[:, lo - s0:hi - s0] += gain * track[:, src0 + lo - a:src0 + hi - a]
                    voiced[lo - s0:hi - s0] = True
            chunk[:, voiced] = mixed[:, voiced]
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            af.sample_rate, af.pts = AUDIO_RATE, s0
            c.mux(aus.encode(af))
            for k in [k for k in open_vids if i >= tl[k][0] + tl[k][1] - 1]:
                for v in open_vids.pop(k):
                    v.close()
        c.mux(vs.encode(None))
        c.mux(aus.encode(None))
    return truth
