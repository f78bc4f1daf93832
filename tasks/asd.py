"""Active-speaker detection: per track and frame, whether the face is visibly talking while speech is heard.

LR-ASD (`models.lr_asd`) reads a face's crops (`facecrops`) with the MFCCs of the audio heard over them and gives a
logit per frame (> 0: talking). It rejects photos, stills, closed-mouth listeners and most extras, but it cannot
tell which of two talking faces a voice belongs to: attribution combines it with the voice clusters.

Only stretches of a track that coexist with speech (voice activity widened by `context_s`) are scored, on the
model's 25 fps grid (other frame rates take the nearest frame's crop). A stretch is scored in one pass, where the
reference recipe averages six (windows of 1 to 6 s): on the GRID clips one pass of 2 s windows agrees with the
six-pass average on 99% of frames at a sixth of the cost. And not all of it: one window of `window_s` in every
`every_s` of a long stretch (a 2 s window every 5 s: 40% of the frames), so that every track seen during speech has
evidence at least every few seconds at a cost the budget allows (docs/active_speaker.md). Windows are `window_s`
long but for stretches shorter than that, so the model sees a bounded number of input shapes (onnxruntime keeps a
memory plan per shape: 150 lengths held 340 MB)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.configs import AsdConfig
from screenalytics.tasks.decoding import Audio
from screenalytics.tasks.facecrops import StoredCrops, decode_crops
from screenalytics.tasks.intervals import inside
from screenalytics.tasks.models.lr_asd import FPS, mfcc
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, read_audio, stage_task
from screenalytics.tasks.schemas import FaceCrops, SpeakingScores, SpeechSegments, Tracks

SAMPLES_PER_FRAME = 640  # 16 kHz audio per 25 fps frame
MFCC_TAIL = 240  # samples past the last frame that its fourth MFCC window reads (400 - 160)


def audio_features(audio: Audio, start_s: float, n_frames: int) -> np.ndarray:
    """MFCCs [4 n, 13] of the audio heard from `start_s` (container time) over `n_frames` frames at 25 fps;
    silence where the track has no audio."""
    first = int(round((start_s - audio.start_s) * audio.sample_rate))
    length = n_frames * SAMPLES_PER_FRAME + MFCC_TAIL
    lo, hi = max(first, 0), min(first + length, len(audio.samples))
    samples = np.zeros(length, np.float64)
    if hi > lo:
        samples[lo - first: hi - first] = audio.samples[lo:hi]
    return mfcc(samples)


def scored_windows(n: int, window: int, every: int) -> list[tuple[int, int]]:
    """The windows [a, b) scored in a stretch of n frames: with `every` (> 0), one window of `window` frames
    centred in each period of `every` frames (a stretch no longer than a window: all of it); without, windows of
    `window` frames covering the stretch, a last one shorter than half a window joining the one before."""
    if n <= window:
        return [(0, n)]
    if every <= 0:
        cuts = [*range(0, n, window), n]
        bounds = list(zip(cuts[:-1], cuts[1:]))
        if bounds[-1][1] - bounds[-1][0] < window / 2:
            bounds[-2:] = [(bounds[-2][0], n)]
        return bounds
    out: list[tuple[int, int]] = []
    for period in range(-(-n // every)):
        start = min(max(0, period * every + (every - window) // 2), n - window)
        if not out or start >= out[-1][1]:
            out.append((start, start + window))
    return out


def stretches(crops: pd.DataFrame, speech: pd.DataFrame, cfg: AsdConfig) -> list[pd.DataFrame]:
    """Runs of consecutive frames of one track inside (widened) speech, each at least `min_frames` at 25 fps.
    `crops`: track_id, frame_idx, t_s, jpeg, sorted by track and frame."""
    widened = pd.DataFrame({"start_s": speech["start_s"] - cfg.context_s, "end_s": speech["end_s"] + cfg.context_s})
    heard = crops[inside(crops["t_s"].to_numpy(), widened)]
    if heard.empty:
        return []
    new_run = (heard["track_id"].diff() != 0) | (heard["frame_idx"].diff() != 1)
    runs = [run for _, run in heard.groupby(new_run.cumsum().to_numpy())]
    return [run for run in runs if (run["t_s"].iloc[-1] - run["t_s"].iloc[0]) * FPS + 1 >= cfg.min_frames]


class Window(NamedTuple):
    """Frames [a, b) of a stretch's 25 fps grid to score, with the crop (row of `run`) nearest each grid time."""

    run: pd.DataFrame
    grid: np.ndarray
    nearest: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        """The crops' rows in the stored `FaceCrops` table."""
        return self.run["row"].to_numpy()[self.nearest]


