"""The `screenalytics` command: run episodes, query results, manage the facebank and models."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")  # the CLI prints errors and warnings itself

import typer  # noqa: E402

import screenalytics.flows  # noqa: E402,F401  (Prefect defaults before Prefect is imported)
from screenalytics.cli_common import (  # noqa: E402
    ProfileOpt,
    RootOpt,
    console,
    err,
    models_for,
    parse_sets,
    print_table,
    rich_progress,
    settings_for,
    user_errors,
)
from screenalytics.cli_manage import facebank_app, models_app  # noqa: E402

app = typer.Typer(help="Screen-time intelligence for TV episodes.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(facebank_app, name="facebank")
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Score results against references.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

SCREENTIME_HEADERS = {"name": "name", "visual_s": "visual", "speaking_s": "speaking", "overlap_s": "overlap",
                      "appearances": "appear.", "first_seen_s": "first", "last_seen_s": "last",
                      "share_of_episode": "share"}


@app.command()
def run(video: Path = typer.Argument(..., help="Episode video file."),
        ep_id: str | None = typer.Option(None, "--ep-id", help="Episode id (default: the file stem)."),
        facebank: str | None = typer.Option(None, "--facebank", help="Facebank folder or .parquet "
                                               "(default: the root's facebank, if any)."),
        voicebank: str | None = typer.Option(None, "--voicebank", help="Folder with one sub-folder of recordings "
                                                "per person: names voices by how they sound."),
        profile: str | None = ProfileOpt,
        stride: int | None = typer.Option(None, "--stride", help="Detect on every Nth frame."),
        root: str | None = RootOpt,
        set_: list[str] = typer.Option([], "--set", help="Override any setting: STAGE.FIELD=VALUE.")) -> None:
    """Run the pipeline on one episode and print its screen-time table."""
    with user_errors():
        from screenalytics.flows.episode import episode
        from screenalytics.tasks import storage

        overrides = parse_sets(set_)
        settings = settings_for(root, profile, overrides)
        if facebank is None:
            default_bank = storage.join(storage.normalize_root(settings.root), "facebank", "facebank.parquet")
            facebank = default_bank if storage.exists(default_bank) else None
        with rich_progress() as hook:
            manifest = episode(str(video), ep_id=ep_id, facebank=facebank, profile=settings.profile,
                               stride=stride, root=settings.root, overrides=overrides, voicebank=voicebank,
                               progress=hook)
        episode_url = storage.join(storage.normalize_root(settings.root), "episodes", manifest["ep_id"])
        table = storage.read_parquet(storage.join(episode_url, "screentime.parquet"))
        print_table(table[list(SCREENTIME_HEADERS)].rename(columns=SCREENTIME_HEADERS),
                    f"Screen time (seconds): {manifest['ep_id']}")
        for warning in manifest["warnings"]:
            err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        console.print(f"Outputs: {episode_url}/ (screentime.parquet, screentime.csv, intervals.parquet, "
                      "timeline.png, manifest.json)", soft_wrap=True)


@app.command()
def preview(ep_id: str = typer.Argument(..., help="Episode id of a finished run."),
            out: Path = typer.Option(Path("preview.mp4"), "--out", help="Video file to write (MP4)."),
            start: float = typer.Option(0.0, "--start", help="First second (container time)."),
            end: float | None = typer.Option(None, "--end", help="Last second (default: the end)."),
            root: str | None = RootOpt) -> None:
    """Render a run's attribution: each face's box and name, green while it is seen talking, red while quiet, who is
    credited with the speech heard (off screen or not), the audio muxed in. Decodes only the range."""
    with user_errors():
        from screenalytics.preview import load_tables, render

        settings = settings_for(root, None, {})
        frames = render(load_tables(settings.root, ep_id), out, start, end)
        console.print(f"Wrote {out} ({frames} frames)")


@app.command()
def query(sql: str = typer.Argument(..., help="SQL over the views episodes, shots, detections, tracks, "
                                    "identities, screentime, intervals, speech, speaker_turns, voices, "
                                    "voice_links, transcript."),
          root: str | None = RootOpt) -> None:
    """Query all episodes' outputs with DuckDB."""
    with user_errors():
        import duckdb

        from screenalytics.query import query as run_query

        try:
            df = run_query(settings_for(root).root, sql)
        except duckdb.Error as exc:
            raise ValueError(f"query failed: {exc}") from None
        print_table(df, "")


