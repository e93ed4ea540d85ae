"""Verified steps, the judge, take-back and knob refinement, on scripted stub models: every
path here runs the same way every time, whatever a trained model would predict."""

import numpy as np
import pytest
from stub_models import StubModels

from serumrnn.server import judge as J
from serumrnn.server.assistant import Assistant
from serumrnn.server.rack import FX, Chain
from serumrnn.server.refine import refine
from serumrnn.server.steps import live_note_name, usage_notes

TARGET_CHAIN = [FX("distortion", mode=2, drive=0.8), FX("reverb", mix=0.5, low_cut=0.2, high_cut=0.7)]
#: The target's own knobs: the ideal answers.
GOOD = {"distortion": {"mode": 2, "drive": 0.8}, "reverb": {"mix": 0.5, "low_cut": 0.2, "high_cut": 0.7}}
#: Knobs that push the saw far from that target.
BAD = {
    "eq": {"freq": 0.5, "q": 0.0, "gain": 1.0},
    "phaser": {"depth": 1.0, "freq": 0.05, "feedback": 1.0},
    "compressor": {"low": 1.0, "mid": 1.0, "high": 1.0},
}


@pytest.fixture(scope="module")
def target(rack):
    return rack.render(TARGET_CHAIN, "saw")


def score_of(s: Assistant, d) -> float:
    judge = s.judge
    assert judge is not None  # an assistant with a target has its judge
    return judge.score(d)


def test_identical_and_gain_only_targets_take_no_step(rack):
    dry = rack.dry("saw")
    models = StubModels(["eq", "phaser", "compressor", "distortion", "reverb"], {**GOOD, **BAD})
    for loop in ("verified", "refine"):
        for tgt in (dry, dry * np.float32(10 ** (-1 / 20))):  # identical, 1 dB quieter
            s = Assistant(models, tgt, renderer=rack, preset="saw", loop=loop)
            res = s.run()
            assert res.steps == [] and res.best_step == 0
            assert res.stop["reason"] == "already_matches"
            assert s.renders == 0


def test_a_verified_step_never_offers_what_its_render_says_is_worse(rack, target):
    # The selector ranks three harmful effects first: all three are rendered, found worse,
    # and the loop goes on to the remaining effects instead of offering any of them.
    models = StubModels(["eq", "phaser", "compressor", "distortion", "reverb"], {**GOOD, **BAD})
    s = Assistant(models, target, renderer=rack, preset="saw", k=3, loop="verified")
    res = s.run()
    first = res.steps[0]
    bad = {c["effect"]: c for c in first.candidates if c["effect"] in BAD}
    assert set(bad) == set(BAD) and all(c["score"] > 1.0 and not c["closer"] for c in bad.values())
    assert {st.effect for st in res.steps} == {"distortion", "reverb"}
    for st in res.steps:
        assert score_of(s, st.after) <= score_of(s, st.before) - J.MARGIN
        assert st.improved is True
        assert st.confidence == pytest.approx(st.expected_improvement)
        assert st.confidence == pytest.approx(1 - score_of(s, st.after) / score_of(s, st.before))
        assert st.selector_probability == pytest.approx(st.probabilities[st.effect])
    # the good knobs rebuild the target exactly: reached, and the best state is the last
    assert res.stop["reason"] == "reached" and res.best_step == len(res.steps) == 2
    assert res.best["mse"] < 1e-6 and res.closeness > 0.99


def test_no_candidate_closer_means_done_with_nothing_kept(rack):
    target = rack.render([FX("eq", freq=0.6, q=0.5, gain=0.56)], "saw")  # a gentle EQ
    knobs = {
        **BAD,
        "distortion": {"mode": 11, "drive": 1.0},
        "reverb": {"mix": 0.7, "low_cut": 0.0, "high_cut": 1.0},
    }
    models = StubModels(["distortion", "reverb", "eq", "phaser", "compressor"], knobs)
    s = Assistant(models, target, renderer=rack, preset="saw", k=3, loop="verified")
    res = s.run()
    assert res.steps == [] and res.stop["reason"] == "no_closer"
    assert res.final == res.initial and res.best_step == 0
    assert s.renders == 5  # the top three, then the remaining two before giving up


def test_paper_loop_applies_the_selector_blindly(rack, target):
    models = StubModels(["eq", "phaser", "compressor", "distortion", "reverb"], {**GOOD, **BAD})
    s = Assistant(models, target, renderer=rack, preset="saw", loop="paper", tolerance=0)
    rep = s.step()
    assert rep.effect == "eq" and rep.improved is False and s.chain.order == ("eq",)
    assert rep.confidence == pytest.approx(rep.probabilities["eq"])  # the paper's confidence
    assert s.done and s.stop_reason == "worse"


def test_bad_capture_triggers_take_back_and_the_next_candidate(rack, target):
    models = StubModels(["distortion", "reverb", "eq", "phaser", "compressor"], {**GOOD, **BAD})
    s = Assistant(models, target, renderer=rack, loop="verified")  # Live: no preset, sounds are captured
    turn = s.advance(current=rack.dry("saw"))  # the first capture is the input
    assert turn.judged is None and turn.report.effect == "distortion"
    with pytest.raises(RuntimeError, match="not judged yet"):
        s.step()  # no capture of the applied step
    assert turn.report.after is None and turn.report.expected is not None
    # Serum's real sound after the step: much worse than before (as if mis-set)
    worse = rack.render([FX("eq", **BAD["eq"]), FX("phaser", **BAD["phaser"])], "saw")
    turn = s.advance(current=worse)
    v = turn.judged
    assert v.take_back and not v.improved and v.effect == "distortion"
    assert (v.enable.serum_name, v.enable.value) == ("Dist Enable", 0.0)
    # the same request offers the next candidate, from the input again
    assert turn.report.effect == "reverb" and turn.report.take_back["effect"] == "distortion"
    assert s.chain.order == ("reverb",) and len(s.states) == 1 and len(s.steps) == 1
    assert turn.report.step == 1 and turn.report.before == v.before
    # a capture that matches the simulation is judged closer and kept
    turn = s.advance(current=rack.render(s.chain, "saw"))
    assert turn.judged.improved and not turn.judged.take_back
    assert s.chain.order[0] == "reverb" and len(s.states) == 2
    assert [v["effect"] for v in s.result().taken_back] == ["distortion"]


