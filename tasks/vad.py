"""The vad stage: speech segments of the episode's track (Silero VAD v6, see `audio_windows.detect_speech`:
loudness-normalised, hysteresis on the speech probability, short pauses bridged, short bursts dropped, padded), on
the container timeline."""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.audio_windows import detect_speech
from screenalytics.tasks.configs import VadConfig
from screenalytics.tasks.models.specs import SAMPLE_RATE
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, read_audio, stage_task
from screenalytics.tasks.schemas import SpeechSegments


def speech_table(segments: np.ndarray, *, ep_id: str, offset_s: float) -> DataFrame[SpeechSegments]:
    return SpeechSegments.validate(pd.DataFrame({
        "ep_id": ep_id, "start_s": segments[:, 0] + offset_s, "end_s": segments[:, 1] + offset_s}))


@stage_task("vad", tables={"speech": SpeechSegments}, models=("vad",))
def vad_task(run: StageRun, audio: StageOutput, cfg: VadConfig) -> Produced:
    track, info = read_audio(audio)
    if info.sample_rate != SAMPLE_RATE:
        raise ValueError(f"voice activity needs audio.sample_rate={SAMPLE_RATE}, got {info.sample_rate}")
    segments = detect_speech(track.samples, cfg, run.models.get("vad"))
    table = speech_table(segments, ep_id=run.ctx.ep_id, offset_s=info.start_s)
    return {"speech": table}, {"speech_s": float((table["end_s"] - table["start_s"]).sum())}
