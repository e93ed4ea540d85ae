"""The search loop on scripted stub models and the open rack:
the issue's failure in miniature (the selector is sure of distortion, its model's drive
overshoots), what each step reports, the graded outcome and the device's done text."""

import pytest
from stub_models import StubModels

from serumrnn.server import knob_search as KS
from serumrnn.server import spec
from serumrnn.server.assistant import Assistant
from serumrnn.server.rack import FX
from serumrnn.server.report import format_steps, tried_lines

#: The distortion model overshoots (the wrong mode at full drive); reverb's knobs help a bit.
KNOBS = {"distortion": {"mode": 9, "drive": 1.0}, "reverb": {"mix": 0.3, "low_cut": 0.5, "high_cut": 0.9}}
RANKING = ["distortion", "reverb", "eq", "phaser", "compressor"]


@pytest.fixture(scope="module")
def target(rack):
    return rack.render([FX("distortion", mode=2, drive=0.45)], "saw")


@pytest.fixture(scope="module")
def runs(rack, target):
    out = {}
    for loop in ("verified", "search"):
        a = Assistant(StubModels(RANKING, KNOBS), target, renderer=rack, preset="saw", loop=loop)
        out[loop] = (a, a.run())
    return out


def test_verified_rejects_the_overshooting_favourite_and_search_finds_it(runs):
    _, verified = runs["verified"]
    _, search = runs["search"]
    assert verified.steps[0].effect != "distortion"  # the issue: the right effect rejected
    first = search.steps[0]
    assert first.effect == "distortion" and search.closeness > verified.closeness + 0.2
    rows = {c["effect"]: c for c in first.candidates}
    assert set(rows) == set(RANKING[:3])  # every top-k effect tried, with what it reached
    d = rows["distortion"]
    assert d["chosen"] and d["search"] == "wide" and d["model_gain"] < 0 < d["gain"]
    assert not rows["reverb"]["chosen"] and rows["reverb"]["gain"] < d["gain"]
    assert sum(c["renders"] for c in first.candidates) <= KS.SEARCH_BUDGET


def test_the_step_report_says_what_each_effect_reached(runs):
    _, search = runs["search"]
    lines = tried_lines(search.steps[0].candidates)
    assert lines[0].startswith("Distortion chosen: best setting ") and "closer" in lines[0]
    assert "its model's knobs: further away" in lines[0]
    assert any(x.startswith("Hall Reverb was tried: best setting ") for x in lines)
    text = format_steps(search)
    assert "tried:   Distortion chosen" in text


def test_the_outcome_is_graded_and_says_what_to_try(runs):
    _, verified = runs["verified"]
    _, search = runs["search"]
    g = verified.outcome
    assert g["headline"].startswith("A small gain: ") and "--loop search" in g["what_to_try"]
    assert search.outcome["headline"].startswith("Partly matched: ")
    assert "--loop search" not in (search.outcome["what_to_try"] or "")
    # The overshooting favourite is the out-of-domain sign: both loops warn.
    assert any("unlike what the models were trained on" in n for n in verified.notes)
    assert verified.tried and all("gain" in c for c in verified.tried)  # the last search's evidence


def test_the_device_gets_the_graded_sentence_when_done(rack, target):
    a = Assistant(StubModels(RANKING, KNOBS), target, renderer=rack, preset="saw", loop="verified")
    turns = []
    while not a.done:
        turns.append(a.advance())
    assert turns[-1].report is None and turns[-1].done_text.startswith("A small gain: ")
    assert all(t.done_text == "" for t in turns[:-1])


def test_a_crossing_reverb_proposal_is_offered_kept_apart(rack):
    tgt = rack.render([FX("reverb", mix=0.6, low_cut=0.2, high_cut=0.7)], "saw")
    crossing = {"reverb": {"mix": 0.6, "low_cut": 1.0, "high_cut": 0.0}}
    assert spec.relation_problems("reverb", crossing["reverb"])
    res = Assistant(StubModels(["reverb"], crossing), tgt, renderer=rack, preset="saw", k=1).run()
    assert res.steps and res.steps[0].effect == "reverb"
    knobs = {k.name: k.value for k in res.steps[0].knobs}
    assert spec.relation_problems("reverb", knobs) == []


def test_a_phaser_beyond_its_table1_knobs_is_reached_with_its_extra_knob(rack):
    """A target phased at a rate the paper never moves: the Table 1 knobs alone cannot
    reach it, so the phaser is refused and an EQ named; with its extra knob (the rate)
    searched, the phaser is offered, and the step hands Serum the rate it found."""
    tgt = rack.render([FX("phaser", depth=0.9, freq=0.5, feedback=0.9, extra={"rate": 1.0})], "laser_pluck")
    ranking = ["phaser", "reverb", "eq", "distortion", "compressor"]
    knobs = {"phaser": {"depth": 0.2, "freq": 0.2, "feedback": 0.1}}
    runs = {
        extra: Assistant(
            StubModels(ranking, knobs), tgt, renderer=rack, preset="laser_pluck", extra=extra
        ).run()
        for extra in (False, True)
    }
    table1 = runs[False].steps[0]
    assert table1.effect != "phaser"
    row = next(c for c in table1.candidates if c["effect"] == "phaser")
    assert not row["closer"] and row["search"] == "wide" and row["extra"] == {}
    first = runs[True].steps[0]
    assert first.effect == "phaser"
    row = next(c for c in first.candidates if c["effect"] == "phaser")
    # every extra knob the phaser has (its mix and rate) is searched and handed to Serum
    assert row["search"] == "extra" and row["chosen"]
    assert set(row["extra"]) == {f.name for f in spec.effect("phaser").extra} == {"wet", "rate"}
    assert row["renders"] <= KS.WIDE_RENDERS + KS.EXTRA_RENDERS
    rate = {k.name: k for k in first.fixed}["rate"]
    assert rate.value == row["extra"]["rate"] > 0.75  # the target's rate is 1.0; the spec's 0.25
    assert f"Rate {rate.text}" in first.instruction
    assert runs[True].closeness > runs[False].closeness
    line = tried_lines(first.candidates)[0]
    assert line.startswith("Phaser chosen: best setting ") and "searched with its extra knobs too" in line
    mix = {k.name: k for k in first.fixed}["wet"]
    assert line.endswith(f"beyond the paper's knobs it sets Mix {mix.text}, Rate {rate.text}")
