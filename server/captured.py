"""The verified loops in Live: Serum's real sound arrives as captures.

The first capture is the producer's dry sound, and candidates are simulated from it
through the rack as a stand-in for Serum. Each later capture judges the step applied
before it: when the judge says it made the sound worse, the step is taken back (the
effect's enable parameter to 0). The same request then offers the effect again with its
knobs corrected by what the capture showed (:mod:`serumrnn.server.capture_retry`, at most
``RETRY_CAPTURES`` retries per step), or, when no correction is predicted to help or the
budget is spent, the effect is not offered again and the next candidate is. A capture of the current state replaces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from serumrnn.server import judge as J
from serumrnn.server.capture_retry import plan_retry
from serumrnn.server.steps import Verdict, switch_off

if TYPE_CHECKING:
    from serumrnn.server.verified_loop import VerifiedLoop


def take_capture(loop: VerifiedLoop, current: np.ndarray) -> Verdict | None:
    """A captured sound: the input (first), a fresh take of the current state (replaces
    it), or the result of the pending step, judged now (a verdict)."""
    sound = loop.hear(current)
    if not loop.states:
        loop.simulator.base = sound.audio
        loop.start(sound)
        return None
    if len(loop.states) == len(loop.chain) + 1:
        loop.states[-1] = sound
        return None
    judge, last = loop.judge_now, loop.steps[-1]
    after = sound.distances
    back = judge.take_back(after, last.before)
    last.after, last.improved = after, not back
    if not back:
        loop.states.append(sound)
        loop.stop = judge.stop(J.AFTER_STEP, J.Progress(after, len(loop.steps), len(loop.chain)))
        text = f"Step {last.step} brought the sound closer."
    else:
        loop.steps.pop()
        tried, loop.chain = loop.chain, loop.chain.prefix(len(loop.chain) - 1)
        # Retried with knobs corrected by this capture, within the capture budget; else
        # never offered again.
        loop.retry = plan_retry(loop, tried, sound, last.before)
        if loop.retry is None:
            loop.rejected.add(last.effect)
        off = switch_off(last.effect)
        text = (
            f"Step {last.step} did not bring Serum's sound closer: turn "
            f"{last.label} off again ({off.serum_name} = 0)."
        ) + (" It is retried with its knobs corrected by this capture." if loop.retry is not None else "")
    verdict = Verdict(
        last.step, last.effect, last.label, last.before, after, not back, back, switch_off(last.effect), text
    )
    if back:
        loop.taken_back_steps.append(verdict)
    return verdict
