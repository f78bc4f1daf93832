"""The `episode` flow: one video in, per-person screen time out. Reads like the pipeline diagram:

    probe -> audio -> vad -> diarize --------------------------------------------------\\
                         \\-> transcribe ---------------------------------------------- fusion -> publish
                (voicebank) ----------------------------------------------------------/
    probe -> shots ----------------------\\                                            /
    probe -> detect -> track -> embed -> cluster -> match (+ facebank) -> screen time
                       \\-> mouth ------------------------------------------------------/
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from screenalytics import __version__
from screenalytics.tasks import storage
from screenalytics.tasks.cache import Ref, RunContext, StageOutput
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.models.pyannote_pipeline import pipeline_folder
from screenalytics.tasks.models.registry import (
    embedder_identity,
    scrfd_path,
    segmentation_path,
    sha256_file,
    silero_path,
)
from screenalytics.tasks.probe import check_file
from screenalytics.tasks.settings import Settings, effective_config, load_settings
from screenalytics.tasks.speakers import embedder_path
from screenalytics.tasks.steps import (
    audio_task,
    call_stage,
    cluster_task,
    detect_task,
    diarize_task,
    embed_task,
    facebank_task,
    folder_ref,
    fusion_task,
    match_task,
    mouth_task,
    probe_task,
    sample_fps,
    screentime_task,
    shots_task,
    track_task,
    transcript_task,
    vad_task,
    voicebank_task,
)

PUBLISHED = {  # stage -> (artifact, published name) under {root}/episodes/{ep_id}/
    "probe": [("episode", "episode.parquet")], "shots": [("shots", "shots.parquet")],
    "detect": [("detections", "detections.parquet")], "track": [("tracks", "tracks.parquet")],
    "match": [("identities", "identities.parquet")],
    "audio": [("audio.wav", "audio.wav")], "vad": [("speech", "speech.parquet")],
    "diarize": [("turns", "speaker_turns.parquet"), ("voices", "voices.parquet")],
    "fusion": [("screentime", "screentime.parquet"), ("intervals", "intervals.parquet"),
               ("timeline.png", "timeline.png"), ("voice_links", "voice_links.parquet"),
               ("transcript", "transcript.parquet")],
}


@task(name="prepare")
def prepare(video: str, ep_id: str | None, settings: Settings) -> RunContext:
    """Validate the inputs and hash the video's bytes (the cache key of everything downstream)."""
    path = Path(video).expanduser()
    check_file(str(path))
    ep = storage.validate_ep_id(ep_id or path.stem)
    url = path.resolve().as_uri()
    return RunContext(ep_id=ep, episode_url=storage.join(storage.normalize_root(settings.root), "episodes", ep),
                      video=Ref(url=url, sha256=storage.sha256_url(url)))


def model_ref(path: Path) -> Ref:
    return Ref(url=path.resolve().as_uri(), sha256=sha256_file(path))


def facebank_ref(facebank: str | None) -> Ref | None:
    if not facebank:
        return None
    if "://" in facebank and not facebank.startswith("file://"):
        return Ref(url=facebank, sha256=storage.sha256_url(facebank))
    path = Path(storage.local_path(facebank) or facebank).expanduser()
    if path.is_dir():
        return folder_ref(path)
    if path.is_file():
        url = path.resolve().as_uri()
        return Ref(url=url, sha256=storage.sha256_url(url))
    raise InputError(f"{facebank}: facebank not found (give a folder with one sub-folder per person, "
                     "or a facebank .parquet built with `screenalytics facebank import`).")


