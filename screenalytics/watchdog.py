"""Stop Prefect's temporary server when the command that started it dies without cleaning up (SIGKILL, the OOM
killer). Prefect stops that server at exit, but a killed process has no exit, and the server lingered for minutes.

`watch_children()` marks this process's environment (children inherit it) and launches this module as a small
process, `python -m screenalytics.watchdog PARENT_PID`, which waits for the parent to end and then stops every
Prefect server still running with the parent's mark (Linux: it reads /proc).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SERVER_MODULE = b"prefect.server.api.server"  # in the temporary server's command line
MARK = "SCREENALYTICS_WATCHED_BY"  # environment variable naming the process that started a server
POLL_S = 0.5


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def servers_of(parent: int) -> set[int]:
    """Prefect temporary servers started under `parent` (they carry its mark in their environment)."""
    mark = f"{MARK}={parent}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if SERVER_MODULE in (entry / "cmdline").read_bytes() and mark in (entry / "environ").read_bytes().split(
                    b"\0"):
                found.add(int(entry.name))
        except OSError:
            continue
    return found


def stop(pid: int, grace_s: float = 5.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def watch(parent: int) -> None:
    """Wait for the parent to end, then stop the servers it left running."""
    while alive(parent) and os.getppid() == parent:
        time.sleep(POLL_S)
    for pid in servers_of(parent):
        stop(pid)


def watch_children() -> None:
    """Start the watchdog for this process, once, when Prefect would start a temporary server (no API configured;
    Linux: elsewhere Prefect's own cleanup at exit is all there is)."""
    from prefect.settings import PREFECT_API_URL

    if sys.platform != "linux" or PREFECT_API_URL.value() or os.environ.get(MARK) == str(os.getpid()):
        return
    os.environ[MARK] = str(os.getpid())
    subprocess.Popen([sys.executable, "-m", "screenalytics.watchdog", str(os.getpid())], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
