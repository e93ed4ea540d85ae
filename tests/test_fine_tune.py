"""The fine-tune after the last step: every knob on, searched together.

The pure search on a scripted scorer (it finds a hidden optimum, keeps the spec's knob
relations, leaves categorical knobs and the effects alone, stays within its budget), and
the loop on the open rack with scripted models whose phaser knobs sit a little off the
target's: the fine-tune is kept, the result and the report say what it changed, and
nothing changes where it must not run (the paper's loop)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from phaser_pair import KNOBS, RANKING, render_target
from stub_models import StubModels

from serumrnn.server import fine_tune as FT
from serumrnn.server import spec
from serumrnn.server.assistant import Assistant
from serumrnn.server.audio_io import load_clip, write_wav
from serumrnn.server.loop_settings import FINE_TUNE_BUDGET
from serumrnn.server.match import match
from serumrnn.server.rack import FX, Chain
from serumrnn.server.report import format_steps
from serumrnn.server.verified_loop import VerifiedLoop

START = Chain(
    [
        FX("distortion", mode=3, drive=0.3),
        FX("reverb", mix=0.4, low_cut=0.2, high_cut=0.8),
    ]
)
OPTIMUM = {
    ("distortion", "drive"): 0.55,
    ("reverb", "mix"): 0.6,
    ("reverb", "low_cut"): 0.3,
    ("reverb", "high_cut"): 0.7,
}


def _scorer(log: list[Chain]):
    def scores(chains):
        log.extend(chains)
        return [
            sum((fx.knobs[k] - v) ** 2 for fx in c for (e, k), v in OPTIMUM.items() if fx.name == e)
            for c in chains
        ]

    return scores


def test_the_search_finds_the_chains_best_knobs_together_within_its_budget():
    tried: list[Chain] = []
    scores = _scorer(tried)
    start = scores([START])[0]
    tried.clear()
    found = FT.fine_tune(START, scores, start, budget=120, seed=1, categorical=False)
    assert found.score < start / 10 and found.start_score == start and found.swept == 0
    assert found.renders == len(tried) <= 120
    for c in tried:  # the effects, their order and the categorical knobs stay
        assert c.order == START.order and c[0].knobs["mode"] == 3
        for fx in c:  # every setting tried keeps the spec's relations
            assert spec.repair_knobs(fx.name, fx.knobs) == fx.knobs
    moved = {(c.effect, c.knob) for c in found.changes(START)}
    assert moved == set(OPTIMUM)
    text = FT.instruction(found.changes(START))
    assert text.startswith("Fine-tune: Distortion Drive ") and "Hall Reverb Mix " in text


def test_extra_knobs_a_step_set_are_tuned_with_the_rest_and_said_by_serum_name(monkeypatch):
    """A reverb whose step set its decay and size (extra knobs, for a sound made elsewhere):
    the fine-tune moves the decay to where the target wants it, and the change names Serum's
    parameter and says the value in seconds. An effect without extras gets none moved."""
    spec_reverb = spec.effect("reverb")
    decay = next(f for f in spec_reverb.extra if f.name == "decay")
    start_chain = Chain(
        [
            FX("distortion", mode=3, drive=0.55),
            FX("reverb", mix=0.6, low_cut=0.3, high_cut=0.7, extra={"decay": 0.2, "size": 0.5}),
        ]
    )

    def scores(chains):
        return [
            (c[1].extra["decay"] - 0.7) ** 2
            + (c[1].extra["size"] - 0.5) ** 2
            + (c[1].knobs["mix"] - 0.6) ** 2
            for c in chains
        ]

    start = scores([start_chain])[0]
    found = FT.fine_tune(start_chain, scores, start, budget=120, seed=1, categorical=False)
    assert abs(found.chain[1].extra["decay"] - 0.7) < 0.05 and found.chain[0].extra == {}
    change = next(c for c in found.changes(start_chain) if c.knob == "decay")
    assert change.serum_name == decay.serum_name and change.label == decay.label
    assert change.after_text == decay.text(found.chain[1].extra["decay"]) and change.after_text.endswith(" s")
    assert change.serum_before == 0.2 and abs(change.serum_value - found.chain[1].extra["decay"]) < 1e-9
    monkeypatch.setattr(FT, "TUNE_EXTRAS", False)
    held = FT.fine_tune(start_chain, scores, start, budget=60, seed=1, categorical=False)
    assert held.chain[1].extra == start_chain[1].extra


def test_knobs_a_switch_leaves_idle_are_neither_searched_nor_asked_of_the_producer():
    """A compressor with MULTIBAND off and a distortion whose filter is off (``spec.Gate``):
    the fine-tune spends no render on their idle knobs, and a move of the switch that leaves
    a knob idle names only the switch."""
    chain = Chain(
        [
            FX("compressor", low=0.4, mid=0.4, high=0.4, extra={"multiband": 0.0, "threshold": 0.3}),
            FX("distortion", mode=3, drive=0.5, extra={"prepost": 0.0}),
        ]
    )
    slots = {(chain[i].name, k.name) for i, k, _ in FT._slots(chain)}
    assert slots == {("compressor", "threshold"), ("distortion", "drive")}
    filtered = Chain([FX("distortion", mode=3, drive=0.5, extra={"prepost": 0.5, "filter_freq": 0.2})])
    switched_off = Chain([FX("distortion", mode=3, drive=0.5, extra={"prepost": 0.0, "filter_freq": 0.2})])
    assert ("distortion", "filter_freq") in {(filtered[i].name, k.name) for i, k, _ in FT._slots(filtered)}
    moves = FT.changes_between(filtered, switched_off)
    assert [(c.knob, c.after_text) for c in moves] == [("prepost", "Off")]
    bands_on = Chain([FX("compressor", low=0.4, mid=0.4, high=0.4, extra={"multiband": 1.0})])
    bands_off = Chain([FX("compressor", low=0.4, mid=0.4, high=0.4, extra={"multiband": 0.0})])
    assert [c.knob for c in FT.changes_between(bands_on, bands_off)] == ["multiband"]
    # Switched back on, the bands leave their rest: each is a move the producer makes.
    assert {c.knob for c in FT.changes_between(bands_off, bands_on)} == {"multiband", "low", "mid", "high"}


def test_the_sweep_hears_every_mode_at_several_drives_and_the_search_starts_from_the_best():
    """A mode the steps did not choose, whose best drive is far from the steps' drive: the
    sweep finds it (one knob's choice and its intensity changed per setting), and CMA-ES
    goes on from there; its renders count in ``renders`` and ``swept``."""
    tried: list[Chain] = []

    def scores(chains):
        tried.extend(chains)
        out = []
        for c in chains:
            d = c[0].knobs
            out.append(2.0 * (d["mode"] != 9) + (d["drive"] - 0.9) ** 2 + (c[1].knobs["mix"] - 0.6) ** 2)
        return out

    start = scores([START])[0]
    tried.clear()
    settings = FT.sweep_settings(START)
    modes = spec.effect("distortion").knobs[0]
    assert {c[0].knobs["mode"] for c in settings} == set(modes.grid())
    assert len(settings) == len(modes.grid()) * len(FT.SWEEP_LEVELS) - 1  # START itself left out
    assert all(c[1] == START[1] for c in settings)  # only the distortion moves
    found = FT.fine_tune(START, scores, start, budget=40, seed=2)
    looks = FT.CLOSER_LOOK_TOP * len(FT.CLOSER_LOOK_OFFSETS)
    assert len(settings) < found.swept <= len(settings) + looks
    assert found.renders == len(tried) <= found.swept + 40
    assert found.chain[0].knobs["mode"] == 9 and found.score < 0.05
    changed = {(c.effect, c.knob) for c in found.changes(START)}
    assert ("distortion", "mode") in changed and ("reverb", "mix") in changed
    assert "Distortion Mode " in FT.instruction(found.changes(START))


def test_the_closer_look_finds_a_mode_whose_basin_the_sweep_levels_step_over():
    """Sin Fold's best drive (0.71) lies between the sweep's levels, where Sin Fold sounds
    further than X-Shaper's best: the sweep alone keeps X-Shaper; the closer look at the
    closest settings hears Sin Fold near 0.71 and keeps it."""
    sin_fold, x_shaper = 6, 9

    def score(c: Chain) -> float:
        d = c[0].knobs
        if d["mode"] == sin_fold:
            return min(1.0, 10 * abs(d["drive"] - 0.71))
        if d["mode"] == x_shaper:
            return 0.3 + abs(d["drive"] - 0.6)
        return 1.5

    def scores(chains):
        return [score(c) for c in chains]

    start = score(START)
    sweep_only = min(FT.sweep_settings(START), key=score)
    assert sweep_only[0].knobs["mode"] == x_shaper
    found, found_score, renders = FT.sweep(START, scores, start)
    assert found[0].knobs["mode"] == sin_fold and found_score < score(sweep_only) / 2
    assert found[1] == START[1]  # only the distortion moves
    assert renders == len(FT.sweep_settings(START)) + len(
        FT.closer_look([(c, score(c)) for c in [START, *FT.sweep_settings(START)]])
    )


def test_a_move_inside_one_display_step_is_not_asked_of_the_producer():
    tuned = Chain([FX("distortion", mode=3, drive=0.5), FX("reverb", mix=0.4001, low_cut=0.2, high_cut=0.8)])
    found = FT.Tuned(tuned, 0.1, 0.2, 10)
    moved = found.changes(START)
    assert {(c.effect, c.knob) for c in moved} == {("distortion", "drive"), ("reverb", "mix")}
    mix = next(c for c in moved if c.knob == "mix")
    assert mix.before_text == mix.after_text  # "40 %" both
    assert [(c.effect, c.knob) for c in FT.shown(moved)] == [("distortion", "drive")]
    assert "Mix" not in FT.instruction(FT.shown(moved))
    assert FT.shown([mix]) == [mix]  # nothing else moved: the producer still sees it


def test_nothing_to_search_leaves_the_chain():
    only_mode = Chain([FX("distortion", mode=3, drive=0.3)])
    for chain, budget in ((START, 1), (Chain(), 50)):
        found = FT.fine_tune(chain, _scorer([]), 0.5, budget=budget)
        assert found.chain is chain and found.renders == 0 and found.score == 0.5
    assert FT.fine_tune(only_mode, _scorer([]), 9.0, budget=0).renders == 0


# -- in the loop ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def target(rack):
    return render_target(rack)


def _run(rack, target, budget: int):
    a = Assistant(
        StubModels(RANKING, KNOBS), target, renderer=rack, preset="saw", loop="search", fine_tune=budget
    )
    return a, a.run()


def test_the_loop_keeps_a_fine_tune_that_is_closer(rack, target):
    _, plain = _run(rack, target, 0)
    a, tuned = _run(rack, target, 60)
    assert plain.fine_tune is None and [s.effect for s in plain.steps] == ["phaser"]
    assert [s.to_json() for s in tuned.steps] == [s.to_json() for s in plain.steps]  # the steps stay
    ft = tuned.fine_tune
    assert ft is not None and ft["kept"] and all(0 < r["renders"] <= 60 for r in ft["round_reports"])
    assert ft["renders"] == sum(r["renders"] for r in ft["round_reports"])
    assert tuned.best["mse"] < plain.best["mse"] and tuned.closeness > plain.closeness
    assert ft["before"] == plain.best and ft["after"] == tuned.best
    assert tuned.best_chain == ft["chain"] != plain.best_chain
    assert tuned.renders == plain.renders + ft["renders"]
    moved = {c["knob"] for c in ft["changes"]}
    assert moved and moved <= {"depth", "freq", "feedback"}
    assert a.tuned_audio is not None
    assert np.allclose(a.tuned_audio, rack.render(Chain.from_json(tuned.best_chain), "saw"), atol=1e-6)
    text = format_steps(tuned)
    assert "Fine-tune: Phaser " in text and f"{ft['improvement']:.0%} closer" in text


def test_where_it_must_not_run(rack, target):
    with pytest.raises(ValueError, match="paper's loop has no fine-tune"):
        Assistant(StubModels(RANKING, KNOBS), target, renderer=rack, preset="saw", loop="paper", fine_tune=10)
    with pytest.raises(ValueError, match="fine_tune must be 0 or more"):
        Assistant(StubModels(RANKING, KNOBS), target, renderer=rack, preset="saw", fine_tune=-1)
    # Live offers it as a step instead (tests/test_tune_step.py)


def test_match_reports_the_fine_tune_and_plays_it(rack, target, tmp_path):
    write_wav(tmp_path / "target.wav", target)
    models = StubModels(RANKING, KNOBS)
    out = tmp_path / "report"
    result, page = match("preset:saw", tmp_path / "target.wav", "basic", out, models=models)
    doc = json.loads((out / "steps.json").read_text())
    assert doc["meta"]["fine_tune"] == FINE_TUNE_BUDGET and doc["fine_tune"]["kept"]
    assert doc["files"]["steps"][-1] == "fine-tuned.wav"
    best = load_clip(out / doc["files"]["best"])
    assert np.allclose(best, load_clip(out / "fine-tuned.wav"), atol=1e-6)
    assert np.allclose(best, rack.render(Chain.from_json(doc["best_chain"]), "saw"), atol=1e-4)
    html = page.read_text()
    assert 'id="fine-tune"' in html and doc["fine_tune"]["instruction"].split(":")[0] in html
    for c in doc["fine_tune"]["changes"]:
        assert f"<code>{c['serum_name']}</code>" in html
    off, _ = match(
        "preset:saw", tmp_path / "target.wav", "basic", tmp_path / "off", models=models, fine_tune=0
    )
    assert off.fine_tune is None and off.closeness < result.closeness


#: A fresh render far from everything (a drifting renderer's bad draw).
NOISE = np.random.default_rng(0).normal(size=44100).astype(np.float32) * 0.3


def _tuned_by_a_drifting_renderer(rack, target, tuned_renders, before_renders=None) -> Assistant:
    """The fine-tune where the search hears clean renders but fresh renders differ:
    ``tuned_renders(n, clean)``: the n-th fresh render of the tuned setting;
    ``before_renders(clean)``: the chain before's (default: drifted a little, so it never
    renders again as the search heard it)."""
    a = Assistant(
        StubModels(RANKING, KNOBS), target, renderer=rack, preset="saw", loop="search", fine_tune=60
    )
    assert isinstance(a.runner, VerifiedLoop)
    a.runner.tune_due = lambda: False  # type: ignore[method-assign]  # hold the fine-tune back
    while not a.done:  # the steps
        a.step()
    del a.runner.tune_due
    assert a.runner.tune_due()
    sim, steps_chain = a.runner.simulator, a.chain
    clean = sim.render
    sim.render_all = lambda chains: [clean(c) for c in chains]  # type: ignore[method-assign]
    drift = np.random.default_rng(1).normal(size=44100).astype(np.float32) * 1e-4
    count = [0]

    def fresh(chain):
        if chain == steps_chain:
            return clean(chain) + drift if before_renders is None else before_renders(clean(chain))
        count[0] += 1
        return tuned_renders(count[0], clean(chain))

    sim.render = fresh  # type: ignore[method-assign]
    a.runner.finish()
    return a


def test_a_tune_that_does_not_hold_on_fresh_renders_is_not_kept(rack, target):
    """The chain before renders again as the search heard it; the tuned setting, heard
    again, has drifted far away."""
    a = _tuned_by_a_drifting_renderer(rack, target, lambda n, t: NOISE, before_renders=lambda clean: clean)
    res = a.result()
    assert res.fine_tune is not None and not res.fine_tune["kept"] and res.fine_tune["changes"] == []
    assert res.best_chain == a.chain.to_json() and a.tuned_audio is None
    assert res.fine_tune["best_found"]["mse"] < res.fine_tune["before"]["mse"]  # the search had found one


def test_a_drifting_renderer_must_hear_the_tune_closer_in_every_round(rack, target):
    lucky_once = _tuned_by_a_drifting_renderer(rack, target, lambda n, t: t if n == 1 else NOISE)
    ft = lucky_once.result().fine_tune
    first = ft["round_reports"][0]  # the round these renders judge (later rounds: their own)
    assert not ft["kept"] and not first["kept"] and first["heard_again"] == 2
    steady = _tuned_by_a_drifting_renderer(rack, target, lambda n, t: t).result().fine_tune
    first = steady["round_reports"][0]
    assert steady["kept"] and first["kept"] and first["heard_again"] == FT.DRIFT_ROUNDS


def test_a_drifting_tune_must_also_render_closer_than_the_input(rack, target):
    """This time the chain before renders far away (a free LFO's bad draw) and the tune no
    closer than the dry input: closer than the chain before is not enough to keep it."""
    dry = rack.render(Chain(), "saw")
    a = _tuned_by_a_drifting_renderer(rack, target, lambda n, t: dry, before_renders=lambda clean: NOISE)
    ft = a.result().fine_tune
    assert not ft["kept"] and ft["round_reports"][0]["heard_again"] == 1


def test_an_exact_renderer_hears_the_tune_again_once(rack, target):
    _, res = _run(rack, target, 60)
    assert res.fine_tune is not None and res.fine_tune["kept"] and res.fine_tune["heard_again"] == 1
