"""A sixth effect added to a copy of the spec, and nothing else: data generation (plan,
draw, render, encode and decode a record), the step loop on scripted stub models, and the
device's spec JSON and JavaScript module all take it. The only other thing an effect
needs is its DSP for the open rack (a Faust file named for it), given here in a folder of
its own beside copies of the shipped ones."""

import json
import shutil
import subprocess

import numpy as np
import pytest
from spec_copies import use_effects
from stub_models import StubModels

from serumrnn.server import spec
from serumrnn.server.assistant import Assistant
from serumrnn.server.rack import FX, Chain, OpenRack, open_rack
from serumrnn.training import datagen

#: A one-pole low-pass: the judge compares timbre, not level, so the new effect must
#: change the spectrum to be worth a step.
TONE = spec.Effect(
    "tone",
    "Tone",
    spec.Fixed("enable", "Tone Enable", 300, 1.0, spec.Display("", 0, 1)),
    knobs=(
        spec.Knob(
            "cutoff",
            "Tone_Cut",
            301,
            "Cutoff",
            ranges=((0.25, 0.75),),
            display=spec.Display("Hz", 200.0, 20000.0, "log"),
        ),
    ),
)
TONE_DSP = """declare name "tone";
import("stdfaust.lib");
cutoff = hslider("cutoff", 20000, 20, 20000, 0.01);
process = fi.lowpass(1, cutoff);
"""
#: Knobs the stub parameter models answer: gentle settings of the five shipped effects.
KNOBS = {
    "compressor": {"low": 0.1, "mid": 0.1, "high": 0.1},
    "distortion": {"mode": 0, "drive": 0.3},
    "eq": {"freq": 0.7, "q": 0.3, "gain": 0.6},
    "phaser": {"depth": 0.1, "freq": 0.5, "feedback": 0.1},
    "reverb": {"mix": 0.3, "low_cut": 0.5, "high_cut": 0.5},
    "tone": {"cutoff": 0.4},
}


@pytest.fixture
def six(monkeypatch, tmp_path):
    """The spec with the tone effect at the bottom of the rack, and the open rack's DSP
    folder with a tone.dsp beside copies of the shipped ones."""
    dsp = tmp_path / "faust"
    shutil.copytree(open_rack.FAUST_DIR, dsp)
    (dsp / "tone.dsp").write_text(TONE_DSP)
    use_effects(monkeypatch, spec.EFFECTS + (TONE,))
    monkeypatch.setattr(open_rack, "FAUST_DIR", dsp)
    open_rack.faust_source.cache_clear()
    yield OpenRack()
    open_rack.faust_source.cache_clear()


def test_the_spec_copy_has_six_effects_everywhere_it_derives_them(six):
    assert spec.EFFECT_NAMES[-1] == "tone" and spec.MAX_STEPS == 6
    assert spec.SERUM_RACK_ORDER[-1] == "tone" and spec.STEP_TOKENS[-2:] == ("tone", "initial")
    assert len(spec.subsets()) == 64 and spec.subset_id(["tone"]) == 32
    assert six.settings.rack_order == spec.SERUM_RACK_ORDER


def test_data_generation_plans_draws_renders_and_encodes_the_new_effect(six):
    cfg = datagen.DataConfig(group="basic", per_combo=1, seed=5, chunk=1)
    tasks = datagen.plan(cfg)
    assert {t.subset for t in tasks} == set(spec.subsets())
    task = next(t for t in tasks if t.preset == "saw" and t.subset == ("eq", "tone"))
    arrays = datagen.shard_arrays(cfg, task, six)
    assert "tone.cutoff" in datagen.knob_columns() and "tone.cutoff" in cfg.to_json()["knob_columns"]
    assert arrays["order"].shape == (1, 6) and arrays["subset"][0] == spec.subset_id(("eq", "tone"))
    assert sorted(arrays["order"][0][:2]) == [2, 5]  # eq and tone, turn-on order
    assert list(arrays["process_order"][0][:2]) == [2, 5]  # rack order: eq, then tone
    chain = datagen.decode_chain(arrays["knobs"][0], arrays["order"][0])
    assert sorted(chain.order) == ["eq", "tone"]
    cutoff = chain[chain.order.index("tone")].knobs["cutoff"]
    assert min(abs(cutoff - g) for g in TONE.knobs[0].grid()) < 1e-6  # a Table-1 grid value
    # the record's clip is the chain through the open rack, the new effect included
    wet = six.render(chain, "saw")
    np.testing.assert_array_equal(arrays["mel"][0], datagen.F.features(wet)[0].astype(np.float16))
    assert np.abs(wet - six.render(chain.without("tone"), "saw")).max() > 0.01


