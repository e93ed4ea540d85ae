"""The out-of-domain suite and the whole-chain CMA-ES anchor."""

import numpy as np
import pytest
from stub_models import StubModels

from serumrnn.server import metrics as M
from serumrnn.server import spec
from serumrnn.server.rack import FX
from serumrnn.training.chain_search import DIM, decode, search_chain
from serumrnn.training.ood_suite import build_suite, run_suite, summarize_suite

KNOBS = {
    "eq": {"freq": 0.7, "q": 0.4, "gain": 0.3},
    "distortion": {"mode": 0, "drive": 0.5},
    "reverb": {"mix": 0.4, "low_cut": 0.2, "high_cut": 0.6},
    "phaser": {"depth": 0.5, "freq": 0.5, "feedback": 0.3},
    "compressor": {"low": 0.5, "mid": 0.5, "high": 0.5},
}


@pytest.fixture(scope="module")
def suites(rack):
    return build_suite(rack, "saw", 0), build_suite(rack, "saw", 1)


def test_suite_targets_come_from_other_software_with_settings_per_seed(suites):
    a, b = suites
    kinds = [t.kind for t in a.targets]
    assert len(a.targets) >= 12 and kinds.count("sox") >= 5 and kinds.count("plugin") >= 5
    assert kinds.count("identical") == 1 and kinds.count("gain") == 1
    assert {t.name for t in a.targets if t.kind == "plugin"} >= {
        "Dragonfly Hall Reverb",
        "ZynDistortion",
        "LSP Compressor Mono",
    }
    for ta, tb in zip(a.targets, b.targets):
        assert ta.audio.shape == (44100,) and np.isfinite(ta.audio).all()
        if ta.kind in ("sox", "plugin", "gain"):  # another seed, other settings and sound
            assert ta.settings != tb.settings and not np.allclose(ta.audio, tb.audio)
        if ta.kind in ("sox", "plugin"):  # and a real change of the input
            assert M.distances(a.input, ta.audio)["mse"] > 0.01


def test_verified_loop_on_the_suite_never_ends_worse(rack, suites):
    models = StubModels(["reverb", "eq", "distortion", "phaser", "compressor"], KNOBS)
    rows = run_suite(models, rack, suites[0], loop="verified", k=2)
    summary = summarize_suite(rows)
    assert summary["worse_any"] == 0 and not any(r["worse_any"] for r in rows)
    assert summary["trivial_steps"] == {"identical": [0], "gain": [0]}
    for r in rows:
        assert r["end"]["mse"] <= r["start"]["mse"] and r["end"]["mssmae"] <= r["start"]["mssmae"]


def test_chain_vector_decodes_switches_knobs_and_mode():
    x = np.zeros(DIM)
    assert len(decode(x)) == 0
    x[spec.EFFECT_NAMES.index("distortion")] = 0.9
    x[-1] = 0.99  # the last of the 12 modes
    (fx,) = decode(x)
    assert fx.name == "distortion" and fx.knobs["mode"] == 11 and fx.knobs["drive"] == 0.3
    assert [f.name for f in decode(np.ones(DIM))] == list(spec.EFFECT_NAMES)


def test_anchor_search_improves_with_budget_and_never_returns_worse(rack):
    target = rack.render([FX("reverb", mix=0.6, low_cut=0.3, high_cut=0.5)], "saw")
    r = search_chain(rack, "saw", target, budgets=(12, 48), seed=1)
    assert r.renders == 48 and set(r.checkpoints) == {12, 48}
    s12, s48 = r.checkpoints[12]["score"], r.checkpoints[48]["score"]
    assert s48 <= s12 <= 1.0 + 1e-9


def test_missing_sox_is_one_clear_error_for_both_evaluations(monkeypatch, tmp_path):
    """Both SoX users go through run_sox, so a machine without SoX gets one message."""
    import shutil

    from serumrnn.training import ood_suite
    from serumrnn.training.system_ood import sox_sounds

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"out-of-domain suite needs the `sox` command"):
        ood_suite.sox_target(np.zeros(44100, np.float32), ["gain", "-3"], tmp_path)
    with pytest.raises(RuntimeError, match=r"--no-ood\) needs the `sox` command"):
        sox_sounds(tmp_path)
