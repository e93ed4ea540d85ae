"""Fine-tune: after the last step, every knob of the chain polished together.

Why: a step searches only the knobs of the effect it adds, with the effects already on
held where earlier steps put them. Once several effects are on, their knobs interact (a
reverb's mix and an EQ's gain both move the same bands), and the best setting of the
whole chain is rarely the one the greedy steps reached. On ``serumrnn eval``'s held-out
pairs most of the distance the search loop leaves is of this kind: a phaser whose
notches sit a few percent off, an EQ that compensated for an effect added later.

So when a loop is done, CMA-ES (the one in :mod:`serumrnn.server.refine`) searches the
continuous knobs of every effect on at once, from where the steps left them, within
:data:`serumrnn.server.loop_settings.FINE_TUNE_BUDGET` renders; categorical knobs (a
distortion's mode) and the choice of effects stay. Every setting tried keeps the spec's
knob relations. The judge keeps the result only when it is closer by its margin.

This module is pure: it takes a scorer (lower is better) and returns what it found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.refine import cma_search

#: CMA-ES step, as a fraction of each knob's span: the knobs start near a good setting,
#: and the basins of some (a phaser's frequency) are a few hundredths wide. Measured on 15
#: held-out pairs per group (0.03, 0.05, 0.1): the same means, and 0.03 is the one that
#: still moves a chain whose phaser sits at the edge of its basin.
SIGMA = 0.03
#: Candidates per CMA-ES generation.
POPSIZE = 8
#: Renders of the budget kept back to hear the kept setting and the one before it again
#: (the loop's check against a renderer whose sound drifts between renders).
HEARD_AGAIN = 2

ChainScorer = Callable[[Sequence[Chain]], Sequence[float]]


@dataclass(frozen=True)
class KnobChange:
    """One knob the fine-tune moved, in the spec's 0..1 and in words."""

    effect: str
    knob: str
    label: str
    before: float
    after: float
    before_text: str
    after_text: str
    serum_name: str  # the Serum parameter to set, to ``serum_value`` (0..1)
    serum_value: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tuned:
    """The best chain found, its score, the score it started from, and renders spent."""

    chain: Chain
    score: float
    start_score: float
    renders: int

    def changes(self, start: Chain) -> list[KnobChange]:
        """The knobs that moved from ``start`` (same effects, same order)."""
        out = []
        for old, new in zip(start, self.chain):
            for k in old.effect.knobs:
                a, b = old.knobs[k.name], new.knobs[k.name]
                if a != b:
                    out.append(
                        KnobChange(
                            old.name, k.name, k.label, a, b, k.text(a), k.text(b), k.serum_name, k.to_serum(b)
                        )
                    )
        return out


def _slots(chain: Chain) -> list[tuple[int, spec.Knob]]:
    """(position, knob) of every continuous knob on the chain."""
    return [(i, k) for i, fx in enumerate(chain) for k in fx.effect.continuous]


def fine_tune(
    chain: Chain,
    scores: ChainScorer,
    start_score: float,
    *,
    budget: int,
    seed: int = 0,
    sigma: float = SIGMA,
) -> Tuned:
    """Search every continuous knob of ``chain`` together with at most ``budget`` calls'
    worth of chains to ``scores``; ``start_score`` is ``chain``'s own (not re-rendered)."""
    slots = _slots(chain)
    best: list[Any] = [chain, float(start_score)]
    if not slots or budget < 2:
        return Tuned(chain, float(start_score), float(start_score), 0)
    spans = np.array([k.span for _, k in slots])
    lo, width = spans[:, 0], spans[:, 1] - spans[:, 0]
    x0 = np.clip((np.array([chain[i].knobs[k.name] for i, k in slots]) - lo) / width, 1e-3, 1 - 1e-3)

    def setting(x: np.ndarray) -> Chain:
        knobs = [dict(fx.knobs) for fx in chain]
        for (i, k), v, low, w in zip(slots, x, lo, width):
            knobs[i][k.name] = float(np.clip(low + w * v, low, low + w))
        return Chain(FX(fx.name, spec.repair_knobs(fx.name, kn)) for fx, kn in zip(chain, knobs))

    def score(xs: list[np.ndarray]) -> list[float]:
        tries = [setting(x) for x in xs]
        got = [float(s) for s in scores(tries)]
        for c, s in zip(tries, got):
            if s < best[1]:
                best[:] = [c, s]
        return got

    used = cma_search(list(x0), sigma, budget, score, seed=seed, popsize=POPSIZE)
    return Tuned(best[0], best[1], float(start_score), used)


def shown(changes: Sequence[KnobChange]) -> list[KnobChange]:
    """The changes a producer is asked to make: those that move a knob's shown value (a
    move inside one step of the display, "42 % -> 42 %", is left out; the tuned chain keeps
    it). All of them when none does."""
    visible = [c for c in changes if c.before_text != c.after_text]
    return visible or list(changes)


def instruction(changes: Sequence[KnobChange]) -> str:
    """'Fine-tune: Reverb Mix 42 % -> 38 %, EQ Gain +3.1 dB -> +2.4 dB'."""
    moves = [
        f"{spec.effect(c.effect).label} {c.label} {c.before_text} \u2192 {c.after_text}" for c in changes
    ]
    return "Fine-tune: " + ", ".join(moves)
