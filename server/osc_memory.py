"""What a session holds, in bytes: the one count the memory budget adds up
(:func:`held_bytes`), and the bounds a request is assumed to add before any was measured."""

from __future__ import annotations

import ctypes
import functools
import sys
from collections import deque
from collections.abc import Iterable

import numpy as np

from serumrnn.server import spec

#: Upper bound of one stored sound other than the target: the samples, dB Mel and MFCC of a
#: one-second clip (0.25 MB measured; ``tests/test_osc_hardening.py`` checks the bound).
SOUND_BYTES = 5 << 20
#: Upper bound of a target: its sound and the multi-scale spectra every sound is compared
#: with, in float64 and float32 (9.47 MB measured by :func:`held_bytes`).
TARGET_BYTES = 12 << 20
#: Sounds a session keeps at most: the target, and the states before and after the most
#: steps a session takes (one per effect).
MAX_SOUNDS = spec.MAX_STEPS + 2


def _shared(o: object) -> bool:
    """Objects every session uses and none owns: the models and the renderers."""
    return callable(getattr(o, "predict", None)) or callable(getattr(o, "render", None))


def _children(o: object) -> list[object]:
    """What ``o`` holds that the walk enters: a container's items, and the attributes of
    the project's own objects (never the shared models and renderers)."""
    if isinstance(o, dict):
        return [*o.values(), *o.keys()]
    if isinstance(o, (list, tuple, set, frozenset, deque)):
        return list(o)
    if type(o).__module__.startswith("serumrnn.") and not isinstance(o, type) and not _shared(o):
        out = list(getattr(o, "__dict__", {}).values())
        for cls in type(o).__mro__:
            out += [getattr(o, slot, None) for slot in getattr(cls, "__slots__", ())]
        return out
    return []


def _array_bytes(a: np.ndarray, buffers: set[int]) -> int:
    """The bytes of the buffer ``a`` views (once per buffer: a view counts as its base)."""
    base = a
    while isinstance(base.base, np.ndarray):
        base = base.base
    if id(base) in buffers:
        return 0
    buffers.add(id(base))
    return base.nbytes


def held_bytes(*roots: object, skip: Iterable[object] = ()) -> int:
    """Bytes a session holds: every NumPy array's buffer reachable from ``roots`` (each
    buffer counted once: a view counts as the array it views) and every Python object on
    the way (``sys.getsizeof``: the containers, the project's own objects such as
    ``Sound``, a step loop and its reports, their numbers and text), through lists, tuples,
    dicts, sets and the project's objects' attributes. Models and renderers (shared by all
    sessions) and ``skip`` are not entered.

    This is the one measure of what a session holds: the memory budget adds it up, and
    ``tests/test_osc_fair.py`` checks it against ``tracemalloc`` on real sessions.
    """
    seen = {id(o) for o in skip}
    buffers: set[int] = set()
    stack: list[object] = list(roots)
    total = 0
    while stack:
        o = stack.pop()
        if o is None or id(o) in seen or isinstance(o, (bool, type)):
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):  # its header, and its buffer once
            total += sys.getsizeof(o) - (o.nbytes if o.flags.owndata else 0) + _array_bytes(o, buffers)
        else:
            total += sys.getsizeof(o)
            stack.extend(_children(o))
    return total


#: Arrays at least this big get pages of their own from the system, given back when freed
#: (glibc's ``M_MMAP_THRESHOLD``; see :func:`fix_mmap_threshold`).
MMAP_THRESHOLD = 128 << 10
_M_MMAP_THRESHOLD = -3


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # pragma: no cover
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None  # glibc


def fix_mmap_threshold() -> bool:
    """Keep every array of :data:`MMAP_THRESHOLD` bytes or more in pages of its own
    (glibc; nothing elsewhere). glibc otherwise raises the threshold as big arrays are
    freed and then serves them from its heaps, where a step's freed temporaries stay in
    the process: RSS grew by about a quarter more than what the sessions hold, unevenly
    (0 to 50 MB per 10 MB session). With the threshold fixed, each session added 9.9 MB
    of RSS for 9.9 MB counted (12 sessions, stub models). True when set."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def give_back_free_memory() -> None:
    """Return the allocator's free pages to the system (glibc's ``malloc_trim``; nothing
    elsewhere). A step's temporary arrays leave free pages in its worker's heap that the
    process keeps: without this, RSS grew half as much again as what the sessions hold
    (attack_osc.py --goals: +132 MB for a count of +89 MB), and the budget's count could
    not be checked against RSS. Called after each heavy request (milliseconds against
    the request's hundreds)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
