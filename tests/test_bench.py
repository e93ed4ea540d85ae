"""The speed figures' code runs and measures what it says (the figures themselves come
from ``serumrnn bench``, not from tests)."""

from __future__ import annotations

import math

from serumrnn.server.bench import bench_first_step, bench_step
from serumrnn.server.bench_verified import bench_verified


def test_bench_step_reports_each_figure(tiny_run, capsys):
    out = bench_step(3, tiny_run[0] / "models")
    keys = {
        "step_core_p50_ms",
        "step_core_p95_ms",
        "step_naive_p50_ms",
        "step_captured_p50_ms",
        "step_full_p50_ms",
        "step_full_p95_ms",
    }
    assert keys <= set(out) and all(math.isfinite(out[k]) and out[k] > 0 for k in keys)
    assert out["step_core_p95_ms"] >= out["step_core_p50_ms"]
    text = capsys.readouterr().out
    assert "goal <= 20 ms p50" in text and "goal <= 30 ms p50" in text


def test_time_to_first_step_is_measured_in_a_fresh_process(tiny_run, capsys):
    out = bench_first_step(tiny_run[0] / "models")
    parts = [out[f"first_step_{k}_s"] for k in ("import", "load", "warm_up", "rack", "step")]
    assert all(p > 0 for p in parts) and out["first_step_s"] >= sum(parts)
    assert "time to the first step" in capsys.readouterr().out


def test_bench_verified_reports_both_loops(tiny_run, capsys):
    out = bench_verified(2, tiny_run[0] / "models")
    keys = {"verified_step_p50_ms", "verified_step_p95_ms", "refine_step_p50_ms", "refine_step_p95_ms"}
    keys |= {"plugin_verified_step_p50_ms", "plugin_verified_step_p95_ms"}  # the Debian plugins' row
    keys |= {"search_step_p50_ms", "search_table1_step_p50_ms"}  # the default and its same-run baseline
    keys |= {"search_tune_step_p50_ms"}  # serve's default: the steps, then the fine-tune step
    assert keys <= set(out) and all(math.isfinite(out[k]) and out[k] > 0 for k in keys)
    text = capsys.readouterr().out
    assert "goal <= 40 ms p50" in text and "goal <= 150 ms p50" in text
    assert "serve's default: its steps, then the fine-tune step" in text
    assert "verified step, k = 3, on the debian_test plugins" in text
    ratio = out["search_step_p50_ms"] / out["search_table1_step_p50_ms"]
    assert f"Table 1 search step p50 = {ratio:.2f}x (same run)" in text


def test_bench_json_records_every_figure_with_the_load(tmp_path, monkeypatch, capsys):
    """``serumrnn bench --json`` writes what run_bench returned, so the docs' spans can read it."""
    import argparse
    import json

    from serumrnn.server import bench
    from serumrnn.training import commands

    seen = {}

    def fake_run_bench(*, quick, workers, extra):
        seen["quick"], seen["workers"] = quick, workers
        return {"search_step_p50_ms": 123.5, "osc_1_p50_ms": 7.0}

    monkeypatch.setattr(bench, "run_bench", fake_run_bench)
    path = tmp_path / "bench.json"
    rc = commands._cmd_bench(argparse.Namespace(quick=True, workers=1, json=str(path)))
    rec = json.loads(path.read_text())
    assert rc == 0 and seen == {"quick": True, "workers": 1}
    assert rec["figures"] == {"search_step_p50_ms": 123.5, "osc_1_p50_ms": 7.0}
    assert rec["measured_by"] == "serumrnn bench --quick"
    assert rec["load_before"] >= 0 and rec["cpu_count"] >= 1


def test_osc_rows_time_the_default_loop_and_the_goal_on_its_own_loop(tiny_run, capsys, monkeypatch):
    """The round trip's goal was set for the verified loop: ``bench`` prints it beside a
    server running that loop, not beside the default loop's rows."""
    from serumrnn.server import osc_server
    from serumrnn.server.bench import OSC_GOAL_LOOP, bench_osc_clients
    from serumrnn.server.loop_settings import DEFAULT_LOOP

    loops: list[tuple[str, bool]] = []

    class Recording(osc_server.OscServer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            loops.append((self.config.loop, self.config.extra))

    monkeypatch.setattr(osc_server, "OscServer", Recording)
    out = bench_osc_clients(1.0, tiny_run[0] / "models")
    assert OSC_GOAL_LOOP != DEFAULT_LOOP
    assert loops == [
        (DEFAULT_LOOP, True),
        (DEFAULT_LOOP, True),
        (OSC_GOAL_LOOP, True),
        (OSC_GOAL_LOOP, True),
        (DEFAULT_LOOP, False),
    ]
    keys = {
        "osc_1_p50_ms",
        "osc_20_p50_ms",
        "osc_1_verified_p50_ms",
        "osc_1_verified_follow_p50_ms",
        "osc_1_table1_p50_ms",
    }
    assert keys <= set(out) and all(math.isfinite(out[k]) and out[k] > 0 for k in keys)
    lines = capsys.readouterr().out.splitlines()
    goal = [ln for ln in lines if "goal <=" in ln]
    assert len(goal) == 1 and f"{OSC_GOAL_LOOP} loop: goal <= 40 ms p50" in goal[0]
    assert f"serve's default loop, {DEFAULT_LOOP}" in lines[0]
