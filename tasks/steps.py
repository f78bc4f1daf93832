"""Thin Prefect tasks, one per stage: read inputs by URL, call the pure stage function, write atomically.

Each task is cached on (stage code, stage config, input content hashes) through `tasks.cache`, retries once on
transient failures (never on bad input), and reports progress through `tasks.progress`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task

from screenalytics.tasks import cache, storage
from screenalytics.tasks.cache import Ref, RunContext, StageOutput
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.models.registry import MissingModelError

_NO_RETRY = (InputError, MissingModelError, ValueError)


def _retry_transient(_task: Any, _run: Any, state: Any) -> bool:
    return not isinstance(state.result(raise_on_failure=False), _NO_RETRY)


def stage_task(stage: str, *modules: str) -> Callable:
    """Wrap `fn(ctx, **inputs) -> (outputs, info)` into a cached, retried Prefect task returning StageOutput."""
    mods = (f"screenalytics.tasks.{stage}", *modules)

    def wrap(fn: Callable[..., tuple[dict[str, pd.DataFrame | bytes], dict[str, Any]]]) -> Any:
        @functools.wraps(fn)
        def run(ctx: RunContext, **inputs: Any) -> StageOutput:
            return cache.run_cached(ctx, stage, mods, {"ctx": ctx, **inputs}, lambda: fn(ctx, **inputs))

        wrapped = task(name=stage, cache_key_fn=cache.prefect_cache_key(stage, mods), persist_result=True,
                       retries=1, retry_delay_seconds=2, retry_condition_fn=_retry_transient)(run)
        wrapped.stage_modules = mods
        return wrapped

    return wrap


def call_stage(stage_task: Any, **params: Any) -> Any:
    """Run a stage task and return its Prefect state. If the stage's finished folder is missing (never built, or
    deleted), Prefect's cache record is refreshed instead of trusted."""
    key = cache.stage_key(stage_task.name, stage_task.stage_modules, params)
    if cache.load_done(params["ctx"], stage_task.name, key) is None:
        stage_task = stage_task.with_options(refresh_cache=True)
    return stage_task(return_state=True, **params)


def local_input(url: str) -> str:
    """Decoders need a local file: `file://` URLs map to their path (remote inputs are staged by the flow)."""
    path = storage.local_path(url)
    if path is None:
        raise InputError(f"{url}: remote inputs must be staged locally first")
    return path


def folder_ref(folder: Path) -> Ref:
    """A facebank folder's identity: its names and image hashes."""
    import hashlib

    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return Ref(url=folder.resolve().as_uri(), sha256=digest.hexdigest())


@stage_task("probe", "screenalytics.tasks.video")
def probe_task(ctx: RunContext) -> tuple[dict, dict]:
    from screenalytics.tasks.probe import probe_video

    table = probe_video(local_input(ctx.video.url), ep_id=ctx.ep_id, source_url=ctx.video.url,
                        content_sha256=ctx.video.sha256)
    return {"episode": table}, table.iloc[0].to_dict()


@stage_task("shots", "screenalytics.tasks.video")
def shots_task(ctx: RunContext, probe: StageOutput, cfg: Any) -> tuple[dict, dict]:
    from screenalytics.tasks.progress import progress
    from screenalytics.tasks.shots import detect_shots
    from screenalytics.tasks.video import iter_frames

    info = probe.info
    with progress("shot cuts", int(info["n_frames"])) as advance:
        frames = iter_frames(local_input(ctx.video.url), width=cfg.analysis_width_px)
        table = detect_shots(frames, ep_id=ctx.ep_id, fps=float(info["fps"]), cfg=cfg, progress=advance)
    return {"shots": table}, {"n_shots": len(table)}


@stage_task("audio")
def audio_task(ctx: RunContext, probe: StageOutput, cfg: Any) -> tuple[dict, dict]:
    from screenalytics.tasks.audio import extract_audio

    audio = extract_audio(local_input(ctx.video.url), sample_rate=cfg.sample_rate)
    if audio is None:  # the flow only calls this stage when probe found an audio track
        raise InputError(f"{ctx.video.url}: no audio track")
    return {"audio.wav": audio.to_wav()}, {"start_s": audio.start_s, "duration_s": audio.duration_s,
                                          "sample_rate": audio.sample_rate}


