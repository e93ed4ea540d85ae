"""A verified step's candidate search: each effect with knobs from its parameter model,
rendered through the whole chain, judged, and (loop "refine") polished by a short CMA-ES.

The judge decides which candidate is acceptable and whether a polish is kept; this
module only builds, renders and orders the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.server.judge import Judge, Sound
from serumrnn.server.models import StepModels, knobs_from_outputs, param_model_name
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.refine import refine
from serumrnn.server.simulation import Simulator


@dataclass
class Candidate:
    effect: str
    probability: float
    fx: FX
    sound: Sound
    dist: dict[str, float]
    score: float
    refine: dict[str, Any] | None = None
    outputs: Any = None  # the parameter model's raw outputs

    @property
    def mode_probs(self) -> np.ndarray | None:
        """The distortion model's mode probabilities (for the refinement's mode tries)."""
        y = self.outputs
        return np.asarray(y["mode"])[0] if isinstance(y, dict) and "mode" in y else None

    def to_json(self, closer: bool) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "probability": self.probability,
            "score": self.score,
            "mse": self.dist["mse"],
            "mssmae": self.dist["mssmae"],
            "closer": closer,
            "refined": self.refine is not None and bool(self.refine.get("kept")),
        }


@dataclass
class Found:
    """What a search found: the candidate to offer (None: none the judge accepts) and
    every candidate it rendered, as the step reports them."""

    best: Candidate | None
    tried: list[dict[str, Any]]


class CandidateSearch:
    """One verified step's search from the current state (``chain`` applied, its
    simulated distances ``current``). ``refine_budget`` 0: no polish (loop "verified")."""

    def __init__(
        self,
        models: StepModels,
        judge: Judge,
        sim: Simulator,
        chain: Chain,
        pair: dict[str, np.ndarray],
        probs: np.ndarray,
        current: dict[str, float],
        *,
        refine_budget: int,
        seed: int,
    ) -> None:
        self.models, self.judge, self.sim, self.chain = models, judge, sim, chain
        self.pair, self.probs, self.current = pair, probs, current
        self.refine_budget, self.seed = refine_budget, seed

    def run(self, ranked: Sequence[str], k: int) -> Found:
        """The top ``k`` of ``ranked`` first; when the judge accepts none of them, the rest."""
        tried: list[Candidate] = []
        best: Candidate | None = None
        for group in (ranked[:k], ranked[k:]):
            if not group:
                continue
            cands = self.candidates(group)
            tried += cands
            best = self.choose(cands)
            if self.refine_budget > 0:
                best, tried = self._polish_strongest(cands, best, tried)
            if best is not None:
                break
        tried = [best if best is not None and c.effect == best.effect else c for c in tried]
        return Found(best, [c.to_json(self.judge.closer(c.dist, self.current)) for c in tried])

    def _polish_strongest(
        self, cands: list[Candidate], best: Candidate | None, tried: list[Candidate]
    ) -> tuple[Candidate | None, list[Candidate]]:
        """Polish the closest candidate, accepted or not: the veto may refuse the model's
        knobs of the strongest effect where polished ones pass. The polish replaces what
        was accepted when the judge accepts it and it scores lower."""
        strongest = min(cands, key=lambda c: c.score)
        base = best if best is not None and best.effect == strongest.effect else self.exact(strongest)
        polished = self.refine(base)
        if self.judge.closer(polished.dist, self.current) and (best is None or polished.score < best.score):
            best = polished
        return best, [polished if c.effect == polished.effect else c for c in tried]

    def candidates(self, effects: Sequence[str]) -> list[Candidate]:
        """Each effect with knobs from its model on (current, target), rendered from the
        input through the whole chain and judged (the fast estimate)."""
        ys = [self.models.predict(param_model_name(e), self.pair) for e in effects]
        fxs = [knobs_from_outputs(e, y) for e, y in zip(effects, ys)]
        sounds = self.sim.sounds([self.chain.then(fx) for fx in fxs])
        return [
            Candidate(
                e,
                float(self.probs[spec.EFFECT_NAMES.index(e)]),
                fx,
                s,
                s.distances,
                self.judge.score(s.distances),
                outputs=y,
            )
            for e, fx, s, y in zip(effects, fxs, sounds, ys)
        ]

    def exact(self, cand: Candidate) -> Candidate:
        """The candidate with its exact distance and score (what is offered and reported)."""
        s = self.sim.sounds([self.chain.then(cand.fx)], exact=True)[0]
        return Candidate(
            cand.effect,
            cand.probability,
            cand.fx,
            s,
            s.distances,
            self.judge.score(s.distances),
            cand.refine,
            cand.outputs,
        )

    def choose(self, cands: Sequence[Candidate]) -> Candidate | None:
        """The closest candidate the judge accepts, checked on its exact distance (the
        search's estimate only orders them)."""
        for c in sorted(cands, key=lambda c: c.score):
            if self.judge.closer(c.dist, self.current):
                exact = self.exact(c)
                if self.judge.closer(exact.dist, self.current):
                    return exact
        return None

    def refine(self, cand: Candidate) -> Candidate:
        """A short CMA-ES polish of an (exact) candidate's knobs towards the judge's rule
        (its ``objective`` against the current sound), searched on the fast estimate; the
        judge keeps the polished knobs only when their exact objective is better too."""
        cur = self.current

        def scores(fxs: Sequence[FX]) -> list[float]:
            sounds = self.sim.sounds([self.chain.then(fx) for fx in fxs])
            return [self.judge.objective(s.distances, cur) for s in sounds]

        start = scores([cand.fx])[0]  # the exact candidate, scored like the tries
        r = refine(
            cand.fx, scores, start, budget=self.refine_budget, seed=self.seed, mode_probs=cand.mode_probs
        )
        before = self.judge.objective(cand.dist, cur)
        info: dict[str, Any] = {
            "renders": r.renders,
            "score_model": cand.score,
            "score_refined": cand.score,
            "objective_model": before,
            "objective_refined": before,
            "kept": False,
        }
        if r.kept:
            polished = self.exact(
                Candidate(
                    cand.effect, cand.probability, r.fx, cand.sound, cand.dist, r.score, None, cand.outputs
                )
            )
            if self.judge.keeps_polish(polished.dist, cand.dist, cur):
                info.update(
                    score_refined=polished.score,
                    objective_refined=self.judge.objective(polished.dist, cur),
                    kept=True,
                )
                polished.refine = info
                return polished
        cand.refine = info
        return cand
