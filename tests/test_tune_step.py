"""The fine-tune as a step (``serve``): offered where the loop would say it is done, judged
by the next capture in Live, taken back when that capture is not closer, undone on request;
in Live only when the server renders on the producer's own plugins, not the open rack.

The open rack's sound plays Serum and scripted models put a phaser's notches a little off
the target's (tests/phaser_pair.py), so the steps leave a distance that only the fine-tune
closes. ``OwnPlugins`` is the open rack under a profile's label (tests/own_plugins.py).
One fine-tune round here (``fine_tune_rounds=1``, no freed round): tests/test_tune_rounds.py
has the later rounds, tests/test_freed_round.py the freed one."""

from __future__ import annotations

import numpy as np
import pytest
from phaser_pair import KNOBS, RANKING, preset_session
from stub_models import StubModels

from serumrnn.server import fine_tune as FT
from serumrnn.server import osc
from serumrnn.server.assistant import Assistant
from serumrnn.server.rack import Chain
from serumrnn.server.steps import TUNE


@pytest.fixture(autouse=True)
def one_round(monkeypatch):
    monkeypatch.setattr(FT, "FREED_EXTRAS", ())


def _live(rack, phaser_target, fine_tune: int = 60):
    """A Live session up to the turn that offers the fine-tune: ``rack`` simulates the
    candidates and plays Serum, each capture renders the chain the device set. Returns the
    assistant and that turn."""
    a = Assistant(
        StubModels(RANKING, KNOBS),
        phaser_target,
        renderer=rack,
        loop="search",
        fine_tune=fine_tune,
        fine_tune_rounds=1,
    )
    sound = rack.dry("saw")
    while True:
        turn = a.advance(sound)
        if turn.tune is not None or turn.done:
            return a, turn
        assert turn.report is not None
        sound = rack.render(a.chain, "saw")


def _tuned_chain(chain: Chain, turn) -> Chain:
    """``chain`` with the tune's knobs set, as the device sets them in Serum."""
    moved = {(c.effect, c.knob): c.after for c in turn.tune.changes}
    return Chain(fx.with_knobs({k: moved.get((fx.name, k), v) for k, v in fx.knobs.items()}) for fx in chain)


def test_live_offers_the_fine_tune_as_a_step_and_keeps_it_when_its_capture_is_closer(
    own_plugins, phaser_target
):
    a, turn = _live(own_plugins, phaser_target)
    tune = turn.tune
    assert tune is not None and not turn.done and turn.report is None
    assert a.effects_on == ("phaser",) and turn.step == 2 and turn.best_step == 2
    assert tune.step == 2 and tune.after is None and 0 < tune.improvement < 1
    assert {c.knob for c in tune.changes} <= {"depth", "freq", "feedback"} and tune.changes
    assert tune.before == a.states[-1].distances  # from the capture it tunes
    assert tune.instruction.startswith("Fine-tune: Phaser ")
    tuned = own_plugins.render(_tuned_chain(a.chain, turn), "saw")
    last = a.advance(tuned)
    assert last.judged is not None and last.judged.effect == TUNE and last.judged.improved
    assert not last.judged.take_back and last.tune is None and last.report is None
    assert last.done and last.step == 2 and last.best_step == 2
    res = a.result()
    assert res.fine_tune["kept"] and res.best == last.judged.after and res.best["mse"] < tune.before["mse"]
    assert a.tuned_audio is not None and np.array_equal(a.tuned_audio, tuned)
    with pytest.raises(RuntimeError, match="session is done"):
        a.advance(tuned)


def test_a_fine_tune_whose_capture_is_not_closer_is_taken_back_knob_by_knob(own_plugins, phaser_target):
    a, turn = _live(own_plugins, phaser_target)
    before = own_plugins.render(a.chain, "saw")  # Serum did not take the knobs: the same sound
    last = a.advance(before)
    v = last.judged
    assert v is not None and v.take_back and not v.improved and v.effect == TUNE and v.enable.serum_name == ""
    for c in turn.tune.changes:
        assert f"{c.effect_label} {c.label} back to {c.before_text}" in v.text
    assert last.done and last.step == 1 and last.best_step == 1
    assert not a.result().fine_tune["kept"] and a.tuned_audio is None
    assert a.result().taken_back[-1]["effect"] == TUNE


