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
