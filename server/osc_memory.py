"""What a session holds, in bytes: the one count the memory budget adds up
(:func:`held_bytes`), and the bounds a request is assumed to add before any was measured."""

from __future__ import annotations

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


def held_bytes(*roots: object, skip: Iterable[object] = ()) -> int:  # noqa: C901  (one walk over every container kind)
    """Bytes of every NumPy array reachable from ``roots``: through lists, tuples, dicts,
    sets and the attributes of the project's own objects (``Sound``, a step loop, its
    reports), each buffer counted once (a view counts as the array it views). Models and
    renderers (shared by all sessions) and ``skip`` are not entered.

    This is the one measure of what a session holds: the memory budget adds it up, and
    ``tests/test_osc_hardening.py`` checks it against ``tracemalloc`` on real sessions.
    """
    seen = {id(o) for o in skip}
    buffers: set[int] = set()
    stack: list[object] = list(roots)
    total = 0
    while stack:
        o = stack.pop()
        if o is None or isinstance(o, (str, bytes, int, float, complex)) or id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            base = o
            while isinstance(base.base, np.ndarray):
                base = base.base
            if id(base) not in buffers:
                buffers.add(id(base))
                total += base.nbytes
            continue
        if isinstance(o, dict):
            stack.extend(o.values())
            stack.extend(o.keys())
        elif isinstance(o, (list, tuple, set, frozenset, deque)):
            stack.extend(o)
        elif type(o).__module__.startswith("serumrnn.") and not isinstance(o, type) and not _shared(o):
            stack.extend(getattr(o, "__dict__", {}).values())
            for cls in type(o).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    stack.append(getattr(o, slot, None))
    return total
