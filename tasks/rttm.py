"""RTTM and UEM, the files speaker-diarization tools exchange, as tables and as pyannote annotations."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from pyannote.core import Annotation, Segment, Timeline

from screenalytics.tasks.errors import InputError

RTTM_COLUMNS = ["file", "start_s", "end_s", "speaker"]


def read_rttm(path: Path) -> pd.DataFrame:
    """`SPEAKER <file> <chan> <onset> <duration> <NA> <NA> <speaker> ...` lines as a table."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0] != "SPEAKER":
            continue
        if len(parts) < 8:
            raise InputError(f"{path}:{number}: not an RTTM SPEAKER line (needs 8+ fields): {line!r}")
        onset, duration = float(parts[3]), float(parts[4])
        rows.append((parts[1], onset, onset + duration, parts[7]))
    return pd.DataFrame(rows, columns=RTTM_COLUMNS)


def read_uem(path: Path) -> dict[str, Timeline]:
    """`<file> <chan> <start> <end>` lines: the scored regions per file."""
    regions: dict[str, list[Segment]] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4:
            regions.setdefault(parts[0], []).append(Segment(float(parts[2]), float(parts[3])))
    return {file: Timeline(segments, uri=file) for file, segments in regions.items()}


def annotation(turns: pd.DataFrame, file: str) -> Annotation:
    out = Annotation(uri=file)
    for k, row in enumerate(turns[turns["file"] == file].itertuples(index=False)):
        out[Segment(row.start_s, row.end_s), k] = row.speaker
    return out


def to_rttm(turns: pd.DataFrame, file: str) -> str:
    """RTTM text for turns (start_s, end_s, speaker): `SPEAKER <file> 1 <onset> <duration> <NA> <NA> <spk> ...`."""
    return "".join(f"SPEAKER {file} 1 {row.start_s:.3f} {row.end_s - row.start_s:.3f} <NA> <NA> {row.speaker} "
                   "<NA> <NA>\n" for row in turns.sort_values("start_s").itertuples(index=False))
