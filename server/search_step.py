"""One step of the search loop: the effects the selector (and the naming head) ranked,
each searched as :func:`serumrnn.server.knob_search.plan` allots the step's budget, the sure
favourite whose knobs fail (:func:`serumrnn.server.knob_search.wants_extra`) searched once
more with its extra knobs, and the one to offer.

The searches themselves are in :mod:`serumrnn.server.knob_search`; this module decides
which run and what the step offers, and records every effect as it was tried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from serumrnn.server import spec
from serumrnn.server.judge import NAME_TIE, Judge, offer
from serumrnn.server.knob_search import (
    EXTRA_RENDERS,
    SEARCH_BUDGET,
    extra_names,
    extra_search,
    plan,
    search,
    wants_extra,
)
from serumrnn.server.rack.chain import FX


@dataclass(frozen=True)
class Proposal:
    """One effect the selector ranked, with its model's knobs measured: what the step loop
    hands the search. ``dist``: the chain with ``fx`` against the target (fast estimate)."""

    effect: str
    probability: float
    fx: FX
    dist: dict[str, float]
    mode_probs: np.ndarray | None = None
    prior: float | None = None  # the pooled ranking's probability (None: the selector's)

    @property
    def rank_probability(self) -> float:
        """What the ranking gives this effect: the pooled prior, else the selector."""
        return self.probability if self.prior is None else self.prior


@dataclass(frozen=True)
class Tried:
    """One effect as the step searched it: the best setting, its exact distance and the
    share of the current distance it removes; the same for the model's own knobs."""

    proposal: Proposal
    fx: FX
    dist: dict[str, float]
    gain: float
    model_gain: float
    accepted: bool
    model_accepted: bool
    search: str  # "wide" | "polish" | "extra" | "deep" | "none"
    renders: int
    note: str | None = None
    score: float = 0.0  # the judge's decision distance of the best render (1.0 at the start)

    def to_json(self, chosen: bool) -> dict[str, object]:
        p = self.proposal
        return {
            "effect": p.effect,
            "label": spec.effect(p.effect).label,
            "probability": p.probability,
            "prior": p.prior,
            "score": self.score,
            "gain": self.gain,
            "model_gain": self.model_gain,
            "closer": self.accepted,
            "model_accepted": self.model_accepted,
            "search": self.search,
            "renders": self.renders,
            "mse": self.dist["mse"],
            "mssmae": self.dist["mssmae"],
            "note": self.note,
            "extra": dict(self.fx.extra),
            "chosen": chosen,
        }


def search_step(
    proposals: Sequence[Proposal],
    cur: Mapping[str, float],
    judge: Judge,
    simulate: Callable[[Sequence[FX]], Sequence[Mapping[str, float]]],
    exact: Callable[[FX], dict[str, float]],
    *,
    budget: int = SEARCH_BUDGET,
    seed: int = 0,
    tie: float = NAME_TIE,
    extras: Callable[[str], Sequence[str]] | None = None,
    first_step: bool = True,
) -> tuple[int | None, list[Tried]]:
    """Search the knobs of the proposed effects (the selector's top ``k``, most probable
    first) as :func:`plan` allots the budget, and pick the one to offer: the closest render
    the judge accepts, a tie on sound (within ``tie``) going to the ranking's favourite
    (:func:`serumrnn.server.judge.offer`).

    ``simulate``: the distances (fast estimate) of the current chain with each setting;
    ``exact``: the exact distance of one setting; ``extras``: the extra knobs the renderer
    sets for an effect. With ``extras``, the sure favourite whose knobs fail (refused, or at
    the first step accepted only weakly: :func:`~serumrnn.server.knob_search.wants_extra`) gets a second,
    longer search (:func:`extra_search`) that moves them too; where the renderer sets none
    of its extra knobs (an effect whose plugin maps none) that search is over its Table 1 knobs alone
    ("deep"). None: no second search (the paper's knobs and searches only). ``first_step``:
    no effect is on yet (where a weak favourite is searched again).
    Returns the index of the proposal to offer (None when the judge accepts none) and
    every effect as it was tried."""
    refused = [not judge.closer(p.dist, cur) for p in proposals]
    alloc = plan(
        refused,
        [judge.score(p.dist) for p in proposals],
        [p.effect for p in proposals],
        budget,
        [p.rank_probability for p in proposals],
    )
    tried: list[Tried] = []

    def scores(fxs: Sequence[FX]) -> list[float]:
        return [judge.objective(d, cur) for d in simulate(fxs)]

    def judged(
        p: Proposal,
        fx: FX,
        d: dict[str, float],
        model_accepted: bool,
        kind: str,
        renders: int,
        note: str | None,
    ) -> Tried:
        """``fx`` at its exact distance ``d``, with what the judge makes of it and of the
        model's own knobs, and how the search found it."""
        gain, model_gain, closer = (
            judge.improvement(d, cur),
            judge.improvement(p.dist, cur),
            judge.closer(d, cur),
        )
        return Tried(p, fx, d, gain, model_gain, closer, model_accepted, kind, renders, note, judge.score(d))

    for i, (p, n, ref) in enumerate(zip(proposals, alloc, refused)):
        fx, kind, used, note = p.fx, "none", 0, None
        if n > 0:
            r = search(
                p.fx,
                scores,
                judge.objective(p.dist, cur),
                refused=ref,
                budget=n,
                seed=seed + i,
                mode_probs=p.mode_probs,
            )
            fx, kind, used, note = r.fx, r.kind, r.renders, r.crossing_note
        tried.append(judged(p, fx, exact(fx), not ref, kind, used, note))
    names = tuple(extras(proposals[0].effect)) if extras is not None and proposals else None
    t = tried[0] if tried else None
    if (
        names is not None
        and t
        and wants_extra(t.accepted, t.model_accepted, t.gain, t.proposal.rank_probability, first_step)
    ):
        moved = extra_names(t.proposal.effect, names, t.accepted)
        r = extra_search(
            t.fx,
            moved,
            scores,
            judge.objective(t.dist, cur),
            budget=EXTRA_RENDERS,
            seed=seed + len(proposals),
        )
        kind = "extra" if moved else "deep"  # the report says it was searched again, and how
        d = exact(r.fx) if r.kept else t.dist
        # The search judged fast estimates: its setting replaces the first search's only
        # when its exact distance is better too (for an accepted favourite, by a margin).
        if r.kept and judge.keeps_extra(d, t.dist, cur):
            tried[0] = judged(t.proposal, r.fx, d, t.model_accepted, kind, t.renders + r.renders, None)
        else:  # the first search's setting as it was judged, its renders counted
            tried[0] = replace(t, search=kind, renders=t.renders + r.renders)
    ok = [i for i, t in enumerate(tried) if t.accepted]
    if not ok:
        return None, tried
    pick = offer([tried[i].gain for i in ok], [tried[i].proposal.rank_probability for i in ok], tie)
    return ok[pick], tried
