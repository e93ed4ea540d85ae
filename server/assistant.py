"""The assistant: one effect at a time from the producer's sound towards the target.

It runs one of four loops (``Assistant(loop=...)``, names in :data:`loop_settings.LOOPS`, the
default :data:`loop_settings.DEFAULT_LOOP`):

* ``"verified"`` and ``"refine"``: a step is offered only when its render says
  it brings the sound closer (:mod:`serumrnn.server.verified_loop`);
* ``"search"``: the same, with the knobs of each top-``k`` effect searched by rendering
  before it is rejected (:mod:`serumrnn.server.search_loop`);
* ``"paper"``: the paper's loop exactly, the selector's choice applied blindly
  (:mod:`serumrnn.server.paper_loop`).

The assistant only checks the settings, builds the loop and answers for it: every
stop, best-state and take-back decision is the judge's (:mod:`serumrnn.server.judge`),
and each request is one call (:meth:`Assistant.advance`, :meth:`Assistant.undo`) whose
answer is a typed record (:class:`steps.Turn`, :class:`steps.Undone`).

**In Live** the device sends what Serum really plays: pass it as ``current``; the first
capture is the producer's dry sound (:mod:`serumrnn.server.captured`).
"""

from __future__ import annotations

import numpy as np

from serumrnn.server import judge as J
from serumrnn.server import loop_settings as LS
from serumrnn.server.judge import Judge, Sound, Stop
from serumrnn.server.loop import Loop
from serumrnn.server.loop_settings import DEFAULT_K, DEFAULT_LOOP, REFINE_BUDGET, check_settings
from serumrnn.server.models import StepModels
from serumrnn.server.paper_loop import PaperLoop
from serumrnn.server.rack.chain import Chain
from serumrnn.server.rack.render import Renderer
from serumrnn.server.search_loop import SearchLoop
from serumrnn.server.steps import LoopSettings, Result, StepReport, Turn, Undone
from serumrnn.server.verified_loop import RefineLoop, VerifiedLoop

#: The class that runs each loop of ``loop_settings.LOOPS``.
LOOP_CLASSES: dict[str, type[Loop]] = {
    "verified": VerifiedLoop,
    "refine": RefineLoop,
    "search": SearchLoop,
    "paper": PaperLoop,
}


class Assistant:
    """One producer's way from an input sound to a target, step by step.

    The source of the current sound is one of: an open-rack or plugin preset
    (``renderer`` + ``preset``), an input clip run through the rack (``renderer`` +
    ``input_audio``), or, in Live, whatever the device captures (pass ``current`` to
    :meth:`advance` / :meth:`step`; the first capture is the input). The verified loops
    need a ``renderer`` to simulate candidates (the open rack, or a plugin profile).
    """

    def __init__(
        self,
        models: StepModels,
        target: np.ndarray,
        *,
        renderer: Renderer | None = None,
        preset: str | None = None,
        input_audio: np.ndarray | None = None,
        tolerance: int = 1,
        selector: str = "selector",
        loop: str = DEFAULT_LOOP,
        k: int = DEFAULT_K,
        refine_budget: int = REFINE_BUDGET,
        decision: str = J.DECISION,
        margin: float = J.MARGIN,
        seed: int = 0,
        fine_tune: int = 0,
        extra: bool = True,
        fine_tune_rounds: int | None = None,
    ):
        if fine_tune_rounds is None:  # read here, so a measurement may set the constant
            fine_tune_rounds = LS.FINE_TUNE_ROUNDS
        check_settings(loop, k, refine_budget, fine_tune, fine_tune_rounds)
        if loop != "paper" and renderer is None:
            raise ValueError(
                f"the {loop} loop renders candidates before it offers one: pass a "
                "renderer (the open rack or a plugin rack), or use loop='paper'"
            )
        self.loop = loop
        settings = LoopSettings(
            tolerance, k, refine_budget, seed, selector, decision, margin, fine_tune, extra, fine_tune_rounds
        )
        self.runner: Loop = LOOP_CLASSES[loop](
            models, target, renderer=renderer, preset=preset, input_audio=input_audio, settings=settings
        )

    # -- one call per request ------------------------------------------------------------
    def advance(self, current: np.ndarray | None = None) -> Turn:
        """Judge the capture (if any), then choose the next step or stop."""
        return self.runner.advance(current)

    def step(self, current: np.ndarray | None = None) -> StepReport | None:
        """The next step (None when none is offered: :attr:`stop` says why).
        ``current``: the sound as it is now (captured)."""
        return self.runner.step(current)

    def undo(self) -> Undone:
        """Take the last step back (its effect switched off again)."""
        return self.runner.undo()

    def run(self) -> Result:
        return self.runner.run()

    def result(self) -> Result:
        return self.runner.result()

    # -- what it reports ---------------------------------------------------------------
    @property
    def stop(self) -> Stop | None:
        """Why the assistant is done (None while it goes on), with the step to keep."""
        return self.runner.stopped()

    @property
    def done(self) -> bool:
        return self.runner.done

    @property
    def stop_reason(self) -> str:
        """Why the assistant is done ("" while it is not): a key of ``judge.STOP_REASONS``."""
        return self.runner.stop_reason

    @property
    def best_step(self) -> int:
        return self.runner.best_step

    @property
    def can_undo(self) -> bool:
        return bool(self.runner.steps)

    @property
    def effects_on(self) -> tuple[str, ...]:
        """The effects switched on, in the order they were applied."""
        return self.runner.chain.order

    @property
    def chain(self) -> Chain:
        return self.runner.chain

    @property
    def serum_chain(self) -> Chain:
        """The chain as Serum holds it once the device applied every step: with an applied
        fine-tune step's knobs."""
        return self.runner.serum_chain()

    @property
    def steps(self) -> list[StepReport]:
        return self.runner.steps

    @property
    def states(self) -> list[Sound]:
        return self.runner.states

    @property
    def tuned_audio(self) -> np.ndarray | None:
        """The sound of the kept fine-tune (None: none ran, or it was not closer)."""
        sound = self.runner.tuned_sound
        return None if sound is None else sound.audio

    @property
    def judge(self) -> Judge | None:
        return self.runner.judge

    @property
    def target(self) -> Sound:
        return self.runner.target

    @property
    def input_audio(self) -> np.ndarray | None:
        return self.runner.input_audio

    @property
    def renders(self) -> int:
        return self.runner.renders