@stage_task("vad", "screenalytics.tasks.models.vad", "screenalytics.tasks.audio")
def vad_task(ctx: RunContext, audio: StageOutput, cfg: Any, model: Ref) -> tuple[dict, dict]:
    from screenalytics.tasks.models.vad import SAMPLE_RATE
    from screenalytics.tasks.vad import detect_speech, speech_table

    track = _read_audio(audio)
    if track.sample_rate != SAMPLE_RATE:
        raise ValueError(f"voice activity needs audio.sample_rate={SAMPLE_RATE}, got {track.sample_rate}")
    segments = detect_speech(track.samples, cfg, Path(local_input(model.url)))
    table = speech_table(segments, ep_id=ctx.ep_id, offset_s=track.start_s)
    return {"speech": table}, {"speech_s": float((table["end_s"] - table["start_s"]).sum())}


def sample_fps(cfg: Any, fps: float) -> float:
    """Effective detector sampling rate."""
    return fps / cfg.stride if cfg.stride else min(cfg.sample_fps, fps)


@stage_task("detect", "screenalytics.tasks.video", "screenalytics.tasks.models.detector")
def detect_task(ctx: RunContext, probe: StageOutput, cfg: Any, model: Ref) -> tuple[dict, dict]:
    from screenalytics.tasks.detect import detect_faces
    from screenalytics.tasks.models.detector import FaceDetector
    from screenalytics.tasks.progress import progress
    from screenalytics.tasks.video import FrameSampler, iter_frames

    detector = FaceDetector(model_path=Path(local_input(model.url)), det_thresh=cfg.det_thresh, threads=cfg.threads)
    sampler = FrameSampler(sample_fps=None if cfg.stride else cfg.sample_fps, stride=cfg.stride)
    with progress("face detection", int(probe.info["n_frames"])) as advance:
        frames, dets, chips = detect_faces(iter_frames(local_input(ctx.video.url), keep=sampler), detector,
                                           ep_id=ctx.ep_id, cfg=cfg, progress=advance)
    return ({"frames": frames, "detections": dets, "chips": chips},
            {"n_sampled": len(frames), "n_faces": len(dets), "providers": detector.providers})


@stage_task("track")
def track_task(ctx: RunContext, detect: StageOutput, shots: StageOutput, cfg: Any, fps: float) -> tuple[dict, dict]:
    from screenalytics.tasks.track import track_faces

    tracks = track_faces(detect.table("frames"), detect.table("detections"), shots.table("shots"), cfg=cfg,
                         sample_fps=fps)
    return {"tracks": tracks}, {"n_tracks": int(tracks["track_id"].nunique())}


@stage_task("embed", "screenalytics.tasks.models.embedder", "screenalytics.tasks.appearance")
def embed_task(ctx: RunContext, track: StageOutput, detect: StageOutput, cfg: Any, embedder: str
               ) -> tuple[dict, dict]:
    from screenalytics.tasks.appearance import segment_tracks
    from screenalytics.tasks.embed import embed_faces, gated_faces, select_faces
    from screenalytics.tasks.models.embedder import make_embedder
    from screenalytics.tasks.progress import progress
    from screenalytics.tasks.schemas import FaceEmbeddings, Segments

    detections, chips, tracks = detect.table("detections"), detect.table("chips"), track.table("tracks")
    gated = gated_faces(tracks, detections, cfg)
    selected = select_faces(gated, cfg)
    with closing(make_embedder(cfg.backend, arcface_model=cfg.arcface_model, threads=cfg.threads)) as model:
        with progress("face embedding", len(selected)) as advance:
            table = embed_faces(selected, detections, chips, model, ep_id=ctx.ep_id, progress=advance)

        def embed_more(det_ids: Any) -> Any:
            return embed_faces(gated[gated["det_id"].isin(det_ids)], detections, chips, model, ep_id=ctx.ep_id)

        segments, table = segment_tracks(tracks, table, gated, threshold=cfg.split_distance[cfg.backend],
                                         embed_more=embed_more)
    segments = Segments.validate(segments.assign(ep_id=ctx.ep_id))
    table = FaceEmbeddings.validate(table)
    return ({"embeddings": table, "segments": segments},
            {"n_embedded": len(table), "n_split": int(len(segments) - segments["track_id"].nunique()),
             "embedder": model.id})


@stage_task("cluster")
def cluster_task(ctx: RunContext, track: StageOutput, embed: StageOutput, cfg: Any, backend: str
                 ) -> tuple[dict, dict]:
    from screenalytics.tasks.cluster import cluster_identities

    clusters, embeddings = cluster_identities(track.table("tracks"), embed.table("embeddings"),
                                              embed.table("segments"), ep_id=ctx.ep_id, backend=backend, cfg=cfg)
    return ({"clusters": clusters, "segment_embeddings": embeddings},
            {"n_clusters": int(clusters.loc[clusters["cluster_id"] >= 0, "cluster_id"].nunique())})


