"""Publishing a finished run: the stable tables copied to the episode folder (the output contract), the CSV, the
run manifest, and the Prefect artifacts a person watching runs sees."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from screenalytics import __version__
from screenalytics.tasks import storage
from screenalytics.tasks.runner import RunContext, StageOutput
from screenalytics.tasks.settings import Settings, effective_config

PUBLISHED = {  # stage -> (artifact, published name) under {root}/episodes/{ep_id}/
    "probe": [("episode", "episode.parquet")], "shots": [("shots", "shots.parquet")],
    "detect": [("detections", "detections.parquet")], "track": [("tracks", "tracks.parquet")],
    "match": [("identities", "identities.parquet")],
    "audio": [("audio.wav", "audio.wav")], "vad": [("speech", "speech.parquet")],
    "diarize": [("turns", "speaker_turns.parquet"), ("voices", "voices.parquet")],
    "fusion": [("screentime", "screentime.parquet"), ("intervals", "intervals.parquet"),
               ("timeline.png", "timeline.png"), ("voice_links", "voice_links.parquet"),
               ("turn_speakers", "turn_speakers.parquet"), ("transcript", "transcript.parquet")],
}


@task(name="publish")
def publish(ctx: RunContext, outputs: dict[str, StageOutput], settings: Settings, models: dict[str, Any],
            notes: list[str]) -> dict[str, Any]:
    """Copy the stable tables to the episode folder and write the run manifest. A table an earlier run published
    but this run did not produce (the transcript turned off, say) is removed, so the folder always matches its
    manifest."""
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
        "stages": {name: {"key": out.key, "seconds": round(out.seconds, 3),
                          "state": "Cached" if out.cached else "Completed", "info": out.info}
                   for name, out in outputs.items()},
        "metrics": info["metrics"],
        "warnings": [*notes, *info["warnings"], *outputs["fusion"].info.get("warnings", [])],
    }
    storage.write_json(manifest, storage.join(ctx.episode_url, "manifest.json"))
    return manifest


def post_artifacts(ctx: RunContext, manifest: dict[str, Any], fusion: StageOutput) -> None:
    """Log each warning and post the screen-time table and the warnings as Prefect artifacts (never fails a run)."""
    logger = get_run_logger()
    for warning in manifest["warnings"]:
        logger.warning("guardrail: %s", warning)
    table = fusion.table("screentime")
    try:
        create_table_artifact(key=f"screentime-{ctx.ep_id.lower().replace('_', '-').replace('.', '-')}",
                              table=table.round(3).astype(object).where(table.notna(), None).to_dict("records"),
                              description=f"Screen time for {ctx.ep_id}")
        create_markdown_artifact(markdown="\n".join(f"- {w}" for w in manifest["warnings"]) or "No warnings.",
                                 description=f"Guardrails for {ctx.ep_id}")
    except Exception as exc:  # artifacts are a convenience; never fail a finished run on them
        logging.getLogger(__name__).debug("artifact upload skipped: %s", exc)
