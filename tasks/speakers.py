"""The diarization stage: speaker turns (`voice_N`) and one d-vector per voice, from the episode's audio, with the
backend that config names."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from screenalytics.tasks.diarize import cut, diarize, diarize_speech, no_turns, trim_ends, unit_centroids
from screenalytics.tasks.models.ecapa import EcapaEncoder
from screenalytics.tasks.models.registry import ECAPA, VOICE_ENCODER, providers, segmentation_path, silero_path
from screenalytics.tasks.models.segmentation import SAMPLE_RATE, SegmentationModel
from screenalytics.tasks.models.voice_encoder import VoiceEncoder
from screenalytics.tasks.schemas import SpeakerTurns, Voices
from screenalytics.tasks.settings import DiarizeConfig, VadConfig

TIGHT_VAD = VadConfig(hysteresis=0.0, min_silence_s=0.1, pad_s=0.0)  # speech edges for trim_end_s, unpadded
EMBEDDERS = {"ecapa": (ECAPA, EcapaEncoder), "resemblyzer": (VOICE_ENCODER, VoiceEncoder)}


def embedder_path(embedder: str, model_dir: str) -> Path:
    """The verified weights file of `diarize.embedder`, or MissingModelError."""
    return EMBEDDERS[embedder][0].path(model_dir)


def voice_label(index: int) -> str:
    return f"voice_{index}"


def speaker_turns(wav: np.ndarray, speech: np.ndarray, cfg: DiarizeConfig, *, model_dir: str,
                  progress: Callable[[int], None] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Turns (start_s/end_s from the first sample, speaker index) and unit centroids, by `cfg.backend`
    (`progress` counts the segmentation backend's 5 s chunks: `chunk_starts`)."""
    if len(wav) / SAMPLE_RATE < 0.5 or not len(speech):
        return no_turns()
    encoder = EMBEDDERS[cfg.embedder][1](embedder_path(cfg.embedder, model_dir), providers(), threads=cfg.threads)
    if cfg.backend == "segmentation":
        from screenalytics.tasks.vad import detect_speech

        model = SegmentationModel(segmentation_path(model_dir), providers(), threads=cfg.threads)
        turns, centroids = diarize(wav, model, encoder.embed, cfg, progress)
        if cfg.trim_end_s > 0:
            turns = trim_ends(turns, detect_speech(wav, TIGHT_VAD, silero_path(model_dir)), cfg.trim_end_s)
        return turns, centroids
    if cfg.backend == "vad":
        return diarize_speech(wav, speech, encoder.embed, cfg)
    from screenalytics.tasks.models.pyannote_pipeline import load_pipeline, pyannote_turns

    table = pyannote_turns(load_pipeline(cfg.pyannote_dir), wav, SAMPLE_RATE, cfg.num_speakers)
    clips = cut(wav, table[["start_s", "end_s"]].to_numpy())
    vectors = encoder.embed(clips) if clips else np.zeros((0, 0), np.float32)
    labels = table["speaker"].to_numpy()
    return table, unit_centroids(vectors, labels) if len(labels) else vectors


def turn_tables(turns: pd.DataFrame, centroids: np.ndarray, *, ep_id: str, offset_s: float, duration_s: float,
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
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


def load_wav_path(path: Path) -> tuple[np.ndarray, float]:
    """Any audio or video file as 16 kHz mono float32, and the container time of its first sample."""
    from screenalytics.tasks.audio import extract_audio
    from screenalytics.tasks.errors import InputError

    audio = extract_audio(str(path), sample_rate=SAMPLE_RATE)
    if audio is None:
        raise InputError(f"{path}: no audio track to diarize")
    return audio.samples.astype(np.float32) / 32768.0, audio.start_s
