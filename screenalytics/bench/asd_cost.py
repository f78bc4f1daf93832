"""The active-speaker stage alone on a finished run's stored inputs (`python -m screenalytics.bench.asd_cost
ROOT/episodes/EP_ID`): plans and scores the windows as the `asd` stage does (within `asd.max_frames_per_min`; set
SCREENALYTICS_ASD__MAX_FRAMES_PER_MIN=0 for every planned frame), with nothing else running, and prints the scored
face-frames, milliseconds per face-frame and seconds per minute of video."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import screenalytics.flows  # noqa: F401  (the flows' process settings: heap threshold, one BLAS thread)
from screenalytics.bench.defaults import default_models
from screenalytics.published import read_manifest, stage_table, stored_audio
from screenalytics.tasks import storage
from screenalytics.tasks.asd import budgeted_plan, speaking_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("episode", type=Path, help="ROOT/episodes/EP_ID of a finished run with audio")
    args = parser.parse_args()
    settings, models = default_models()
    folder = storage.normalize_root(args.episode)
    manifest = read_manifest(folder)
    crops, tracks, speech = (stage_table(folder, manifest, stage, name) for stage, name in
                             (("facecrops", "crops"), ("track", "tracks"), ("vad", "speech")))
    audio = stored_audio(folder, manifest)
    if crops is None or speech is None or audio is None:
        raise SystemExit(f"{folder}: the run has no active-speaker inputs (a video without audio?)")
    net = models.get("active_speaker")
    started = time.perf_counter()
    plan, planned = budgeted_plan(crops, tracks, speech, audio, settings.asd)
    scores = speaking_scores(plan, audio, net, crops["jpeg"].to_numpy().__getitem__)
    seconds = time.perf_counter() - started
    minutes = len(audio.samples) / audio.sample_rate / 60
    print(f"{len(scores)} face-frames (of {planned} planned) in {len(plan)} windows: {seconds:.1f} s, "
          f"{1000 * seconds / max(len(scores), 1):.2f} ms per face-frame, {seconds / minutes:.2f} s per minute")
    models.close()


if __name__ == "__main__":
    main()
