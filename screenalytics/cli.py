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
    flat_cells,
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
        ep_id: str | None = typer.Option(None, "--ep-id", help="Episode id (default: SHOW-s05e03 when show, season "
                                         "and episode are known; else the file stem, or the folder's name for a "
                                         "file named episode.*)."),
        show: str | None = typer.Option(None, "--show", help="Show name (default: parsed from a path such as "
                                        "raw/videos/SHOW/s05/e03/episode.mp4 or SHOW.S05E03.mp4)."),
        season: str | None = typer.Option(None, "--season", help="Season: 5 or S05 (default: parsed from the path)."),
        episode_no: str | None = typer.Option(None, "--episode", help="Episode in the season: 3 or E03 (default: "
                                              "parsed from the path)."),
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
        from screenalytics.tasks.progress import showing
        from screenalytics.watchdog import watch_children

        if ep_id is not None and not ep_id.strip():
            raise ValueError("--ep-id is empty: give an id such as s01e01 (or leave it out to name the episode "
                             "after its file)")
        overrides = parse_sets(set_)
        settings = settings_for(root, profile, overrides)
        if facebank is None:
            default_bank = storage.join(storage.normalize_root(settings.root), "facebank", "facebank.parquet")
            facebank = default_bank if storage.exists(default_bank) else None
        watch_children()
        with rich_progress() as hook, showing(hook):
            manifest = episode(str(video), ep_id=ep_id or "", facebank=facebank or "", profile=settings.profile,
                               stride=stride or 0, root=settings.root, overrides=overrides, voicebank=voicebank or "",
                               show=show or "", season=season or "", episode_no=episode_no or "")
        episode_url = storage.join(storage.normalize_root(settings.root), "episodes", manifest["ep_id"])
        table = storage.read_parquet(storage.join(episode_url, "screentime.parquet"))
        print_table(table[list(SCREENTIME_HEADERS)].rename(columns=SCREENTIME_HEADERS),
                    f"Screen time (seconds): {manifest['ep_id']}")
        for warning in manifest["warnings"]:
            err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        console.print(f"Outputs: {storage.local_path(episode_url) or episode_url}/ (report.html: open it in a "
                      "browser; screentime.parquet, "
                      "screentime.csv, intervals.parquet, timeline.png, manifest.json)", soft_wrap=True)


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
def report(ep_id: str | None = typer.Argument(None, help="Episode id of a finished run (omit with --seasons)."),
           seasons: bool = typer.Option(False, "--seasons", help="Write the root's season report instead."),
           root: str | None = RootOpt) -> None:
    """Write an episode's report.html (totals, timeline, faces, guardrails, run) from its stored tables, or the
    season report linking every episode's."""
    with user_errors():
        from screenalytics.published import episode_folder
        from screenalytics.report import write_report, write_season_report

        settings = settings_for(root)
        if seasons == (ep_id is not None):
            raise ValueError("give an episode id, or --seasons for the season report")
        url = write_season_report(settings.root) if seasons else write_report(episode_folder(settings.root, ep_id))
        console.print(f"Wrote {url}")


@app.command()
def export(ep_id: str = typer.Argument(..., help="Episode id of a finished run."),
           person: str = typer.Option(..., "--person", help="Person's name or person_id."),
           fmt: str = typer.Option("otio", "--format", help="otio, edl (CMX 3600) or fcpxml (Final Cut Pro X)."),
           speaking: bool = typer.Option(False, "--speaking", help="Also the speaking turns (a second track; the "
                                         "EDL holds the turns instead)."),
           out: Path | None = typer.Option(None, "--out", help="Output file (default: EP_ID-PERSON.<ext>)."),
           root: str | None = RootOpt) -> None:
    """Write a person's appearances (and speaking turns) as an editor's timeline, timecodes matching the video."""
    with user_errors():
        from screenalytics.export import export_person

        path = export_person(settings_for(root).root, ep_id, person, fmt, out, speaking)
        console.print(f"Wrote {path}")


