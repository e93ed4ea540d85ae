"""The fine-tune as a step (``serve``): offered once no effect brings the sound closer,
judged by the next capture in Live, taken back or undone like an effect's step.

Why a step: ``match`` fine-tunes the whole chain after the last step and reports it, but in
Live every change must reach Serum as something the producer sees, the next capture judges
and Undo takes back. So the server offers the fine-tune's knobs (of effects already on)
where it would otherwise say it is done. Its sound is known at once on a renderer (a preset
session), or at the next capture, which keeps it when the judge hears it closer and
otherwise takes it back (every knob set back to where it was). A kept round may be followed
by another (``judge.tune_again``); the session is done once no round follows.
The search itself is :meth:`serumrnn.server.verified_loop.VerifiedLoop.finish`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from serumrnn.server.steps import TUNE, TUNE_LABEL, Verdict, no_switch

if TYPE_CHECKING:
    from serumrnn.server.judge import Sound
    from serumrnn.server.steps import TuneStep
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


@dataclass
class Applied:
    """A fine-tune round on Serum: its offer, its sound (None until a capture judges it in
    Live) and its report (the loop's ``tune_rounds`` entry, updated when judged or undone)."""

    offer: TuneStep
    sound: Sound | None
    record: dict[str, Any]


def judge_tune(loop: VerifiedLoop, current: np.ndarray) -> Verdict:
    """The capture of the sound with the offered fine-tune round applied: kept when the
    judge hears it closer than the sound before it, else taken back."""
    offer, judge = loop.tune_offer, loop.judge_now
    if offer is None or loop.tune_state != OFFERED:
        raise RuntimeError("no fine-tune is waiting for its capture")
    sound = loop.hear(current)
    after = sound.distances
    back = judge.take_back(after, offer.before)
    offer.after = after
    applied = loop.applied_tunes[-1]
    if back:
        loop.tune_state = TAKEN_BACK
        loop.applied_tunes.pop()
        text = f"The fine-tune did not bring Serum's sound closer: set {offer.set_back()}."
    else:
        loop.tune_state = KEPT
        applied.sound = sound
        applied.record.update(kept=True, chain=offer.chain.to_json(), after=after)
        text = "The fine-tune brought the sound closer."
    verdict = Verdict(offer.step, TUNE, TUNE_LABEL, offer.before, after, not back, back, no_switch(), text)
    if back:
        loop.taken_back_steps.append(verdict)
    return verdict


def undo_tune(loop: VerifiedLoop) -> None:
    """Undo of the newest applied fine-tune round: the knobs as they were before it (the
    round before's, or the steps'). No round is offered after it."""
    loop.tune_state = UNDONE
    rec = loop.applied_tunes.pop().record
    rec.update(kept=False, chain=rec["from_chain"], after=rec["before"], undone=True)