def test_refinement_never_returns_a_worse_state():
    fx = FX("reverb", mix=0.5, low_cut=0.5, high_cut=0.5)
    # every setting the search tries scores worse: the model's knobs come back untouched
    r = refine(fx, lambda fxs: [9.0] * len(fxs), 1.0, budget=24)
    assert not r.kept and r.fx == fx and r.score == 1.0 and r.renders == 24
    # a scorer with a better point nearby: found, and strictly better
    goal = np.array([0.42, 0.55, 0.47])

    def dist(fxs):
        return [
            float(np.sum((np.array([f.knobs[k] for k in ("mix", "low_cut", "high_cut")]) - goal) ** 2))
            for f in fxs
        ]

    start = dist([fx])[0]
    r = refine(fx, dist, start, budget=24, seed=3)
    assert r.kept and r.score < start and r.renders <= 24
    assert dist([r.fx])[0] == pytest.approx(r.score)


def test_refine_loop_keeps_polish_only_when_exactly_better(rack, target):
    off = {
        "distortion": {"mode": 2, "drive": 0.55},
        "reverb": {"mix": 0.62, "low_cut": 0.35, "high_cut": 0.55},
    }
    models = StubModels(["distortion", "reverb", "eq", "phaser", "compressor"], {**off, **BAD})
    s = Assistant(models, target, renderer=rack, preset="saw", loop="refine", refine_budget=12)
    res = s.run()
    assert res.steps
    for st in res.steps:
        r = st.refine
        assert r is not None and r["renders"] <= 12
        assert r["objective_refined"] <= r["objective_model"]  # never worse by the rule
        assert score_of(s, st.after) == pytest.approx(r["score_refined"])
    plain = Assistant(models, target, renderer=rack, preset="saw", loop="verified").run()
    assert s.judge.score(res.best) <= s.judge.score(plain.best)


def test_prefix_cache_gives_the_same_audio(rack):
    from serumrnn.server.rack import OpenRack

    fresh = OpenRack()
    chains = [
        Chain([FX("distortion", mode=3, drive=0.6), FX("eq", freq=0.7, q=0.3, gain=0.8)]),
        Chain(
            [
                FX("eq", freq=0.7, q=0.3, gain=0.8),
                FX("distortion", mode=3, drive=0.6),
                FX("reverb", mix=0.4, low_cut=0.1, high_cut=0.9),
            ]
        ),
        Chain([FX("distortion", mode=3, drive=0.6), FX("compressor", low=0.2, mid=0.5, high=0.9)]),
    ]
    for c in chains:
        rack.render(c, "bells")
    for c in chains:  # now every prefix is cached in ``rack``, none in ``fresh``
        fresh._prefixes.clear()
        assert np.array_equal(rack.render(c, "bells"), fresh.render(c, "bells"))
        assert np.array_equal(rack.process(rack.dry("sine"), c), fresh.process(fresh.dry("sine"), c))


def test_usage_notes_name_the_note_as_live_does():
    assert live_note_name(48) == "C2" and live_note_name(60) == "C3"
    notes = usage_notes(48)
    assert any("first 1 second" in n for n in notes) and any("C2 in Live (MIDI 48)" in n for n in notes)


def test_judge_rules():
    j = J.Judge({"mse": 2.0, "mssmae": 100.0})
    assert j.score({"mse": 2.0, "mssmae": 100.0}) == pytest.approx(1.0)
    assert j.score({"mse": 1.0, "mssmae": 20.0}) == pytest.approx(0.35)
    cur = {"mse": 1.0, "mssmae": 50.0}
    assert j.closer({"mse": 0.9, "mssmae": 50.0}, cur)  # 0.5 -> 0.475
    assert not j.closer({"mse": 0.99, "mssmae": 50.0}, cur)  # 0.5 -> 0.4975: within margin
    assert not j.closer({"mse": 0.5, "mssmae": 80.0}, cur)  # 0.5 -> 0.525: further
    assert J.Judge({"mse": 0.0, "mssmae": 0.05}).already_matches
    assert not j.already_matches
    with pytest.raises(ValueError, match="unknown decision"):
        J.Judge({"mse": 1, "mssmae": 1}, decision="pcc")
    assert J.paper_stop_index([5, 4, 6, 3, 7], 1) == 4 and J.paper_stop_index([5, 4, 6, 3, 7], 0) == 2


def test_a_session_without_renderer_is_refused_outside_paper_mode(target):
    models = StubModels(["eq"], BAD)
    with pytest.raises(ValueError, match="pass a renderer"):
        Assistant(models, target)
    with pytest.raises(ValueError, match="unknown loop"):
        Assistant(models, target, loop="greedy")


def test_a_captured_session_needs_its_first_capture(rack, target):
    s = Assistant(StubModels(["eq"], {**GOOD, **BAD}), target, renderer=rack, loop="verified")
    with pytest.raises(RuntimeError, match="no current sound"):
        s.step()
    assert s.step(current=rack.dry("saw")) is not None
