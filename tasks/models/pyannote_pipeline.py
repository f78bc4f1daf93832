"""Optional backend: a pyannote.audio speaker-diarization pipeline loaded from a local folder (never a hub name).

Needs the `pyannote` extra (`pip install 'screenalytics[pyannote]'`: pyannote.audio with torch and torchaudio)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from screenalytics.tasks.errors import MissingModelError


def pipeline_folder(folder: str | None) -> Path:
    """The pipeline folder, checked: `Pipeline.from_pretrained` takes a path without config.yaml for a hub name."""
    if not folder:
        raise MissingModelError("models.diarizer=pyannote needs models.pyannote_dir: a local folder holding the "
                                "pipeline's config.yaml (e.g. SCREENALYTICS_MODELS__PYANNOTE_DIR=/models/pyannote).")
    path = Path(folder).expanduser()
    if not (path / "config.yaml").is_file():
        raise MissingModelError(f"{path}: no config.yaml there. Copy a pyannote speaker-diarization pipeline "
                                "folder (config.yaml plus the model files it names) to that path, or fix "
                                "models.pyannote_dir.")
    return path


def load_pipeline(folder: str | None) -> Any:
    """Load the pipeline with telemetry off, on CUDA when torch sees a GPU."""
    path = pipeline_folder(folder)
    os.environ["PYANNOTE_METRICS_ENABLED"] = "false"
    try:
        import torch
        from pyannote.audio import Pipeline
    except ImportError as exc:
        raise MissingModelError(f"models.diarizer=pyannote needs pyannote.audio ({exc.name} is not installed): "
                                "pip install 'screenalytics[pyannote]'.") from exc
    pipeline = Pipeline.from_pretrained(path)
    if torch.cuda.is_available():
        pipeline.to(torch.device("cuda"))
    return pipeline


def pyannote_turns(pipeline: Any, wav: np.ndarray, sample_rate: int, num_speakers: int | None) -> pd.DataFrame:
    """Run the pipeline on an in-memory waveform; turns as start_s, end_s, speaker (index)."""
    import torch

    output = pipeline({"waveform": torch.from_numpy(wav[None].astype(np.float32)), "sample_rate": sample_rate},
                      num_speakers=num_speakers)
    annotation = getattr(output, "speaker_diarization", output)  # pyannote.audio 4 wraps the annotation
    rows = [(seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True)]
    table = pd.DataFrame(rows, columns=["start_s", "end_s", "speaker"])
    table["speaker"] = pd.factorize(table["speaker"], sort=True)[0]
    return table
