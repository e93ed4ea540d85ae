"""``serumrnn bench``'s verified rows: a verified step (k = 3), verified + refine and a
search step on the open rack, per ``step()`` call of whole sessions, and the verified
step on the Debian test plugins hosted in their worker process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from serumrnn.server import spec
from serumrnn.server.bench import row, step_setup
from serumrnn.server.sampling import random_effects, sample_chain

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.render import Renderer


def bench_verified(reps: int, models_dir: Path | None = None) -> dict[str, float]:
    """A verified step (k = 3), a verified + refine step (24 renders) and a search step
    (at most ``knob_search.SEARCH_BUDGET`` search renders), per ``step()`` call of whole
    sessions on the open rack, targets of 1 to every effect, at random. The default loop's
    goal is 250 ms p50. The last row is ``serve``'s default: the same steps, then the
    fine-tune step (its calls also on their own)."""
    from serumrnn.server.knob_search import EXTRA_RENDERS, SEARCH_BUDGET
    from serumrnn.server.loop_settings import (
        DEFAULT_LOOP,
        FINE_TUNE_BUDGET,
        REFINE_BUDGET,
        TABLE1_SUFFIX,
        TUNED_SUFFIX,
        loop_row,
        row_extra,
    )

    print("verified steps (open rack; every step() call of whole sessions):")
    found = step_setup(models_dir, seed=11)
    if found is None:
        return {}
    gm, rack, rng, presets = found
    cases = []
    for r in range(reps):
        names = random_effects(rng, 1 + r % len(spec.EFFECT_NAMES))
        p = presets[r % len(presets)]
        cases.append((p, rack.render(sample_chain(names, rng), p)))
    out: dict[str, float] = {}
    goals = {"verified": "goal <= 40 ms p50", "refine": "goal <= 150 ms p50", "search": ""}
    goals[DEFAULT_LOOP] = "default loop: goal <= 250 ms p50"
    goals["search" + TABLE1_SUFFIX] = "baseline: the search without extra knobs"
    goals[DEFAULT_LOOP + TUNED_SUFFIX] = "serve's default: its steps, then the fine-tune step"
    labels = {
        "verified": "verified step, k = 3",
        "refine": f"verified + refine, {REFINE_BUDGET} renders",
        "search": f"search step, <= {SEARCH_BUDGET} search renders (+ {EXTRA_RENDERS} extra)",
        "search" + TABLE1_SUFFIX: f"search step, Table 1 knobs only, <= {SEARCH_BUDGET} search renders",
        DEFAULT_LOOP
        + TUNED_SUFFIX: f"{DEFAULT_LOOP} step or fine-tune step ({FINE_TUNE_BUDGET} renders + sweep)",
    }
    for name, goal in goals.items():
        loop, fine_tune = loop_row(name)
        key = name.replace(TABLE1_SUFFIX, "_table1").replace(TUNED_SUFFIX, "_tune")
        calls, cpu, offers, renders, tunes = _time_sessions(gm, rack, cases, loop, fine_tune, row_extra(name))
        c, o = np.array(calls), np.array(offers)
        print(row(f"{labels[name]} (every call, {len(c)})", c, goal))
        # CPU time of this process per call: what the step costs whatever else runs
        print(row("  the same, CPU time of this process", np.array(cpu)))
        out[f"{key}_step_p50_ms"] = float(np.median(c))
        out[f"{key}_step_p95_ms"] = float(np.percentile(c, 95))
        out[f"{key}_step_cpu_p50_ms"] = float(np.median(cpu))
        if len(o):  # weak models may never find a step worth offering
            print(row(f"  calls that offer a step ({len(o)}; {np.mean(renders):.1f} renders each)", o))
            out[f"{key}_offer_p50_ms"] = float(np.median(o))
        if tunes:
            print(row(f"  calls that offer the fine-tune step ({len(tunes)})", np.array(tunes)))
            out[f"{key}_tune_p50_ms"] = float(np.median(tunes))
    ratio = out["search_step_p50_ms"] / out["search_table1_step_p50_ms"]
    print(f"  ratio: search step p50 / Table 1 search step p50 = {ratio:.2f}x (same run)")
    out.update(_verified_on_plugins(gm, rng, reps))
    return out


def _time_sessions(
    gm: GroupModels,
    rack: Renderer,
    cases: list[tuple[str, np.ndarray]],
    loop: str,
    fine_tune: int,
    extra: bool,
) -> tuple[list[float], list[float], list[float], list[int], list[float]]:
    """Every ``advance()`` call of a whole session per case (the first case only warms
    up): wall ms, CPU ms, the calls that offer a step, their renders, the calls that offer
    the fine-tune step."""
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.loop_settings import DEFAULT_K, REFINE_BUDGET

    calls: list[float] = []
    cpu: list[float] = []
    offers: list[float] = []
    renders: list[int] = []
    tunes: list[float] = []
    for i, (p, target) in enumerate(cases[:1] + cases):
        s = Assistant(
            gm,
            target,
            renderer=rack,
            preset=p,
            loop=loop,
            k=DEFAULT_K,
            refine_budget=REFINE_BUDGET,
            fine_tune=fine_tune,
            extra=extra,
        )
        while not s.done:
            t, tc = time.perf_counter(), time.process_time()
            turn = s.advance()
            ms = (time.perf_counter() - t) * 1e3
            if i == 0:
                continue
            calls.append(ms)
            cpu.append((time.process_time() - tc) * 1e3)
            if turn.tune is not None:
                tunes.append(ms)
            if turn.report is not None:
                offers.append(ms)
                renders.append(turn.report.renders)
    return calls, cpu, offers, renders, tunes


#: The plugin profile the plugin row of ``bench`` hosts (free plugins ``make`` installs).
BENCH_PROFILE = "debian_test"


def _verified_on_plugins(gm: GroupModels, rng: np.random.Generator, reps: int) -> dict[str, float]:
    """The verified step (k = 3) with candidates rendered on the Debian plugins hosted in
    their worker process (goal: <= 150 ms p50), beside the open-rack row: the
    input is the profile's dry synth, targets are random chains on the plugins."""
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.rack.plugin_host import PluginHost

    try:
        host = PluginHost(BENCH_PROFILE, gm.render_settings)
    except Exception as e:  # noqa: BLE001 - a missing plugin is reported, not raised
        print(f"  plugin row: no plugins ({e})")
        return {}
    try:
        dry = host.dry()
        targets = [
            host.render(sample_chain(random_effects(rng, 1 + r % len(spec.EFFECT_NAMES)), rng))
            for r in range(reps + 1)
        ]
        calls = []
        for i, target in enumerate(targets):  # the first one only warms up
            s = Assistant(gm, target, renderer=host, input_audio=dry, loop="verified", k=3)
            while not s.done:
                t = time.perf_counter()
                s.step()
                if i:
                    calls.append((time.perf_counter() - t) * 1e3)
    finally:
        host.close()
    c = np.array(calls)
    print(row(f"verified step, k = 3, on the {BENCH_PROFILE} plugins ({len(c)})", c, "goal <= 150 ms p50"))
    return {
        "plugin_verified_step_p50_ms": float(np.median(c)),
        "plugin_verified_step_p95_ms": float(np.percentile(c, 95)),
    }
