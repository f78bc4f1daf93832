"""The audio stage: the episode's first audio track as 16-bit mono PCM WAV (`decoding.extract_audio`), on the
container timeline: the WAV's first sample plays at `AudioInfo.start_s`."""
from __future__ import annotations

from screenalytics.tasks.configs import AudioConfig
from screenalytics.tasks.decoding import extract_audio
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.runner import Produced, StageRun, local_input, stage_task
from screenalytics.tasks.schemas import AudioInfo


@stage_task("audio")
def audio_task(run: StageRun, cfg: AudioConfig) -> Produced:
    audio = extract_audio(local_input(run.ctx.video.url), sample_rate=cfg.sample_rate)
    if audio is None:  # the flow only calls this stage when probe found an audio track
        raise InputError(f"{run.ctx.video.url}: no audio track")
    info = AudioInfo(start_s=audio.start_s, duration_s=audio.duration_s, sample_rate=audio.sample_rate)
    return {"audio.wav": audio.to_wav()}, info.model_dump()
