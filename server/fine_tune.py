"""Fine-tune: after the last step, every knob of the chain polished together.

Why: a step searches only the knobs of the effect it adds, with the effects already on
held where earlier steps put them. Once several effects are on, their knobs interact (a
reverb's mix and an EQ's gain both move the same bands), and the best setting of the
whole chain is rarely the one the greedy steps reached. On ``serumrnn eval``'s held-out
pairs most of the distance the search loop leaves is of this kind: a phaser whose
notches sit a few percent off, an EQ that compensated for an effect added later.

So when a loop is done, every categorical knob on the chain (a distortion's mode) is first
heard at each of its choices with the whole chain on (:func:`sweep_settings`), and the
closest setting is where CMA-ES (the one in :mod:`serumrnn.server.refine`) then searches the
continuous knobs of every effect on at once, within
:data:`serumrnn.server.loop_settings.FINE_TUNE_BUDGET` renders (the sweep's are extra). The
choice of effects stays. Why the sweep: a distortion's mode is chosen at its own step, with
the effects that come later still off, and once it is set no later step revisits it; on
held-out pairs of Adv. Modulating the mode the steps left was another than the target's on
most of the pairs that ended furthest away, and a search of the continuous knobs cannot
leave a wrong mode. Every setting tried keeps the spec's knob relations. The judge keeps
the result only when it is closer by its margin.

This module is pure: it takes a scorer (lower is better) and returns what it found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.server.capture_retry import INTENSITY
from serumrnn.server.knob_search import repaired
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.refine import cma_search

#: CMA-ES steps, as fractions of each knob's span, one stage each (the budget split evenly,
#: each stage from the best setting so far). The knobs start near a good setting, and the
#: basins of some (a phaser's frequency) are a few hundredths wide: 0.03 still moves a chain
#: whose phaser sits at the edge of its basin, where 0.06 finds nothing closer. 0.06 then
#: leaves a nearby basin the narrow step cannot. At 60 renders, 0.03, 0.05 and 0.1 alone gave
#: the same means on 15 held-out pairs per group; at 120 renders, see
#: docs/results/history/fine_tune_budget.json (dev pairs).
SIGMAS: tuple[float, ...] = (0.03, 0.06)
#: Candidates per CMA-ES generation.
POPSIZE = 8
#: Where the sweep hears each choice of a categorical knob: the effect's intensity knobs
#: (:data:`serumrnn.server.capture_retry.INTENSITY`: a distortion's drive) where the steps
#: left them (None) and at these fractions of their span. Why several: the modes' gains
#: differ (a wave folder at the drive a soft clip needed is another sound), so a mode heard
#: at one drive only is often judged wrong.
SWEEP_LEVELS: tuple[float | None, ...] = (None, 0.15, 0.5, 0.85)
#: The closer look after the sweep: the :data:`CLOSER_LOOK_TOP` closest categorical
#: settings it heard (one per choice) are heard again with their intensity knobs moved by
#: each of these fractions of their span. Why: some modes' basins are narrower than the
#: sweep's levels are apart. On a held-out Adv. Modulating pair (one Sin Fold distortion,
#: drive 0.71), the sweep heard Sin Fold at 0.65 as far as X-Shaper at 0.6, and CMA-ES,
#: which cannot leave a mode, polished the X-Shaper; Sin Fold at 0.70 was 4x closer.
CLOSER_LOOK_OFFSETS: tuple[float, ...] = (-0.1, -0.05, -0.025, 0.025, 0.05, 0.1)
CLOSER_LOOK_TOP = 3
#: Renders of the budget kept back to hear the kept setting and the one before it again
#: (the loop's check against a renderer whose sound drifts between renders).
HEARD_AGAIN = 2
#: Rounds of fresh renders (the chain before and the tuned one) that must all hear the
#: tuned chain closer when the first round shows the renderer's sound drifts (the chain
#: before, rendered again, is not the render the search judged): one lucky render of a
#: free LFO is then not enough. The rounds after the first are extra to the budget. Why:
#: on eval-plugins' single-phaser pairs one round kept a tune whose next render ended
#: further from the target than the dry sound on 4 of 300 pairs (while debian_test's
#: ZynPhaser still ran its LFO on across renders; it is now reloaded before each).
DRIFT_ROUNDS = 3

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
    serum_before: float  # the Serum value it had (to set it back without reading it)
    effect_label: str  # the effect as Serum names it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tuned:
    """The best chain found, its score, the score it started from, and renders spent."""

    chain: Chain
    score: float
    start_score: float
    renders: int
    swept: int = 0  # renders of the categorical sweep (in ``renders``)

    def changes(self, start: Chain) -> list[KnobChange]:
        """The knobs that moved from ``start`` (same effects, same order), extra knobs too."""
        return changes_between(start, self.chain)


def changes_between(start: Chain, end: Chain) -> list[KnobChange]:
    """The knobs that differ from ``start`` to ``end`` (same effects, same order), extra
    knobs too: one round's moves, or several rounds' together."""
    out = []
    for old, new in zip(start, end):
        moved = [(k, old.knobs[k.name], new.knobs[k.name], k.text) for k in old.effect.knobs]
        moved += [
            (f.as_knob(), old.fixed_value(f), new.fixed_value(f), f.text)  # a switch says its word
            for f in old.effect.extra
            if f.name in old.extra or f.name in new.extra
        ]
        for k, a, b, text in moved:
            if a != b and k.name not in new.idle:  # a knob its switch leaves idle is not a move
                out.append(
                    KnobChange(
                        old.name,
                        k.name,
                        k.label,
                        a,
                        b,
                        text(a),
                        text(b),
                        k.serum_name,
                        k.to_serum(b),
                        k.to_serum(a),
                        old.effect.label,
                    )
                )
    return out


#: Whether the fine-tune also moves the extra knobs a step's search already set (a
#: reverb's size and decay, a compressor's threshold: ``FX.extra``; switches excepted).
#: Why: those knobs were set for a sound made elsewhere, each at its own step with the
#: later effects off, as the Table 1 knobs were; a chain without them is tuned as before.
TUNE_EXTRAS = True


#: The effects whose extra knobs no step set the *freed round* moves: one fine-tune round
#: more, once the ordinary rounds are over, that starts with these knobs at the values they
#: already had (Serum's defaults) and lets CMA-ES move them with the rest. Why these two: a
#: phaser or a reverb made elsewhere (a slow SoX phaser, a long Dragonfly hall) is often
#: named with its Table 1 knobs and keeps Serum's rate, mix, size and decay, which no later
#: step revisits. Why a round of its own, not in every round: in domain those knobs stay at
#: their defaults, and freeing them in the ordinary rounds spread the same budget over more
#: knobs and cost there (docs/results/history/fine_tune_all_extras_trial.json); a round of
#: its own is kept only when the judge hears it closer, so it can only add.
FREED_EXTRAS: tuple[str, ...] = ("phaser", "reverb")

#: Which extra knobs of an effect the renderer sets (``rack.render.extra_knobs``).
Settable = Callable[[str], Sequence[str]]


def unset_extras(chain: Chain, settable: Settable) -> list[tuple[str, str]]:
    """(effect, knob) of each extra knob the freed round would move on ``chain``: of the
    :data:`FREED_EXTRAS` effects, continuous, set by the renderer, and set by no step."""
    return [
        (fx.name, f.name)
        for fx in chain
        if fx.name in FREED_EXTRAS
        for f in fx.effect.extra
        if not f.words and f.name not in fx.extra and f.name in settable(fx.name)
    ]


def freed(chain: Chain, knobs: Sequence[tuple[str, str]]) -> Chain:
    """``chain`` with ``knobs`` (:func:`unset_extras`) set to the value they already had,
    so the fine-tune moves them (it moves the extra knobs a chain sets: :data:`TUNE_EXTRAS`);
    the sound is the same."""
    free = set(knobs)
    return Chain(
        FX(
            fx.name,
            fx.knobs,
            extra={**{f.name: f.value for f in fx.effect.extra if (fx.name, f.name) in free}, **fx.extra},
        )
        for fx in chain
    )


def _slots(chain: Chain) -> list[tuple[int, spec.Knob, bool]]:
    """(position, knob, whether it is an extra knob) of every continuous knob on the chain
    the fine-tune moves (see :data:`TUNE_EXTRAS`); none that a switch leaves idle (``FX.idle``),
    which would only spend CMA-ES's renders on moves that change nothing."""
    out = [(i, k, False) for i, fx in enumerate(chain) for k in fx.effect.continuous if k.name not in fx.idle]
    if TUNE_EXTRAS:
        out += [
            (i, f.as_knob(), True)
            for i, fx in enumerate(chain)
            for f in fx.effect.extra
            if f.name in fx.extra and not f.words
        ]
    return out