@stage_task("facebank", "screenalytics.tasks.models.embedder", "screenalytics.tasks.detect")
def facebank_task(ctx: RunContext, source: Ref, embed_cfg: Any, detect_cfg: Any, model: Ref, embedder: str
                  ) -> tuple[dict, dict]:
    from screenalytics.tasks.facebank import build_entries, check_embedder, folder_images
    from screenalytics.tasks.models.detector import FaceDetector
    from screenalytics.tasks.models.embedder import make_embedder
    from screenalytics.tasks.progress import progress

    path = storage.local_path(source.url)
    if path and Path(path).is_dir():
        people = folder_images(Path(path))
        detector = FaceDetector(model_path=Path(local_input(model.url)), det_thresh=detect_cfg.det_thresh,
                                threads=detect_cfg.threads)
        model_for_bank = make_embedder(embed_cfg.backend, arcface_model=embed_cfg.arcface_model, threads=1)
        with closing(model_for_bank) as emb, progress("facebank", sum(len(v) for v in people.values())) as advance:
            bank = build_entries(people, detector, emb, detect_cfg, progress=advance)
    else:
        bank = storage.read_parquet(source.url)
        check_embedder(bank, embedder, source.url)
    if bank.empty:
        raise InputError(f"Facebank {source.url}: no usable face image (see the warnings above).")
    return {"facebank": bank}, {"people": sorted(bank["name"].unique().tolist())}


@stage_task("match", "screenalytics.tasks.cluster")
def match_task(ctx: RunContext, cluster: StageOutput, track: StageOutput, facebank: StageOutput | None,
               cfg: Any, backend: str) -> tuple[dict, dict]:
    from screenalytics.tasks.cluster import cooccurring_clusters
    from screenalytics.tasks.match import match_identities

    clusters = cluster.table("clusters")
    bank = facebank.table("facebank") if facebank is not None else None
    cooccur = cooccurring_clusters(track.table("tracks"), clusters)
    identities = match_identities(clusters, cluster.table("segment_embeddings"), bank, cooccur, backend=backend,
                                  cfg=cfg)
    named = sorted(identities.loc[~identities["person_id"].str.startswith(("unknown_", "unidentified")),
                                  "name"].unique().tolist())
    return {"identities": identities}, {"named": named}


@stage_task("screentime", "screenalytics.tasks.metrics")
def screentime_task(ctx: RunContext, match: StageOutput, cluster: StageOutput, track: StageOutput,
                    detect: StageOutput, shots: StageOutput, probe: StageOutput, cfg: Any,
                    metrics_cfg: Any) -> tuple[dict, dict]:
    from screenalytics.tasks.metrics import run_metrics
    from screenalytics.tasks.screentime import visual_intervals

    tracks, identities = track.table("tracks"), match.table("identities")
    duration = float(probe.info["duration_s"])
    intervals = visual_intervals(tracks, detect.table("frames"), shots.table("shots"), identities,
                                 ep_id=ctx.ep_id, cfg=cfg)
    metrics, warnings = run_metrics(tracks, cluster.table("clusters"), duration_s=duration, cfg=metrics_cfg)
    return {"intervals": intervals}, {"metrics": metrics, "warnings": warnings}


@stage_task("diarize", "screenalytics.tasks.speakers", "screenalytics.tasks.models.segmentation",
            "screenalytics.tasks.models.voice_encoder", "screenalytics.tasks.models.pyannote_pipeline")
def diarize_task(ctx: RunContext, audio: StageOutput, speech: StageOutput, cfg: Any, models: dict[str, Ref],
                 model_dir: str) -> tuple[dict, dict]:
    from screenalytics.tasks.diarize import chunk_starts
    from screenalytics.tasks.progress import progress
    from screenalytics.tasks.speakers import speaker_turns, turn_tables

    track = _read_audio(audio)
    table = speech.table("speech")
    regions = table[["start_s", "end_s"]].to_numpy() - track.start_s
    chunks = len(chunk_starts(track.duration_s, cfg.step_s)) if cfg.backend == "segmentation" else None
    with progress("diarization", chunks) as advance:
        turns, centroids = speaker_turns(track.samples.astype("float32") / 32768.0, regions, cfg,
                                         model_dir=model_dir, progress=advance)
    turns, voices = turn_tables(turns, centroids, ep_id=ctx.ep_id, offset_s=track.start_s,
                                duration_s=track.duration_s)
    return {"turns": turns, "voices": voices}, {"voices": voices["speaker"].tolist(),
                                                "speech_s": voices["speech_s"].round(3).tolist()}


