"""What every `screenalytics` command shares: consoles, actionable errors, settings, progress bars, tables."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from screenalytics.tasks.errors import InputError, MissingModelError

console = Console()
err = Console(stderr=True)
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

    if root is not None and not root.strip():
        raise ValueError("--root is empty: give a folder or s3://bucket/prefix (or leave it out for "
                         "$SCREENALYTICS_ROOT or ./data)")
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


def cell_text(value: Any) -> str:
    """A table cell as text: lists, arrays and structs as JSON, floats with 2 decimals, missing values empty."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def flat_cells(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with list, array and struct cells written as JSON text (for CSV)."""
    nested = [c for c in df.columns if df[c].dtype == object
              and df[c].map(lambda v: isinstance(v, np.ndarray | list | tuple | dict)).any()]
    return df.assign(**{c: df[c].map(cell_text) for c in nested})


def print_table(df: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col), justify="right" if df[col].dtype.kind in "fi" else "left")
    for row in df.itertuples(index=False):
        table.add_row(*(cell_text(v) for v in row))
    console.print(table)


def parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: use STAGE.FIELD=VALUE, e.g. --set cluster.distance=0.45")
        key, value = item.split("=", 1)
        from screenalytics.tasks.settings import yaml_value

        out[key.strip()] = yaml_value(value, f"--set {key.strip()}")
    return out