def test_the_step_loop_chooses_and_counts_the_new_effect(six):
    target = six.render([FX("tone", cutoff=0.4)], "saw")
    ranking = ["tone", "eq", "reverb", "phaser", "compressor", "distortion"]
    s = Assistant(StubModels(ranking, KNOBS), target, renderer=six, preset="saw", k=1)
    res = s.run()
    assert [st.effect for st in res.steps] == ["tone"] and res.stop["reason"] == "reached"
    step = res.steps[0]
    assert step.instruction == "Turn on Tone: Cutoff 1.3 kHz"
    assert step.enable.serum_name == "Tone Enable" and step.knobs[0].serum_index == 301
    assert set(step.probabilities) == set(spec.EFFECT_NAMES)
    # the paper's loop applies every effect before it stops: six steps now
    paper = Assistant(
        StubModels(ranking, KNOBS), target, renderer=six, preset="saw", loop="paper", tolerance=10
    ).run()
    assert [st.effect for st in paper.steps] == ranking
    assert paper.stop["reason"] == "all_effects"


def test_the_device_spec_json_and_module_carry_the_new_effect(six, tmp_path):
    from serumrnn.device import build

    data = json.loads(spec.export_json())
    assert [e["name"] for e in data["effects"]] == list(spec.EFFECT_NAMES)
    assert data["rack_order"][-1] == "tone" and data["step_tokens"][-2:] == ["tone", "initial"]
    assert data["spec_fingerprint"] == spec.fingerprint()
    module = tmp_path / "serumrnn_spec.js"
    module.write_text(build.spec_module(spec.export_json(), 48))
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run scripts/setup-system.sh (make test does)")
    script = (
        "const m = require(process.argv[1]);"
        f"const la = require({json.dumps(str(build.DEVICE_DIR / 'live_adapter.js'))});"
        f"const T = require({json.dumps(str(build.DEVICE_DIR / 'ui_text.js'))});"
        "const names = la.specParams(m.spec).map((p) => p.name);"
        "console.log(JSON.stringify({problem: la.specProblem(m.spec), n: m.spec.effects.length,"
        " tone: names.filter((n) => n.startsWith('Tone')),"
        " done: T.done({done: true, reason: 'all_effects', bestStep: 6}, 6, m.spec.effects.length)}));"
    )
    out = subprocess.run(
        [node, "-e", script, str(module)], capture_output=True, text=True, timeout=30, check=True
    )
    got = json.loads(out.stdout)
    assert got == {
        "problem": "",
        "n": 6,
        "tone": ["Tone Enable", "Tone_Cut"],
        "done": "Done: all 6 effects are on.",
    }


def test_the_reports_follow_the_effect_count(six):
    """Table 5's step columns and the results summary's Table 2 rows come from the spec;
    an effect the paper did not have gets no paper figure instead of an error."""
    from serumrnn.training import summary, system_report

    per = {str(j): {m: -0.1 for m in ("mse", "mae", "lsd", "mfccd", "pcc", "mssmae")} for j in range(1, 7)}
    t = {
        "initial": per["1"],
        "final": per["1"],
        "delta": per["1"],
        "delta_pct": per["1"],
        "per_step": per,
        "per_step_n": {str(j): 10 for j in range(1, 7)},
    }
    head, rule = system_report._table5("SerumRNN", t)[:2]
    assert head.endswith("| 1 | 2 | 3 | 4 | 5 | 6 |") and rule.count("|---") == 5 + 6
    row = {"table2": {e: {"delta_pct": {"mse": -50.0}} for e in spec.EFFECT_NAMES}}
    lines = summary.table2_rows({"basic_shapes": row}, ["basic_shapes"])
    assert any(line.startswith("| tone |") and "no paper figure" in line for line in lines)


def test_the_copy_is_gone_after_the_test():
    """use_effects changes the spec only inside its monkeypatch."""
    with pytest.MonkeyPatch.context() as mp:
        use_effects(mp, spec.EFFECTS + (TONE,))
        assert spec.MAX_STEPS == 6
    assert "tone" not in spec.EFFECT_NAMES and spec.MAX_STEPS == len(spec.EFFECTS) == 5
    assert Chain([]).order == ()
