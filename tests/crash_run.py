"""The `screenalytics` command in a process that SIGKILLs itself inside a stage, to test crash safety:
`python -m tests.crash_run TARGET LOG CLI-ARGS...`. It dies while writing the stage's first file (half of that file's
bytes in a temporary file beside it, nothing renamed into place). TARGET `next` picks the first stage to write that
no earlier run named in LOG was killed in; `publish` dies while the episode's screentime.parquet is written. LOG
gets `wrote STAGE` for each stage that starts writing its folder and `killed STAGE` before the kill."""
from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

from screenalytics.cli import app
from screenalytics.tasks import runner, storage

TARGET, LOG, ARGS = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
KILLED_BEFORE = set(re.findall(r"^killed (\S+)$", LOG.read_text() if LOG.exists() else "", re.M))
_write_stage, _write_bytes = runner.write_stage, storage.write_bytes


def note(line: str) -> None:
    with LOG.open("a") as handle:
        handle.write(f"{line}\n")


def logged_write_stage(ctx, stage, *args, **kwargs):
    note(f"wrote {stage}")
    return _write_stage(ctx, stage, *args, **kwargs)


def victim(url: str) -> str | None:
    """The stage (or `publish`) this write kills, if any."""
    if TARGET == "publish":
        return "publish" if "/stages/" not in url and url.endswith("/screentime.parquet") else None
    found = re.search(r"/stages/([^/]+)/", url)
    return found.group(1) if found and found.group(1) not in KILLED_BEFORE else None


def dying_write_bytes(url: str, data: bytes) -> None:
    if stage := victim(url):
        path = Path(storage.local_path(url))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_name(f"{path.name}.tmp-killed").write_bytes(data[: len(data) // 2])
        note(f"killed {stage}")
        os.kill(os.getpid(), signal.SIGKILL)
    _write_bytes(url, data)


runner.write_stage, storage.write_bytes = logged_write_stage, dying_write_bytes
app(ARGS)
