"""Episode composer (test and sample tooling, not the runtime pipeline): synthetic episodes with exactly-known
ground truth.

- :mod:`.shots`: the plan vocabulary (:class:`Shot`, :class:`Layer`, :class:`Source`) and the source windows.
- :mod:`.truth`: :class:`EpisodeTruth` and its JSON form.
- :mod:`.episode`: :func:`compose_episode` renders a plan into an H.264 + AAC mp4 and returns its truth.
- :mod:`.plans`: plan builders for GRID talking-head clips (``sample_plan``, ``tv_hard_plan``, ``bench_plan``, ...).
- :mod:`.music`: a generated music bed to play under an episode's speech.
- :mod:`.speech_truth`: speaking truth from the clean source audio of each placed voice.
- :mod:`.sample`: ``build_sample`` writes an episode folder (episode.mp4, truth.json, facebank stills) by kind.

Imports run one way: shots, truth, music <- episode, plans <- sample <- this package.
"""

from screenalytics.composer.episode import AUDIO_RATE, compose_episode
from screenalytics.composer.plans import (
    bench_plan,
    check_source_window,
    narrator_plan,
    sample_plan,
    tv_hard_plan,
    voices_plan,
    who_talks_plan,
)
from screenalytics.composer.sample import build_sample, extract_stills, plan_for
from screenalytics.composer.shots import EPISODE_SOURCE_WINDOW_S, STILL_TIMES_S, Layer, Shot, Source
from screenalytics.composer.truth import EpisodeTruth

__all__ = ["AUDIO_RATE", "EPISODE_SOURCE_WINDOW_S", "STILL_TIMES_S", "EpisodeTruth", "Layer", "Shot", "Source",
           "bench_plan", "build_sample", "check_source_window", "compose_episode", "extract_stills", "narrator_plan",
           "plan_for", "sample_plan", "tv_hard_plan", "voices_plan", "who_talks_plan"]
