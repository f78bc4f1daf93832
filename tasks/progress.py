"""Progress through a hook the caller passes: stage code reports `advance(n)`, the caller decides how it is shown.

A hook is `hook(label, total)`, a context manager yielding `advance`. The CLI passes one that draws rich progress
bars; the default (`log_progress`) logs every 10% to the Prefect run logger when inside a flow or task, else to
Python logging. A caller that starts a flow hands its hook over with `showing(hook)` (a context variable, so the
flow's parameters stay what a deployment form can show).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

Advance = Callable[[int], None]
ProgressHook = Callable[[str, "int | None"], AbstractContextManager[Advance]]
_SHOWN: ContextVar[ProgressHook | None] = ContextVar("screenalytics_progress", default=None)


@contextmanager
def showing(hook: ProgressHook) -> Iterator[None]:
    """Flows started inside this block show their progress with `hook` (`current_hook`)."""
    token = _SHOWN.set(hook)
    try:
        yield
    finally:
        _SHOWN.reset(token)


def current_hook() -> ProgressHook | None:
    """The hook of the enclosing `showing` block, if any."""
    return _SHOWN.get()


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task, else Python logging."""
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # outside a Prefect run: plain logging
        return logging.getLogger("screenalytics.progress")


@contextmanager
def log_progress(label: str, total: int | None) -> Iterator[Advance]:
    """Log `label: N% (done/total)` at every 10%, and `label: done (n)` at the end."""
    log = run_logger()
    done, next_pct = 0, 10

    def advance(n: int) -> None:
        nonlocal done, next_pct
        done += n
        if total and done * 100 >= next_pct * total:
            log.info("%s: %d%% (%d/%d)", label, min(100, done * 100 // total), done, total)
            next_pct += 10

    yield advance
    log.info("%s: done (%d)", label, done)


@contextmanager
def no_progress(label: str, total: int | None) -> Iterator[Advance]:
    """A hook that shows nothing."""
    yield lambda n: None
