"""Shared fixtures: real media from ../shared/data, models, composed episodes with exact truth, Prefect."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import screenalytics.flows  # noqa: E402,F401  (offline Prefect defaults)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GRID = SHARED / "grid_av"
CROWD = SHARED / "crowd_coventgarden_facenet" / "video.mp4"
HAMILTON = SHARED / "hamilton_whitehouse"


def pytest_configure(config: pytest.Config) -> None:
    if not GRID.is_dir():
        raise pytest.UsageError(f"Test media not found at {SHARED}: the tests read ../shared/data.")


@pytest.fixture(scope="session")
def settings():
    from screenalytics.tasks.settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def models(settings):
    """The run's model loader, as the flow builds it (each model built once, on first use)."""
    from screenalytics.tasks.models.loader import Models

    loaded = Models(settings.models, settings.model_dir, det_thresh=settings.detect.det_thresh)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def detector(models):
    return models.get("face_detector")


@pytest.fixture(scope="session")
def dlib_embedder():
    from screenalytics.tasks.models.embedder import DlibEmbedder

    return DlibEmbedder()


@pytest.fixture
def progress_log():
    """A progress hook (`hook(label, total)` -> context manager yielding `advance(n)`) that records, per bar,
    `(label, total, sum of advances)` in `hook.log` when the bar closes."""
    log: list[tuple[str, int | None, int]] = []

    @contextmanager
    def hook(label: str, total: int | None) -> Iterator:
        done = [0]
        yield lambda n: done.__setitem__(0, done[0] + n)
        log.append((label, total, done[0]))

    hook.log = log
    return hook


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def grid_episode(tmp_path_factory):
    """The demo plan composed from the shared GRID clips: cuts, repeats, a side-by-side shot, facebank stills."""
    from screenalytics.composer import build_sample

    return build_sample(tmp_path_factory.mktemp("grid_episode"), kind="sample", clips_dir=GRID)


@pytest.fixture(scope="session")
def tv_hard_episode(tmp_path_factory):
    from screenalytics.composer import build_sample

    return build_sample(tmp_path_factory.mktemp("tv_hard"), kind="tv_hard", clips_dir=GRID, crowd=CROWD)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A real S3 API on loopback: SeaweedFS (`weed mini`). `.ci/run` starts one and sets
    SCREENALYTICS_TEST_S3_ENDPOINT; otherwise this fixture starts (and stops) its own."""
    import re
    import shutil
    import subprocess
    import time

    keys = {"AWS_ACCESS_KEY_ID": "screenalytics", "AWS_SECRET_ACCESS_KEY": "screenalytics-secret"}
    if os.environ.get("SCREENALYTICS_TEST_S3_ENDPOINT"):
        yield os.environ["SCREENALYTICS_TEST_S3_ENDPOINT"], keys
        return
    weed = shutil.which("weed") or str(Path(os.sys.executable).parent / "weed")
    folder = tmp_path_factory.mktemp("weed")
    log = open(folder / "weed.log", "w")  # noqa: SIM115 - must stay open for the server's lifetime
    proc = subprocess.Popen([weed, "mini", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                             "-bucket=screenalytics-test"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **keys}, start_new_session=True)
    try:
        endpoint = None
        for _ in range(120):
            found = re.search(r"S3 Endpoint:\s+(http://\S+)", (folder / "weed.log").read_text())
            if found:
                endpoint = found.group(1)
                break
            time.sleep(0.5)
        assert endpoint, f"SeaweedFS did not start: {(folder / 'weed.log').read_text()[-2000:]}"
        yield endpoint, keys
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
