"""Run a test's body in a fresh interpreter (spawn): loading plugins in the pytest process
would flip its FPU to flush denormals and make any open rack built later abort it."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from typing import Any


def in_fresh_process(fn: Callable[..., Any], *args: Any, timeout: float = 300) -> Any:
    """``fn(*args)`` in a spawned process (``fn`` importable by name); its result, or its
    exception (an ``AssertionError`` keeps its message) raised here."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply_async(fn, args).get(timeout)


#: A child script's imports for one step of the loop on a warmed group (tests that must see
#: what a fresh serving process imports, so they cannot run in pytest's own process).
STEP_IMPORTS = (
    "import numpy as np\n"
    "from serumrnn.server import spec\n"
    "from serumrnn.server.assistant import Assistant\n"
    "from serumrnn.server.rack import OpenRack\n"
    "from serumrnn.server.sampling import sample_chain\n"
    "from serumrnn.server.startup import load_and_warm\n"
)
#: After ``gm = load_and_warm(...)``: the open rack and an EQ + reverb target on the saw.
STEP_TARGET = (
    "rack = OpenRack(gm.render_settings)\n"
    "target = rack.render(sample_chain(['eq', 'reverb'], np.random.default_rng(2)), 'saw')\n"
)