def scoring_plan(crops: DataFrame[FaceCrops], tracks: DataFrame[Tracks], speech: DataFrame[SpeechSegments],
                 cfg: AsdConfig) -> list[Window]:
    """The windows to score: of every track stretch that coexists with speech, those `scored_windows` picks.
    `crops` needs det_id, frame_idx and t_s (its `jpeg` column is not read)."""
    table = crops.assign(row=np.arange(len(crops))).merge(tracks[["det_id", "track_id"]], on="det_id")
    table = table.sort_values(["track_id", "frame_idx"]).drop_duplicates(["track_id", "frame_idx"])
    window, every = int(round(cfg.window_s * FPS)), int(round(cfg.every_s * FPS))
    plan = []
    for run in stretches(table, speech, cfg):
        times = run["t_s"].to_numpy()
        grid = times[0] + np.arange(int(np.floor((times[-1] - times[0]) * FPS + 1e-6)) + 1) / FPS
        nearest = np.clip(np.searchsorted(times, grid), 1, len(times) - 1)
        nearest -= (grid - times[nearest - 1]) < (times[nearest] - grid)
        plan += [Window(run, grid[a:b], nearest[a:b]) for a, b in scored_windows(len(grid), window, every)]
    return plan


def within_budget(plan: list[Window], max_frames: int, min_frames: int) -> list[Window]:
    """The plan, or, when it holds more than `max_frames` (> 0), its windows shortened around their centres by
    one common factor so that it fits, none below `min_frames` (or its own length when shorter)."""
    lengths = np.array([len(w.grid) for w in plan], np.int64)
    if max_frames <= 0 or lengths.sum() <= max_frames:
        return plan
    floor = np.minimum(lengths, min_frames)

    def kept(factor: float) -> np.ndarray:
        return np.maximum(floor, np.floor(lengths * factor).astype(np.int64))

    lo, hi = 0.0, 1.0
    for _ in range(40):  # the largest factor that fits
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if kept(mid).sum() <= max_frames else (lo, mid)
    out = []
    for window, n, k in zip(plan, lengths.tolist(), kept(lo).tolist(), strict=True):
        a = (n - k) // 2
        out.append(Window(window.run, window.grid[a:a + k], window.nearest[a:a + k]))
    return out


def budgeted_plan(crops: DataFrame[FaceCrops], tracks: DataFrame[Tracks], speech: DataFrame[SpeechSegments],
                  audio: Audio, cfg: AsdConfig) -> tuple[list[Window], int]:
    """The `scoring_plan` within `asd.max_frames_per_min` of the track's length, and the face-frames planned
    before the budget."""
    plan = scoring_plan(crops, tracks, speech, cfg)
    minutes = len(audio.samples) / audio.sample_rate / 60
    budget = int(round(cfg.max_frames_per_min * minutes))
    return within_budget(plan, budget, cfg.min_frames), sum(len(w.grid) for w in plan)


def speaking_scores(plan: list[Window], audio: Audio, net: Any, jpegs: Callable[[np.ndarray], Sequence[bytes]],
                    advance: Any = None) -> DataFrame[SpeakingScores]:
    """`SpeakingScores` of the planned windows, sorted by track and time. `jpegs(rows)` gives the crops of those
    rows of the `FaceCrops` table (`StoredCrops`, or `crops["jpeg"].to_numpy().__getitem__` for one in memory);
    windows are scored in the order of their rows, so a stored table is read once, front to back."""
    out = []
    for window in sorted(plan, key=lambda w: int(w.rows.min())):
        video = decode_crops(list(jpegs(window.rows)))
        scores = net.scores(audio_features(audio, float(window.grid[0]), len(window.grid))[None],
                            video[None])
        out.append(pd.DataFrame({"track_id": int(window.run["track_id"].iloc[0]),
                                 "frame_idx": window.run["frame_idx"].to_numpy()[window.nearest],
                                 "t_s": window.grid, "score": scores[0]}))
        if advance is not None:
            advance(len(window.grid))
    if not out:
        return SpeakingScores.validate(pd.DataFrame(columns=list(SpeakingScores.to_schema().columns)))
    table = pd.concat(out, ignore_index=True).sort_values(["track_id", "t_s"], kind="stable", ignore_index=True)
    return SpeakingScores.validate(table)


@stage_task("asd", tables={"scores": SpeakingScores}, models=("active_speaker",))
def asd_task(run: StageRun, facecrops: StageOutput, track: StageOutput, speech: StageOutput, audio: StageOutput,
             cfg: AsdConfig) -> Produced:
    track_audio, _ = read_audio(audio)
    crops = facecrops.table("crops", columns=["det_id", "frame_idx", "t_s"])  # the JPEGs are read as scored
    plan, planned = budgeted_plan(crops, track.table("tracks"), speech.table("speech"), track_audio, cfg)
    with (run.progress("active speakers (frames)", sum(len(w.grid) for w in plan)) as advance,
          StoredCrops(facecrops.url("crops")) as jpegs):
        table = speaking_scores(plan, track_audio, run.models.get("active_speaker"), jpegs, advance)
    return {"scores": table}, {"planned_frames": planned, "scored_frames": len(table),
                               "scored_tracks": int(table["track_id"].nunique()),
                               "talking_frames": int((table["score"] > 0).sum())}
