"""The step loop: effects never repeat, reports carry Serum names, stopping and rollback."""

import numpy as np
import pytest

from serumrnn.server import spec
from serumrnn.server.assistant import Assistant
from serumrnn.server.audio_io import AudioInputError
from serumrnn.server.judge import STOP_METRIC
from serumrnn.server.models import selector_inputs
from serumrnn.server.pitch import check_target, detect_pitch, transpose
from serumrnn.server.rack import FX

SR = 44100


@pytest.fixture(scope="module")
def target(rack):
    return rack.render(
        [FX("distortion", mode=2, drive=0.8), FX("reverb", mix=0.5, low_cut=0.2, high_cut=0.7)], "saw"
    )


def test_run_applies_each_effect_at_most_once_and_reports_serum_names(tiny_models, rack, target):
    s = Assistant(tiny_models, target, renderer=rack, preset="saw", tolerance=10, loop="paper")
    res = s.run()
    assert len(res.steps) == 5  # the paper's loop, tolerance 10: runs until every effect is used
    effects = [st.effect for st in res.steps]
    assert sorted(effects) == sorted(spec.EFFECT_NAMES)
    for st in res.steps:
        eff = spec.effect(st.effect)
        assert st.enable.serum_name == eff.enable.serum_name and st.enable.value == 1.0
        assert [k.serum_name for k in st.knobs] == [k.serum_name for k in eff.knobs]
        assert all(0.0 <= k.value <= 1.0 for k in st.knobs)
        assert {f.serum_name for f in st.fixed} == {f.serum_name for f in eff.fixed}
        assert st.instruction.startswith(f"Turn on {eff.label}:")
        assert 0.0 <= st.confidence <= 1.0 and abs(sum(st.probabilities.values()) - 1) < 1e-4
        assert set(st.before) == set(st.after) == {"mse", "mae", "lsd", "mfccd", "pcc", "mssmae"}
        assert st.improved == (st.after[STOP_METRIC] < st.before[STOP_METRIC])
    # steps chain: each "after" is the next "before"
    for a, b in zip(res.steps, res.steps[1:]):
        assert a.after[STOP_METRIC] == pytest.approx(b.before[STOP_METRIC])
    dists = [res.initial[STOP_METRIC]] + [st.after[STOP_METRIC] for st in res.steps]
    assert res.best_step == int(np.argmin(dists))


def test_stopping_rule_counts_bad_steps(rack, target):
    """The paper's rule on scripted models: two harmful effects ranked first; tolerance 1
    keeps the first bad step, stops at the second and keeps it too."""
    from stub_models import StubModels

    models = StubModels(
        ["eq", "phaser", "distortion", "reverb", "compressor"],
        {
            "eq": {"freq": 0.5, "q": 0.0, "gain": 1.0},
            "phaser": {"depth": 1.0, "freq": 0.05, "feedback": 1.0},
            "distortion": {"mode": 2, "drive": 0.8},
            "reverb": {"mix": 0.5, "low_cut": 0.2, "high_cut": 0.7},
            "compressor": {"low": 0.5, "mid": 0.5, "high": 0.5},
        },
    )
    s = Assistant(models, target, renderer=rack, preset="saw", tolerance=1, loop="paper")
    res = s.run()
    assert [st.effect for st in res.steps] == ["eq", "phaser"]
    assert [st.improved for st in res.steps] == [False, False] and s.runner.bad_steps == 2
    assert s.stop_reason == "worse" and res.best_step == 0


def test_undo_and_captured_flow(tiny_models, rack, target):
    s = Assistant(tiny_models, target, renderer=rack, preset="saw", tolerance=10, loop="paper")
    s.step()
    s.step()
    first = s.steps[0].effect
    s.undo()
    assert s.chain.order == (first,) and len(s.states) == 2
    # in Live the sound is captured: the step is judged when the next capture arrives
    live = Assistant(tiny_models, target, loop="paper")
    rep = live.step(current=rack.dry("saw"))
    assert rep.after is None and rep.improved is None
    live.step(current=rack.render(live.chain, "saw"))
    assert live.steps[0].after is not None and live.steps[0].improved is not None


def test_selector_inputs_layout():
    st = [(np.zeros((128, 87)), np.zeros((30, 87))), (np.ones((128, 87)), np.ones((30, 87)))]
    x = selector_inputs(st, (np.full((128, 87), 2.0), np.full((30, 87), 2.0)), ["initial", "eq"])
    assert x["mel_seq"].shape == (1, 5, 128, 87, 2)
    assert x["step_present"][0, :, 0].tolist() == [1, 1, 0, 0, 0]
    assert x["applied_seq"][0, 0, 5] == 1 and x["applied_seq"][0, 1, 2] == 1
    assert (x["mel_seq"][0, 1, ..., 0] == 1).all() and (x["mel_seq"][0, 1, ..., 1] == 2).all()


def test_target_checks_and_pitch(rack):
    with pytest.raises(AudioInputError, match="needs at least 0.2 s") as e:
        blip = np.zeros(SR, np.float32)
        blip[:2000] = np.sin(np.arange(2000) * 0.1)
        check_target(blip, "blip.wav")
    assert e.value.code == "too_short"
    noise = np.random.default_rng(0).normal(size=SR).astype(np.float32) * 0.3
    with pytest.raises(AudioInputError, match="noise") as e:
        check_target(noise, "noise.wav")
    assert e.value.code == "noise_only"
    check_target(rack.dry("saw"), "saw")  # a played note passes
    p = detect_pitch(rack.dry("saw", note=55))
    assert p.midi == pytest.approx(55, abs=0.3)
    moved = transpose(rack.dry("saw", note=55), p.semitones_to(48))
    assert detect_pitch(moved).midi == pytest.approx(48, abs=0.3)