@task(name="publish")
def publish(
    ctx: RunContext,
    outputs: dict[str, StageOutput],
    states: dict[str, str],
    settings: Settings,
    models: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """Copy the stable tables to the episode folder (the output contract) and write the run manifest. A table an
    earlier run published but this run did not produce (the transcript turned off, say) is removed, so the folder
    always matches its manifest."""
    removed = []
    for stage, items in PUBLISHED.items():
        for name, target in items:
            url = storage.join(ctx.episode_url, target)
            if stage in outputs and name in outputs[stage].files:
                storage.write_bytes(url, storage.read_bytes(outputs[stage].url(name)))
            elif storage.remove(url):
                removed.append(target)
    if removed:
        notes = [*notes, f"removed {', '.join(removed)} of an earlier run: this run did not produce them"]
    screentime = outputs["fusion"].table("screentime")
    storage.write_bytes(storage.join(ctx.episode_url, "screentime.csv"), screentime.to_csv(index=False).encode())
    info = outputs["screentime"].info
    manifest = {
        "ep_id": ctx.ep_id, "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "input": {"url": ctx.video.url, "sha256": ctx.video.sha256}, "code_version": __version__,
        "config": effective_config(settings), "models": models,
        "stages": {name: {"key": out.key, "seconds": round(out.seconds, 3), "state": states[name],
                          "info": out.info} for name, out in outputs.items()},
        "metrics": info["metrics"], "warnings": [*notes, *info["warnings"]],
    }
    storage.write_json(manifest, storage.join(ctx.episode_url, "manifest.json"))
    return manifest


@flow(name="episode", log_prints=True)
def episode(video: str, ep_id: str | None = None, facebank: str | None = None, profile: str | None = None,
            stride: int | None = None, root: str | None = None, overrides: dict[str, Any] | None = None,
            voicebank: str | None = None) -> dict[str, Any]:
    """Run the whole pipeline on one episode; returns the run manifest."""
    settings = load_settings({"profile": profile, "root": root, "detect.stride": stride, **(overrides or {})})
    ctx = prepare(video, ep_id, settings)
    voices_ref = voicebank_ref(voicebank)
    model = model_ref(scrfd_path(settings.model_dir))
    backend = settings.embed.backend
    states: dict[str, str] = {}

    def run(stage_task: Any, **kwargs: Any) -> StageOutput:
        state = call_stage(stage_task, ctx=ctx, **kwargs)
        states[stage_task.name] = state.name
        return state.result()

    probe = run(probe_task)
    notes: list[str] = []
    audio = run(audio_task, probe=probe, cfg=settings.audio) if probe.info["has_audio"] else None
    if audio is None:
        notes.append(f"{ctx.ep_id}: the video has no audio track; visual screen time only")
    speech = None if audio is None else run(vad_task, audio=audio, cfg=settings.vad, model=model_ref(
        silero_path(settings.model_dir)))
    speakers = None if audio is None else run(diarize_task, audio=audio, speech=speech, cfg=settings.diarize,
                                              models=voice_models(settings), model_dir=settings.model_dir)
    transcript = (run(transcript_task, audio=audio, speech=speech, cfg=settings.transcript)
                  if audio is not None and settings.transcript.enabled else None)
    shots = run(shots_task, probe=probe, cfg=settings.shots)
    detect = run(detect_task, probe=probe, cfg=settings.detect, model=model)
    track = run(track_task, detect=detect, shots=shots, cfg=settings.track,
                fps=sample_fps(settings.detect, float(probe.info["fps"])))
    embedder = embedder_identity(backend, settings.embed.arcface_model)
    embed = run(embed_task, track=track, detect=detect, cfg=settings.embed, embedder=embedder)
    cluster = run(cluster_task, track=track, embed=embed, cfg=settings.cluster, backend=backend)
    bank_ref = facebank_ref(facebank)
    bank = (run(facebank_task, source=bank_ref, embed_cfg=settings.embed, detect_cfg=settings.detect, model=model,
                embedder=embedder) if bank_ref else None)
    match = run(match_task, cluster=cluster, track=track, facebank=bank, cfg=settings.match, backend=backend)
    screentime = run(screentime_task, match=match, cluster=cluster, track=track, detect=detect, shots=shots,
                     probe=probe, cfg=settings.screentime, metrics_cfg=settings.metrics)
    mouth = run(mouth_task, track=track, detect=detect, patch_px=settings.fusion.mouth_px)
    heard = (run(voicebank_task, source=voices_ref, cfg=settings.diarize, models=voicebank_models(settings))
             if voices_ref is not None and speakers is not None else None)
    fusion = run(fusion_task, screentime=screentime, match=match, track=track, detect=detect, mouth=mouth,
                 speakers=speakers, transcript=transcript, voicebank=heard, probe=probe, cfg=settings.fusion)
    outputs = {"probe": probe, "shots": shots, "detect": detect, "track": track, "embed": embed,
               "cluster": cluster, "match": match, "screentime": screentime, "mouth": mouth, "fusion": fusion}
    for name, output in (("facebank", bank), ("audio", audio), ("vad", speech), ("diarize", speakers),
                         ("transcribe", transcript), ("voicebank", heard)):
        if output is not None:
            outputs[name] = output
    models = {"detector": {"id": "scrfd-2.5g-kps", "sha256": model.sha256},
              "embedder": {"id": embedder, "backend": backend}}
    manifest = publish(ctx, outputs, states, settings, models, notes)
    _report(ctx, manifest, fusion)
    return manifest


def voice_models(settings: Settings) -> dict[str, Ref]:
    """The files the diarization backend reads (part of its cache key)."""
    cfg = settings.diarize
    refs = {"speaker_embedder": model_ref(embedder_path(cfg.embedder, settings.model_dir))}
    if cfg.backend == "segmentation":
        refs["segmentation"] = model_ref(segmentation_path(settings.model_dir))
        if cfg.trim_end_s > 0:
            refs["vad"] = model_ref(silero_path(settings.model_dir))
    if cfg.backend == "pyannote":
        refs["pyannote"] = folder_ref(pipeline_folder(cfg.pyannote_dir))
    return refs


def voicebank_ref(voicebank: str | None) -> Ref | None:
    """A voicebank folder's identity (names and file hashes), or a clear error when it is not a folder."""
    if not voicebank:
        return None
    path = Path(storage.local_path(voicebank) or voicebank).expanduser()
    if not path.is_dir():
        raise InputError(f"{voicebank}: voicebank folder not found (give a folder with one sub-folder per person "
                         "holding recordings of them talking).")
    return folder_ref(path)


def voicebank_models(settings: Settings) -> dict[str, Ref]:
    """The files enrolment reads: the diarization embedder and Silero (part of its cache key)."""
    return {"speaker_embedder": model_ref(embedder_path(settings.diarize.embedder, settings.model_dir)),
            "vad": model_ref(silero_path(settings.model_dir))}


def _report(ctx: RunContext, manifest: dict[str, Any], screentime: StageOutput) -> None:
    logger = get_run_logger()
    for warning in manifest["warnings"]:
        logger.warning("guardrail: %s", warning)
    table = screentime.table("screentime")
    try:
        create_table_artifact(key=f"screentime-{ctx.ep_id.lower().replace('_', '-').replace('.', '-')}",
                              table=table.round(3).astype(object).where(table.notna(), None).to_dict("records"),
                              description=f"Screen time for {ctx.ep_id}")
        create_markdown_artifact(markdown="\n".join(f"- {w}" for w in manifest["warnings"]) or "No warnings.",
                                 description=f"Guardrails for {ctx.ep_id}")
    except Exception as exc:  # artifacts are a convenience; never fail a finished run on them
        logging.getLogger(__name__).debug("artifact upload skipped: %s", exc)
