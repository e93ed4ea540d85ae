"""Fine-tune rounds: after a kept round, another starts from its knobs and sound, each its
own step (``serve``), judged, taken back or undone newest first; the report adds them up.

The search of a round is scripted (each round moves the phaser's knobs halfway to the
target's, tests/phaser_pair.py), so every round here is closer and the tests pin the
loop's bookkeeping, not CMA-ES. ``OwnPlugins`` is the open rack under a profile's label."""

from __future__ import annotations

import numpy as np
import pytest
from phaser_pair import KNOBS, RANKING, TRUTH, preset_session
from stub_models import StubModels

from serumrnn.server import fine_tune as FT
from serumrnn.server import judge as J
from serumrnn.server import osc
from serumrnn.server.assistant import Assistant
from serumrnn.server.rack import Chain
from serumrnn.server.report import format_steps
from serumrnn.server.steps import TUNE


@pytest.fixture
def halfway(monkeypatch):
    """Each round's search: the phaser's knobs halfway to the target's (one render)."""

    def tune(chain, scores, start_score, *, budget, seed, sigmas):
        fx = chain[0]
        moved = Chain([fx.with_knobs({k: (v + TRUTH[0].knobs[k]) / 2 for k, v in fx.knobs.items()})])
        return FT.Tuned(moved, float(scores([moved])[0]), start_score, 1)

    monkeypatch.setattr(FT, "fine_tune", tune)
    monkeypatch.setattr(FT, "FREED_EXTRAS", ())  # the ordinary rounds alone (tests/test_freed_round.py)


def _depths(chain_json) -> float:
    return Chain.from_json(chain_json)[0].knobs["depth"]


def test_the_judge_runs_another_round_after_a_kept_one_within_the_limit():
    assert [J.tune_again(kept, 2) for kept in (0, 1, 2)] == [False, True, False]
    assert not J.tune_again(1, 1)


def test_rounds_must_be_one_or_more(rack, phaser_target):
    with pytest.raises(ValueError, match="fine_tune_rounds must be 1 or more"):
        Assistant(
            StubModels(RANKING, KNOBS),
            phaser_target,
            renderer=rack,
            preset="saw",
            fine_tune=60,
            fine_tune_rounds=0,
        )


def test_a_preset_session_tunes_again_from_the_first_rounds_knobs(rack, phaser_target, halfway):
    a = preset_session(rack, phaser_target)
    turns = []
    while not a.done:
        turns.append(a.advance())
    first, second = turns[1].tune, turns[2].tune
    assert turns[0].report.effect == "phaser" and first is not None and second is not None
    assert (first.step, second.step, turns[2].step, turns[2].best_step) == (2, 3, 3, 3)
    assert turns[2].done and len(turns) == 3  # two rounds kept: the limit
    # the second round starts where the first ended
    assert second.before == first.after and second.after["mse"] < first.after["mse"]
    depth = {c.knob: c for c in second.changes}["depth"]
    assert depth.before == pytest.approx((0.53 + 0.47) / 2) and depth.after == pytest.approx(0.485)
    res = a.result()
    ft = res.fine_tune
    assert ft["kept"] and ft["rounds"] == 2 and [r["kept"] for r in ft["round_reports"]] == [True, True]
    assert res.best == second.after and _depths(res.best_chain) == pytest.approx(0.485)
    # the report's moves run from the steps' knobs to the last round's
    moved = {c["knob"]: c for c in ft["changes"]}
    assert moved["depth"]["before"] == pytest.approx(0.53) and moved["depth"]["after"] == pytest.approx(0.485)
    assert ft["before"] == first.before and ft["improvement"] > first.improvement
    assert ft["from_chain"] == ft["round_reports"][0]["from_chain"]  # where the tuning started
    assert ft["renders"] == sum(r["renders"] for r in ft["round_reports"])
    assert f"{ft['renders']} renders tried in 2 rounds" in format_steps(res)
    # match's run to the end: the same rounds
    ran = preset_session(rack, phaser_target)
    assert ran.run().fine_tune == ft


def test_one_round_when_the_settings_say_one(rack, phaser_target, halfway):
    a = preset_session(rack, phaser_target, fine_tune_rounds=1)
    res = a.run()
    assert res.fine_tune["rounds"] == 1 and _depths(res.best_chain) == pytest.approx(0.5)


def _live_to_first_round(own_plugins, phaser_target):
    a = Assistant(
        StubModels(RANKING, KNOBS), phaser_target, renderer=own_plugins, loop="search", fine_tune=60
    )
    sound = own_plugins.dry("saw")
    while True:
        turn = a.advance(sound)
        if turn.tune is not None:
            return a, turn
        assert turn.report is not None and not turn.done
        sound = own_plugins.render(a.chain, "saw")


def test_live_offers_the_second_round_with_the_first_rounds_verdict(own_plugins, phaser_target, halfway):
    a, turn = _live_to_first_round(own_plugins, phaser_target)
    first = turn.tune
    heard_first = own_plugins.render(first.chain, "saw")
    second_turn = a.advance(heard_first)
    v, second = second_turn.judged, second_turn.tune
    assert v is not None and v.effect == TUNE and v.improved and not v.take_back
    assert second is not None and second.step == 3 and second_turn.step == 3 and not second_turn.done
    assert second.before == v.after and second.after is None
    # one reply carries both: the first round's verdict, then the second round to set
    reply = osc.step_reply(7, "s1", second_turn, renderer="plugins: own")
    addrs = [m[0] for m in reply]
    assert addrs[0] == "/serumrnn/step/judged" and addrs[1] == "/serumrnn/step/tune"
    assert "/serumrnn/step/takeback" not in addrs and addrs[-1] == "/serumrnn/step/end"
    knobs = [args for addr, args in reply if addr == "/serumrnn/step/tune/knob"]
    assert [(k[2], k[3], k[6]) for k in knobs] == [
        (c.serum_name, c.serum_value, c.serum_before) for c in second.changes
    ]
    assert reply[-1][1][2:7] == (3, TUNE, 0, "", 3)
    # its capture is not closer (Serum kept the first round's knobs): back to them
    back = a.advance(heard_first)
    assert back.judged.take_back and back.done and back.step == 2 and back.best_step == 2
    depth = {c.knob: c for c in second.changes}["depth"]
    assert f"Phaser {depth.label} back to {depth.before_text}" in back.judged.text
    res = a.result()
    assert res.fine_tune["kept"] and _depths(res.best_chain) == pytest.approx(0.5)
    assert np.array_equal(a.tuned_audio, heard_first) and res.taken_back[-1]["step"] == 3


def test_undo_takes_the_rounds_back_newest_first_then_the_effect(own_plugins, phaser_target, halfway):
    a, turn = _live_to_first_round(own_plugins, phaser_target)
    heard_first = own_plugins.render(turn.tune.chain, "saw")
    second = a.advance(heard_first).tune
    last = a.advance(own_plugins.render(second.chain, "saw"))
    assert last.done and last.judged.improved and last.step == 3
    assert _depths(a.result().best_chain) == pytest.approx(0.485)
    undone = a.undo()
    assert undone.effect == TUNE and undone.steps_left == 2 and a.done
    assert _depths(a.result().best_chain) == pytest.approx(0.5) and np.array_equal(a.tuned_audio, heard_first)
    undone = a.undo()
    assert undone.effect == TUNE and undone.steps_left == 1 and not a.result().fine_tune["kept"]
    assert a.tuned_audio is None and _depths(a.result().best_chain) == pytest.approx(0.53)
    undone = a.undo()
    assert undone.effect == "phaser" and undone.steps_left == 0 and not a.done
