"""Check the whisperx transcript backend where its extra is installed (not in CI: it needs its own ~7 GB torch~=2.8
environment). Usage, in that environment with screenalytics installed:

    NLTK_DATA=DIR python tests/extras/check_whisperx.py ALIGN_DIR

ALIGN_DIR: a wav2vec2 CTC folder (`models.align_model`); DIR holds NLTK's tokenizers/punkt_tab. The model is built
as a run builds it (`Models`, with `models.transcriber=whisperx`). Prints each asr_clips reference clip's words,
seconds and word errors, then the corpus WER (docs/models.md)."""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from screenalytics.tasks.decoding import extract_audio
from screenalytics.tasks.evaluate import word_errors
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.settings import load_settings
from screenalytics.tasks.transcribe import transcribe

CLIPS = Path(__file__).resolve().parents[3] / "shared" / "data" / "asr_clips"  # beside the checkout, as in CI


def main(align_dir: str) -> None:
    settings = load_settings({"models.transcriber": "whisperx", "models.align_model": align_dir})
    transcriber = Models(settings.models, settings.model_dir).get("transcriber")
    edits = total = 0
    with open(CLIPS / "transcripts.tsv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t")
                if r["reference_text"] and r["channel"] in ("mono", "mix")]  # one voice per file
    for row in rows:
        started = time.perf_counter()
        samples = extract_audio(str(CLIPS / row["file"]), sample_rate=16000).samples
        words = transcribe(samples, 16000, transcriber, settings.transcribe)
        errors, n = word_errors(row["reference_text"], " ".join(words["word"]))
        edits, total = edits + errors, total + n
        print(f"{row['file']}: {len(words)} words in {time.perf_counter() - started:.1f} s, {errors}/{n} errors")
        print(words.head(5).to_string(index=False))
    print(f"WER {edits}/{total} = {edits / total:.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
