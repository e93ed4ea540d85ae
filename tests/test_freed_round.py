"""The freed round: once the ordinary fine-tune rounds are over, one round more that also
moves the phaser's and the reverb's extra knobs no step set (``fine_tune.FREED_EXTRAS``),
kept only when closer.

The target is the phaser pair's (tests/phaser_pair.py) with the phaser's rate off Serum's
default, which no step and no ordinary round moves. Each round's search is scripted: every
knob the chain carries moves to the target's, so the first round sets the Table 1 knobs,
the second finds nothing more, and only the freed round can set the rate. The tests pin
which knobs each round is given and the loop's bookkeeping, not CMA-ES."""

from __future__ import annotations

import numpy as np
import pytest
from phaser_pair import KNOBS, RANKING, TRUTH, preset_session
from stub_models import StubModels

from serumrnn.server import fine_tune as FT
from serumrnn.server import judge as J
from serumrnn.server import spec
from serumrnn.server.assistant import Assistant
from serumrnn.server.rack import FX, Chain
from serumrnn.server.report import format_steps

PHASER = spec.effect("phaser")
RATE = next(f for f in PHASER.extra if f.name == "rate")
#: The target's phaser: the pair's, its rate above Serum's default (by little enough that the
#: steps name the phaser alone and set no extra knob of it).
TARGET_FX = FX("phaser", TRUTH[0].knobs, extra={"rate": RATE.value + 0.1})


@pytest.fixture
def rate_target(rack):
    return rack.render([TARGET_FX], "saw")


@pytest.fixture
def scripted(monkeypatch):
    """Each round's search moves every knob the chain carries to the target's; returns the
    chains the rounds were given. ``still``: rounds that find nothing."""
    given: list[Chain] = []
    still: set[int] = set()

    def tune(chain, scores, start_score, *, budget, seed, sigmas):
        given.append(chain)
        if len(given) in still:
            return FT.Tuned(chain, start_score, start_score, 1)
        fx = chain[0]
        fixed = {f.name: f for f in fx.effect.extra}
        moved = FX(
            fx.name,
            {k: TARGET_FX.knobs[k] for k in fx.knobs},
            extra={k: TARGET_FX.fixed_value(fixed[k]) for k in fx.extra},
        )
        return FT.Tuned(Chain([moved]), float(scores([Chain([moved])])[0]), start_score, 1)

    monkeypatch.setattr(FT, "fine_tune", tune)
    return given, still


def test_the_judge_names_the_freed_round_once_after_the_ordinary_rounds():
    # (last kept, last found nothing, kept rounds, rounds, freed ran, unset extras)
    assert J.next_tune_round(True, False, 1, 2, False, 2) == J.TUNE_ROUND
    assert J.next_tune_round(True, False, 2, 2, False, 2) == J.FREED_ROUND
    assert J.next_tune_round(False, True, 1, 2, False, 2) == J.FREED_ROUND  # a round found nothing
    assert J.next_tune_round(False, True, 0, 2, False, 2) == J.FREED_ROUND
    assert J.next_tune_round(True, False, 2, 2, False, 0) is None  # nothing to free
    assert J.next_tune_round(True, False, 1, 2, True, 2) is None  # the freed round ran: done
    assert J.next_tune_round(False, False, 1, 2, False, 2) is None  # taken back or undone


def test_the_freed_knobs_are_those_no_step_set_that_the_renderer_sets(rack):
    chain = Chain(
        [FX("phaser", KNOBS["phaser"], extra={"wet": 0.8}), FX("reverb", mix=0.4, low_cut=0.1, high_cut=0.8)]
    )

    def settable(effect: str) -> tuple[str, ...]:
        return ("rate",) if effect == "phaser" else ("size", "decay")

    assert FT.unset_extras(chain, settable) == [("phaser", "rate"), ("reverb", "size"), ("reverb", "decay")]
    freed = FT.freed(chain, FT.unset_extras(chain, settable))
    assert freed[0].extra == {"wet": 0.8, "rate": RATE.value} and freed[0].knobs == chain[0].knobs
    assert set(freed[1].extra) == {"size", "decay"}
    # the same sound: the freed knobs start where they were
    assert np.array_equal(rack.render(freed, "saw"), rack.render(chain, "saw"))
    assert FT.unset_extras(freed, settable) == []
    assert FT.unset_extras(chain, lambda effect: ()) == []  # a renderer that sets none


