"""Real-time factor of each audio stage on real recordings (`python -m screenalytics.benchmark --audio`): the AMI
excerpts and the pyannote sample, each stage timed directly, outside the flow."""
from __future__ import annotations

import time
from pathlib import Path


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
