"""The fine-tune as a step (``serve``): offered once no effect brings the sound closer,
judged by the next capture in Live, taken back or undone like an effect's step.

Why a step: ``match`` fine-tunes the whole chain after the last step and reports it, but in
Live every change must reach Serum as something the producer sees, the next capture judges
and Undo takes back. So the server offers the fine-tune's knobs (of effects already on)
where it would otherwise say it is done, and the session is done once its sound is known:
at once on a renderer (a preset session), or at the next capture, which keeps it when the
judge hears it closer and otherwise takes it back (every knob set back to where it was).
The search itself is :meth:`serumrnn.server.verified_loop.VerifiedLoop.finish`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from serumrnn.server.steps import TUNE, TUNE_LABEL, Verdict, no_switch

if TYPE_CHECKING:
    from serumrnn.server.verified_loop import VerifiedLoop

#: Where a loop's fine-tune stands. ``DUE``: not run yet (it runs once the steps stop).
DUE = ""
#: It ran and offered nothing (no chain, the target reached, or nothing closer).
NONE = "none"
#: Offered and applied, its sound not known yet (Live: the next capture judges it).
OFFERED = "offered"
#: Applied and judged closer.
KEPT = "kept"
#: Judged not closer by its capture: every knob it moved set back.
TAKEN_BACK = "taken_back"
#: Taken back on request (Undo).
UNDONE = "undone"
#: The states in which the fine-tune is on Serum (it counts as a step).
APPLIED = (OFFERED, KEPT)


def judge_tune(loop: VerifiedLoop, current: np.ndarray) -> Verdict:
    """The capture of the sound with the offered fine-tune applied: kept when the judge
    hears it closer than the sound before it, else taken back."""
    offer, judge = loop.tune_offer, loop.judge_now
    if offer is None or loop.tune_state != OFFERED:
        raise RuntimeError("no fine-tune is waiting for its capture")
    sound = loop.hear(current)
    after = sound.distances
    back = judge.take_back(after, offer.before)
    offer.after = after
    if back:
        loop.tune_state = TAKEN_BACK
        text = f"The fine-tune did not bring Serum's sound closer: set {offer.set_back()}."
    else:
        loop.tune_state = KEPT
        loop.tuned_sound = sound
        if loop.fine_tuned is not None:
            loop.fine_tuned.update(kept=True, chain=offer.chain.to_json(), after=after)
        text = "The fine-tune brought the sound closer."
    verdict = Verdict(offer.step, TUNE, TUNE_LABEL, offer.before, after, not back, back, no_switch(), text)
    if back:
        loop.taken_back_steps.append(verdict)
    return verdict


def undo_tune(loop: VerifiedLoop) -> None:
    """Undo of an applied fine-tune: the chain's knobs as the steps left them."""
    loop.tune_state = UNDONE
    loop.tuned_sound = None
    if loop.fine_tuned is not None:
        before = loop.fine_tuned["before"]
        loop.fine_tuned.update(
            kept=False, chain=loop.chain.prefix(loop.best_step).to_json(), after=before, undone=True
        )