def test_after_the_ordinary_rounds_the_freed_round_moves_the_rate(rack, rate_target, scripted):
    given, _ = scripted
    res = preset_session(rack, rate_target, loop="verified").run()  # the models' knobs, unsearched
    ft = res.fine_tune
    assert [r["freed"] for r in ft["round_reports"]] == [[], [], [["phaser", "wet"], ["phaser", "rate"]]]
    assert [r["kept"] for r in ft["round_reports"]] == [True, False, True]
    assert ["rate" in c[0].extra for c in given] == [False, False, True]
    assert Chain.from_json(res.best_chain)[0].extra["rate"] == pytest.approx(TARGET_FX.extra["rate"])
    moved = {c["knob"]: c for c in ft["changes"]}
    assert moved["rate"]["before"] == pytest.approx(RATE.value) and "wet" not in moved  # the mix stayed
    assert ft["after"]["mse"] < ft["round_reports"][0]["after"]["mse"]
    assert f"{ft['renders']} renders tried in 3 rounds" in format_steps(res)


def test_no_freed_round_when_the_settings_free_nothing(rack, rate_target, scripted, monkeypatch):
    # as in the test above, the first round is kept and the second finds nothing
    res = preset_session(rack, rate_target, loop="verified", extra=False).run()
    assert res.fine_tune["rounds"] == 2  # --no-extra-knobs: the extra knobs stay still
    monkeypatch.setattr(FT, "FREED_EXTRAS", ())
    res = preset_session(rack, rate_target, loop="verified").run()
    assert res.fine_tune["rounds"] == 2


def test_a_round_that_finds_nothing_is_followed_by_the_freed_round_in_the_same_turn(
    rack, rate_target, scripted
):
    given, still = scripted
    still.add(1)  # the first ordinary round finds nothing closer
    a = preset_session(rack, rate_target)
    turns = []
    while not a.done:
        turns.append(a.advance())
    assert turns[0].report.effect == "phaser"
    tune = turns[1].tune
    assert tune is not None and tune.step == 2 and {c.knob for c in tune.changes} >= {"rate"}
    assert len(turns) == 2 and turns[1].done  # nothing follows the freed round
    ft = a.result().fine_tune
    assert [(r["kept"], bool(r["freed"])) for r in ft["round_reports"]] == [(False, False), (True, True)]


def test_live_takes_the_freed_round_back_when_its_capture_is_not_closer(own_plugins, rate_target, scripted):
    a = Assistant(
        StubModels(RANKING, KNOBS), rate_target, renderer=own_plugins, loop="verified", fine_tune=60
    )
    sound = own_plugins.dry("saw")
    offers = []
    while not a.done:
        turn = a.advance(sound)
        if turn.tune is not None:
            offers.append(turn.tune)
            # round 1 is heard as rendered (round 2 finds nothing: the freed round follows it in
            # the same turn); the freed round's capture is the sound before it
            sound = own_plugins.render(turn.tune.chain, "saw") if len(offers) < 2 else sound
        elif turn.report is not None:
            sound = own_plugins.render(a.chain, "saw")
    assert [o.step for o in offers] == [2, 3] and {c.knob for c in offers[1].changes} == {"rate"}
    res = a.result()
    assert res.taken_back[-1]["step"] == 3 and res.fine_tune["kept"]
    assert "rate" not in Chain.from_json(res.best_chain)[0].extra  # back to round 1's knobs
    assert [(r["kept"], bool(r["freed"])) for r in res.fine_tune["round_reports"]] == [
        (True, False),
        (False, False),
        (False, True),
    ]


def test_evaluation_rows_keep_every_round_and_mark_the_freed_one(rack, rate_target, scripted):
    from serumrnn.training.ood_suite import tune_round_rows

    res = preset_session(rack, rate_target, loop="verified").run()
    rows = tune_round_rows(res.fine_tune)
    assert [(r["kept"], r["freed"]) for r in rows] == [(True, False), (False, False), (True, True)]
    assert rows[-1]["after"] == {m: res.best[m] for m in ("mse", "mssmae")}
    assert sum(r["renders"] for r in rows) == res.fine_tune["renders"]
    assert tune_round_rows(None) == []
