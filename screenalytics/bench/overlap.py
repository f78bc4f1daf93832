"""Two voices at once on the meeting recordings in ../shared/data (`python -m screenalytics.bench.overlap`): per
recording, the diarization error rate with overlapped speech scored and without (collar 0.25 s, pyannote.metrics),
and how much of the reference's overlapped speech (two or more people at once) the diarization also gives two or
more voices (`recovered`), and how much of its own two-voice time is reference overlap (`precision`). Prints a
Markdown table; the diarization is the default recipe, as `screenalytics diarize` runs it."""
from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
from pyannote.core import Timeline

from screenalytics.bench.defaults import default_models
from screenalytics.tasks.audio_windows import detect_speech
from screenalytics.tasks.decoding import load_wav
from screenalytics.tasks.diarize import speaker_turns
from screenalytics.tasks.evaluate import der_table
from screenalytics.tasks.intervals import frame_counts
from screenalytics.tasks.models.specs import SAMPLE_RATE
from screenalytics.tasks.rttm import read_rttm, read_uem

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
STEP_S = 0.01


def recordings(shared: Path) -> list[tuple[str, Path, pd.DataFrame, Timeline | None]]:
    """(file id, audio path, reference turns, scored region) of every recording with an RTTM reference."""
    out = []
    ami = shared / "ami_pyannote_debug"
    wavs = {unicodedata.normalize("NFKD", p.stem).encode("ascii", "ignore").decode(): p for p in ami.glob("*.wav")}
    for part in ("development", "train"):
        reference, uem = read_rttm(ami / f"debug.{part}.rttm"), read_uem(ami / f"debug.{part}.uem")
        out += [(uri, wavs[uri], reference[reference["file"] == uri], uem.get(uri))
                for uri in sorted(reference["file"].unique())]
    sample = shared / "pyannote_sample_2spk"
    out.append(("sample", sample / "sample.wav", read_rttm(sample / "sample.rttm"), None))
    return out


def overlap_recovery(reference: pd.DataFrame, hypothesis: pd.DataFrame, region: Timeline | None,
                     duration_s: float) -> tuple[float, float, float]:
    """(reference overlap seconds, recovered share, precision) inside `region` (all of it when None)."""
    n = int(np.ceil(duration_s / STEP_S))
    scored = np.zeros(n, bool) if region is not None else np.ones(n, bool)
    for segment in region or []:
        scored[int(segment.start / STEP_S): int(np.ceil(segment.end / STEP_S))] = True
    ref, hyp = frame_counts(reference, n, STEP_S) >= 2, frame_counts(hypothesis, n, STEP_S) >= 2
    both = (ref & hyp & scored).sum()
    return (ref & scored).sum() * STEP_S, both / max((ref & scored).sum(), 1), both / max((hyp & scored).sum(), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    args = parser.parse_args()
    settings, models = default_models()
    rows, hyps, refs, uems = [], [], [], {}
    for uri, path, reference, region in recordings(args.shared):
        wav, _ = load_wav(path, SAMPLE_RATE)
        speech = detect_speech(wav, settings.vad, models.get("vad"))
        turns, _ = speaker_turns(wav, speech, settings.diarize, diarizer=settings.models.diarizer, models=models)
        hypothesis = turns.assign(file=uri, speaker=turns["speaker"].astype(str))
        overlap_s, recovered, precision = overlap_recovery(reference, hypothesis, region, len(wav) / SAMPLE_RATE)
        rows.append((uri, overlap_s, recovered, precision))
        hyps.append(hypothesis)
        refs.append(reference)
        if region is not None:
            uems[uri] = region
    models.close()
    reference, hypothesis = pd.concat(refs, ignore_index=True), pd.concat(hyps, ignore_index=True)
    scored = der_table(reference, hypothesis, uem=uems).set_index("file")
    solo = der_table(reference, hypothesis, uem=uems, skip_overlap=True).set_index("file")
    table = pd.DataFrame(rows, columns=["file", "overlap_s", "recovered", "precision"]).set_index("file")
    total_overlap = table["overlap_s"].sum()
    table.loc["TOTAL"] = [total_overlap, (table["overlap_s"] * table["recovered"]).sum() / max(total_overlap, 1e-9),
                          np.nan]
    print("| file | DER (overlap scored) | DER (overlap skipped) | reference overlap s | recovered | precision |\n"
          "|---|---|---|---|---|---|")
    for file, row in table.iterrows():
        print(f"| {file} | {100 * scored.loc[file, 'der']:.1f}% | {100 * solo.loc[file, 'der']:.1f}% | "
              f"{row['overlap_s']:.1f} | {100 * row['recovered']:.0f}% | "
              f"{'' if np.isnan(row['precision']) else f'{100 * row.precision:.0f}%'} |")


if __name__ == "__main__":
    main()
