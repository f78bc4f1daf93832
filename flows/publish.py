"""Publishing a finished run: the stable tables copied to the episode folder (the output contract), the CSV, the
run manifest, and the Prefect artifacts a person watching runs sees."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from screenalytics import __version__
from screenalytics.published import run_label
from screenalytics.report import write_report, write_season_report
from screenalytics.tasks import storage
from screenalytics.tasks.catalog import EpisodeLabels, catalog_row
from screenalytics.tasks.naming import is_named
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
            notes: list[str], labels: EpisodeLabels) -> dict[str, Any]:
    """Copy the stable tables to the episode folder, write its catalog row (show, season, episode) and the run
    manifest. A table an earlier run published but this run did not produce (the transcript turned off, say) is
    removed, so the folder always matches its manifest."""
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
    storage.write_parquet(catalog_row(ctx.ep_id, labels), storage.join(ctx.episode_url, "catalog.parquet"))
    screentime = outputs["fusion"].table("screentime")
    csv = spreadsheet_safe(screentime.round(3)).to_csv(index=False).encode()
    storage.write_bytes(storage.join(ctx.episode_url, "screentime.csv"), csv)
    manifest = {
        "ep_id": ctx.ep_id, **labels.model_dump(), "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "input": {"url": ctx.video.url, "sha256": ctx.video.sha256}, "code_version": __version__,
        "config": effective_config(settings), "models": models,
        "stages": {name: {"key": out.key, "seconds": round(out.seconds, 3),
                          "state": "Cached" if out.cached else "Completed", "info": out.info}
                   for name, out in outputs.items()},
        "metrics": outputs["screentime"].info["metrics"],
        "warnings": [*notes, *(w for out in outputs.values() for w in out.info.get("warnings", []))],
    }
    storage.write_json(manifest, storage.join(ctx.episode_url, "manifest.json"))
    write_reports(ctx, settings)
    return manifest


def write_reports(ctx: RunContext, settings: Settings) -> None:
    """The episode's `report.html` and the root's season report, from the tables just published. A report that
    cannot be drawn is logged, never fails the run (`screenalytics report` redraws it)."""
    try:
        write_report(ctx.episode_url)
        write_season_report(settings.root)
    except Exception as exc:  # the run's tables and manifest are already published
        get_run_logger().warning("report not written: %s (redraw with `screenalytics report %s`)", exc, ctx.ep_id)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a cell starting so is a formula to a spreadsheet


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as formulas (a person named `=2+5`) prefixed with `'`."""
    text = table.select_dtypes(include=["object", "string"]).columns
    return table.assign(**{c: table[c].map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_START)
                                           else v) for c in text})


ARTIFACT_HEADERS = {"name": "Person", "visual_s": "On screen (s)", "speaking_s": "Speaking (s)",
                    "overlap_s": "Speaking on screen (s)", "offscreen_speaking_s": "Speaking off screen (s)",
                    "appearances": "Appearances", "first_seen_s": "First seen (s)", "last_seen_s": "Last seen (s)",
                    "share_of_episode": "Share of episode"}


def artifact_key(kind: str, ep_id: str) -> str:
    """A Prefect artifact key (lowercase letters, digits and dashes) for an episode."""
    return f"{kind}-" + "".join(c if c.isalnum() else "-" for c in ep_id.lower()).strip("-")


def summary_markdown(manifest: dict[str, Any], screentime: pd.DataFrame, episode_url: str) -> str:
    """What a person watching runs reads first: what was found, the warnings, where the outputs are."""
    label = run_label(manifest)
    duration = float(manifest["stages"]["probe"]["info"]["duration_s"])
    named = screentime[screentime["person_id"].map(is_named)].sort_values("visual_s", ascending=False)
    lines = [f"# {manifest['ep_id']}" + (f" ({label})" if label else ""), "",
             f"{duration:.1f} s of video; {len(named)} cast member(s) found, "
             f"{int((~screentime['person_id'].map(is_named)).sum())} other face or voice row(s).", ""]
    if len(named):
        lines += ["| Person | On screen (s) | Speaking (s) |", "|---|---:|---:|"]
        lines += [f"| {r.name} | {r.visual_s:.1f} | {0.0 if r.speaking_s != r.speaking_s else r.speaking_s:.1f} |"
                  for r in named.head(10).itertuples()]
    warnings = manifest["warnings"]
    lines += ["", f"## Warnings ({len(warnings)})", "", *([f"- {w}" for w in warnings] or ["None."])]
    lines += ["", "## Outputs", "", f"- Folder: `{episode_url}`",
              "- `report.html` (open in a browser), `screentime.parquet` / `.csv`, `intervals.parquet`, "
              "`timeline.png`, `manifest.json`",
              f"- Query: `screenalytics query \"select * from screentime where ep_id = '{manifest['ep_id']}'\"`"]
    return "\n".join(lines)


def post_artifacts(ctx: RunContext, manifest: dict[str, Any], fusion: StageOutput) -> None:
    """Log each warning and where the outputs are, and post the screen-time table (readable headers), a summary
    (what was found, warnings, outputs) and a link to the episode folder as Prefect artifacts (never fails a run)."""
    logger = get_run_logger()
    for warning in manifest["warnings"]:
        logger.warning("guardrail: %s", warning)
    table = fusion.table("screentime")
    logger.info("%s: %d rows of screen time; outputs in %s", ctx.ep_id, len(table), ctx.episode_url)
    try:
        shown = table[list(ARTIFACT_HEADERS)].round(2).rename(columns=ARTIFACT_HEADERS)
        create_table_artifact(key=artifact_key("screentime", ctx.ep_id),
                              table=shown.astype(object).where(shown.notna(), None).to_dict("records"),
                              description=f"Screen time of {ctx.ep_id} (seconds)")
        create_markdown_artifact(key=artifact_key("summary", ctx.ep_id),
                                 markdown=summary_markdown(manifest, table, ctx.episode_url),
                                 description=f"What the run of {ctx.ep_id} found, its warnings and outputs")
        create_link_artifact(key=artifact_key("outputs", ctx.ep_id), link=ctx.episode_url,
                             link_text=f"{ctx.ep_id} outputs", description="The episode's published tables")
        create_link_artifact(key=artifact_key("report", ctx.ep_id), link=storage.join(ctx.episode_url, "report.html"),
                             link_text=f"{ctx.ep_id} report", description="The episode report (HTML, works offline)")
    except Exception as exc:  # artifacts are a convenience; never fail a finished run on them
        logging.getLogger(__name__).debug("artifact upload skipped: %s", exc)
