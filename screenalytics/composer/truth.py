"""Ground truth of a composed episode (who is visible when, whose voice plays when), and its JSON form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class EpisodeTruth:
    """Ground truth of a composed episode (seconds on the output container timeline)."""

    visual: pd.DataFrame  # person, start_s, end_s (merged; a person is visible while drawn)
    voice: pd.DataFrame  # person, start_s, end_s, source_start_s
    duration_s: float
    fps: int
    n_frames: int
    size: tuple[int, int]
    speaking: pd.DataFrame | None = None  # person, start_s, end_s of actual speech (speech_truth.speaking_truth)

    @property
    def visual_s(self) -> dict[str, float]:
        """Seconds on screen per person."""
        return _totals(self.visual)

    @property
    def voice_s(self) -> dict[str, float]:
        """Seconds of voice placed per person (speech within it still includes pauses)."""
        return _totals(self.voice)

    def to_json(self, path: str | Path) -> Path:
        """Write the truth as JSON and return the path."""
        doc = {"duration_s": self.duration_s, "fps": self.fps, "n_frames": self.n_frames,
               "size": list(self.size), "visual_s": self.visual_s, "voice_s": self.voice_s,
               "visual": self.visual.to_dict("records"), "voice": self.voice.to_dict("records")}
        if self.speaking is not None:
            doc |= {"speaking_s": _totals(self.speaking), "speaking": self.speaking.to_dict("records")}
        Path(path).write_text(json.dumps(doc, indent=2))
        return Path(path)

    @classmethod
    def from_json(cls, path: str | Path) -> EpisodeTruth:
        """Read a truth written by :meth:`to_json`."""
        d = json.loads(Path(path).read_text())
        return cls(_frame(d["visual"], _VIS), _frame(d["voice"], _VOX), d["duration_s"],
                   d["fps"], d["n_frames"], tuple(d["size"]),
                   _frame(d["speaking"], _VIS) if "speaking" in d else None)


_VIS = ["person", "start_s", "end_s"]
_VOX = ["person", "start_s", "end_s", "source_start_s"]


def _frame(rows: list[Any], cols: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=cols)
    df["person"] = df["person"].astype(str)
    return df.astype({c: float for c in cols[1:]}).round(6).reset_index(drop=True)


def _totals(df: pd.DataFrame) -> dict[str, float]:
    s = (df["end_s"] - df["start_s"]).groupby(df["person"]).sum()
    return {str(k): round(float(v), 6) for k, v in s.items()}
