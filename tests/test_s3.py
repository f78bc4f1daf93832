"""The same run with its root on S3 (a real S3 server on loopback): no code change, only the root URL."""
from __future__ import annotations

import fsspec
import pandas as pd
from typer.testing import CliRunner

from screenalytics.cli import app
from screenalytics.flows.episode import episode


def test_episode_on_s3_root(s3_endpoint, grid_episode, prefect_harness, monkeypatch):
    endpoint, keys = s3_endpoint
    for key, value in {**keys, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    fsspec.config.conf.pop("s3", None)
    root = "s3://screenalytics-test/season1"
    manifest = episode(str(grid_episode["episode"]), ep_id="s3ep", facebank=str(grid_episode["facebank"]),
                       root=root)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    names = {p.rsplit("/", 1)[-1] for p in fs.ls("screenalytics-test/season1/episodes/s3ep")}
    assert {"screentime.parquet", "screentime.csv", "intervals.parquet", "manifest.json", "stages"} <= names
    assert not [p for p in fs.find("screenalytics-test/season1") if ".tmp-" in p]
    with fs.open("screenalytics-test/season1/episodes/s3ep/screentime.parquet") as handle:
        table = pd.read_parquet(handle)
    assert len(table) == 4 and not table["person_id"].str.startswith("unknown_").any()
    assert manifest["stages"]["detect"]["state"] == "Completed"
    result = CliRunner().invoke(app, ["query", "select sum(visual_s) > 20 as ok from screentime", "--root", root])
    assert result.exit_code == 0 and "True" in result.output, result.output
