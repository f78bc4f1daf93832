"""Benchmark the pipeline: seconds of compute per minute of 720p video, per stage, and the audio stages'
real-time factors on real recordings.

    python -m screenalytics.benchmark [--clips ../shared/data/grid_av] [--crowd ...] [--profile balanced]
    python -m screenalytics.benchmark --audio [--profile low_power]

Composes the sample and TV-hard episodes (1280x720, 25 fps) from GRID clips, runs the episode flow on each with
a fresh root, and reads each stage's compute time from the run manifest. It also times the naive alternative
(embedding every detected face instead of a few per track) on the same detections. `--audio` times extraction,
voice activity, diarization and transcription on the AMI excerpts and the pyannote sample (~440 s of speech audio).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

STAGES = ["probe", "shots", "detect", "track", "embed", "cluster", "facebank", "match", "screentime", "audio", "vad",
          "diarize", "transcribe", "mouth", "fusion"]


def run(clips: Path, crowd: Path | None, profile: str) -> None:
    # imported here, not at module level: embedding worker processes re-import this module and stay light
    from screenalytics.composer import EpisodeTruth, build_sample
    from screenalytics.flows.episode import episode
    from screenalytics.tasks import storage
    from screenalytics.tasks.embed import embed_faces
    from screenalytics.tasks.models.loader import Models
    from screenalytics.tasks.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="sa-bench-"))
    totals = {s: 0.0 for s in STAGES}
    video_s = 0.0
    naive_embed_s = 0.0
    for kind in ("sample", "tv_hard"):
        paths = build_sample(work / kind, kind=kind, clips_dir=clips, crowd=crowd if kind == "tv_hard" else None)
        video_s += EpisodeTruth.from_json(paths["truth"]).duration_s
        manifest = episode(str(paths["episode"]), ep_id=kind, facebank=str(paths["facebank"]),
                           root=str(work / "root"), profile=profile)
        for stage in STAGES:
            totals[stage] += manifest["stages"].get(stage, {}).get("seconds", 0.0)
        detect_dir = storage.normalize_root(work / "root" / "episodes" / kind)
        detections = storage.read_parquet(storage.join(detect_dir, "detections.parquet"))
        chips_url = manifest["stages"]["detect"]["key"][:16]
        chips = storage.read_parquet(storage.join(detect_dir, "stages", "detect", chips_url, "chips.parquet"))
        settings = load_settings({"profile": profile})
        models = Models(settings.models.model_copy(update={"threads": 1}), settings.model_dir)
        embedder = models.get("face_embedder")
        every = detections[["det_id", "t_s"]].assign(track_id=0, quality=1.0)
        started = time.perf_counter()
        embed_faces(every, detections, chips, embedder, ep_id=kind)
        naive_embed_s += time.perf_counter() - started
        models.close()
    per_min = 60.0 / video_s
    pipeline = sum(totals[s] for s in STAGES if s != "facebank")
    naive = pipeline - totals["embed"] + naive_embed_s
    print(f"video: {video_s:.1f} s of 1280x720 @ 25 fps, profile {profile}\n")
    print("| stage | seconds | seconds per minute of video |\n|---|---:|---:|")
    for stage in STAGES:
        print(f"| {stage} | {totals[stage]:.2f} | {totals[stage] * per_min:.1f} |")
    print(f"| **pipeline (without facebank)** | {pipeline:.2f} | {pipeline * per_min:.1f} |")
    print(f"\nreal-time factor: {pipeline / video_s:.2f} (x{video_s / pipeline:.2f} faster than real time)")
    print(f"naive (embed every detected face): embed {naive_embed_s:.2f} s, pipeline {naive:.2f} s, "
          f"real-time factor {naive / video_s:.2f}")


def run_audio(shared: Path, profile: str) -> None:
    """Real-time factor (compute seconds / audio seconds) of each audio stage on real recordings."""
    from screenalytics.tasks.audio_windows import detect_speech
    from screenalytics.tasks.decoding import extract_audio
    from screenalytics.tasks.diarize import speaker_turns
    from screenalytics.tasks.models.loader import Models
    from screenalytics.tasks.settings import load_settings
    from screenalytics.tasks.transcribe import transcribe

    settings = load_settings({"profile": profile})
    models = Models(settings.models, settings.model_dir)
    files = [*sorted((shared / "ami_pyannote_debug").glob("*.wav")), shared / "pyannote_sample_2spk" / "sample.wav"]
    seconds = {"audio": 0.0, "vad": 0.0, "diarize": 0.0, "transcribe": 0.0}
    total = 0.0
    for path in files:
        started = time.perf_counter()
        audio = extract_audio(str(path), sample_rate=settings.audio.sample_rate)
        seconds["audio"] += time.perf_counter() - started
        total += audio.duration_s
        started = time.perf_counter()
        speech = detect_speech(audio.samples, settings.vad, models.get("vad"))
        seconds["vad"] += time.perf_counter() - started
        started = time.perf_counter()
        speaker_turns(audio.samples.astype("float32") / 32768.0, speech, settings.diarize,
                      diarizer=settings.models.diarizer, models=models)
        seconds["diarize"] += time.perf_counter() - started
        if settings.transcribe.enabled:
            started = time.perf_counter()
            transcribe(audio.samples, audio.sample_rate, models.get("transcriber"), settings.transcribe,
                       speech=[tuple(r) for r in speech])
            seconds["transcribe"] += time.perf_counter() - started
    print(f"audio: {len(files)} recordings, {total:.1f} s, profile {profile} (models.diarizer "
          f"{settings.models.diarizer})\n")
    print("| stage | seconds | real-time factor |\n|---|---:|---:|")
    for stage, spent in seconds.items():
        print(f"| {stage} | {spent:.2f} | {spent / total:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--clips", type=Path, default=shared / "grid_av")
    parser.add_argument("--crowd", type=Path, default=shared / "crowd_coventgarden_facenet" / "video.mp4")
    parser.add_argument("--profile", default="balanced")
    parser.add_argument("--audio", action="store_true", help="Time the audio stages on real recordings instead.")
    args = parser.parse_args()
    if args.audio:
        run_audio(shared, args.profile)
    else:
        run(args.clips, args.crowd if args.crowd.exists() else None, args.profile)


if __name__ == "__main__":
    main()
