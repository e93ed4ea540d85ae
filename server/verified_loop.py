"""The verified loops: a step is offered only when its render says it brings the sound
closer.

* ``"verified"``: the selector ranks the effects not used yet; the top ``k`` each get
  knobs from their parameter model and are rendered from the input through the whole
  chain (:mod:`serumrnn.server.search`); the judge picks the closest, and it is offered
  only when it beats the current sound by the judge's margin. When none of the top ``k``
  does, the remaining effects are tried before the loop says it is done, so "no remaining
  effect brings it closer" is literally true. The current sound is always the best state.
* ``"refine"``: the same, with a short CMA-ES polish of the chosen effect's knobs
  (:mod:`serumrnn.server.refine`, ``refine_budget`` renders per step), kept only when the
  judge scores it better.

In Live the captures judge each step on Serum's real sound (:mod:`serumrnn.server.captured`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from serumrnn.server import fine_tune as FT
from serumrnn.server import judge as J
from serumrnn.server import spec
from serumrnn.server import tune_step as TS
from serumrnn.server.capture_retry import RETRY_CAPTURES, Retry
from serumrnn.server.captured import take_capture
from serumrnn.server.judge import Sound, Stop
from serumrnn.server.loop import Loop
from serumrnn.server.models import rank_unused
from serumrnn.server.rack.chain import Chain
from serumrnn.server.rack.render import extra_knobs, stands_in
from serumrnn.server.search import Candidate, CandidateSearch, Found
from serumrnn.server.simulation import Simulator
from serumrnn.server.steps import TUNE, StepReport, TuneStep, Undone, Verdict, no_switch


class VerifiedLoop(Loop):
    kind = "verified"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.rejected: set[str] = set()  # effects taken back in Live: never offered again
        self.taken_back_steps: list[Verdict] = []
        self.stop: Stop | None = None
        self.retry: Retry | None = None  # Live: the corrected retry of a taken-back effect
        self.retries: dict[int, int] = {}  # Live: retries used per step position
        self.retry_budget = RETRY_CAPTURES  # retries per step (0: a take-back is final)
        self.tune_rounds: list[dict[str, Any]] = []  # every fine-tune round's report, oldest first
        self.applied_tunes: list[TS.Applied] = []  # the rounds on Serum now, oldest first
        self.tune_state = TS.DUE  # where the latest fine-tune round stands (tune_step's states)
        self.freed_ran = False  # whether the freed round (fine_tune.FREED_EXTRAS) has run
        self._new_offer: TuneStep | None = None  # offered by this turn (take_offer)
        super().__init__(*args, **kwargs)

    @property
    def polish_budget(self) -> int:
        """Renders the knob polish may spend per step: none in the plain verified loop."""
        return 0

    @property
    def simulator(self) -> Simulator:
        """The renderer's simulation, which every verified loop has (see the assistant)."""
        if self.sim is None:
            raise RuntimeError("this loop has no renderer to render candidates with")
        return self.sim

    def stopped(self) -> Stop | None:
        """The stop, once the fine-tune (when the settings have one) has run and, when it
        was offered in Live, been judged."""
        if self.stop is not None and (self.tune_due() or self.tune_state == TS.OFFERED):
            return None
        return self.stop

    def tune_due(self) -> bool:
        """Whether a fine-tune round runs now: the first once the steps have stopped, a
        later one when the judge says so (``judge.next_tune_round``)."""
        return self._next_round() is not None

    def _next_round(self) -> str | None:
        """The kind of fine-tune round due now (``judge.TUNE_ROUND``, ``judge.FREED_ROUND``)
        or None."""
        if self.settings.fine_tune <= 0 or self.stop is None:
            return None
        if self.tune_state == TS.DUE:
            return J.TUNE_ROUND
        if not self.tune_rounds:  # the first round had nothing to search
            return None
        return J.next_tune_round(
            self.tune_state == TS.KEPT,
            self.tune_state == TS.NONE,
            len(self.applied_tunes),
            self.settings.fine_tune_rounds,
            self.freed_ran,
            len(FT.unset_extras(self._tune_start()[0], self._settable_extras)),
        )

    def _settable_extras(self, effect: str) -> tuple[str, ...]:
        """The extra knobs of ``effect`` a search may move: those the renderer sets, none
        when the settings keep the extra knobs still (``--no-extra-knobs``)."""
        return extra_knobs(self.simulator.renderer, effect) if self.settings.extra else ()

    def _tune_start(self) -> tuple[Chain, dict[str, float] | None]:
        """Where the next fine-tune round starts: the newest applied round's chain and sound,
        else the steps' best chain and its sound."""
        last = self.tune_offer
        if last is None:
            return self.chain.prefix(self.best_step), self.path()[self.best_step]
        return last.chain, last.after

    @property
    def tune_offer(self) -> TuneStep | None:
        """The newest fine-tune round on Serum (None: none)."""
        return self.applied_tunes[-1].offer if self.applied_tunes else None

    def tune_on(self) -> int:
        return len(self.applied_tunes)

    @property
    def tuned_sound(self) -> Sound | None:
        """The newest applied round's sound that is known (a round offered in Live is heard
        at its capture): the kept fine-tune's sound, or None."""
        return next((a.sound for a in reversed(self.applied_tunes) if a.sound is not None), None)

    def serum_chain(self) -> Chain:
        offer = self.tune_offer
        return self.chain if offer is None else offer.chain

    def take_offer(self) -> TuneStep | None:
        offer, self._new_offer = self._new_offer, None
        return offer

    def undo(self) -> Undone:
        """Take the last step back: an applied fine-tune round first (its knobs as they were
        before it; the session is then done), else the last effect."""
        if self.tune_on():
            TS.undo_tune(self)
            return Undone(len(self.chain) + self.tune_on(), TUNE, no_switch())
        return super().undo()

    def taken_back(self) -> list[Verdict]:
        return self.taken_back_steps

    def forget(self, step: StepReport) -> None:
        self.stop = None
        self.retry = None
        self.tune_rounds, self.applied_tunes, self.tune_state = [], [], TS.DUE
        self.freed_ran = False

    def finish(self) -> None:
        """The fine-tune of the whole chain (:mod:`serumrnn.server.fine_tune`), once the
        steps are done: up to ``settings.fine_tune_rounds`` rounds, each within
        ``settings.fine_tune`` renders (plus its categorical sweep's: 12 choices of a
        distortion's mode at 4 drives) and kept when the judge finds it closer. A loop that
        runs turn by turn (``serve``) has already offered each round as a step
        (:meth:`_tune`, :mod:`serumrnn.server.tune_step`)."""
        while self.tune_due() and self.simulator.rendered_flow:
            self._tune()

    def _tune_now(self) -> None:
        """Search fine-tune rounds until one offers a step or none is due (``serve``: a
        round that finds nothing closer is followed by the freed round in the same turn)."""
        while self._new_offer is None and self.tune_due():
            self._tune()

    def _tune(self) -> None:
        """Search one fine-tune round and offer it when the judge finds it closer: kept at
        once on a renderer; in Live applied, and judged by the next capture
        (``TS.judge_tune``). A later round starts from the last round's knobs and sound;
        the freed round (``fine_tune.FREED_EXTRAS``) also moves the extra knobs no step set."""
        kind = self._next_round()
        self.tune_state = TS.NONE
        sim, judge, budget = self.simulator, self.judge_now, self.settings.fine_tune
        chain, current = self._tune_start()
        frees: list[tuple[str, str]] = []
        if kind == J.FREED_ROUND:
            self.freed_ran = True
            frees = FT.unset_extras(chain, self._settable_extras)
            chain = FT.freed(chain, frees)
        if not len(chain) or current is None or judge.reached(current):  # nothing to tune towards
            return
        live = not sim.rendered_flow
        if not J.offers_tune(live, stands_in(sim.renderer)):
            return
        renders0 = sim.renders
        sim.prune(chain)
        # In Live the search hears the renderer's chain, not Serum's capture of it.
        start = sim.sounds([chain], exact=True)[0].distances if live else current

        def scores(chains: Sequence[Chain]) -> list[float]:
            return [judge.score(s.distances) for s in sim.sounds(list(chains), exact=True)]

        found = FT.fine_tune(
            chain,
            scores,
            judge.score(start),
            budget=budget - FT.HEARD_AGAIN,
            seed=self.settings.seed + len(self.steps) + len(self.tune_rounds),
            sigmas=FT.SIGMAS,
        )
        tuned = sim.sounds([found.chain], exact=True)[0]
        after = tuned.distances
        found_closer = judge.closer(after, start)
        rounds = 0
        if found_closer and found.chain != chain:
            found_closer, rounds = self._heard_again(chain, found.chain)
        kept = found_closer and not live  # Live: kept once its capture is heard closer
        changes = FT.shown(found.changes(chain))
        gain = judge.improvement(after, start)
        record = {
            "kept": kept,
            "from_chain": chain.to_json(),
            "chain": found.chain.to_json() if kept else chain.to_json(),
            "before": current,
            "after": after if kept else current,
            "best_found": after,
            "improvement": gain,
            "changes": [c.to_json() for c in changes] if found_closer else [],
            "instruction": FT.instruction(changes) if found_closer and changes else "",
            "renders": sim.renders - renders0,
            "swept": found.swept,
            "heard_again": rounds,
            "budget": budget,
            "freed": [list(f) for f in frees],  # the freed round's extra knobs (else none)
        }
        self.tune_rounds.append(record)
        if found_closer and changes:
            self._new_offer = TuneStep(
                len(chain) + self.tune_on() + 1,
                changes,
                current,
                after,
                gain,
                FT.instruction(changes),
                found.chain,
                None if live else after,
            )
            self.applied_tunes.append(TS.Applied(self._new_offer, None if live else tuned, record))
            self.tune_state = TS.OFFERED if live else TS.KEPT

    def _heard_again(self, before: Chain, tuned: Chain) -> tuple[bool, int]:
        """Whether fresh renders of ``tuned`` are closer than fresh renders of ``before``,
        and the rounds it took. A renderer whose sound drifts between renders (a plugin
        whose LFO runs on and is not reloaded; Serum's own LFOs) must not have had the
        search fit one render's accident: when ``before`` does not render again as it did, every one of
        :data:`~serumrnn.server.fine_tune.DRIFT_ROUNDS` rounds must hear it closer, than
        ``before`` and than the input. A renderer that renders exactly (the open rack)
        needs the one round."""
        sim, judge = self.simulator, self.judge_now
        heard = sim.sounds([before], exact=True)[0].audio
        for n in range(1, FT.DRIFT_ROUNDS + 1):
            a, b = J.measure([sim.render(before), sim.render(tuned)], self.target)
            # Closer than the chain before it, and than the input: on a drifting renderer
            # the chain before may itself render further away than the input this time.
            if not (judge.closer(b.distances, a.distances) and judge.closer(b.distances, judge.start)):
                return False, n
            if n == 1 and np.array_equal(a.audio, heard):
                return True, n
        return True, FT.DRIFT_ROUNDS

    def finished(self) -> dict[str, Any] | None:
        """The fine-tune's report, every round together: the last kept round's chain and
        distances, the moves from the steps' knobs to it, the renders of all rounds, and
        each round's own report (``round_reports``). One round: that round's report."""
        if not self.tune_rounds:
            return None
        first = self.tune_rounds[0]
        kept = [r for r in self.tune_rounds if r["kept"]]
        out = dict(kept[-1] if kept else first)
        out["before"], out["from_chain"] = first["before"], first["from_chain"]
        for key in ("renders", "swept", "heard_again"):
            out[key] = sum(r[key] for r in self.tune_rounds)
        if len(kept) > 1:
            moved = FT.shown(
                FT.changes_between(Chain.from_json(first["from_chain"]), Chain.from_json(out["chain"]))
            )
            out["changes"] = [c.to_json() for c in moved]
            out["instruction"] = FT.instruction(moved)
            out["improvement"] = self.judge_now.improvement(out["after"], out["before"])
        out["rounds"] = len(self.tune_rounds)
        out["round_reports"] = [dict(r) for r in self.tune_rounds]
        return out

    def take_turn(self, current: np.ndarray | None) -> tuple[Verdict | None, StepReport | None]:
        if current is not None and self.tune_state == TS.OFFERED:
            verdict = TS.judge_tune(self, current)
            self._tune_now()  # another round, offered in the same turn
            return verdict, None
        # A take-back puts its effect in ``rejected``: the search below offers the next one.
        judged = None if current is None else take_capture(self, current)
        if not self.states:
            raise RuntimeError("no current sound: give a preset or an input clip, or pass the captured sound")
        if len(self.states) != len(self.chain) + 1:
            raise RuntimeError(
                f"step {len(self.chain)} is not judged yet: pass the capture of the sound with it applied"
            )
        report = None if self.stop is not None else self._step()
        if report is not None and judged is not None and judged.take_back:
            report.take_back = judged.to_json()
        if report is None:
            self._tune_now()  # where the loop would say it is done: the fine-tune, as a step
        return judged, report

    def _step(self) -> StepReport | None:
        judge, sim = self.judge_now, self.simulator
        before = self.distance()
        left = [e for e in spec.EFFECT_NAMES if e not in self.chain.order and e not in self.rejected]
        progress = J.Progress(before, len(self.steps), len(self.chain), untried=len(left))
        self.stop = judge.stop(J.BEFORE_SEARCH, progress)
        if self.stop is not None:
            return None
        renders0 = sim.renders
        if self.retry is not None:
            retry, self.retry = self.retry, None
            return self._offer_retry(retry, before, renders0)
        probs = self.selector_probs()
        ranked = rank_unused(probs, list(self.chain.order) + sorted(self.rejected))
        sim.prune(self.chain)
        cur = sim.sounds([self.chain], exact=True)[0].distances  # the simulated current sound
        search = CandidateSearch(
            self.models,
            judge,
            sim,
            self.chain,
            self.pair(),
            probs,
            cur,
            refine_budget=self.polish_budget,
            seed=self.settings.seed + len(self.steps),
        )
        found = self.find(search, ranked)
        if found.best is None:
            self.tried_at_stop = found.tried
            self.stop = J.nothing_closer(len(self.steps))
            return None
        return self._apply(found.best, probs, before, cur, found.tried, sim.renders - renders0)

    def find(self, search: CandidateSearch, ranked: list[str]) -> Found:
        """The step's candidate search: the top ``k`` with their model's knobs (the search
        loop, :mod:`serumrnn.server.search_loop`, searches their knobs first)."""
        return search.run(ranked, self.settings.k)

    def _offer_retry(self, retry: Retry, before: dict[str, float], renders0: int) -> StepReport:
        """The taken-back effect again, with the knobs its capture corrected; the next
        capture judges it like any step."""
        judge, sim = self.judge_now, self.simulator
        probs = self.selector_probs()
        sim.prune(self.chain)
        cur, snd = sim.sounds([self.chain, self.chain.then(retry.fx)], exact=True)
        p = float(probs[spec.EFFECT_NAMES.index(retry.fx.name)])
        cand = Candidate(retry.fx.name, p, retry.fx, snd, snd.distances, judge.score(snd.distances))
        report = self._apply(cand, probs, before, cur.distances, [], sim.renders - renders0)
        report.retry = retry.to_json()
        return report

    def _apply(
        self,
        best: Candidate,
        probs: np.ndarray,
        before: dict[str, float],
        cur: dict[str, float],
        tried: list[dict[str, Any]],
        renders: int,
    ) -> StepReport:
        judge, sim = self.judge_now, self.simulator
        self.chain = self.chain.then(best.fx)
        captured = not sim.rendered_flow
        gain = judge.improvement(best.dist, cur)
        if not captured:
            self.states.append(best.sound)
        report = self.new_report(
            best.fx,
            probs,
            before,
            after=None if captured else best.dist,
            improved=None if captured else True,
            confidence=gain,
            selector_probability=best.probability,
            expected=best.dist,
            expected_improvement=gain,
            candidates=tried,
            refine=best.refine,
            renders=renders,
        )
        self.steps.append(report)
        if not captured:
            self.stop = judge.stop(J.AFTER_STEP, J.Progress(best.dist, len(self.steps), len(self.chain)))
        return report


class RefineLoop(VerifiedLoop):
    """The verified loop with the CMA-ES polish of each chosen effect's knobs."""

    kind = "refine"

    @property
    def polish_budget(self) -> int:
        return self.settings.refine_budget
