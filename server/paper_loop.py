"""The paper's loop exactly (section 4.4): the most probable unused effect is applied
blindly; a step that does not lower the Mel-MSE is bad, and the loop stops once more than
``tolerance`` bad steps have happened (the bad step is kept), or once every effect is on.
Both rules are the judge's (:func:`judge.paper_bad_step`, :func:`judge.paper_stop`).

With captured sound (Live) a step is judged when the next capture arrives; a capture
that makes the stopping rule fire ends the loop before another effect is chosen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serumrnn.server import judge as J
from serumrnn.server import spec
from serumrnn.server.judge import Stop
from serumrnn.server.loop import Loop
from serumrnn.server.models import most_probable_unused
from serumrnn.server.steps import StepReport, Verdict, switch_off


class PaperLoop(Loop):
    kind = "paper"
    keeps_bad = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.bad_steps = 0
        super().__init__(*args, **kwargs)

    def stopped(self) -> Stop | None:
        reason = J.paper_stop(self.bad_steps, self.settings.tolerance, len(self.chain))
        return J.stop(reason, self.best_step) if reason else None

    def take_turn(self, current: np.ndarray | None) -> tuple[Verdict | None, StepReport | None]:
        judged = None if current is None else self._capture(current)
        if len(self.states) != len(self.chain) + 1:
            raise RuntimeError(
                "no current sound: give a renderer and preset/input, or pass the captured sound"
            )
        if judged is not None and self.done:
            return judged, None  # the capture showed the step that fires the stopping rule
        return judged, self._step()

    def _capture(self, current: np.ndarray) -> Verdict | None:
        """A captured sound: the input (first), a fresh take of the current state, or the
        result of the pending step, which it judges."""
        sound = self.hear(current)
        if not self.states:
            self.start(sound)
        elif len(self.states) == len(self.chain) + 1:
            self.states[-1] = sound
        else:
            self.states.append(sound)
        last = self.steps[-1] if self.steps else None
        if last is None or last.after is not None or len(self.states) != len(self.chain) + 1:
            return None
        last.after = self.distance()
        last.improved = self._judge_step(last.before, last.after)
        text = (
            f"Step {last.step} lowered the Mel-MSE."
            if last.improved
            else f"Step {last.step} did not lower the Mel-MSE: a bad step, kept (the paper's rule)."
        )
        off = switch_off(last.effect)
        return Verdict(
            last.step, last.effect, last.label, last.before, last.after, last.improved, False, off, text
        )

    def _judge_step(self, before: dict[str, float], after: dict[str, float]) -> bool:
        """Whether a step improved the sound by the paper's rule (a bad one is counted)."""
        improved = not J.paper_bad_step(before, after)
        if not improved:
            self.bad_steps += 1
        return improved

    def _step(self) -> StepReport:
        """The paper's step: the most probable unused effect, applied blindly."""
        before = self.distance()
        probs = self.selector_probs()
        effect = most_probable_unused(probs, self.chain.order)
        fx = self.model_knobs(effect)
        self.chain = self.chain.then(fx)
        after, improved = None, None
        if self.sim is not None and self.sim.rendered_flow:
            self.states.append(J.judged(self.sim.render(self.chain), self.target))
            after = self.distance()
            improved = self._judge_step(before, after)
        p = float(probs[spec.EFFECT_NAMES.index(effect)])
        report = self.new_report(
            fx,
            probs,
            before,
            after=after,
            improved=improved,
            confidence=p,
            selector_probability=p,
            renders=0 if after is None else 1,
        )
        self.steps.append(report)
        return report

    def forget(self, step: StepReport) -> None:
        if step.improved is False:
            self.bad_steps -= 1
