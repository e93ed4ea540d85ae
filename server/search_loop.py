"""The search loop: the verified loop that searches an effect's knobs before rejecting it.

Each step the selector's top ``k`` effects get knobs from their parameter models and are
rendered, as in the verified loop. Then, within one render budget per step
(:data:`serumrnn.server.knob_search.SEARCH_BUDGET`), every one of them the judge refuses
is searched wide by rendering (every value of a categorical knob, spread starts, CMA-ES),
and the closest one it accepts is polished, as ``--loop refine`` does
(:func:`serumrnn.server.knob_search.search_step`). The judge accepts or refuses each
search's best render; a tie on sound goes to the selector's favourite. When no top-``k``
effect passes even after its search, the remaining effects are tried with their model's
knobs before the loop says no effect brings the sound closer.

Why: on sounds made with other software the models' knobs can overshoot, so the verified
loop used to reject the right effect (SoX's overdrive named as a 12 % reverb). The step
reports every effect tried with what its best render reached (``StepReport.candidates``;
the step that found nothing: ``Result.tried``).
"""

from __future__ import annotations

from collections.abc import Sequence

from serumrnn.server import knob_search as KS
from serumrnn.server.rack.chain import FX
from serumrnn.server.search import Candidate, CandidateSearch, Found
from serumrnn.server.verified_loop import VerifiedLoop


class SearchLoop(VerifiedLoop):
    kind = "search"

    def find(self, search: CandidateSearch, ranked: Sequence[str]) -> Found:
        top = ranked[: self.settings.k]
        cands = search.candidates(top, repair=False)  # the search weighs a crossing itself
        props = [KS.Proposal(c.effect, c.probability, c.fx, c.dist, c.mode_probs) for c in cands]
        chain, sim = search.chain, search.sim

        def simulate(fxs: Sequence[FX]) -> list[dict[str, float]]:
            return [s.distances for s in sim.sounds([chain.then(f) for f in fxs])]

        def exact(fx: FX) -> dict[str, float]:
            return sim.sounds([chain.then(fx)], exact=True)[0].distances

        pick, tried = KS.search_step(props, search.current, search.judge, simulate, exact, seed=search.seed)
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
