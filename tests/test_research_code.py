"""The research code's own evaluation outputs, scored by our scorer (the measured anchor row)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from serumrnn.training import research_code as R
from serumrnn.training.system_scores import PAPER_SERUMRNN_MSE_PCT

ROOT = Path(__file__).resolve().parent.parent


def _write(folder: Path, group: str, system: str, mse: np.ndarray) -> None:
    paths = {k: np.ones_like(mse) for k in R.METRIC_KEYS}
    paths["mse"] = mse
    np.savez(
        folder / R.FILE.format(group=group, system=system),
        eval_metrics_all=np.array(paths, dtype=object),
        effect_name_seq_all=np.array([["eq", "reverb", "phaser", "compressor", "distortion"]] * len(mse)),
    )


def test_scores_by_the_research_rule_on_each_path(tmp_path):
    # pair 1 improves, then gets worse at 2 -> 3 (1st bad step, kept) and 3 -> 5 (2nd): it ends at 3.
    # pair 2 improves all the way to 1. Means: start 10, end (3 + 1) / 2 = 2, so Δ % = -80.
    mse = np.array([[10, 4, 2, 3, 5, 9], [10, 8, 6, 4, 2, 1]], float)
    _write(tmp_path, "basic_shapes", "next_effect_rnn", mse)
    res = R.score_folder(tmp_path)
    row = res["groups"]["basic_shapes"]["serumrnn"]
    assert row["pairs"] == 2
    assert row["delta_pct"]["mse"] == pytest.approx(-80.0)
    assert row["initial"]["mse"] == pytest.approx(10.0)
    assert list(res["groups"]) == ["basic_shapes"]


def test_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no research-code evaluation files"):
        R.score_folder(tmp_path)


def test_committed_scores_match_the_papers_table_4():
    """The committed JSON (made by scripts/score_research_code.py) reproduces the paper's SerumRNN
    Mel-MSE Δ % per group to the paper's one decimal."""
    res = json.loads((ROOT / R.DEFAULT_OUT).read_text())
    for group, want in PAPER_SERUMRNN_MSE_PCT.items():
        rows = res["groups"][group]
        assert round(rows["serumrnn"]["delta_pct"]["mse"], 1) == want
        assert rows["serumrnn"]["pairs"] == 1000
        assert set(rows) == set(R.SYSTEMS.values())
