"""Table 3 as the paper measured it: the example with one effect left, per number of effects."""

import numpy as np

from serumrnn.server import spec
from serumrnn.training import evaluate_models as EM


def test_table3_scores_the_paper_examples_and_every_prefix(tiny_models, rack):
    per = 3
    t3 = EM.table3(tiny_models, rack, per, EM.training_keys(tiny_models))
    for key in ("serumrnn", "serumrnn_ni", "serumrnn_unused_only"):
        # one example per target: the one with a single effect left
        assert t3[key]["n"] == {str(n): per for n in range(1, 6)}, key
        assert all(0.0 <= v <= 1.0 for v in t3[key]["per_step"].values())
    # every prefix of an n-effect target: n examples per target
    assert t3["serumrnn_in_target"]["n"] == {str(n): per * n for n in range(1, 6)}
    assert set(t3["serumcnn"]["per_effects"]) == {str(n) for n in range(1, 6)}
    # with one effect left and the rest applied, the unused-only choice is that effect:
    # for one-effect targets "unused only" and "in the target" are the same question
    assert t3["serumrnn_unused_only"]["per_step"]["1"] == t3["serumrnn_in_target"]["per_step"]["1"]
    md = EM.markdown("basic_shapes", {"table2": {e: _fake_t2() for e in spec.EFFECT_NAMES}, "table3": t3})
    assert "as the paper measured it" in md and "every prefix" in md


def _fake_t2():
    zero = {m: 0.0 for m in ("mse", "mae", "lsd", "mfccd", "pcc", "mssmae")}
    return {
        "pairs": 1,
        "input": zero,
        "output": zero,
        "delta": zero,
        "delta_pct": zero,
        "paper_mel_mse_pct": 0.0,
        "knobs": {},
    }


def test_most_probable_unused_never_repeats():
    from serumrnn.server.models import most_probable_unused, rank_unused

    p = np.array([0.5, 0.3, 0.1, 0.06, 0.04])
    assert most_probable_unused(p, []) == spec.EFFECT_NAMES[0]
    assert most_probable_unused(p, [spec.EFFECT_NAMES[0]]) == spec.EFFECT_NAMES[1]
    assert rank_unused(p, [spec.EFFECT_NAMES[1]]) == [spec.EFFECT_NAMES[i] for i in (0, 2, 3, 4)]
