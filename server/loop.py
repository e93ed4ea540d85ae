"""What every loop the assistant runs shares: the target, the chain so far, the sounds
it has passed through, the steps it offered, the judge, and the result.

A loop is one class (:class:`serumrnn.server.paper_loop.PaperLoop`,
:class:`serumrnn.server.verified_loop.VerifiedLoop`) that says how one turn goes
(:meth:`Loop.take_turn`) and when it has stopped (:meth:`Loop.stopped`); every stop and
best-state decision it makes is the judge's (:mod:`serumrnn.server.judge`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from serumrnn.server import judge as J
from serumrnn.server import outcome, spec
from serumrnn.server.audio_io import check_signal
from serumrnn.server.judge import Judge, Sound, Stop
from serumrnn.server.models import (
    StepModels,
    knobs_from_outputs,
    pair_inputs,
    param_model_name,
    selector_inputs,
)
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.render import Renderer
from serumrnn.server.simulation import Simulator
from serumrnn.server.steps import (
    LoopSettings,
    Result,
    StepReport,
    TuneStep,
    Turn,
    Undone,
    Verdict,
    describe,
    instruction,
)


class Loop:
    """One producer's way from an input sound to a target, one effect at a time.

    The current sound comes from the renderer (``preset`` or ``input_audio``) or, in
    Live, from captures (the first capture is the input).
    """

    #: The loop's name in ``loop_settings.LOOPS``.
    kind: ClassVar[str] = ""
    #: The judge's best-state rule for this loop (see :meth:`Judge.best`).
    keeps_bad: ClassVar[bool] = False

    def __init__(
        self,
        models: StepModels,
        target: np.ndarray,
        *,
        renderer: Renderer | None = None,
        preset: str | None = None,
        input_audio: np.ndarray | None = None,
        settings: LoopSettings | None = None,
    ) -> None:
        self.models = models
        self.settings = LoopSettings() if settings is None else settings
        self.input_audio = (
            None if input_audio is None else check_signal(np.asarray(input_audio, np.float32), "input")
        )
        self.target_audio = check_signal(np.asarray(target, np.float32), "target")
        self.target = J.measure([self.target_audio])[0]
        self.sim = None if renderer is None else Simulator(renderer, preset, self.input_audio, self.target)
        self.chain = Chain()
        self.states: list[Sound] = []
        self.steps: list[StepReport] = []
        self.judge: Judge | None = None
        self.warnings: list[str] = []
        self.tried_at_stop: list[dict[str, Any]] = []  # what the search that found nothing tried
        if self.sim is not None and self.sim.rendered_flow:
            self.start(J.judged(self.sim.input_sound(), self.target))

    # -- what a loop defines -------------------------------------------------------------
    def take_turn(self, current: np.ndarray | None) -> tuple[Verdict | None, StepReport | None]:
        """Judge the capture (if any), then offer the next step (None: none offered)."""
        raise NotImplementedError

    def stopped(self) -> Stop | None:
        """Why the loop is done (None while it goes on), with the step to keep."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------
    @property
    def judge_now(self) -> Judge:
        """The judge, which exists once the input sound is known (rendered or captured)."""
        if self.judge is None:
            raise RuntimeError(
                "no input sound yet: give a preset or an input clip, or pass the captured sound"
            )
        return self.judge

    @property
    def renders(self) -> int:
        return 0 if self.sim is None else self.sim.renders

    def start(self, sound: Sound) -> None:
        """The input is known: the judge's start, the simulation of the empty chain."""
        self.states = [sound]
        if self.sim is not None:
            self.sim.start(sound)
        self.judge = Judge(self.distance(0), decision=self.settings.decision, margin=self.settings.margin)
        warn = J.out_of_domain(self.judge.start, self.models.group)
        self.warnings = [warn] if warn else []

    def hear(self, current: np.ndarray) -> Sound:
        """A captured sound, checked and judged against the target."""
        return J.judged(check_signal(np.asarray(current, np.float32), "current"), self.target)

    def distance(self, which: int = -1) -> dict[str, float]:
        return self.states[which].distances

    def selector_probs(self) -> np.ndarray:
        """The selector's probabilities for the next effect, from every sound so far."""
        applied = ["initial"] + list(self.chain.order)
        x = selector_inputs([s.features for s in self.states], self.target.features, applied)
        probs: np.ndarray = np.asarray(self.models.predict(self.settings.selector, x))[0]
        return probs

    def pair(self) -> dict[str, np.ndarray]:
        """The parameter models' input: the current sound and the target."""
        return pair_inputs(self.states[-1].features, self.target.features)

    def model_knobs(self, effect: str) -> FX:
        """``effect`` with the knobs its parameter model gives for (current, target)."""
        return knobs_from_outputs(effect, self.models.predict(param_model_name(effect), self.pair()))

    def new_report(
        self,
        fx: FX,
        probs: np.ndarray,
        before: dict[str, float],
        *,
        after: dict[str, float] | None,
        improved: bool | None,
        confidence: float,
        **extra: Any,
    ) -> StepReport:
        """The report of a step that just put ``fx`` on the chain (``extra``: the
        loop's own fields of :class:`StepReport`)."""
        en, knobs, fixed = describe(fx)
        return StepReport(
            step=len(self.chain),
            effect=fx.name,
            label=fx.effect.label,
            enable=en,
            knobs=knobs,
            fixed=fixed,
            confidence=confidence,
            probabilities={e: float(q) for e, q in zip(spec.EFFECT_NAMES, probs)},
            before=before,
            after=after,
            improved=improved,
            instruction=instruction(fx),
            chain=self.chain.to_json(),
            loop=self.kind,
            **extra,
        )

    @property
    def done(self) -> bool:
        return self.stopped() is not None

    @property
    def stop_reason(self) -> str:
        """Why the loop is done ("" while it is not): a key of ``judge.STOP_REASONS``."""
        s = self.stopped()
        return "" if s is None else s.reason

    def path(self) -> list[dict[str, float] | None]:
        """The distances of the input and after each step (None: not known yet)."""
        return [self.distance(0)] + [s.after for s in self.steps]

    @property
    def best_step(self) -> int:
        """The step to keep (0 = the input), as the judge rules for this loop."""
        if self.judge is None:
            return len(self.steps)
        return self.judge.best(self.path(), keeps_bad=self.keeps_bad)

    def advance(self, current: np.ndarray | None = None) -> Turn:
        """One request: judge the capture (if any), then choose the next step or stop."""
        done = self.stopped()
        if done is not None:
            raise RuntimeError(f"the session is done: {done.text}")
        judged, report = self.take_turn(current)
        stop = self.stopped()
        text = "" if stop is None else outcome.done_sentence(self.result().outcome)
        on = self.tune_on()  # an applied fine-tune counts as a step, and is then the best
        return Turn(judged, report, stop, len(self.chain) + on, self.best_step + on, text, self.take_offer())

    def step(self, current: np.ndarray | None = None) -> StepReport | None:
        """The next step (None when none is offered: see :meth:`stopped`).
        ``current``: the sound as it is now (captured)."""
        return self.advance(current).report

    def undo(self) -> Undone:
        """Take the last step back (its effect switched off again)."""
        if not self.steps:
            raise RuntimeError("nothing to undo")
        last = self.steps.pop()
        self.forget(last)
        self.chain = self.chain.prefix(len(self.chain) - 1)
        del self.states[len(self.chain) + 1 :]
        return Undone(len(self.chain), last.effect, last.enable)

    @property
    def tuned_sound(self) -> Sound | None:
        """The kept fine-tune's sound (None: none ran, or none was kept; the verified loops)."""
        return None

    def tune_on(self) -> int:
        """1 while a fine-tune offered as a step is applied (the verified loops), else 0."""
        return 0

    def serum_chain(self) -> Chain:
        """The chain as Serum holds it once every step offered is applied."""
        return self.chain

    def take_offer(self) -> TuneStep | None:
        """The fine-tune the last turn offered as a step (None: none), handed out once."""
        return None

    def forget(self, step: StepReport) -> None:
        """What a loop undoes of its own when a step is taken back on request."""

    def run(self) -> Result:
        while not self.done and self.step() is not None:
            pass
        self.finish()
        return self.result()

    def finish(self) -> None:
        """What a loop does once its steps are done, before the result (the verified
        loops: the fine-tune of the whole chain)."""

    def finished(self) -> dict[str, Any] | None:
        """The fine-tune's report (None: none ran). When ``kept``, its ``chain`` and
        ``after`` are the result's best chain and distances."""
        return None

    def taken_back(self) -> list[Verdict]:
        return []

    def result(self) -> Result:
        initial = self.distance(0) if self.states else None
        best = self.best_step
        final = self.steps[-1].after if self.steps else initial
        best_d = initial if best == 0 else self.steps[best - 1].after
        best_chain = self.chain.prefix(best).to_json()
        tuned = self.finished()
        if tuned is not None and tuned["kept"]:
            best_chain, best_d = tuned["chain"], tuned["after"]
        closeness = None if self.judge is None or best_d is None else self.judge.closeness(best_d)
        stop = self.stopped()
        reason = None if stop is None else stop.reason
        graded = outcome.of(
            closeness, len(self.steps), reason, self.kind, getattr(self.models, "group", None)
        )
        warn = outcome.unmatched_warning(
            closeness, outcome.first_choice_refused([s.to_json() for s in self.steps], self.tried_at_stop)
        )
        notes = list(self.warnings) + ([warn] if warn and stop is not None else [])
        return Result(
            steps=self.steps,
            initial=initial,
            best_step=best,
            best_chain=best_chain,
            final=final,
            notes=notes,
            loop=self.kind,
            stop=None if stop is None else stop.to_json(),
            best=best_d,
            closeness=closeness,
            renders=self.renders,
            taken_back=[v.to_json() for v in self.taken_back()],
            tried=self.tried_at_stop,
            outcome=graded,
            fine_tune=tuned,
        )
