"""The diarize stage: speaker turns (`voice_N`) and one unit vector per voice, from the episode's audio, with the
diarizer that `models.diarizer` names: `segmentation` (the overlap-aware recipe in `diarize_voices`), `vad` (voice-
activity windows clustered, one voice at a time) or `pyannote` (a local pipeline folder)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.audio_windows import as_float, cut, detect_speech
from screenalytics.tasks.configs import DiarizeConfig, VadConfig
from screenalytics.tasks.diarize_local import chunk_starts
from screenalytics.tasks.diarize_voices import diarize, diarize_speech, no_turns, trim_ends
from screenalytics.tasks.models.specs import SAMPLE_RATE
from screenalytics.tasks.naming import voice_label
from screenalytics.tasks.progress import ProgressHook
from screenalytics.tasks.runner import ModelSource, Produced, StageOutput, StageRun, read_audio, stage_task
from screenalytics.tasks.schemas import SpeakerTurns, Voices
from screenalytics.tasks.vectors import unit_centroids

TIGHT_VAD = VadConfig(hysteresis=0.0, min_silence_s=0.1, pad_s=0.0)  # speech edges for trim_end_s, unpadded


def diarizer_models(diarizer: str, cfg: DiarizeConfig) -> tuple[str, ...]:
    """The model roles a diarizer reads."""
    if diarizer == "segmentation":
        return ("speaker_embedder", "segmentation", *(("vad",) if cfg.trim_end_s > 0 else ()))
    return ("speaker_embedder", "pyannote") if diarizer == "pyannote" else ("speaker_embedder",)


def speaker_turns(wav: np.ndarray, speech: np.ndarray, cfg: DiarizeConfig, *, diarizer: str,
                  models: ModelSource, progress: Callable[[int], None] | None = None
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """Turns (start_s/end_s from the first sample, speaker index) and unit centroids of a 16 kHz float waveform;
    `speech` are vad's segments (seconds from the first sample); `models.get(role)` gives each model (`progress`
    counts the segmentation diarizer's 5 s chunks: `chunk_starts`)."""
    if len(wav) / SAMPLE_RATE < 0.5 or not len(speech):
        return no_turns()
    encoder = models.get("speaker_embedder")
    if diarizer == "segmentation":
        turns, centroids = diarize(wav, models.get("segmentation"), encoder.embed, cfg, progress)
        if cfg.trim_end_s > 0:
            turns = trim_ends(turns, detect_speech(wav, TIGHT_VAD, models.get("vad")), cfg.trim_end_s)
        return turns, centroids
    if diarizer == "vad":
        return diarize_speech(wav, speech, encoder.embed, cfg)
    from screenalytics.tasks.models.pyannote_pipeline import pyannote_turns

    table = pyannote_turns(models.get("pyannote"), wav, SAMPLE_RATE, cfg.num_speakers)
    clips = cut(wav, table[["start_s", "end_s"]].to_numpy())
    vectors = encoder.embed(clips) if clips else np.zeros((0, 0), np.float32)
    labels = table["speaker"].to_numpy()
    return table, unit_centroids(vectors, labels) if len(labels) else vectors


def turn_tables(turns: pd.DataFrame, centroids: np.ndarray, *, ep_id: str, offset_s: float, duration_s: float,
                ) -> tuple[DataFrame[SpeakerTurns], DataFrame[Voices]]:
    """`SpeakerTurns` on the container timeline (clipped to the track) and `Voices` (speech seconds, vector)."""
    table = turns.assign(start_s=turns["start_s"].clip(0, duration_s), end_s=turns["end_s"].clip(0, duration_s))
    table = table[table["end_s"] > table["start_s"]]
    speech_s = (table["end_s"] - table["start_s"]).groupby(table["speaker"]).sum()
    voices = Voices.validate(pd.DataFrame({
        "ep_id": ep_id, "speaker": [voice_label(i) for i in range(len(centroids))],
        "speech_s": [float(speech_s.get(i, 0.0)) for i in range(len(centroids))],
        "vector": [v.astype(np.float32) for v in centroids]}))
    turns_out = SpeakerTurns.validate(pd.DataFrame({
        "ep_id": ep_id, "start_s": table["start_s"].to_numpy(float) + offset_s,
        "end_s": table["end_s"].to_numpy(float) + offset_s,
        "speaker": [voice_label(int(i)) for i in table["speaker"]]}).reset_index(drop=True))
    return turns_out, voices


def diarize_track(wav: np.ndarray, speech: np.ndarray, cfg: DiarizeConfig, *, diarizer: str,
                  models: ModelSource, progress: ProgressHook) -> tuple[pd.DataFrame, np.ndarray]:
    """`speaker_turns` with a progress bar over the segmentation diarizer's chunks."""
    chunks = len(chunk_starts(len(wav) / SAMPLE_RATE, cfg.step_s)) if diarizer == "segmentation" else None
    with progress("diarization", chunks) as advance:
        return speaker_turns(wav, speech, cfg, diarizer=diarizer, models=models, progress=advance)


def _models_read(models: ModelSource, **inputs: Any) -> tuple[str, ...]:
    return diarizer_models(inputs["diarizer"], inputs["cfg"])


@stage_task("diarize", tables={"turns": SpeakerTurns, "voices": Voices}, models=_models_read)
def diarize_task(run: StageRun, audio: StageOutput, speech: StageOutput, cfg: DiarizeConfig, diarizer: str
                 ) -> Produced:
    track, info = read_audio(audio)
    regions = speech.table("speech")[["start_s", "end_s"]].to_numpy() - info.start_s
    wav = as_float(track.samples)
    del track  # the int16 samples dropped: one copy of the episode's audio is held
    turns, centroids = diarize_track(wav, regions, cfg, diarizer=diarizer, models=run.models, progress=run.progress)
    turns, voices = turn_tables(turns, centroids, ep_id=run.ctx.ep_id, offset_s=info.start_s,
                                duration_s=info.duration_s)
    return {"turns": turns, "voices": voices}, {"voices": voices["speaker"].tolist(),
                                                "speech_s": voices["speech_s"].round(3).tolist()}
