"""Voicebank: enrolment recordings of known cast members, one speaker embedding each, matched to the episode's
voices so that a voice can be named by how it sounds (a narrator never on screen, one voice over two faces).

Layout, like the facebank's: `<voicebank>/<person_id>/<any audio or video files>`. Each file's speech (Silero) is
cut into `piece_s` pieces and embedded with the diarization embedder; a person's vector is the unit-length mean."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pandera.typing import DataFrame
from sklearn.preprocessing import normalize

from screenalytics.tasks import storage
from screenalytics.tasks.audio_windows import SpeechProbabilities, cut, detect_speech, speech_windows
from screenalytics.tasks.configs import VadConfig
from screenalytics.tasks.decoding import load_wav
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.models.specs import SAMPLE_RATE
from screenalytics.tasks.runner import Produced, Ref, StageRun, stage_task
from screenalytics.tasks.schemas import VoicebankEntries

MIN_SPEECH_S = 1.0


def enrolment_files(folder: Path) -> dict[str, list[Path]]:
    """person_id → their files (sorted); a clear error for an empty voicebank or person folder."""
    people = {d.name: sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
              for d in sorted(folder.iterdir()) if d.is_dir()}
    if not people:
        raise InputError(f"Voicebank {folder}: no person folders (make one sub-folder per person_id holding "
                         "recordings of them talking).")
    for person, files in people.items():
        if not files:
            raise InputError(f"Voicebank {folder / person}: no recordings (add audio or video of {person} talking).")
    return people


def enrol(people: dict[str, list[Path]], embed: Callable[[list[np.ndarray]], np.ndarray], vad: SpeechProbabilities,
          piece_s: float, progress: Callable[[int], None] | None = None) -> DataFrame[VoicebankEntries]:
    """`VoicebankEntries` from `enrolment_files`: one row per person with their files, seconds of speech heard and
    unit vector."""
    rows = []
    for person, files in people.items():
        pieces, heard = [], 0.0
        for file in files:
            wav, _ = load_wav(file, SAMPLE_RATE)
            speech = detect_speech(wav, VadConfig(), vad)
            heard += float((speech[:, 1] - speech[:, 0]).sum())
            pieces += cut(wav, speech_windows(speech, piece_s))
            if progress is not None:
                progress(1)
        if heard < MIN_SPEECH_S:
            raise InputError(f"Voicebank {files[0].parent}: {heard:.1f} s of speech heard in {len(files)} file(s); "
                             f"enrol at least {MIN_SPEECH_S:.0f} s (better 10 s or more) of {person} talking.")
        vector = normalize(embed(pieces).mean(axis=0, keepdims=True))[0]
        rows.append((person, [f.name for f in files], heard, vector.astype(np.float32)))
    return VoicebankEntries.validate(pd.DataFrame(rows, columns=["person_id", "files", "speech_s", "vector"]))


@stage_task("voicebank", tables={"voicebank": VoicebankEntries}, models=("speaker_embedder", "vad"))
def voicebank_task(run: StageRun, source: Ref, piece_s: float) -> Produced:
    people = enrolment_files(Path(storage.local_path(source.url) or source.url))
    with run.progress("voicebank", sum(len(f) for f in people.values())) as advance:
        bank = enrol(people, run.models.get("speaker_embedder").embed, run.models.get("vad"), piece_s,
                     progress=advance)
    return {"voicebank": bank}, {"people": bank["person_id"].tolist(), "speech_s": bank["speech_s"].round(2).tolist()}
