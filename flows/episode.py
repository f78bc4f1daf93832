"""The `episode` flow: one video in, per-person screen time out. The audio and vision branches run side by side:

    probe -> audio -> vad -> diarize -> transcribe (per turn) ------------------------\\
                          \\-> asd (+ facecrops, track, audio): who is visibly talking -- fusion -> publish
                (voicebank) -------------------------------------------------------/
    probe -> scan: shots ---\\                                                     /
           (one decode) detect -> track -> embed -> cluster -> match (+ facebank) -> screentime
                        facecrops
"""
from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from screenalytics.flows.publish import post_artifacts, publish
from screenalytics.flows.refs import facebank_ref, prepare, voicebank_ref
from screenalytics.tasks import storage
from screenalytics.tasks.asd import asd_task
from screenalytics.tasks.audio import audio_task
from screenalytics.tasks.catalog import EpisodeLabels, labels_for
from screenalytics.tasks.cluster import cluster_task
from screenalytics.tasks.detect import sampling_rate
from screenalytics.tasks.diarize import diarize_task
from screenalytics.tasks.embed import embed_task
from screenalytics.tasks.episode_lock import episode_lock
from screenalytics.tasks.facebank import facebank_task
from screenalytics.tasks.fusion import fusion_task
from screenalytics.tasks.match import match_task
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.probe import probe_task
from screenalytics.tasks.progress import current_hook
from screenalytics.tasks.scan import scan_task
from screenalytics.tasks.schemas import EpisodeInfo
from screenalytics.tasks.screentime import screentime_task
from screenalytics.tasks.settings import load_settings
from screenalytics.tasks.track import track_task
from screenalytics.tasks.transcribe import transcribe_task
from screenalytics.tasks.vad import vad_task
from screenalytics.tasks.voicebank import voicebank_task

Profile = Literal["balanced", "low_power", "high_accuracy"]  # config/profiles/*.yaml


@flow(name="episode", log_prints=True)
def episode(video: str, ep_id: str = "", facebank: str = "", profile: Profile = "balanced", stride: int = 0,
            root: str = "", overrides: dict[str, Any] = {}, voicebank: str = "",  # noqa: B006 (never mutated; a form default)
            show: str = "", season: str = "", episode_no: str = "") -> dict[str, Any]:
    """Run the whole pipeline on one episode; returns the run manifest. Progress of the long stages goes to the
    hook of an enclosing `progress.showing` block (the CLI's bars), else to the run's log every 10%.

    Args:
        video: Path of the episode's video file on the worker's host.
        ep_id: Episode id for the outputs (letters, digits, '.', '_', '-'). Empty: SHOW-s05e03 when show, season
            and episode are known, else from the file name.
        facebank: Facebank folder (one sub-folder of photos per person) or facebank .parquet. Empty: the root's
            facebank, if any; without one, faces stay unknown_N.
        profile: Speed/accuracy trade: balanced (default), low_power (fastest) or high_accuracy (slowest, with the
            transcript).
        stride: Detect faces on every Nth frame instead of the profile's sampling. 0: the profile's.
        root: Storage root for the outputs (a folder or s3://bucket/prefix). Empty: SCREENALYTICS_ROOT or ./data.
        overrides: Settings to change, as a mapping of STAGE.FIELD to value, e.g. {"cluster.distance": 0.45,
            "transcribe.enabled": true} (docs/configuration.md lists them).
        voicebank: Folder with one sub-folder of recordings per person, to name voices heard off screen. Empty:
            none.
        show: Show name for the season catalog. Empty: parsed from the path (raw/videos/SHOW/s05/e03/...).
        season: Season, 5 or S05. Empty: parsed from the path.
        episode_no: Episode within the season, 3 or E03. Empty: parsed from the path.
    """
    progress = current_hook()
    s = load_settings({**(overrides or {}), "profile": profile, "root": root or None,
                       "detect.stride": stride or None})
    labels = labels_for(video, show or None, season or None, episode_no or None)
    ctx = prepare(video, ep_id or None, s, labels)
    bank, heard_ref = facebank_ref(facebank or None), voicebank_ref(voicebank or None)
    models = Models(s.models, s.model_dir, det_thresh=s.detect.det_thresh)
    try:
        with episode_lock(storage.local_path(ctx.episode_url)) as stopped:
            return _run(ctx, s, {"ctx": ctx, "models": models, "progress": progress}, bank, heard_ref, labels,
                        [stopped] if stopped else [])
    finally:
        models.close()


def _run(ctx: Any, s: Any, run: dict[str, Any], bank: Any, heard_ref: Any, labels: EpisodeLabels,
         notes: list[str]) -> dict[str, Any]:
    probe = probe_task(**run, limits=s.limits)
    info = EpisodeInfo.model_validate(probe.info)

    audio = audio_task.submit(**run, cfg=s.audio) if info.has_audio else None
    speech = vad_task.submit(**run, audio=audio, cfg=s.vad) if audio else None
    speakers = diarize_task.submit(**run, audio=audio, speech=speech, cfg=s.diarize,
                                   diarizer=s.models.diarizer) if audio else None
    transcript = (transcribe_task.submit(**run, audio=audio, speech=speech, speakers=speakers, cfg=s.transcribe)
                  if audio and s.transcribe.enabled else None)
    heard = voicebank_task.submit(**run, source=heard_ref, piece_s=s.diarize.piece_s) if audio and heard_ref else None

    known = (facebank_task.submit(**run, source=bank, cfg=s.detect, accept_distance=s.match.accept_distance)
             if bank else None)
    scanned = scan_task.submit(**run, info=info, shots_cfg=s.shots, detect_cfg=s.detect,
                               facecrops_cfg=s.facecrops if audio else None).result()
    shots, detect = scanned["shots"], scanned["detect"]
    track = track_task.submit(**run, detect=detect, shots=shots, cfg=s.track, sample_fps=sampling_rate(s.detect,
                                                                                                       info.fps))
    talking = (asd_task.submit(**run, facecrops=scanned["facecrops"], track=track, speech=speech, audio=audio,
                               cfg=s.asd) if audio and "facecrops" in scanned else None)
    embed = embed_task.submit(**run, track=track, detect=detect, cfg=s.embed)
    cluster = cluster_task.submit(**run, embed=embed, cfg=s.cluster)
    match = match_task.submit(**run, cluster=cluster, embed=embed, facebank=known, cfg=s.match)
    screentime = screentime_task.submit(**run, match=match, cluster=cluster, embed=embed, track=track, detect=detect,
                                        shots=shots, info=info, cfg=s.screentime, guardrails=s.guardrails)
    fusion = fusion_task.submit(**run, screentime=screentime, match=match, embed=embed, shots=shots, asd=talking,
                                speakers=speakers, speech=speech, transcript=transcript, voicebank=heard, info=info,
                                cfg=s.fusion)

    futures = {"track": track, "embed": embed, "cluster": cluster,
               "facebank": known, "match": match, "screentime": screentime, "fusion": fusion,
               "audio": audio, "vad": speech, "diarize": speakers, "transcribe": transcript, "voicebank": heard,
               "asd": talking}
    outputs = {"probe": probe, **scanned, **{name: f.result() for name, f in futures.items() if f is not None}}
    notes = [*notes, *([] if audio else [f"{ctx.ep_id}: the video has no audio track; visual screen time only"])]
    manifest = publish(ctx, outputs, s, run["models"].identities(), notes, labels)
    post_artifacts(ctx, manifest, outputs["fusion"])
    return manifest
