"""Optional transcript backend: whisperx (batched faster-whisper, then wav2vec2 forced alignment for word times),
from local folders only, never a hub name.

whisperx pins torch~=2.8 and huggingface-hub<1.0, so it lives in its own environment
(`pip install 'screenalytics[whisperx]'`). Offline it needs: the CTranslate2 Whisper folder (`models.whisper_model`,
default the packaged tiny.en), a wav2vec2 CTC alignment folder for the language (`models.align_model`) and NLTK's
`punkt_tab` sentence data (whisperx's aligner downloads it when missing). Its voice activity is the pyannote
segmentation checkpoint inside the whisperx wheel."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from screenalytics.tasks.errors import MissingModelError

TORCHAUDIO_EN = "wav2vec2_fairseq_base_ls960_asr_ls960.pth"  # whisperx's English default, as torchaudio stores it
EXTRA = "pip install 'screenalytics[whisperx]' (in its own environment: whisperx pins torch~=2.8)"


def align_source(folder: str | None) -> dict[str, Any]:
    """`whisperx.load_align_model` arguments for a local alignment folder: the torchaudio English bundle file, or a
    Hugging Face wav2vec2 CTC folder (config.json); else MissingModelError saying what to put where."""
    if not folder:
        raise MissingModelError("models.transcriber=whisperx needs models.align_model: a local folder with a "
                                f"wav2vec2 CTC model for word alignment (a Hugging Face folder with config.json, or "
                                f"torchaudio's {TORCHAUDIO_EN} for English).")
    path = Path(folder).expanduser()
    if (path / TORCHAUDIO_EN).is_file():
        return {"model_dir": str(path)}
    if (path / "config.json").is_file():
        return {"model_name": str(path), "model_cache_only": True}
    raise MissingModelError(f"{path}: neither {TORCHAUDIO_EN} nor a Hugging Face config.json there. Copy a wav2vec2 "
                            "CTC alignment model (e.g. facebook/wav2vec2-base-960h for English) to that folder, or "
                            "fix models.align_model.")


def import_whisperx() -> Any:
    """whisperx with telemetry and hub access off, or MissingModelError naming the extra."""
    for name, value in (("PYANNOTE_METRICS_ENABLED", "false"), ("HF_HUB_OFFLINE", "1"),
                        ("TRANSFORMERS_OFFLINE", "1")):
        os.environ.setdefault(name, value)
    try:
        import whisperx
    except ImportError as exc:
        raise MissingModelError(f"models.transcriber=whisperx needs whisperx ({exc.name} is not installed): "
                                f"{EXTRA}.") from exc
    return whisperx


def check_sentence_data(language: str) -> None:
    """whisperx's aligner splits sentences with NLTK punkt_tab and downloads it when absent: fail clearly instead."""
    import nltk
    from whisperx.alignment import PUNKT_LANGUAGES

    folder = f"tokenizers/punkt_tab/{PUNKT_LANGUAGES.get(language, 'english')}/"
    try:
        nltk.data.find(folder)
    except LookupError as exc:
        raise MissingModelError(f"whisperx alignment needs NLTK's {folder} (not found in {nltk.data.path}). On a "
                                "connected machine run `python -m nltk.downloader -d DIR punkt_tab`, copy DIR here "
                                "and set NLTK_DATA=DIR.") from exc


def words_table(segments: list[dict], offset_s: float) -> pd.DataFrame:
    """whisperx aligned segments → start_s, end_s, word, probability, segment. A word the aligner could not place
    (no alignable characters, e.g. digits) spans the gap between its neighbours in its segment, probability 0."""
    rows = [(i, w.get("start"), w.get("end"), str(w["word"]).strip(), w.get("score"))
            for i, segment in enumerate(segments) for w in segment.get("words", [])]
    table = pd.DataFrame(rows, columns=["segment", "start_s", "end_s", "word", "probability"]).astype(
        {"start_s": float, "end_s": float, "probability": float})
    previous_end = table.groupby("segment")["end_s"].ffill()  # on an unplaced row: the last placed end before it
    next_start = table.groupby("segment")["start_s"].bfill()
    table["start_s"] = table["start_s"].fillna(previous_end).fillna(next_start)
    table["end_s"] = table["end_s"].fillna(next_start).fillna(table["start_s"])
    table = table.dropna(subset=["start_s"])  # a segment with no placed word at all
    table["end_s"] = table[["start_s", "end_s"]].max(axis=1)
    return table.assign(start_s=table["start_s"] + offset_s, end_s=table["end_s"] + offset_s,
                        probability=table["probability"].fillna(0.0).clip(0, 1))


def whisperx_words(audio: np.ndarray, *, model_path: str, align_model: str | None, language: str | None,
                   beam_size: int, batch_size: int, threads: int, offset_s: float = 0.0,
                   progress: Callable[[float], None] | None = None) -> pd.DataFrame:
    """Transcribe float32 16 kHz mono audio with whisperx and align its words (CUDA when torch sees a GPU); rows as
    `words_table`. `progress` is told the percentage transcribed."""
    source = align_source(align_model)
    whisperx = import_whisperx()
    import torch

    if language:  # before the long part; a detected language is checked once known
        check_sentence_data(language)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    asr = whisperx.load_model(model_path, device, compute_type="float16" if device == "cuda" else "int8",
                              language=language, asr_options={"beam_size": beam_size}, local_files_only=True,
                              vad_method="pyannote", threads=threads)
    result = asr.transcribe(audio, batch_size=batch_size, language=language, progress_callback=progress)
    if not language:
        language = result["language"]
        check_sentence_data(language)
    aligner, metadata = whisperx.load_align_model(language, device, **source)
    aligned = whisperx.align(result["segments"], aligner, metadata, audio, device)
    return words_table(aligned["segments"], offset_s)
