"""Active-speaker window schedules compared on the ten GRID clips (`python -m screenalytics.bench.asd_windows`):
the reference recipe's six passes (windows of 1-6 s, averaged) against single passes of one window length, on the
clips' crops concatenated (truth: the silent lead-in, frames 0-11, is not talking; frames 20-59 are speech). Prints
a Markdown table: sign agreement with the reference, frame accuracy against the truth, seconds."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from screenalytics.bench.defaults import default_models
from screenalytics.tasks.asd import audio_features, scored_windows
from screenalytics.tasks.configs import FaceCropsConfig
from screenalytics.tasks.decoding import extract_audio, iter_frames
from screenalytics.tasks.facecrops import CropCutter, decode_crops

GRID = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "grid_av"
FRAMES_PER_CLIP, LEAD_IN, SPEECH = 75, (0, 12), (20, 60)


def grid_sequence(models: Any, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops [n, 112, 112], MFCCs [4 n, 13] and truth [n] (1 talking, 0 not, -1 unknown) of the clips in a row."""
    detector, crops, feats, truth = models.get("face_detector"), [], [], []
    for clip in sorted(folder.glob("*.mpg")):
        sampled: dict = {}
        cutter = CropCutter(sampled.get, FaceCropsConfig())
        for frame in iter_frames(str(clip), keep=lambda i, _t: i % 8 == 0, gray=True):
            if frame.image_bgr is not None:
                boxes, _ = detector.detect(frame.image_bgr)
                sampled[frame.index] = (np.arange(len(boxes)), boxes[:, :4].astype(float))
            cutter.add(frame)
        table = cutter.finish()
        video = decode_crops(table["jpeg"].tolist())[:FRAMES_PER_CLIP]
        crops.append(video)
        feats.append(audio_features(extract_audio(str(clip), sample_rate=16000), float(table["t_s"].iloc[0]),
                                    len(video)))
        label = np.full(len(video), -1)
        label[slice(*LEAD_IN)], label[slice(*SPEECH)] = 0, 1
        truth.append(label)
    return np.concatenate(crops), np.concatenate(feats), np.concatenate(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", type=Path, default=GRID, help="folder of GRID .mpg clips")
    args = parser.parse_args()
    _, models = default_models()
    net = models.get("active_speaker")
    video, feats, truth = grid_sequence(models, args.grid)

    def run(windows_s: list[int]) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        scores = np.mean([np.concatenate([net.scores(feats[None, 4 * a: 4 * b], video[None, a:b].astype(np.float32))[0]
                                          for a, b in scored_windows(len(video), 25 * w, 0)])
                          for w in windows_s], axis=0)
        return scores, time.perf_counter() - started

    reference, ref_s = run([1, 2, 3, 4, 5, 6])
    known = truth >= 0
    print(f"{len(video)} frames of {len(video) // FRAMES_PER_CLIP} GRID clips\n")
    print("| schedule | agreement with the six-pass sign | frame accuracy | seconds |\n|---|---|---|---|")
    for name, (scores, secs) in {"six passes, 1-6 s (reference)": (reference, ref_s),
                                 **{f"one pass, {w} s windows": run([w]) for w in (2, 4, 6)}}.items():
        agree = float(((scores > 0) == (reference > 0)).mean())
        accuracy = float(((scores > 0) == (truth == 1))[known].mean())
        print(f"| {name} | {agree:.3f} | {accuracy:.3f} | {secs:.2f} |")
    models.close()


if __name__ == "__main__":
    main()
