"""Which run holds an episode folder, and which of its stages are running.

A run takes the folder's `.lock` (an OS lock that goes with its process, so a killed run never leaves it held) and
keeps in it, as JSON, its pid, start time and the stages it is computing. A second run of the same episode stops at
once, naming the holder; a run that finds stages listed by a run that is gone (killed, or the machine went down)
says so, and the folder's leftover temporary files are removed. Remote roots take no lock: their writes are single
PUTs of deterministic bytes, so two runs of one episode end with the same objects.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO

from screenalytics.tasks.errors import InputError


class Holder:
    """The lock file of the run that holds the folder, rewritten as its stages start and finish."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle, self.running, self.guard = handle, set[str](), threading.Lock()
        self.since = dt.datetime.now().isoformat(timespec="seconds")
        self.write()

    def write(self) -> None:
        try:  # what a second run prints, and what a later one learns if this one dies (a full disk only loses it)
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.write(json.dumps({"pid": os.getpid(), "since": self.since, "running": sorted(self.running)}))
            self.handle.flush()
        except OSError:
            pass

    def mark(self, stage: str, running: bool) -> None:
        with self.guard:
            (self.running.add if running else self.running.discard)(stage)
            self.write()


_HOLDER: ContextVar[Holder | None] = ContextVar("screenalytics_episode_lock", default=None)


def stage_running(stage: str, running: bool) -> None:
    """Note in the held episode's lock file that a stage started (True) or finished (False)."""
    holder = _HOLDER.get()
    if holder is not None:
        holder.mark(stage, running)


def _previous(text: str) -> dict:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


@contextmanager
def episode_lock(folder: str | None) -> Iterator[str | None]:
    """Hold a local episode folder (None: a remote one, nothing to hold) for one run. Yields what an earlier run
    that died left unfinished, as a sentence for the run's warnings, or None."""
    if folder is None:
        yield None
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(Path(folder) / ".lock", "a+") as handle:
        handle.seek(0)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _previous(handle.read())
            who = f"pid {holder.get('pid')}, since {holder.get('since')}" if holder else "another process"
            raise InputError(f"{folder} is being written by another run of this episode ({who}); wait for it to "
                             "finish, or give this run another --ep-id or --root") from None
        before = _previous(handle.read())
        stopped = (f"an earlier run of this episode (pid {before.get('pid')}, started {before.get('since')}) stopped "
                   f"during {', '.join(before['running'])} (killed or crashed); those stages were computed again"
                   if before.get("running") else None)
        for stale in Path(folder).rglob("*.tmp-*"):
            stale.unlink(missing_ok=True)
        holder = Holder(handle)
        token = _HOLDER.set(holder)
        try:
            yield stopped
        finally:
            _HOLDER.reset(token)
            holder.running.clear()
            holder.write()