@app.command()
def sample(out_dir: Path = typer.Argument(Path("out/sample"), help="Where to write the episode."),
           kind: str = typer.Option("sample", "--kind", help="sample (demo), tv_hard, voices, narrator, who_talks "
                                    "or at_once (who_talks with two people talking at once)."),
           clips: Path | None = typer.Option(None, "--clips", help="Folder of GRID clips (default: samples/grid)."),
           crowd: Path | None = typer.Option(None, "--crowd", help="Crowd video used as B-roll (tv_hard).")
           ) -> None:
    """Compose an episode with exact ground truth (+ a facebank of stills it does not use)."""
    with user_errors():
        from screenalytics.composer import build_sample

        paths = build_sample(out_dir, kind=kind, **({"clips_dir": clips} if clips else {}), crowd=crowd)
        for key, value in paths.items():
            console.print(f"{key}: {value}")


@app.command()
def diarize(media: Path = typer.Argument(..., help="Any audio or video file."),
            rttm: Path | None = typer.Option(None, "--rttm", help="Write the turns here as RTTM."),
            speakers: int | None = typer.Option(None, "--speakers", min=1, help="Known number of speakers."),
            profile: str | None = ProfileOpt,
            set_: list[str] = typer.Option([], "--set", help="Override any setting: STAGE.FIELD=VALUE.")) -> None:
    """Who speaks when: audio extraction, voice activity and speaker diarization on one file."""
    with user_errors():
        from screenalytics.tasks.audio_windows import detect_speech
        from screenalytics.tasks.decoding import load_wav
        from screenalytics.tasks.diarize import diarize_track
        from screenalytics.tasks.models.specs import SAMPLE_RATE
        from screenalytics.tasks.naming import voice_label
        from screenalytics.tasks.rttm import to_rttm

        if not media.is_file():
            raise FileNotFoundError(f"{media}: file not found")
        overrides = parse_sets(set_) | ({"diarize.num_speakers": speakers} if speakers else {})
        settings = settings_for(None, profile, overrides)
        models = models_for(settings)
        wav, start_s = load_wav(media, SAMPLE_RATE)
        speech = detect_speech(wav, settings.vad, models.get("vad"))
        with rich_progress() as progress:
            turns, _ = diarize_track(wav, speech, settings.diarize, diarizer=settings.models.diarizer, models=models,
                                     progress=progress)
        models.close()
        turns = turns.assign(speaker=[voice_label(int(s)) for s in turns["speaker"]],
                             start_s=turns["start_s"] + start_s, end_s=turns["end_s"] + start_s)  # container time
        text = to_rttm(turns, media.stem)
        if rttm is not None:
            rttm.parent.mkdir(parents=True, exist_ok=True)
            rttm.write_text(text)
        totals = (turns["end_s"] - turns["start_s"]).groupby(turns["speaker"]).sum().round(2)
        print_table(totals.rename("speaking_s").reset_index(), f"Speakers in {media.name}")
        if rttm is None:
            console.print(text, end="", soft_wrap=True)


@eval_app.command("der")
def eval_der(ref: Path = typer.Option(..., "--ref", help="Reference RTTM."),
             hyp: Path = typer.Option(..., "--hyp", help="Hypothesis RTTM."),
             uem: Path | None = typer.Option(None, "--uem", help="Scored regions (UEM); default: all."),
             collar: float = typer.Option(0.25, "--collar", help="Seconds forgiven around each reference boundary."),
             skip_overlap: bool = typer.Option(False, "--skip-overlap", help="Do not score overlapped speech.")
             ) -> None:
    """Diarization error rate (pyannote.metrics): DER, false alarm, missed speech and speaker confusion."""
    with user_errors():
        import warnings

        from screenalytics.tasks.evaluate import der_table
        from screenalytics.tasks.rttm import read_rttm, read_uem

        for path in (ref, hyp, uem):
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"{path}: file not found")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "uem approximated" when no --uem is given
            table = der_table(read_rttm(ref), read_rttm(hyp), uem=read_uem(uem) if uem else None, collar=collar,
                              skip_overlap=skip_overlap)
        shown = table.copy()
        for column in ("der", "false alarm", "missed detection", "confusion"):
            shown[column] = (100 * shown[column]).round(2)
        print_table(shown.rename(columns={"der": "DER %", "false alarm": "false alarm %",
                                          "missed detection": "miss %", "confusion": "confusion %"}),
                    f"DER (collar {collar} s{', overlap not scored' if skip_overlap else ''})")


def main() -> None:  # pragma: no cover - console entry point
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
