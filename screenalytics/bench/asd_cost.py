"""The active-speaker stage alone on a finished run's stored inputs (`python -m screenalytics.bench.asd_cost
ROOT/episodes/EP_ID`): plans and scores the windows as the `asd` stage does, with nothing else running, and prints
the scored face-frames, milliseconds per face-frame and seconds per minute of video."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

import screenalytics.flows  # noqa: F401  (the flows' process settings: heap threshold, one BLAS thread)
from screenalytics.bench.defaults import default_models
from screenalytics.tasks.asd import scoring_plan, speaking_scores
from screenalytics.tasks.decoding import Audio


def stage_file(episode: Path, stage: str, name: str) -> Path:
    """The newest finished output `name` of `stage` in an episode folder."""
    found = sorted((episode / "stages" / stage).glob(f"*/{name}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"{episode}: no finished `{stage}` stage with {name}; run the episode first")
    return found[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("episode", type=Path, help="ROOT/episodes/EP_ID of a finished run with audio")
    args = parser.parse_args()
    settings, models = default_models()
    crops = pd.read_parquet(stage_file(args.episode, "facecrops", "crops.parquet"))
    tracks = pd.read_parquet(stage_file(args.episode, "track", "tracks.parquet"))
    speech = pd.read_parquet(stage_file(args.episode, "vad", "speech.parquet"))
    wav = stage_file(args.episode, "audio", "audio.wav")
    start_s = json.loads((wav.parent / "_done.json").read_text())["info"]["start_s"]
    audio = Audio.from_wav(wav.read_bytes(), start_s=start_s)
    net = models.get("active_speaker")
    started = time.perf_counter()
    plan = scoring_plan(crops, tracks, speech, settings.asd)
    scores = speaking_scores(plan, audio, net)
    seconds = time.perf_counter() - started
    minutes = len(audio.samples) / audio.sample_rate / 60
    print(f"{len(scores)} face-frames in {len(plan)} windows: {seconds:.1f} s, "
          f"{1000 * seconds / max(len(scores), 1):.2f} ms per face-frame, {seconds / minutes:.2f} s per minute")
    models.close()


if __name__ == "__main__":
    main()
