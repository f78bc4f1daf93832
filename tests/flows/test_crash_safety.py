"""Crash safety and concurrency, with real processes: SIGKILL inside each stage in turn, then a rerun; a killed run's
temporary Prefect server; two runs of one episode at once, and two episodes sharing a facebank at once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from screenalytics.tasks import storage
from tests.flows.test_episode import STAGES

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "screenalytics.cli"]


def cli_env(api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return {**env, **({"PREFECT_API_URL": api_url} if api_url else {})}


@pytest.fixture(scope="module")
def api_url(prefect_harness):
    """The test harness's Prefect server, for the runs started as separate processes."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def run_args(grid_episode, root: Path, ep_id: str = "grid") -> list[str]:
    return ["run", str(grid_episode["episode"]), "--ep-id", ep_id, "--facebank", str(grid_episode["facebank"]),
            "--root", str(root), "--set", "transcribe.enabled=true"]


def tables(root: Path, ep_id: str = "grid") -> dict[str, pd.DataFrame]:
    """The published tables that carry the results, without the episode id, in a stable row order."""
    out = {}
    for name in ("screentime.parquet", "intervals.parquet", "turn_speakers.parquet"):
        table = pd.read_parquet(root / "episodes" / ep_id / name).drop(columns="ep_id", errors="ignore")
        out[name] = table.sort_values(list(table.columns[:3])).reset_index(drop=True)
    return out


def assert_same_values(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=False, rtol=1e-9, obj=name)


