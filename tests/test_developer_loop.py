"""The examples of docs/developer-loop.md run as written: a new stopping rule is one
function in the judge, a new loop is one class."""

import re
from pathlib import Path

import pytest
from stub_models import StubModels

from serumrnn.server import judge as J
from serumrnn.server.rack import FX

DOC = Path(__file__).resolve().parent.parent / "docs" / "developer-loop.md"
GOOD = {"distortion": {"mode": 2, "drive": 0.8}, "reverb": {"mix": 0.5, "low_cut": 0.2, "high_cut": 0.7}}
BAD = {"eq": {"freq": 0.5, "q": 0.0, "gain": 1.0}, "phaser": {"depth": 1.0, "freq": 0.05, "feedback": 1.0}}


@pytest.fixture(scope="module")
def examples() -> dict:
    """Every python block of the guide, run in one namespace."""
    ns: dict = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S):
        exec(compile(block, str(DOC), "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def target(rack):
    return rack.render([FX("distortion", **GOOD["distortion"]), FX("reverb", **GOOD["reverb"])], "saw")


def test_a_new_stopping_rule_is_one_function(examples, rack, monkeypatch):
    from serumrnn.server.assistant import Assistant

    monkeypatch.setattr(J, "AFTER_STEP", (examples["two_steps_at_most"], *J.AFTER_STEP))
    monkeypatch.setitem(J.STOP_REASONS, "step_limit", "two steps are kept")
    # three effects that each bring the sound closer to a three-effect target
    chain = [FX("distortion", **GOOD["distortion"]), FX("reverb", **GOOD["reverb"])]
    chain.append(FX("eq", freq=0.6, q=0.5, gain=0.6))
    knobs = {**GOOD, "eq": {"freq": 0.6, "q": 0.5, "gain": 0.6}}
    models = StubModels(["distortion", "reverb", "eq", "phaser", "compressor"], knobs)
    res = Assistant(models, rack.render(chain, "saw"), renderer=rack, preset="saw").run()
    assert res.stop["reason"] == "step_limit" and len(res.steps) == 2


def test_a_new_loop_is_one_class(examples, rack, target):
    models = StubModels(["distortion", "reverb", "eq", "phaser", "compressor"], {**GOOD, **BAD})
    loop = examples["TopOnlyLoop"](models, target, renderer=rack, preset="saw")
    res = loop.run()
    assert [s.effect for s in res.steps] == ["distortion", "reverb"]
    assert res.stop["reason"] == "reached" and res.best_step == 2 and res.loop == "top_only"
    # the selector's first choice is harmful: the loop stops before offering it
    first_bad = StubModels(["eq", "distortion", "reverb", "phaser", "compressor"], {**GOOD, **BAD})
    res = examples["TopOnlyLoop"](first_bad, target, renderer=rack, preset="saw").run()
    assert res.steps == [] and res.stop["reason"] == "no_closer" and res.best_step == 0
