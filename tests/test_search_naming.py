"""The search loop with a naming prior: the head's ranking pooled with the selector's
chooses which effects are rendered and which accepted one is offered; the renders'
verdict still decides whether any is; the step reports both rankings."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from stub_models import StubModels

from serumrnn.server import judge as J
from serumrnn.server import naming_prior as NP
from serumrnn.server import spec
from serumrnn.server.assistant import Assistant
from serumrnn.server.models import DEFAULT_MODELS_DIR, ModelError
from serumrnn.server.rack import FX

#: The selector puts distortion last: alone, it never renders distortion in its top 3.
RANKING = ["reverb", "eq", "phaser", "compressor", "distortion"]
KNOBS = {"distortion": {"mode": 2, "drive": 0.45}}


def fixed_prior(favourite: str, weight: float = 0.75) -> NP.NamingPrior:
    """A head that always names ``favourite`` with 90 %."""
    p = np.full(len(spec.EFFECT_NAMES), 0.1 / (len(spec.EFFECT_NAMES) - 1))
    p[spec.EFFECT_NAMES.index(favourite)] = 0.9
    return NP.NamingPrior(lambda a, b: np.tile(p, (len(a), 1)), weight, "test")


@pytest.fixture(scope="module")
def target(rack):
    return rack.render([FX("distortion", mode=2, drive=0.45)], "saw")


def run(rack, target, prior, extra=True):
    models = StubModels(RANKING, KNOBS)
    if prior is not None:
        models.naming_prior = prior
    return Assistant(models, target, renderer=rack, preset="saw", loop="search", extra=extra).run()


def test_the_head_brings_the_effect_it_names_into_the_renders_and_the_offer(rack, target):
    res = run(rack, target, fixed_prior("distortion"))
    first = res.steps[0]
    assert first.effect == "distortion"
    assert "distortion" in {c["effect"] for c in first.candidates}
    n = first.naming
    assert n["selector_ranking"][0] == "reverb" and n["head_ranking"][0] == "distortion"
    assert n["ranking"][0] == "distortion" and n["weight"] == 0.75
    assert n["head"]["distortion"] == pytest.approx(0.9)
    rows = {c["effect"]: c for c in first.candidates}
    assert rows["distortion"]["prior"] == pytest.approx(n["pooled"]["distortion"])
    assert json.dumps(res.to_json())  # both rankings land in steps.json


def test_without_a_head_the_selector_alone_ranks_and_nothing_is_reported(rack, target):
    res = run(rack, target, None)
    first = res.steps[0]
    assert first.naming is None
    assert {c["effect"] for c in first.candidates[:3]} == set(RANKING[:3])
    assert all(c["prior"] is None for c in first.candidates[:3])


def test_the_head_cannot_force_an_effect_whose_renders_do_not_help(rack, target):
    # the head insists on the phaser; only what the renders accept may be offered
    res = run(rack, target, fixed_prior("phaser", weight=1.0), extra=False)
    rows = {c["effect"]: c for c in res.steps[0].candidates}
    assert res.steps[0].naming["ranking"][0] == "phaser"
    assert not rows["phaser"]["closer"]  # searched, and its renders refused
    assert res.steps[0].effect == "distortion" and rows["distortion"]["closer"]
    # with its extra knob (the rate) a phaser setting comes somewhat closer, but the
    # distortion is more than the tie width closer: sound still decides
    res = run(rack, target, fixed_prior("phaser", weight=1.0))
    rows = {c["effect"]: c for c in res.steps[0].candidates}
    assert (
        rows["phaser"]["search"] == "extra"
        and rows["distortion"]["gain"] > rows["phaser"]["gain"] + J.PRIOR_TIE
    )
    assert res.steps[0].effect == "distortion"


def test_the_offer_rule_the_ranking_breaks_ties_within_the_tie_width():
    assert J.offer([0.30, 0.58], [0.9, 0.1], J.PRIOR_TIE) == 0  # 28 points: a tie with the head
    assert J.offer([0.50, 0.58], [0.9, 0.1]) == 1  # the selector's narrow tie: sound wins
    assert J.offer([0.05, 0.85], [0.9, 0.1], J.PRIOR_TIE) == 1  # a clear lead on sound wins


def test_stub_models_get_no_head_and_a_tampered_head_is_refused(tmp_path):
    assert NP.for_models(StubModels()) is None
    shipped = DEFAULT_MODELS_DIR / NP.HEAD_FOLDER
    bad = tmp_path / NP.HEAD_FOLDER
    shutil.copytree(shipped, bad)
    m = json.loads((bad / "manifest.json").read_text())
    (bad / m["model"]).write_bytes(b"not a model")
    with pytest.raises(ModelError, match="sha256"):
        NP.load(bad)


def test_a_head_attached_to_trained_models_is_the_one_their_loops_hear(tmp_path):
    """``ood-naming eval --head H``: the loop hears H, not the head beside the models folder."""
    from serumrnn.server.models import STEP_MODELS, load_group

    models = load_group("basic", None, which=STEP_MODELS, backend="numpy")
    beside = NP.for_models(models)
    assert beside is not None and Path(beside.source).name == NP.HEAD_FOLDER
    other = tmp_path / "another_head"
    shutil.copytree(DEFAULT_MODELS_DIR / NP.HEAD_FOLDER, other)
    prior = NP.attach(models, other)
    assert NP.for_models(models) is prior and prior.source == str(other)
    assert (
        NP.for_models(load_group("basic", None, which=STEP_MODELS, backend="numpy")).source == beside.source
    )
