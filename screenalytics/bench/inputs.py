"""The benchmark's input: the composer's `bench` episode of a given length, composed once and kept on disk under the
hash of its plan (with a silent copy for the vision-only run and a facebank built once per face embedder)."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import av

CACHE = Path("~/.cache/screenalytics/bench").expanduser()
FPS = 25


def _jsonable(value: Any) -> Any:
    if is_dataclass(value):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return value.name
    return value


def plan_hash(shots: list, sources: dict[str, Path]) -> str:
    """sha256 of the plan (every shot's fields, files by name) and of the source files' bytes and the composer's
    code: a changed plan, clip or renderer composes a new episode."""
    from screenalytics import composer

    digest = hashlib.sha256(json.dumps(_jsonable(shots), sort_keys=True).encode())
    for name, path in sorted(sources.items()):
        digest.update(name.encode() + hashlib.sha256(Path(path).read_bytes()).digest())
    for module in sorted(Path(composer.__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + module.read_bytes())
    return digest.hexdigest()


def extras_spans(shots: list) -> list[tuple[float, float]]:
    """Where only extras are on screen: the shots with a background and no cast layer (no dissolves in a bench
    plan, so shot k starts where shot k-1 ends, in whole frames)."""
    out, frame = [], 0
    for shot in shots:
        n = round(shot.duration_s * FPS)
        if shot.background is not None and not shot.layers:
            out.append((frame / FPS, (frame + n) / FPS))
        frame += n
    return out


def strip_audio(src: Path, dst: Path) -> Path:
    """A copy of the video stream alone (remuxed, not re-encoded): the flow runs its vision stages only."""
    tmp = dst.with_suffix(".tmp.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    tmp.replace(dst)
    return dst


def bench_episode(duration_s: float, clips: Path, crowd: Path | None, cache: Path = CACHE) -> dict[str, Any]:
    """The `bench` episode of `duration_s`, composed on first use: {folder, episode, silent, truth, facebank
    (folder of stills), extras (spans), hash, shots}."""
    from screenalytics.composer import build_sample, plan_for

    sources = {p.stem: p for p in sorted(clips.glob("*.mpg"))}
    shots = plan_for("bench", sources, crowd, duration_s)
    digest = plan_hash(shots, {**sources, **({"crowd": crowd} if crowd else {})})
    folder = cache / f"{round(duration_s)}s-{digest[:16]}"
    meta = folder / "bench.json"
    if not meta.exists():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        build_sample(tmp, clips, kind="bench", crowd=crowd, duration_s=duration_s)
        strip_audio(tmp / "episode.mp4", tmp / "silent.mp4")
        (tmp / "bench.json").write_text(json.dumps({
            "plan_sha256": digest, "duration_s": duration_s, "shots": len(shots),
            "cast": sorted({ly.person for s in shots for ly in s.layers}), "extras": extras_spans(shots)}, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    info = json.loads(meta.read_text())
    return {"folder": folder, "episode": folder / "episode.mp4", "silent": folder / "silent.mp4",
            "truth": folder / "truth.json", "facebank": folder / "facebank", **info}


def facebank_parquet(bench: dict[str, Any], settings: Any) -> Path:
    """The episode's facebank embedded once per face embedder (as `screenalytics facebank import` would), so each
    run only reads it, as a season's runs do."""
    from screenalytics.tasks import storage
    from screenalytics.tasks.facebank import build_entries, folder_images
    from screenalytics.tasks.models.loader import Models
    from screenalytics.tasks.models.registry import embedder_identity

    name = embedder_identity(settings.models.face_embedder, settings.models.arcface_model)
    path = bench["folder"] / f"facebank-{name}.parquet"
    if not path.exists():
        models = Models(settings.models, settings.model_dir, det_thresh=settings.detect.det_thresh)
        try:
            bank = build_entries(folder_images(bench["facebank"]), models.get("face_detector"),
                                 models.get("face_embedder"), settings.detect)
        finally:
            models.close()
        storage.write_parquet(bank, str(path))
    return path
