"""The assistant's loops by name, and the defaults of their settings: read by the command
line's options, the OSC server, the evaluation and the assistant itself, so it imports
nothing heavy (``serumrnn --help`` reads it).
"""

from __future__ import annotations

import argparse

from serumrnn.server import spec

#: The loops the assistant runs (``--loop``): see :mod:`serumrnn.server.assistant`.
LOOPS = ("verified", "refine", "search", "paper")
#: The one the assistant runs unless told otherwise (``match``, ``serve``, ``make demo``):
#: chosen by measurement, docs/loops.md.
DEFAULT_LOOP = "search"
#: Candidate effects a verified step renders before it looks further.
DEFAULT_K = 3
#: Renders the refinement may spend per step (``loop="refine"``).
REFINE_BUDGET = 24
#: Renders the fine-tune's CMA-ES over the whole chain may spend once the steps are done
#: (:mod:`serumrnn.server.fine_tune`; ``match`` and ``make demo``; 0 = none). Its sweep of
#: the menu knobs first (a distortion's mode: 12 choices at 4 drives, 47 renders, and the
#: closer look's up to 18) is extra. Why 120, not 60: on 100 pairs of each group's dev
#: stream (never the held-out pairs), 120 renders in two CMA-ES stages
#: (``fine_tune.SIGMAS``) with the closer look moved Mel-MSE / MSSMAE Δ % of the means by
#: 1 to 3 points, for about 60 renders more (a few seconds, once per session;
#: docs/results/history/fine_tune_budget.json).
FINE_TUNE_BUDGET = 120
#: Fine-tune rounds at most, each within :data:`FINE_TUNE_BUDGET` and starting from the last
#: kept round's knobs (``serve``: each its own step, which the next capture judges). Why
#: rounds, not one larger budget: in Live each round is a step whose search must answer
#: before the device resends it (docs/protocol.md), and a second round restarts the
#: sweep and CMA-ES from a closer place. Measured on the dev stream (never the held-out
#: pairs): docs/results/history/fine_tune_rounds.json.
FINE_TUNE_ROUNDS = 2


def check_loop(loop: str) -> str:
    """``loop`` if it names a loop; a one-line error naming the loops otherwise."""
    if loop not in LOOPS:
        raise ValueError(f"unknown loop {loop!r}; loops: {', '.join(LOOPS)}")
    return loop


def check_settings(
    loop: str, k: int, refine_budget: int, fine_tune: int = 0, fine_tune_rounds: int = FINE_TUNE_ROUNDS
) -> None:
    """The loop settings every entry point accepts (the assistant, match, the server)."""
    check_loop(loop)
    if fine_tune < 0:
        raise ValueError(f"fine_tune must be 0 or more renders, got {fine_tune}")
    if fine_tune_rounds < 1:
        raise ValueError(f"fine_tune_rounds must be 1 or more, got {fine_tune_rounds}")
    if fine_tune and loop == "paper":
        raise ValueError("the paper's loop has no fine-tune (it stays as the paper ran it): use fine_tune=0")
    if not 1 <= k <= spec.MAX_STEPS:
        raise ValueError(f"k must be 1..{spec.MAX_STEPS} (the number of effects), got {k}")
    if refine_budget < 0:
        raise ValueError(f"refine_budget must be 0 or more, got {refine_budget}")


#: An evaluation row that runs a loop with the fine-tune: "<loop>+fine-tune".
TUNED_SUFFIX = "+fine-tune"


#: An evaluation row whose search moves the Table 1 knobs only, never an extra knob
#: (``spec.Fixed.extra``), as the search loop did before it had them: "search/table1".
TABLE1_SUFFIX = "/table1"


def loop_row(name: str) -> tuple[str, int]:
    """An evaluation row's loop and fine-tune budget: "search" runs the search loop alone
    (the steps alone), "search+fine-tune" adds :data:`FINE_TUNE_BUDGET` (as ``match``, and
    ``serve`` as its last step);
    either may end in :data:`TABLE1_SUFFIX` (:func:`row_extra`)."""
    base = name.removesuffix(TABLE1_SUFFIX)
    loop = base.removesuffix(TUNED_SUFFIX)
    return check_loop(loop), (FINE_TUNE_BUDGET if base != loop else 0)


def row_extra(name: str) -> bool:
    """Whether an evaluation row's search may move extra knobs (not a "/table1" row)."""
    return not name.endswith(TABLE1_SUFFIX)


def fine_tune_for(loop: str, fine_tune: int | None) -> int:
    """The fine-tune budget a run gets: ``fine_tune`` as given, else
    :data:`FINE_TUNE_BUDGET` (none for the paper's loop, which stays as the paper ran it)."""
    if fine_tune is not None:
        return fine_tune
    return 0 if loop == "paper" else FINE_TUNE_BUDGET


def add_loop_options(p: argparse.ArgumentParser, loop_help: str) -> None:
    """The step loop's options, shared by ``match`` and ``serve``: which loop, how many
    candidates, the refinement budget, the paper loop's tolerance and the rack order."""
    p.add_argument(
        "--loop",
        default=DEFAULT_LOOP,
        choices=LOOPS,
        help=f"{loop_help}; search: the same, with the likely effects' knobs searched by "
        f"listening before any is rejected (default: {DEFAULT_LOOP}, chosen by measurement: docs/loops.md)",
    )
    p.add_argument(
        "--k",
        type=int,
        default=DEFAULT_K,
        choices=range(1, spec.MAX_STEPS + 1),
        metavar="K",
        help=f"effects tried per step, most likely first (1-{spec.MAX_STEPS}, default {DEFAULT_K})",
    )
    p.add_argument(
        "--refine-budget",
        type=int,
        default=REFINE_BUDGET,
        metavar="N",
        help=f"renders the refinement may spend per step (--loop refine; default {REFINE_BUDGET})",
    )
    p.add_argument(
        "--no-extra-knobs",
        action="store_true",
        help="--loop search: move only the knobs the paper's models set, never an effect's extra "
        "knobs (a compressor's threshold, a reverb's decay: docs/loops.md), and give a sure "
        "favourite that fails no second, longer search",
    )
    p.add_argument(
        "--fine-tune",
        type=int,
        default=None,
        metavar="N",
        help=f"after the last step, polish every knob on together within N renders, kept when "
        f"closer; serve offers it as one more step, which the next capture judges "
        f"(default {FINE_TUNE_BUDGET}; 0: none; the paper's loop has none)",
    )
    p.add_argument(
        "--tolerance",
        type=int,
        default=1,
        metavar="N",
        help="--loop paper: stop after more than N steps that move away from the target (default 1)",
    )
    p.add_argument(
        "--rack-order",
        default=None,
        metavar="FX,FX,...",
        help="the order your Serum FX rack processes the effects in, comma-separated "
        f"(default Serum's: {','.join(spec.SERUM_RACK_ORDER)})",
    )