def sweep_settings(chain: Chain) -> list[Chain]:
    """``chain`` with each categorical knob at every choice, each at every level of
    :data:`SWEEP_LEVELS` of its effect's intensity knobs (one effect changed per setting,
    the rest of the chain as it is; ``chain`` itself and repeats left out)."""
    out: list[Chain] = []
    for i, fx in enumerate(chain):
        strong = _intensity_knobs(fx)
        for cat in fx.effect.categorical:
            for choice in cat.grid():
                for level in SWEEP_LEVELS:
                    knobs = {**fx.knobs, cat.name: choice}
                    if level is not None:
                        knobs.update({k.name: k.span[0] + level * (k.span[1] - k.span[0]) for k in strong})
                    moved = _replaced(chain, i, knobs)
                    if moved[i].knobs != fx.knobs and all(moved[i].knobs != c[i].knobs for c in out):
                        out.append(moved)
    return out


def _intensity_knobs(fx: FX) -> list[spec.Knob]:
    """``fx``'s continuous knobs that set how much of the effect there is (``INTENSITY``)."""
    return [k for k in fx.effect.continuous if k.name in INTENSITY[fx.name]]


def _replaced(chain: Chain, i: int, knobs: dict[str, float]) -> Chain:
    """``chain`` with effect ``i``'s knobs set to ``knobs``, kept to the spec's relations
    (with the extra knobs it sets), the rest as is."""
    return Chain([*chain[:i], repaired(chain[i].with_knobs(knobs)), *chain[i + 1 :]])


