"""The floor: what the models alone cost for the work a run gave them. Each model's unit cost is measured in
isolation (after a warm-up call, with the profile's `Models` settings: same threads, same dlib workers) on this
episode's own frames, faces and audio; `work` reads from a run's manifest how many units the pipeline handed it."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

SLICE_S = 60.0  # audio measured on the first minute (or the whole track when shorter)
FACES = 64  # faces embedded, in the embed stage's batches of 32
DETECT_FRAMES = 30


def _timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


def work(manifest: dict[str, Any], settings: Any) -> dict[str, float]:
    """Units of work per model in a run: sampled frames (detector), embedded faces (embedder), seconds of track
    (vad, once per pass over it; segmentation), seconds of speech (speaker embedder, transcriber) and scored
    face-frames (active speaker)."""
    stages = manifest["stages"]
    out = {"face_detector": float(stages["detect"]["info"]["n_sampled"]),
           "face_embedder": float(stages["embed"]["info"]["n_embedded"])}
    if "audio" not in stages:
        return out
    track_s = float(stages["audio"]["info"]["duration_s"])
    speech_s = float(stages["vad"]["info"]["speech_s"])
    segmentation = settings.models.diarizer == "segmentation"
    out["vad"] = track_s * (2 if segmentation and settings.diarize.trim_end_s > 0 else 1)
    if segmentation:
        out["segmentation"] = track_s
    out["speaker_embedder"] = speech_s
    if "asd" in stages:
        out["active_speaker"] = float(stages["asd"]["info"]["scored_frames"])
    if "transcribe" in stages:
        out["transcriber"] = speech_s
    return out


def unit_costs(video: Path, chips_dir: str, settings: Any, audio: bool = True, crops_dir: str | None = None,
               ) -> dict[str, float]:
    """Seconds per sampled frame (face_detector), per face (face_embedder), per second of audio (vad,
    segmentation: per second of track; speaker_embedder, transcriber: per second of speech) and, with the run's
    `facecrops` folder, per scored face-frame (active_speaker: MFCCs and the network on 2 s windows of its crops)."""
    from screenalytics.tasks import storage
    from screenalytics.tasks.audio_windows import detect_speech, speech_windows
    from screenalytics.tasks.decoding import FrameSampler, iter_frames, load_wav
    from screenalytics.tasks.diarize_local import segment
    from screenalytics.tasks.faces import decode_chip
    from screenalytics.tasks.models.loader import Models
    from screenalytics.tasks.transcribe import transcribe

    models = Models(settings.models, settings.model_dir, det_thresh=settings.detect.det_thresh)
    out: dict[str, float] = {}
    try:
        detector = models.get("face_detector")
        with_pixels = (f for f in iter_frames(str(video), keep=FrameSampler(sample_fps=0.5)) if f.image_bgr is not None)
        frames = [f.image_bgr for _, f in zip(range(DETECT_FRAMES + 2), with_pixels)]
        for image in frames[:2]:
            detector.detect(image)
        out["face_detector"] = sum(_timed(detector.detect, im) for im in frames[2:]) / len(frames[2:])

        dets = storage.read_parquet(storage.join(chips_dir, "detections.parquet")).set_index("det_id")
        chips = storage.read_parquet(storage.join(chips_dir, "chips.parquet")).set_index("det_id")
        big = dets.index[dets["face_h_px"] >= settings.embed.min_face_px]
        pick = big[np.linspace(0, len(big) - 1, min(FACES + 32, len(big))).astype(int)]
        faces = [decode_chip(chips.loc[i], dets.loc[i]) for i in pick]
        embedder = models.get("face_embedder")
        embedder.embed(faces[:32])  # warm-up: starts dlib's worker processes
        timed = faces[32:] or faces
        out["face_embedder"] = sum(_timed(embedder.embed, timed[k:k + 32]) for k in range(0, len(timed), 32)) / len(
            timed)
        if not audio:
            return out

        wav, _ = load_wav(video, 16000)
        wav = wav[: int(SLICE_S * 16000)]
        track_s = len(wav) / 16000
        vad = models.get("vad")
        vad.probabilities(wav[:16000])
        out["vad"] = _timed(vad.probabilities, wav) / track_s
        speech = detect_speech(wav, settings.vad, vad)
        speech_s = float((speech[:, 1] - speech[:, 0]).sum())
        if settings.models.diarizer == "segmentation":
            model = models.get("segmentation")
            segment(wav[: 16000 * 6], model, settings.diarize)
            out["segmentation"] = _timed(segment, wav, model, settings.diarize) / track_s
        encoder = models.get("speaker_embedder")
        pieces = [wav[int(a * 16000):int(b * 16000)] for a, b in speech_windows(speech, settings.diarize.piece_s)]
        encoder.embed(pieces[:4])
        out["speaker_embedder"] = _timed(encoder.embed, pieces) / speech_s
        if crops_dir is not None:
            out["active_speaker"] = asd_unit_cost(models.get("active_speaker"), crops_dir, wav, settings)
        if settings.transcribe.enabled:
            transcriber = models.get("transcriber")
            samples = (wav * 32768).clip(-32768, 32767).astype(np.int16)
            spans = [tuple(r) for r in speech]
            transcribe(samples[:16000 * 5], 16000, transcriber, settings.transcribe, speech=spans[:1])
            out["transcriber"] = _timed(transcribe, samples, 16000, transcriber, settings.transcribe,
                                        speech=spans) / speech_s
    finally:
        models.close()
    return out


def asd_unit_cost(net: Any, crops_dir: str, wav: np.ndarray, settings: Any, windows: int = 8) -> float:
    """Seconds per face-frame of the active-speaker model on `asd.window_s` windows of the run's first crops (with
    the MFCCs of the audio under them); the first window is a warm-up."""
    from screenalytics.tasks import storage
    from screenalytics.tasks.asd import audio_features
    from screenalytics.tasks.decoding import Audio
    from screenalytics.tasks.facecrops import decode_crops

    crops = storage.read_parquet(storage.join(crops_dir, "crops.parquet")).sort_values(["frame_idx", "det_id"])
    size = int(round(settings.asd.window_s * 25))
    track = Audio((wav * 32768).clip(-32768, 32767).astype(np.int16), 16000, 0.0)
    spent, runs = 0.0, min(windows + 1, len(crops) // size)
    for k in range(runs):
        rows = crops.iloc[k * size:(k + 1) * size]
        started = time.perf_counter()
        net.scores(audio_features(track, float(rows["t_s"].iloc[0]), size)[None],
                   decode_crops(rows["jpeg"].tolist())[None])
        spent += (time.perf_counter() - started) if k else 0.0
    return spent / max(size * (runs - 1), 1)
