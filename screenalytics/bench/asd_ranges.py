"""The int8 active-speaker graph's activation ranges, measured on finished runs (`python -m
screenalytics.bench.asd_ranges ROOT/episodes/EP_ID ... --out tasks/models/weights/lr_asd/int8_ranges.json`): every
frame of every face track, in 2 s windows, through the float network, keeping the largest output of each visual
convolution (`lr_asd.activation_ranges`). The shipped file was measured on footage the tests do not score
(docs/active_speaker.md, "Cost")."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from screenalytics.published import read_manifest, stage_table, stored_audio
from screenalytics.tasks import storage
from screenalytics.tasks.asd import audio_features, scoring_plan
from screenalytics.tasks.configs import AsdConfig
from screenalytics.tasks.facecrops import decode_crops
from screenalytics.tasks.models.checkpoint import load_checkpoint
from screenalytics.tasks.models.lr_asd import activation_ranges
from screenalytics.tasks.models.registry import LR_ASD


def windows(folder: str):
    """(MFCCs, crops) of every frame of every track of a finished run, in 2 s windows, speech or not."""
    manifest = read_manifest(folder)
    crops = stage_table(folder, manifest, "facecrops", "crops")
    tracks = stage_table(folder, manifest, "track", "tracks")
    audio = stored_audio(folder, manifest)
    if audio is None:
        raise SystemExit(f"{folder}: the run has no audio track; the ranges are measured with the audio heard")
    everywhere = pd.DataFrame({"start_s": [float(crops["t_s"].min())], "end_s": [float(crops["t_s"].max())]})
    jpegs = crops["jpeg"].to_numpy()
    for window in scoring_plan(crops, tracks, everywhere, AsdConfig(every_s=0, context_s=0)):
        yield (audio_features(audio, float(window.grid[0]), len(window.grid))[None],
               decode_crops(list(jpegs[window.rows]))[None])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("episodes", type=Path, nargs="+", help="ROOT/episodes/EP_ID of finished runs with audio")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    args = parser.parse_args()
    folders = [storage.normalize_root(e) for e in args.episodes]
    frames = [0]

    def every_window():
        for folder in folders:
            for audio, video in windows(folder):
                frames[0] += video.shape[1]
                yield audio, video

    ranges = activation_ranges(load_checkpoint(LR_ASD.path()), every_window())
    inputs = [read_manifest(folder)["input"] for folder in folders]
    args.out.write_text(json.dumps({"ranges": ranges, "face_frames": frames[0],
                                    "episodes": [{"file": i["url"].rsplit("/", 1)[-1], "sha256": i["sha256"]}
                                                 for i in inputs]}, indent=1) + "\n")
    print(f"{frames[0]} face-frames of {len(folders)} episodes: {args.out}")


if __name__ == "__main__":
    main()