def _choices(chain: Chain) -> tuple[tuple[int, str, float], ...]:
    """Where ``chain``'s categorical knobs stand: (position, knob, value) of each."""
    return tuple((i, k.name, fx.knobs[k.name]) for i, fx in enumerate(chain) for k in fx.effect.categorical)


def closer_look(heard: Sequence[tuple[Chain, float]]) -> list[Chain]:
    """The :data:`CLOSER_LOOK_TOP` closest of ``heard`` (the best per categorical setting),
    each with the intensity knobs of its effects that have a categorical knob moved by every
    offset of :data:`CLOSER_LOOK_OFFSETS` (within their span; repeats left out)."""
    best: dict[tuple[tuple[int, str, float], ...], tuple[Chain, float]] = {}
    for chain, score in heard:
        key = _choices(chain)
        if key not in best or score < best[key][1]:
            best[key] = (chain, score)
    out: list[Chain] = []
    seen = {c.key() for c, _ in heard}
    for chain, _ in sorted(best.values(), key=lambda t: t[1])[:CLOSER_LOOK_TOP]:
        for i, fx in enumerate(chain):
            strong = _intensity_knobs(fx)
            if not fx.effect.categorical or not strong:
                continue
            for offset in CLOSER_LOOK_OFFSETS:
                knobs = dict(fx.knobs)
                for k in strong:
                    knobs[k.name] = float(np.clip(knobs[k.name] + offset * (k.span[1] - k.span[0]), *k.span))
                moved = _replaced(chain, i, knobs)
                if moved.key() not in seen:
                    seen.add(moved.key())
                    out.append(moved)
    return out


def sweep(chain: Chain, scores: ChainScorer, start_score: float) -> tuple[Chain, float, int]:
    """The closest of ``chain``, its :func:`sweep_settings` and the :func:`closer_look` at
    the closest of those; its score, and the renders spent."""
    tries = sweep_settings(chain)
    if not tries:
        return chain, float(start_score), 0
    heard = [(chain, float(start_score)), *zip(tries, (float(s) for s in scores(tries)))]
    more = closer_look(heard)
    if more:
        heard += zip(more, (float(s) for s in scores(more)))
    best, score = min(heard[1:], key=lambda t: t[1])
    if score < start_score:
        return best, score, len(heard) - 1
    return chain, float(start_score), len(heard) - 1


def fine_tune(
    chain: Chain,
    scores: ChainScorer,
    start_score: float,
    *,
    budget: int,
    seed: int = 0,
    sigmas: Sequence[float] = SIGMAS,
    categorical: bool = True,
) -> Tuned:
    """Sweep the categorical knobs (``categorical``; its renders are extra), then search
    every continuous knob of ``chain`` together, in one CMA-ES stage per step of ``sigmas``,
    with at most ``budget`` calls' worth of chains to ``scores`` in all; ``start_score`` is
    ``chain``'s own (not re-rendered). A budget under 2 (no CMA-ES generation) searches
    nothing."""
    swept = 0
    origin_score = float(start_score)
    if budget < 2 or not len(chain):
        return Tuned(chain, origin_score, origin_score, 0)
    if categorical:
        chain, start_score, swept = sweep(chain, scores, start_score)
    used = 0
    for n, sigma in enumerate(sigmas):
        share = (budget - used) // (len(sigmas) - n)
        if share < 2:
            continue
        found = _cma(chain, scores, start_score, budget=share, seed=seed + n, sigma=sigma)
        chain, start_score, used = found.chain, found.score, used + found.renders
    return Tuned(chain, float(start_score), origin_score, used + swept, swept)


def _cma(
    chain: Chain, scores: ChainScorer, start_score: float, *, budget: int, seed: int, sigma: float
) -> Tuned:
    """CMA-ES over every continuous knob of ``chain`` (see :func:`fine_tune`, which checks
    the budget)."""
    slots = _slots(chain)
    best: list[Any] = [chain, float(start_score)]
    if not slots:
        return Tuned(chain, float(start_score), float(start_score), 0)
    spans = np.array([k.span for _, k, _ in slots])
    lo, width = spans[:, 0], spans[:, 1] - spans[:, 0]
    now = [chain[i].extra[k.name] if extra else chain[i].knobs[k.name] for i, k, extra in slots]
    x0 = np.clip((np.array(now) - lo) / width, 1e-3, 1 - 1e-3)

    def setting(x: np.ndarray) -> Chain:
        knobs = [dict(fx.knobs) for fx in chain]
        extras = [dict(fx.extra) for fx in chain]
        for (i, k, extra), v, low, w in zip(slots, x, lo, width):
            (extras if extra else knobs)[i][k.name] = float(np.clip(low + w * v, low, low + w))
        return Chain(repaired(FX(fx.name, kn, extra=ex)) for fx, kn, ex in zip(chain, knobs, extras))

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
    moves = [f"{c.effect_label} {c.label} {c.before_text} \u2192 {c.after_text}" for c in changes]
    return "Fine-tune: " + ", ".join(moves)
