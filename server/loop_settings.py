"""The assistant's loops by name, and the defaults of their settings: read by the command
line's options, the OSC server, the evaluation and the assistant itself, so it imports
nothing heavy (``serumrnn --help`` reads it).
"""

from __future__ import annotations

from serumrnn.server import spec

#: The loops the assistant runs (``--loop``): see :mod:`serumrnn.server.assistant`.
LOOPS = ("verified", "refine", "paper")
#: The one the assistant runs unless told otherwise.
DEFAULT_LOOP = "verified"
#: Candidate effects a verified step renders before it looks further.
DEFAULT_K = 3
#: Renders the refinement may spend per step (``loop="refine"``).
REFINE_BUDGET = 24


def check_loop(loop: str) -> str:
    """``loop`` if it names a loop; a one-line error naming the loops otherwise."""
    if loop not in LOOPS:
        raise ValueError(f"unknown loop {loop!r}; loops: {', '.join(LOOPS)}")
    return loop


def check_settings(loop: str, k: int, refine_budget: int) -> None:
    """The loop settings every entry point accepts (the assistant, match, the server)."""
    check_loop(loop)
    if not 1 <= k <= spec.MAX_STEPS:
        raise ValueError(f"k must be 1..{spec.MAX_STEPS} (the number of effects), got {k}")
    if refine_budget < 0:
        raise ValueError(f"refine_budget must be 0 or more, got {refine_budget}")
