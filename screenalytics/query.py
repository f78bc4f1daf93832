"""DuckDB over every episode's Parquet outputs under a root (local or s3://): one view per published table, the
catalog, and the analytics views of `screenalytics.analytics`; named queries by name."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import fsspec
import pandas as pd

from screenalytics.analytics import NAMED
from screenalytics.analytics import VIEWS as ANALYTICS
from screenalytics.tasks import storage

VIEWS = {  # view name -> file under {root}/episodes/{ep_id}/
    "episodes": "episode.parquet", "episode_labels": "catalog.parquet", "shots": "shots.parquet",
    "detections": "detections.parquet", "tracks": "tracks.parquet", "identities": "identities.parquet",
    "screentime": "screentime.parquet", "intervals": "intervals.parquet", "speech": "speech.parquet",
    "speaker_turns": "speaker_turns.parquet", "voices": "voices.parquet", "voice_links": "voice_links.parquet",
    "turn_speakers": "turn_speakers.parquet", "transcript": "transcript.parquet",
}
NO_LABELS = ("SELECT NULL::VARCHAR AS ep_id, NULL::VARCHAR AS show_name, NULL::VARCHAR AS season, "
             "NULL::VARCHAR AS episode WHERE false")  # runs published before the catalog existed


def find_root(start: str | Path | None = None) -> str:
    """The storage root to explore: `SCREENALYTICS_ROOT` when set, else the nearest `data` folder holding episodes
    from `start` (default: the working directory) upwards, so a notebook finds the CLI's default root wherever its
    kernel starts."""
    if os.environ.get("SCREENALYTICS_ROOT"):
        return os.environ["SCREENALYTICS_ROOT"]
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / "data" / "episodes").glob("*/manifest.json")):
            return str(folder / "data")
    raise FileNotFoundError(f"no episodes in {here / 'data'} or in the data folder of any parent: run `make demo` "
                            "(or `screenalytics run VIDEO`) first, or set SCREENALYTICS_ROOT to the storage root "
                            "(a folder or s3://bucket/prefix)")


def connect(root: str) -> duckdb.DuckDBPyConnection:
    """A connection with one view per table kind over all episodes found under `root`, and the analytics views
    whose tables exist (`views(con)` lists them); a clear error when the root holds no episode."""
    root_url = storage.normalize_root(root)
    fs, base = storage.fs_for(root_url)
    con = duckdb.connect()
    local = isinstance(fs, fsspec.implementations.local.LocalFileSystem)
    if not local:
        con.register_filesystem(fs)
    made = set()
    for view, name in VIEWS.items():
        pattern = f"{base}/episodes/*/{name}"
        if not fs.glob(pattern):
            continue
        source = pattern if local else f"{root_url.split('://')[0]}://{pattern}"
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{source}', union_by_name = true)")
        made.add(view)
    if "episodes" not in made:
        con.close()
        raise FileNotFoundError(f"{root_url}: no episodes here (no episodes/*/episode.parquet); run one with "
                                "`screenalytics run VIDEO --root ...`, or check the root")
    if "episode_labels" not in made:
        con.execute(f"CREATE VIEW episode_labels AS {NO_LABELS}")
    for view, (needs, select) in ANALYTICS.items():
        if made.issuperset(needs):
            con.execute(f"CREATE VIEW {view} AS {select}")
    return con


def views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The views a connection has."""
    return sorted(r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall())


def query(root: str, sql: str, show: str | None = None, season: str | None = None,
          ep_id: str | None = None) -> pd.DataFrame:
    """Run SQL, or a named query (`analytics.NAMED`) filtered by show, season and episode, against the views."""
    con = connect(root)
    try:
        if sql in NAMED:
            return con.execute(NAMED[sql].sql, {"show": show, "season": season, "ep_id": ep_id}).df()
        if show or season or ep_id:
            raise ValueError("--show, --season and --ep-id filter named queries; put the condition in your SQL")
        return con.execute(sql).df()
    except duckdb.CatalogException as exc:
        raise ValueError(f"query failed: {exc}. Views here: {', '.join(views(con))}") from None
    finally:
        con.close()
