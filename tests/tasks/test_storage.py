from __future__ import annotations

import os

import pandas as pd
import pytest

from screenalytics.tasks import storage


def test_parquet_round_trip_and_hash(tmp_path):
    url = storage.join(storage.normalize_root(tmp_path), "a", "t.parquet")
    df = pd.DataFrame({"x": [1, 2]})
    sha = storage.write_parquet(df, url)
    assert storage.sha256_url(url) == sha
    pd.testing.assert_frame_equal(storage.read_parquet(url), df)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    url = storage.normalize_root(tmp_path / "out.bin")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        storage.write_bytes(url, b"data")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "..", "a\\b", "x..y/..", "/abs"])
def test_episode_ids_cannot_escape(bad):
    with pytest.raises(ValueError, match="episode id"):
        storage.validate_ep_id(bad)


def test_good_episode_id():
    assert storage.validate_ep_id("s01e02_final.v2") == "s01e02_final.v2"
