"""Knob refinement: a short CMA-ES that polishes one effect's knobs by listening.

The parameter models give a good first guess; rendering costs a few milliseconds, so a
handful of renders around that guess can find knobs the judge scores better. The search
starts at the model's knobs with a small step size, spends at most ``budget`` renders,
and its result is used only when it scores strictly better than the model's knobs, so a
refinement never returns a worse sound.

The distortion's mode is a category, so CMA-ES does not move it: the next most probable
modes of the distortion model (``mode_probs``) are tried first at the model's drive, and
CMA-ES then polishes the drive of the best one.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from serumrnn.server.loop_settings import REFINE_BUDGET
from serumrnn.server.rack.chain import FX

#: Step size, as a fraction of each knob's range: small, because the model is close.
SIGMA = 0.1
#: Other distortion modes tried before the search (most probable first).
MODE_TRIES = 2
#: CMA-ES population per generation, so a 24-render budget gives about four generations.
POPSIZE = {1: 4, 2: 5, 3: 6}

#: Scores a batch of effect settings (the judge's decision distance of the chain with the
#: effect at each setting; lower is better).
Scorer = Callable[[Sequence[FX]], Sequence[float]]


@dataclass(frozen=True)
class Refined:
    fx: FX  # the refined effect, or the model's when nothing scored better
    score: float
    start_score: float
    renders: int
    kept: bool  # the refinement scored strictly better than the model's knobs


def _with(fx: FX, **values: float) -> FX:
    return fx.with_knobs(values)


def import_cma() -> ModuleType:
    """pycma, imported without matplotlib. pycma imports ``matplotlib.pyplot`` for its own
    plots, which the searches here never draw: about a second of a server's first search
    step on 2 busy cores. Where matplotlib is loaded already (a report was drawn), the
    plain import costs nothing extra."""
    if "cma" in sys.modules:
        loaded: ModuleType = sys.modules["cma"]
        return loaded
    hide = "matplotlib" not in sys.modules
    if hide:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]  # pycma then skips its plots
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycma says it found no matplotlib
            import cma
    finally:
        if hide and sys.modules.get("matplotlib", 1) is None:
            del sys.modules["matplotlib"]
    module: ModuleType = cma
    return module


def cma_search(
    x0: Sequence[float],
    sigma: float,
    budget: int,
    score: Callable[[list[np.ndarray]], list[float]],
    *,
    seed: int,
    popsize: int | None = None,
) -> int:
    """CMA-ES over the unit cube from ``x0`` with step ``sigma``, spending at most
    ``budget`` calls' worth of points on ``score`` (a batch of points in, their scores
    out, lower is better; the caller keeps the best). Returns the points scored.

    The last generation is cut to the budget and not told to CMA-ES: a partial
    generation would bias its update. The knob refinement and the whole-chain anchor
    (training/chain_search.py) both search with this."""
    import cma

    opts: dict[str, Any] = {"bounds": [0.0, 1.0], "seed": int(seed) + 1, "verbose": -9}
    if popsize:
        opts["popsize"] = int(popsize)
    # pycma caps the step at a third of the bounds by default; its capping code can fail
    # on small problems (4.x), and the steps used here never reach the cap.
    opts["maxstd"] = np.inf
    used = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycma warns about 1-D problems; they are fine here
        es = cma.CMAEvolutionStrategy(list(x0), sigma, opts)
        while used < budget:
            xs = es.ask()[: budget - used]
            got = score(xs)
            used += len(xs)
            if len(xs) < es.popsize:
                break
            es.tell(xs, got)
    return used


def refine(
    fx: FX,
    scores: Scorer,
    start_score: float,
    *,
    budget: int = REFINE_BUDGET,
    sigma: float = SIGMA,
    seed: int = 0,
    mode_probs: np.ndarray | None = None,
) -> Refined:
    """Polish ``fx``'s knobs with at most ``budget`` calls' worth of settings to ``scores``.

    ``start_score``: the score of ``fx`` itself (already known, not re-rendered).
    """
    best_fx, best = fx, float(start_score)
    used = 0
    eff = fx.effect
    cat = eff.categorical
    if cat and mode_probs is not None and budget > 0:
        name = cat[0].name
        order = [int(m) for m in np.argsort(-np.asarray(mode_probs), kind="stable")]
        alts = [m for m in order if m != int(fx.knobs[name])][: min(MODE_TRIES, budget)]
        tries = [_with(fx, **{name: float(m)}) for m in alts]
        for f, s in zip(tries, scores(tries)):
            if s < best:
                best_fx, best = f, float(s)
        used += len(tries)
    knobs = eff.continuous
    spans = np.array([k.span for k in knobs])
    left = budget - used
    if knobs and left >= 2:
        lo, width = spans[:, 0], spans[:, 1] - spans[:, 0]
        start = np.array([best_fx.knobs[k.name] for k in knobs])
        x0 = np.clip((start - lo) / width, 1e-3, 1 - 1e-3)
        base = best_fx

        def score(xs: list[np.ndarray]) -> list[float]:
            nonlocal best_fx, best
            tries = [
                _with(
                    base,
                    **{
                        k.name: float(np.clip(lo[i] + width[i] * x[i], spans[i, 0], spans[i, 1]))
                        for i, k in enumerate(knobs)
                    },
                )
                for x in xs
            ]
            got = [float(s) for s in scores(tries)]
            for f, s in zip(tries, got):
                if s < best:
                    best_fx, best = f, s
            return got

        used += cma_search(list(x0), sigma, left, score, seed=seed, popsize=POPSIZE.get(len(knobs), 6))
    kept = best < start_score
    return Refined(
        best_fx if kept else fx, best if kept else float(start_score), float(start_score), used, kept
    )
