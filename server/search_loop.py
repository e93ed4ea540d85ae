"""The search loop: the verified loop that searches an effect's knobs before rejecting it.

Each step the selector's top ``k`` effects get knobs from their parameter models and are
rendered, as in the verified loop. Then, within one render budget per step
(:data:`serumrnn.server.knob_search.SEARCH_BUDGET`), every one of them the judge refuses
is searched wide by rendering (every value of a categorical knob, spread starts, CMA-ES),
and the closest one it accepts is polished, as ``--loop refine`` does
(:func:`serumrnn.server.search_step.search_step`). The judge accepts or refuses each
search's best render; a tie on sound goes to the selector's favourite. A favourite the
ranking is sure of whose knobs fail (still refused, or at the first step accepted only
weakly after its model's knobs were refused: :func:`serumrnn.server.knob_search.wants_extra`) gets one more
search with its extra knobs
(``spec.Fixed.extra``) where the renderer sets them (:func:`serumrnn.server.knob_search.extra_search`). When no top-``k``
effect passes even after its search, the remaining effects are tried with their model's
knobs before the loop says no effect brings the sound closer.

Why: on sounds made with other software the models' knobs can overshoot, so the verified
loop used to reject the right effect (SoX's overdrive named as a 12 % reverb). The step
reports every effect tried with what its best render reached (``StepReport.candidates``;
the step that found nothing: ``Result.tried``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from serumrnn.server import judge as J
from serumrnn.server import naming_prior as NP
from serumrnn.server import search_step as SS
from serumrnn.server import spec
from serumrnn.server.models import rank_unused
from serumrnn.server.rack.chain import FX
from serumrnn.server.search import Candidate, CandidateSearch, Found
from serumrnn.server.steps import StepReport
from serumrnn.server.verified_loop import VerifiedLoop


def _by_effect(p: np.ndarray) -> dict[str, float]:
    return {e: float(v) for e, v in zip(spec.EFFECT_NAMES, p)}


class SearchLoop(VerifiedLoop):
    kind = "search"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.naming: dict[str, Any] | None = None  # this step's rankings, for its report
        super().__init__(*args, **kwargs)
        self.prior = NP.for_models(self.models)

    def rank(self, search: CandidateSearch, ranked: Sequence[str]) -> tuple[list[str], np.ndarray | None]:
        """The effects to try, best first, and the pooled probabilities (None: the
        selector's ranking alone). The first step pools the naming head's ranking with
        the selector's: the head was trained on (input, target) pairs one effect apart,
        which is what the first step sees; later steps have the selector, which reads
        every sound so far."""
        if self.prior is None or len(self.chain):
            self.naming = None
            return list(ranked), None
        head = self.prior.probs(self.states[-1].mel, self.target.mel)
        pooled = self.prior.pooled(head, search.probs)
        used = [e for e in spec.EFFECT_NAMES if e not in ranked]
        order = rank_unused(pooled, used)
        self.naming = {
            "head": _by_effect(head),
            "pooled": _by_effect(pooled),
            "weight": self.prior.weight,
            "selector_ranking": list(ranked),
            "head_ranking": rank_unused(head, used),
            "ranking": order,
            "source": self.prior.source,
        }
        return order, pooled

    def find(self, search: CandidateSearch, ranked: Sequence[str]) -> Found:
        ranked, pooled = self.rank(search, ranked)
        top = ranked[: self.settings.k]
        cands = search.candidates(top, repair=False)  # the search weighs a crossing itself
        props = [
            SS.Proposal(
                c.effect,
                c.probability,
                c.fx,
                c.dist,
                c.mode_probs,
                None if pooled is None else float(pooled[spec.EFFECT_NAMES.index(c.effect)]),
            )
            for c in cands
        ]
        chain, sim = search.chain, search.sim

        def simulate(fxs: Sequence[FX]) -> list[dict[str, float]]:
            return [s.distances for s in sim.sounds([chain.then(f) for f in fxs])]

        def exact(fx: FX) -> dict[str, float]:
            return sim.sounds([chain.then(fx)], exact=True)[0].distances

        tie = J.NAME_TIE if pooled is None else J.PRIOR_TIE
        pick, tried = SS.search_step(
            props,
            search.current,
            search.judge,
            simulate,
            exact,
            seed=search.seed,
            tie=tie,
            extras=self._settable_extras if self.settings.extra else None,
            first_step=not len(chain),
        )
        rows = [t.to_json(i == pick) for i, t in enumerate(tried)]
        if pick is not None:
            c = cands[pick]
            best = search.exact(
                Candidate(c.effect, c.probability, tried[pick].fx, c.sound, c.dist, 0.0, None, c.outputs)
            )
            return Found(best, rows)
        rest = (
            search.run(ranked[self.settings.k :], len(ranked) - self.settings.k)
            if ranked[self.settings.k :]
            else Found(None, [])
        )
        return Found(rest.best, rows + rest.tried)

    def _apply(self, best: Candidate, *args: Any, **kwargs: Any) -> StepReport:
        report = super()._apply(best, *args, **kwargs)
        report.naming = self.naming
        return report