def test_undo_takes_the_fine_tune_back_first_then_the_effect(own_plugins, phaser_target):
    a, turn = _live(own_plugins, phaser_target)
    undone = a.undo()
    assert undone.effect == TUNE and undone.steps_left == 1 and undone.enable.serum_name == ""
    assert a.done and a.effects_on == ("phaser",) and not a.result().fine_tune["kept"]
    undone = a.undo()
    assert undone.effect == "phaser" and undone.steps_left == 0 and not a.done
    again = a.advance(own_plugins.dry("saw"))  # the loop goes on: the phaser is offered again
    assert again.report is not None and again.report.effect == "phaser" and again.tune is None


def test_a_preset_session_hears_the_fine_tune_at_once_and_is_done(rack, phaser_target):
    a = preset_session(rack, phaser_target, fine_tune_rounds=1)
    turns = []
    while not a.done:
        turns.append(a.advance())
    last = turns[-1]
    assert [t.report.effect for t in turns[:-1]] == ["phaser"] and last.tune is not None
    assert last.done and last.step == 2 and last.best_step == 2
    assert last.tune.after == a.result().best and a.result().fine_tune["kept"]
    # the same search as match's: a run to the end keeps the same tune
    assert preset_session(rack, phaser_target, fine_tune_rounds=1).run().fine_tune == a.result().fine_tune


def test_no_fine_tune_step_without_a_budget(own_plugins, phaser_target):
    a, turn = _live(own_plugins, phaser_target, fine_tune=0)
    assert turn.tune is None and turn.done and turn.step == 1


def test_the_step_reply_carries_the_tune_and_what_to_set_back(own_plugins, phaser_target):
    a, turn = _live(own_plugins, phaser_target)
    reply = osc.step_reply(7, "s1", turn, renderer="plugins: own")
    addrs = [m[0] for m in reply]
    n = len(turn.tune.changes)
    # this capture judged the phaser's step first
    assert addrs[:2] == ["/serumrnn/step/judged", "/serumrnn/step/tune"] and reply[0][1][2:4] == (1, 1)
    assert addrs[2 : 2 + n] == ["/serumrnn/step/tune/knob"] * n
    assert "/serumrnn/step/effect" not in addrs and addrs[-1] == "/serumrnn/step/end"
    assert reply[1][1] == (7, "s1", 2, pytest.approx(turn.tune.improvement), n)
    for (_, args), c in zip(reply[2 : 2 + n], turn.tune.changes):
        assert args[2:] == (
            c.serum_name,
            c.serum_value,
            c.after_text,
            c.label,
            c.serum_before,
            c.before_text,
            "Phaser",
        )
        assert c.serum_value != c.serum_before
    dist = [args for addr, args in reply if addr == "/serumrnn/step/distance"]
    assert {d[2] for d in dist} == set(turn.tune.before) and all(
        d[5] == 0 for d in dist
    )  # judged by the capture
    assert [args for addr, args in reply if addr == "/serumrnn/step/renderer"] == [
        (7, "s1", "plugins: own", "capture")
    ]
    end = reply[-1][1]
    assert end == (7, "s1", 2, TUNE, 0, "", 2, turn.tune.instruction, len(reply))
    back = osc.step_reply(8, "s1", a.advance(own_plugins.render(a.chain, "saw")))
    assert [m[0] for m in back] == ["/serumrnn/step/judged", "/serumrnn/step/takeback", "/serumrnn/step/end"]
    assert back[1][1][2:5] == (2, TUNE, "") and back[-1][1][2:5] == (1, "", 1)


def test_live_on_the_open_rack_offers_no_fine_tune(rack, phaser_target):
    """The open rack stands in for Serum: a fine-tune searched on it is neither searched nor
    offered in Live (``judge.offers_tune``); the session is done after the steps."""
    a, turn = _live(rack, phaser_target)
    assert turn.tune is None and turn.done and turn.step == 1 and turn.reason == "no_closer"
    assert a.result().fine_tune is None