@stage_task("voicebank", "screenalytics.tasks.speakers", "screenalytics.tasks.vad")
def voicebank_task(ctx: RunContext, source: Ref, cfg: Any, models: dict[str, Ref]) -> tuple[dict, dict]:
    from screenalytics.tasks.models.registry import providers
    from screenalytics.tasks.progress import progress
    from screenalytics.tasks.speakers import EMBEDDERS
    from screenalytics.tasks.voicebank import enrol, enrolment_files

    folder = Path(storage.local_path(source.url) or source.url)
    encoder = EMBEDDERS[cfg.embedder][1](Path(local_input(models["speaker_embedder"].url)), providers(),
                                         threads=cfg.threads)
    people = enrolment_files(folder)
    with progress("voicebank", sum(len(f) for f in people.values())) as advance:
        bank = enrol(people, encoder.embed, Path(local_input(models["vad"].url)), cfg.piece_s, progress=advance)
    return {"voicebank": bank}, {"people": bank["person_id"].tolist(),
                                 "speech_s": bank["speech_s"].round(2).tolist()}


@stage_task("transcribe", "screenalytics.tasks.models.whisperx_backend")
def transcript_task(ctx: RunContext, audio: StageOutput, speech: StageOutput, cfg: Any) -> tuple[dict, dict]:
    from screenalytics.tasks.progress import progress
    from screenalytics.tasks.transcribe import transcribe

    track = _read_audio(audio)
    regions = [tuple(r) for r in speech.table("speech")[["start_s", "end_s"]].to_numpy()]
    with progress("transcript (s)", int(track.duration_s)) as advance:
        words = transcribe(track.samples, track.sample_rate, model=cfg.model, language=cfg.language,
                           beam_size=cfg.beam_size, threads=cfg.threads, offset_s=track.start_s, speech=regions,
                           ep_id=ctx.ep_id, progress=advance, backend=cfg.backend, align_model=cfg.align_model,
                           batch_size=cfg.batch_size)
    return {"words": words}, {"n_words": len(words)}


def _read_audio(audio: StageOutput) -> Any:
    from screenalytics.tasks.audio import Audio

    return Audio.from_wav(storage.read_bytes(audio.url("audio.wav")), start_s=float(audio.info["start_s"]))


@stage_task("mouth")
def mouth_task(ctx: RunContext, track: StageOutput, detect: StageOutput, patch_px: int) -> tuple[dict, dict]:
    from screenalytics.tasks.mouth import mouth_activity

    table = mouth_activity(track.table("tracks"), detect.table("detections"), detect.table("chips"),
                           ep_id=ctx.ep_id, patch_px=patch_px)
    return {"mouth": table}, {"readable": int(table["activity"].notna().sum())}


@stage_task("fusion", "screenalytics.tasks.screentime", "screenalytics.tasks.report", "screenalytics.tasks.voicebank")
def fusion_task(ctx: RunContext, screentime: StageOutput, match: StageOutput, track: StageOutput,
                detect: StageOutput, mouth: StageOutput, speakers: StageOutput | None,
                transcript: StageOutput | None, voicebank: StageOutput | None, probe: StageOutput, cfg: Any,
                ) -> tuple[dict, dict]:
    from screenalytics.tasks.fusion import face_samples, label_words, link_voices, speaking_intervals
    from screenalytics.tasks.report import timeline_png
    from screenalytics.tasks.screentime import screen_time
    from screenalytics.tasks.voicebank import voice_similarity

    visual, identities = screentime.table("intervals"), match.table("identities")
    outputs: dict[str, Any] = {}
    intervals = visual
    if speakers is not None:
        turns = speakers.table("turns")
        samples = face_samples(track.table("tracks"), detect.table("detections"), mouth.table("mouth"), identities)
        heard = (voice_similarity(speakers.table("voices"), voicebank.table("voicebank"))
                 if voicebank is not None else None)
        links = link_voices(samples, turns, cfg, ep_id=ctx.ep_id, similarity=heard)
        intervals = pd.concat([visual, speaking_intervals(turns, links, visual, ep_id=ctx.ep_id)],
                              ignore_index=True)
        outputs["voice_links"] = links
        if transcript is not None:
            outputs["transcript"] = label_words(transcript.table("words"), turns, links)
    duration = float(probe.info["duration_s"])
    table = screen_time(intervals, identities, ep_id=ctx.ep_id, duration_s=duration, audio=speakers is not None)
    outputs.update(screentime=table, intervals=intervals, **{"timeline.png": timeline_png(
        intervals, table, duration_s=float(probe.info["video_start_s"]) + duration,
        title=f"{ctx.ep_id}: who is on screen and who speaks")})
    links_info = outputs["voice_links"].set_index("speaker")["person_id"].to_dict() if speakers is not None else {}
    return outputs, {"voice_links": links_info}