@pytest.fixture(scope="module")
def uninterrupted(grid_episode, api_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    done = subprocess.run([*CLI, *run_args(grid_episode, root)], cwd=REPO, env=cli_env(api_url),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return tables(root)


def finished_stages(root: Path) -> set[str]:
    return {p.parent.parent.name for p in (root / "episodes" / "grid" / "stages").glob("*/*/_done.json")}


def crash_run(target: str, log: Path, args: list[str], api_url: str) -> tuple[set[str], set[str]]:
    """One run that kills itself (tests/crash_run.py): the stages it began writing and the one it was killed in."""
    before = log.read_text() if log.exists() else ""
    killed = subprocess.run([sys.executable, "-m", "tests.crash_run", target, str(log), *args], cwd=REPO,
                            env=cli_env(api_url), capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, f"{target}: {killed.stdout}{killed.stderr}"
    lines = log.read_text()[len(before):].split("\n")
    return ({line[6:] for line in lines if line.startswith("wrote ")},
            {line[7:] for line in lines if line.startswith("killed ")})


def test_sigkill_inside_each_stage_then_rerun_matches_an_uninterrupted_run(grid_episode, api_url, uninterrupted,
                                                                          tmp_path):
    """Kill -9 inside every stage in turn (each run dies in the first stage to write that no run died in before;
    then once inside publish), rerunning after each: a finished stage is never written again, the killed one
    leaves no trusted folder and restarts cleanly (the episode's lock file names the stages that were running, and
    the next run's warnings say so), the last rerun's tables equal an uninterrupted run's, and no temporary file is
    left."""
    root, log = tmp_path / "root", tmp_path / "crash.log"
    args = run_args(grid_episode, root)
    killed_in: list[str] = []
    while len(killed_in) < len(STAGES):
        before = finished_stages(root) if root.exists() else set()
        wrote, killed = crash_run("next", log, args, api_url)
        assert len(killed) == 1 and not killed & before, killed
        assert not wrote & before, f"killed in {killed}: finished stages {wrote & before} were computed again"
        assert not killed & finished_stages(root), f"{killed} left a trusted folder"
        assert list(root.rglob("*.tmp-killed")), "the kill left a half-written temporary file (as a crash would)"
        assert killed <= set(json.loads((root / "episodes" / "grid" / ".lock").read_text())["running"]), \
            "the episode's lock file says which stages were running"
        killed_in += killed
    assert sorted(killed_in) == sorted(STAGES), "each stage was killed once"
    resumed = subprocess.run([*CLI, *args], cwd=REPO, env=cli_env(api_url), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"stopped during {killed_in[-1]}" in " ".join(resumed.stderr.split()), resumed.stderr
    before = finished_stages(root)
    wrote, killed = crash_run("publish", log, args, api_url)
    assert killed == {"publish"} and not wrote and finished_stages(root) == set(STAGES)
    final = subprocess.run([*CLI, *args], cwd=REPO, env=cli_env(api_url), capture_output=True, text=True)
    assert final.returncode == 0, final.stdout + final.stderr
    manifest = storage.read_json((root / "episodes" / "grid" / "manifest.json").as_uri())
    assert {s["state"] for s in manifest["stages"].values()} == {"Cached"}
    assert_same_values(tables(root), uninterrupted)
    assert not [p for p in root.rglob("*") if ".tmp-" in p.name], "temporary files were cleaned"


def prefect_servers() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"prefect.server.api.server" in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_a_killed_run_leaves_no_temporary_prefect_server(tmp_path):
    """Without a Prefect API configured, a run starts Prefect's temporary server; kill -9 the run and the server
    stops within seconds (it used to linger for ~10 minutes)."""
    from tests.conftest import GRID

    before = prefect_servers()
    run = subprocess.Popen([*CLI, "run", str(GRID / "bbaf2n.mpg"), "--root", str(tmp_path)], cwd=REPO,
                           env={**cli_env(None), "PREFECT_HOME": str(tmp_path / "prefect")},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (started := prefect_servers() - before) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert started, "the run started a temporary Prefect server"
    deadline = time.monotonic() + 20
    while prefect_servers() & started and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not prefect_servers() & started, "the killed run's temporary server is still running"


def test_concurrent_runs_one_episode_has_one_winner_and_episodes_share_the_facebank(grid_episode, api_url,
                                                                                   uninterrupted, tmp_path):
    """Two runs of one episode at once on one root: one runs, the other stops at once saying it is already being
    run; a third run of another episode id with the same facebank and models at the same time also ends intact.
    All finished runs equal the uninterrupted run. A Prefect API key planted in their environment appears in no
    output and no file."""
    root, secret = tmp_path / "root", "planted-prefect-key-5bd1e0"
    env = {**cli_env(api_url), "PREFECT_API_KEY": secret}
    runs = [subprocess.Popen([*CLI, *run_args(grid_episode, root, ep_id)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for ep_id in ("grid", "grid", "grid-copy")]
    outputs = [run.communicate()[0] for run in runs]
    codes = [run.returncode for run in runs]
    assert sorted(codes[:2]) == [0, 2], outputs
    loser = outputs[codes.index(2)]
    assert "being written by another run of this episode" in loser and "--ep-id" in loser, loser
    assert codes[2] == 0, outputs[2]
    for ep_id in ("grid", "grid-copy"):
        assert_same_values(tables(root, ep_id), uninterrupted)
    assert secret not in "".join(outputs), "the Prefect API key reached the output"
    assert not [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()], \
        "the Prefect API key was written under the root"


def test_a_full_disk_is_a_clear_error_and_a_rerun_with_space_recovers(api_url, tmp_path):
    """The root on a 300 KB tmpfs (its own mount namespace): the run stops with a message naming the file and the
    fix, every stage folder it left is whole (checksums) or absent, and after the tmpfs grows a rerun reuses those
    stages and finishes."""
    from tests.conftest import GRID

    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    out.mkdir()
    run = " ".join([sys.executable, "-m", "screenalytics.cli", "run", str(GRID / "bbaf2n.mpg"), "--ep-id", "full",
                    "--root", str(root)])
    script = f"""set -u
mount -t tmpfs -o size=300k tmpfs {root}
{run} > {out}/first.txt 2>&1; echo $? > {out}/first.rc
cp -a {root} {out}/after_first
mount -o remount,size=200m {root}
{run} > {out}/second.txt 2>&1; echo $? > {out}/second.rc
cp -a {root} {out}/after_second
"""
    subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, env=cli_env(api_url), check=True, timeout=600)
    first = (out / "first.txt").read_text()
    assert (out / "first.rc").read_text().strip() == "2", first
    assert "no space left on the disk" in first and "Free some space" in first and str(root) in first, first
    assert "Traceback" not in first
    from screenalytics.tasks.runner import StageOutput

    kept = []
    for done in (out / "after_first").rglob("_done.json"):
        stage = StageOutput.model_validate_json(done.read_text())
        for ref in stage.files.values():
            copy = out / "after_first" / Path(storage.local_path(ref.url)).relative_to(root)
            assert storage.sha256_url(copy.as_uri()) == ref.sha256, f"{copy} is not whole"
        kept.append(stage.stage)
    assert not [p for p in (out / "after_first").rglob("*") if ".tmp-" in p.name]
    second = (out / "second.txt").read_text()
    assert (out / "second.rc").read_text().strip() == "0", second
    manifest = storage.read_json((out / "after_second" / "episodes" / "full" / "manifest.json").as_uri())
    assert {s for s, v in manifest["stages"].items() if v["state"] == "Cached"} == set(kept)
    assert kept, "some stages finished before the disk filled, and the rerun reused them"
    table = pd.read_parquet(out / "after_second" / "episodes" / "full" / "screentime.parquet")
    assert (table["visual_s"] > 2.5).sum() == 1, "the one speaker of the 3 s clip is on screen throughout"
