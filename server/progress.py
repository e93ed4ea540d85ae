"""What a long command is doing, said as it happens (on stderr, so stdout stays the result).

One home for progress output, used by ``match``, ``demo``, ``serve``, ``eval`` and
``calibrate``. A producer who waits 20-40 s for models to load should see, from the first
second, which stage is running. On a terminal, counted work gets a tqdm bar; when stderr
is a file or a pipe (CI, tests, ``2> log``), every message is one plain line, and a count
prints a line at its start, about every tenth of the way, and at its end, never a bar.

API (all write to ``sys.stderr`` and flush at once)::

    from serumrnn.server import progress

    progress.say("loading models for basic_shapes")          # one line
    with progress.stage("loading models"):                   # "loading models ..." then
        ...                                                  # "loading models: done in 2.1 s"
    progress.step(2, 5, "distortion")                        # "step 2 of up to 5: distortion"
    for pair in progress.bar(pairs, desc="scoring pairs"):   # bar on a terminal, lines otherwise
        ...

``SERUMRNN_PROGRESS=0`` (or :func:`set_enabled(False) <set_enabled>`) turns it all off.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: Plain (non-terminal) output prints a count's progress about this many times.
PLAIN_UPDATES = 10
_enabled: bool | None = None


def set_enabled(on: bool | None) -> None:
    """Force progress on or off; ``None`` goes back to the ``SERUMRNN_PROGRESS`` default."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    if _enabled is not None:
        return _enabled
    return os.environ.get("SERUMRNN_PROGRESS", "1") != "0"


def _tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def say(message: str) -> None:
    """One progress line, now."""
    if enabled():
        print(message, file=sys.stderr, flush=True)


@contextmanager
def stage(message: str) -> Iterator[None]:
    """Announce a stage before it starts and say how long it took when it ends.

    A stage that fails says nothing more: the error that follows says why."""
    say(f"{message} ...")
    t0 = time.perf_counter()
    yield
    say(f"{message}: done in {time.perf_counter() - t0:.1f} s")


def step(n: int, of: int, text: str) -> None:
    """A step of the step loop: ``step n of up to <of>: text`` (the loop may stop early)."""
    say(f"step {n} of up to {of}: {text}")


def bar(iterable: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """Iterate with a progress bar on a terminal, plain count lines otherwise."""
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not enabled():
        yield from iterable
        return
    if _tty():
        from tqdm import tqdm

        yield from tqdm(iterable, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=True)
        return
    yield from _plain(iterable, total, desc)


def _plain(iterable: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
    label = f"{desc}: " if desc else ""
    t0 = time.perf_counter()
    every = max(1, (total or 0) // PLAIN_UPDATES) if total else None
    say(f"{label}0/{total}" if total else f"{label}started")
    n = 0
    for item in iterable:
        yield item
        n += 1
        if every and n % every == 0 and n != total:
            say(f"{label}{n}/{total} ({time.perf_counter() - t0:.0f} s)")
    say(f"{label}{n}/{total if total else n} done in {time.perf_counter() - t0:.1f} s")


def group_log(group: str, quiet: bool = False) -> Callable[[str], None]:
    """A function printing one line per message on stderr, prefixed with the group
    ("[basic_shapes] 50 pairs drawn"), or nothing with ``quiet``: the evaluation commands'
    log. Not turned off by :func:`set_enabled`: it is the command's own output."""

    def log(msg: str) -> None:
        if not quiet:
            print(f"[{group}] {msg}", file=sys.stderr, flush=True)

    return log
