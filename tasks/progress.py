"""Progress through a hook: stage code reports `advance(n)`; the caller decides how it is shown.

The CLI installs a rich progress bar; under Prefect (or anywhere else) the default reporter logs every 10%.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("screenalytics.progress")
Advance = Callable[[int], None]


@contextmanager
def log_reporter(label: str, total: int | None) -> Iterator[Advance]:
    done = 0
    next_pct = 10

    def advance(n: int) -> None:
        nonlocal done, next_pct
        done += n
        if total and done * 100 >= next_pct * total:
            log.info("%s: %d%% (%d/%d)", label, min(100, done * 100 // total), done, total)
            next_pct += 10

    yield advance
    log.info("%s: done (%d)", label, done)


_reporter: Callable = log_reporter


def set_reporter(reporter: Callable) -> None:
    global _reporter
    _reporter = reporter


@contextmanager
def progress(label: str, total: int | None) -> Iterator[Advance]:
    with _reporter(label, total) as advance:
        yield advance
