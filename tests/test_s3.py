"""The same run with its root on S3 (a real S3 server on loopback): no code change, only the root URL. An endpoint
that is down, a missing bucket or wrong keys fail within seconds with the endpoint named; the credentials never
appear in any output."""
from __future__ import annotations

import socket
import threading
import time

import fsspec
import pandas as pd
import pytest
from typer.testing import CliRunner

from screenalytics.cli import app
from screenalytics.tasks import storage

runner = CliRunner()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    endpoint, keys = s3_endpoint
    for key, value in {**keys, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    fsspec.config.conf.pop("s3", None)
    storage.check_bucket.cache_clear()
    yield endpoint, keys
    storage.check_bucket.cache_clear()
    fsspec.filesystem("s3").clear_instance_cache()


def prefect_records() -> str:
    """Every log line and artifact the Prefect server holds, as text."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        logs = client.read_logs(limit=200)
        artifacts = client.read_artifacts(limit=200)
    return "\n".join([*(log.message for log in logs), *(str(a.data) + str(a.description) for a in artifacts)])


def test_episode_on_s3_root_and_the_secret_never_leaks(s3_env, grid_episode, prefect_harness):
    _, keys = s3_env
    secret = keys["AWS_SECRET_ACCESS_KEY"]
    root = "s3://screenalytics-test/season1"
    result = runner.invoke(app, ["run", str(grid_episode["episode"]), "--ep-id", "s3ep", "--facebank",
                                 str(grid_episode["facebank"]), "--root", root])
    assert result.exit_code == 0, result.output
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    names = {p.rsplit("/", 1)[-1] for p in fs.ls("screenalytics-test/season1/episodes/s3ep")}
    assert {"screentime.parquet", "screentime.csv", "intervals.parquet", "manifest.json", "stages"} <= names
    objects = fs.find("screenalytics-test/season1")
    assert not [p for p in objects if ".tmp-" in p]
    with fs.open("screenalytics-test/season1/episodes/s3ep/screentime.parquet") as handle:
        table = pd.read_parquet(handle)
    assert len(table) == 4 and not table["person_id"].str.startswith("unknown_").any()
    query = runner.invoke(app, ["query", "select sum(visual_s) > 20 as ok from screentime", "--root", root])
    assert query.exit_code == 0 and "True" in query.output, query.output
    leaks = [p for p in objects if secret.encode() in fs.cat_file(p)]
    assert not leaks, f"the S3 secret is written in {leaks}"
    assert secret not in result.output + query.output
    assert secret not in prefect_records(), "the S3 secret reached a Prefect log or artifact"


def test_a_missing_bucket_or_wrong_keys_fail_at_once_naming_the_endpoint(s3_env, prefect_harness):
    endpoint, keys = s3_env
    missing = runner.invoke(app, ["query", "episodes", "--root", "s3://no-such-bucket/season1"])
    assert missing.exit_code == 2 and "s3://no-such-bucket" in missing.output and endpoint in missing.output
    assert "no such bucket" in missing.output and "Traceback" not in missing.output
    wrong = "not-the-" + keys["AWS_SECRET_ACCESS_KEY"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
        storage.check_bucket.cache_clear()
        denied = runner.invoke(app, ["query", "episodes", "--root", "s3://screenalytics-test/season1"])
    assert denied.exit_code == 2 and "access denied" in denied.output and endpoint in denied.output
    assert wrong not in denied.output


def silent_server() -> tuple[socket.socket, str]:
    """An endpoint that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(64)], daemon=True).start()
    return server, f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("kind", ["silent", "refused"])
def test_an_unreachable_endpoint_fails_within_seconds_naming_it(kind, monkeypatch, tmp_path, prefect_harness):
    """A run with its root on an endpoint that never answers (or refuses connections) stops within seconds, before
    any stage, with the endpoint named and what to check; the secret is not in the message."""
    server, endpoint = silent_server() if kind == "silent" else (None, "http://127.0.0.1:9")
    secret = "planted-secret-0123456789"
    for key, value in {"AWS_ACCESS_KEY_ID": "someone", "AWS_SECRET_ACCESS_KEY": secret,
                       "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    storage.check_bucket.cache_clear()
    from tests.conftest import GRID

    started = time.monotonic()
    result = runner.invoke(app, ["run", str(GRID / "bbaf2n.mpg"), "--root", "s3://bucket/season1"])
    elapsed = time.monotonic() - started
    storage.check_bucket.cache_clear()
    if server:
        server.close()
    assert result.exit_code == 2, result.output
    assert endpoint in result.output and "did not answer" in result.output and "AWS_ENDPOINT_URL" in result.output
    assert elapsed < 30, f"took {elapsed:.0f} s"
    assert secret not in result.output and "Traceback" not in result.output
