"""DuckDB over every episode's Parquet outputs under a root (local or s3://)."""
from __future__ import annotations

import duckdb
import fsspec

from screenalytics.tasks import storage

VIEWS = {  # view name -> file under {root}/episodes/{ep_id}/
    "episodes": "episode.parquet", "shots": "shots.parquet", "detections": "detections.parquet",
    "tracks": "tracks.parquet", "identities": "identities.parquet", "screentime": "screentime.parquet",
    "intervals": "intervals.parquet", "speech": "speech.parquet", "speaker_turns": "speaker_turns.parquet",
    "voices": "voices.parquet", "voice_links": "voice_links.parquet", "turn_speakers": "turn_speakers.parquet",
    "transcript": "transcript.parquet",
}


def connect(root: str) -> duckdb.DuckDBPyConnection:
    """A connection with one view per table kind, over all episodes found under `root`."""
    root_url = storage.normalize_root(root)
    fs, base = storage.fs_for(root_url)
    con = duckdb.connect()
    local = isinstance(fs, fsspec.implementations.local.LocalFileSystem)
    if not local:
        con.register_filesystem(fs)
    for view, name in VIEWS.items():
        pattern = f"{base}/episodes/*/{name}"
        if not fs.glob(pattern):
            continue
        source = pattern if local else f"{root_url.split('://')[0]}://{pattern}"
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{source}', union_by_name = true)")
    return con


def query(root: str, sql: str):
    """Run SQL against the views; returns a pandas DataFrame."""
    con = connect(root)
    try:
        return con.execute(sql).df()
    finally:
        con.close()