@app.command()
def query(sql: str = typer.Argument(..., help="A named query (`screenalytics query list`) or SQL over the views "
                                    "(docs/analytics.md)."),
          show: str | None = typer.Option(None, "--show", help="Named queries: only this show."),
          season: str | None = typer.Option(None, "--season", help="Named queries: only this season (5 or S05)."),
          ep_id: str | None = typer.Option(None, "--ep-id", help="Named queries: only this episode."),
          csv: Path | None = typer.Option(None, "--csv", help="Also write the result as CSV."),
          parquet: Path | None = typer.Option(None, "--parquet", help="Also write the result as Parquet."),
          json_out: Path | None = typer.Option(None, "--json", help="Also write the result as JSON (records)."),
          root: str | None = RootOpt) -> None:
    """Query all episodes' outputs with DuckDB: SQL, or a named query such as `leaderboard --season S05`
    (`screenalytics query list` lists them)."""
    with user_errors():
        import duckdb

        from screenalytics.analytics import NAMED
        from screenalytics.query import query as run_query
        from screenalytics.tasks.catalog import season_code

        if sql == "list":
            import pandas as pd

            print_table(pd.DataFrame({"query": list(NAMED), "answers": [q.about for q in NAMED.values()]}),
                        "Named queries")
            return
        try:
            df = run_query(settings_for(root).root, sql, show=show, season=season_code(season), ep_id=ep_id)
        except duckdb.Error as exc:
            raise ValueError(f"query failed: {exc}") from None
        print_table(df, sql if sql in NAMED else "")
        for path, write in ((csv, lambda p: flat_cells(df).to_csv(p, index=False)), (parquet, df.to_parquet),
                            (json_out, lambda p: df.to_json(p, orient="records", indent=1))):
            if path is not None:
                write(path)
                console.print(f"Wrote {path} ({len(df)} rows)")


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
        reference, hypothesis = read_rttm(ref), read_rttm(hyp)
        unanswered = sorted(set(reference["file"]) - set(hypothesis["file"]))
        unscored = sorted(set(hypothesis["file"]) - set(reference["file"]))
        if unanswered:
            err.print(f"[yellow]warning:[/] {hyp} has no turns for {', '.join(unanswered)} of {ref}: scored as 100% "
                      "missed speech (check that both files use the same file ids)", soft_wrap=True)
        if unscored:
            err.print(f"[yellow]warning:[/] {', '.join(unscored)} in {hyp} are not in {ref}: not scored",
                      soft_wrap=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "uem approximated" when no --uem is given
            table = der_table(reference, hypothesis, uem=read_uem(uem) if uem else None, collar=collar,
                              skip_overlap=skip_overlap)
        shown = table.copy()
        for column in ("der", "false alarm", "missed detection", "confusion"):
            shown[column] = (100 * shown[column]).round(2)
        print_table(shown.rename(columns={"der": "DER %", "false alarm": "false alarm %",
                                          "missed detection": "miss %", "confusion": "confusion %"}),
                    f"DER (collar {collar} s{', overlap not scored' if skip_overlap else ''})")


@eval_app.command("screentime")
def eval_screentime(truth: Path = typer.Option(..., "--truth", help="Truth file (the composer's truth.json; format "
                                               "in docs/analytics.md)."),
                    ep_id: str = typer.Option(..., "--ep-id", help="Episode id of the finished run to score."),
                    visual_tol: float = typer.Option(0.5, "--visual-tol", help="Visual: seconds always allowed."),
                    visual_rel: float = typer.Option(0.03, "--visual-rel", help="Visual: share of the truth allowed."),
                    speaking_tol: float = typer.Option(0.5, "--speaking-tol", help="Speaking and overlap: seconds."),
                    speaking_rel: float = typer.Option(0.10, "--speaking-rel", help="Speaking and overlap: share."),
                    root: str | None = RootOpt) -> None:
    """Score a run's screen time against a truth file: per person visual, speaking and overlap seconds, and per
    identity whom it shows (right, misnamed, merge, split). Exits 1 past the tolerances."""
    with user_errors():
        from screenalytics.composer.truth import EpisodeTruth
        from screenalytics.published import finished_run
        from screenalytics.tasks import storage
        from screenalytics.truth_eval import Tolerance, failures, identity_map, person_errors

        if not truth.is_file():
            raise FileNotFoundError(f"{truth}: truth file not found")
        expected = EpisodeTruth.from_json(truth)
        folder, _ = finished_run(settings_for(root).root, ep_id)
        table = storage.read_parquet(storage.join(folder, "screentime.parquet"))
        intervals = storage.read_parquet(storage.join(folder, "intervals.parquet"))
        speech = Tolerance(speaking_tol, speaking_rel)
        errors = person_errors(table, expected.visual, expected.speaking, expected.duration_s,
                               {"visual": Tolerance(visual_tol, visual_rel), "speaking": speech, "overlap": speech})
        identities = identity_map(intervals, dict(zip(table["person_id"], table["name"], strict=True)),
                                  expected.visual, expected.duration_s)
        print_table(errors, f"Screen time of {ep_id} against {truth.name} (seconds)")
        print_table(identities, "Whom each identity shows")
        failed = failures(errors, identities)
        for line in failed:
            err.print(f"[red]fail:[/] {line}", soft_wrap=True)
        if failed:
            raise typer.Exit(1)
        console.print(f"All {errors['person'].nunique()} people within tolerance; no named identity misnamed or "
                      "merged.")


def main() -> None:  # pragma: no cover - console entry point
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
