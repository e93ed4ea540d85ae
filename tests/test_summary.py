"""`serumrnn results`: the cross-group page is read from the measured JSON, not typed in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from serumrnn.training import summary

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"


def test_summary_reads_each_groups_json(tmp_path):
    src = RESULTS / "basic_shapes"
    if not (src / "models.json").is_file():
        pytest.fail("docs/results/basic_shapes/models.json is committed with the shipped models")
    dst = tmp_path / "basic_shapes"
    dst.mkdir()
    models = json.loads((src / "models.json").read_text())
    models["table2"]["distortion"]["delta_pct"]["mse"] = -91.234  # a value no run produced
    models["table3"]["serumrnn"]["all"] = 0.9876
    (dst / "models.json").write_text(json.dumps(models))
    shutil.copy(src / "system.json", dst / "system.json")
    text = summary.summarize(tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("| distortion |"))
    assert "−91.2 %" in row and "missed" not in row  # better than the paper's −82.7 %
    assert "0.988" in text
    system = json.loads((src / "system.json").read_text())
    d = system["systems"]["serumrnn"]["table"]["delta_pct"]["mse"]
    assert f"{d:+.1f} %".replace("-", "−") in text
    assert "advanced_shapes" not in text, "only groups with results appear"


def test_summary_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="eval-models"):
        summary.summarize(tmp_path)


def test_goals_against_each_groups_paper_figure_share_one_row(tmp_path):
    """Each group's research-code goal names its own paper figure; the page shows one row
    with the figure in each group's cell, not one row per figure."""
    assert summary.goal_row("research-code rule: SerumRNN Δ% Mel-MSE ≤ the paper's -75.8 %") == (
        "research-code rule: SerumRNN Δ% Mel-MSE ≤ the paper's (per group)",
        "-75.8",
    )
    assert summary.goal_row("SerumRNN beats Random on every metric (Δ)") == (
        "SerumRNN beats Random on every metric (Δ)",
        None,
    )
    for group, figure in (("basic_shapes", "-77.8"), ("advanced_shapes", "-75.8")):
        dst = tmp_path / group
        dst.mkdir()
        shutil.copy(RESULTS / "basic_shapes" / "models.json", dst / "models.json")
        system = json.loads((RESULTS / "basic_shapes" / "system.json").read_text())
        for g in system["goals"]:
            if g["goal"].startswith("research-code rule: SerumRNN Δ% Mel-MSE"):
                g["goal"] = f"research-code rule: SerumRNN Δ% Mel-MSE ≤ the paper's {figure} %"
        (dst / "system.json").write_text(json.dumps(system))
    rows = [
        line
        for line in summary.summarize(tmp_path).splitlines()
        if line.startswith("| research-code rule: SerumRNN Δ% Mel-MSE")
    ]
    assert len(rows) == 1
    assert "(paper -77.8 %)" in rows[0] and "(paper -75.8 %)" in rows[0]
    assert "not measured" not in rows[0]
