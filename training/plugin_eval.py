"""``serumrnn eval-plugins``: the step loop measured on real plugins.

Pairs are drawn on the plugins: the input is the profile's dry synth (``debian_test``: the
Zyn saw), the target that synth through a random chain on the plugins, chains from a seed
stream of their own (:data:`PLUGIN_STREAM`; pair i has 1 + i mod 5 effects, so a run cut
short still covers every length). Rows:

* (a) ``open``: the verified loop judged on the open rack, its best chain set on the plugins;
* (b) ``device``: the device's flow, candidates simulated on the open rack, every applied
  step judged by a capture the plugins render from the dry input;
* (bp) ``device_plugins``: the device's flow of ``serve --profile``: the server simulates
  candidates on the plugins, and the captures judge every applied step as in (b);
* (c) ``plugins``: the verified loop rendering its candidates on the plugins;
* (d) ``plugins_refine``: (c) with the refinement;
* (o) ``oracle``: no loop, the target's own chain rendered again. Why: a plugin that does
  not render a clip the same twice would keep even the right answer off distance 0; this
  row is the ceiling the other rows are measured against (on ``debian_test``, whose
  phaser is reloaded and warmed up before each render, it is exactly 0).

Each row's end is its best chain rendered on the plugins from the dry input and measured
against the target. Per row: Mel-MSE and MSSMAE Δ% (mean end
against mean start), pairs ending further away on either metric, open-rack and plugin
renders and captures per pair, time per step. The plugins run in a worker process
(:class:`~serumrnn.server.rack.plugin_host.PluginHost`), beside the open rack.

Results go to ``docs/results/<group>/plugins.json`` after every pair (a rerun with the
same settings resumes) and ``plugins.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serumrnn.server import progress, spec

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.chain import Chain
    from serumrnn.server.rack.plugin_host import PluginHost
    from serumrnn.server.rack.render import Renderer

#: record_seed(TEST_STREAM, PLUGIN_STREAM + n, i): the i-th plugin pair of n effects.
PLUGIN_STREAM = 900
ROWS = {
    "open": "(a) open-rack suggestions set on the plugins",
    "device": "(b) device's flow, captures rendered by the plugins",
    "device_noretry": "(b0) (b) without capture retries (a take-back is final, as before)",
    "device_search": "(bs) (b) with the knob search (the server's default loop)",
    "device_plugins": "(bp) (bs) with the server given the profile (`serve --profile`): candidates simulated on the plugins",
    "device_plugins_tune": "(bpt) (bp) with the fine-tune step, judged by its capture (`serve --profile`'s default)",
    "plugins": "(c) candidates verified on the plugins",
    "plugins_refine": "(d) (c) + refinement",
    "plugins_search": "(cs) (c) with the knob search (the server's default loop)",
    "plugins_search_tune": "(ct) (cs) + the fine-tune of every knob after the last step (match's default)",
    "oracle": "(o) the target's own chain, rendered again: the closest any answer can get",
}
#: The step loop of each row (the rest of a row is its renderer and whether captures judge).
ROW_LOOP = {
    "plugins_refine": "refine",
    "device_search": "search",
    "device_plugins": "search",
    "device_plugins_tune": "search+fine-tune",
    "plugins_search": "search",
    "plugins_search_tune": "search+fine-tune",
}
#: The device rows whose server simulates on the plugins (given the profile) instead of the open rack.
SIMULATED_ON_PLUGINS = ("device_plugins", "device_plugins_tune")
METRICS = ("mse", "mssmae")


def draw_plugin_pairs(group: str, pairs: int) -> list[Chain]:
    """The chains of ``pairs`` targets: pair i has 1 + i mod MAX_STEPS effects."""
    from serumrnn.server.sampling import record_seed
    from serumrnn.training.evaluate_models import TEST_STREAM, draw_chain

    out = []
    for i in range(pairs):
        n = 1 + i % spec.MAX_STEPS
        rng = np.random.default_rng(record_seed(TEST_STREAM, PLUGIN_STREAM + n, i // spec.MAX_STEPS))
        out.append(draw_chain(group, rng, None, n)[1])
    return out


def _device_flow(
    models: GroupModels,
    target: np.ndarray,
    rack: Renderer,
    host: PluginHost,
    dry: np.ndarray,
    k: int,
    retries: bool = True,
    loop: str = "verified",
):
    """The device's flow: the server simulates on ``rack`` (the open rack, or the plugins
    when it was given the profile), the plugins make captures."""
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.loop_settings import loop_row
    from serumrnn.server.rack.render import extra_knobs

    # the captures come from the plugins, which set only the extra knobs the profile maps:
    # the search may move extra knobs only where the plugins can set every one it would move
    extra = all(set(extra_knobs(rack, e)) <= set(extra_knobs(host, e)) for e in spec.EFFECT_NAMES)
    base, fine_tune = loop_row(loop)
    s = Assistant(models, target, renderer=rack, loop=base, k=k, extra=extra, fine_tune=fine_tune)
    if not retries:
        s.runner.retry_budget = 0  # type: ignore[attr-defined]  # a VerifiedLoop
    turn = s.advance(dry)
    captures = 1
    while not s.done and (turn.report is not None or turn.tune is not None):
        turn = s.advance(host.process(dry, s.serum_chain))  # Serum with every step applied
        captures += 1
    return s, captures


def _row_record(
    end: dict[str, float],
    start: dict[str, float],
    chain: list[dict[str, Any]],
    *,
    seconds: float,
    steps_offered: int = 0,
    taken_back: int = 0,
    open_renders: int = 0,
    plugin_renders: int = 0,
    captures: int = 0,
    stop: str = "",
) -> dict[str, Any]:
    """One row's result on one pair (the end is the chain rendered on the plugins)."""
    return {
        "end": {m: end[m] for m in METRICS},
        "chain": chain,
        "steps_offered": steps_offered,
        "taken_back": taken_back,
        "open_renders": open_renders,
        "plugin_renders": plugin_renders,
        "captures": captures,
        "seconds": round(seconds, 3),
        "stop": stop,
        "worse_any": bool(any(end[m] > start[m] for m in METRICS)),
    }


def run_pair(
    models: GroupModels,
    rack: Renderer,
    host: PluginHost,
    chain: Chain,
    *,
    rows: Sequence[str] = tuple(ROWS),
    k: int = 3,
    refine_budget: int = 24,
) -> dict[str, Any]:
    """Every row on one target: start and end distances (on the plugins), counts, time."""
    from serumrnn.server import judge as J
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.loop_settings import loop_row
    from serumrnn.server.rack.chain import Chain

    dry = host.dry()
    target_audio = host.render(chain)
    target = J.measure([target_audio])[0]
    start = J.judged(dry, target).distances
    out: dict[str, Any] = {
        "truth": chain.to_json(),
        "start": {m: start[m] for m in METRICS},
        "rows": {},
    }
    for row in rows:
        t = time.perf_counter()
        if row == "oracle":
            end = J.judged(host.process(dry, chain), target).distances
            out["rows"][row] = _row_record(
                end, start, chain.to_json(), seconds=time.perf_counter() - t, plugin_renders=1
            )
            continue
        captures = 0
        if row.startswith("device"):
            s, captures = _device_flow(
                models,
                target_audio,
                host if row in SIMULATED_ON_PLUGINS else rack,
                host,
                dry,
                k,
                row != "device_noretry",
                ROW_LOOP.get(row, "verified"),
            )
        else:
            loop, fine_tune = loop_row(ROW_LOOP.get(row, "verified"))
            s = Assistant(
                models,
                target_audio,
                renderer=rack if row == "open" else host,
                input_audio=dry,
                loop=loop,
                k=k,
                refine_budget=refine_budget,
                fine_tune=fine_tune,
            )
            s.run()
        seconds = time.perf_counter() - t
        res = s.result()
        best = Chain.from_json(res.best_chain)
        end = J.judged(host.process(dry, best), target).distances
        on_plugins = row.startswith("plugins") or row in SIMULATED_ON_PLUGINS
        out["rows"][row] = _row_record(
            end,
            start,
            res.best_chain,
            seconds=seconds,
            steps_offered=len(res.steps) + len(res.taken_back),
            taken_back=len(res.taken_back),
            open_renders=0 if on_plugins else res.renders,
            plugin_renders=(res.renders if on_plugins else 0) + 1,
            captures=captures,
            stop=(res.stop or {}).get("reason", ""),
        )
    return out


def summarize(pairs: Sequence[dict[str, Any]], row: str) -> dict[str, Any]:
    """One row over the pairs: Δ% of the mean end against the mean start (as Table 5)."""
    rs = [p["rows"][row] for p in pairs]
    out: dict[str, Any] = {"pairs": len(rs)}
    for m in METRICS:
        s = float(np.mean([p["start"][m] for p in pairs]))
        e = float(np.mean([r["end"][m] for r in rs]))
        out[f"{m}_pct"] = 100 * (e - s) / s
    out["worse"] = int(sum(r["worse_any"] for r in rs))
    for key in ("open_renders", "plugin_renders", "captures", "steps_offered", "taken_back"):
        out[f"{key}_per_pair"] = float(np.mean([r[key] for r in rs]))
    steps = sum(r["steps_offered"] for r in rs)
    # None: the row offers no step (the oracle)
    out["ms_per_step"] = 1e3 * sum(r["seconds"] for r in rs) / steps if steps else None
    return out


def progress_line(pairs: Sequence[dict[str, Any]], rows: Sequence[str]) -> str:
    """Mel-MSE Δ% and pairs worse so far, per row every pair has."""
    shown = [r for r in rows if all(r in p["rows"] for p in pairs)]
    return ", ".join(
        f"{r} {summarize(pairs, r)['mse_pct']:+.0f}% ({summarize(pairs, r)['worse']} worse)" for r in shown
    )


def markdown(res: dict[str, Any]) -> str:
    """The results table (generated: edit this function, not the file)."""
    pairs = res["pairs_done"]
    rows = [r for r in ROWS if any(r in p["rows"] for p in pairs)]
    lines = [
        f"# Real plugins in the loop: {res['group']} on `{res['profile']}`",
        "",
        f"Generated by `serumrnn eval-plugins --profile {res['profile']} --group {res['group']} "
        f"--pairs {res['pairs']}` ({len(pairs)} of {res['pairs']} pairs done; k = {res['k']}, "
        f"refinement budget {res['refine_budget']}; {res.get('runtime_s', 0):.0f} s of run time). "
        "The input is the profile's dry synth, targets are drawn on the plugins (seed stream "
        f"{PLUGIN_STREAM}); every end is the row's best chain rendered on the plugins. A row "
        "run on fewer pairs than the others (the first ones) says so in its 'of N'.",
        "",
        "| row | Mel-MSE Δ% | MSSMAE Δ% | pairs worse | open-rack renders / pair | plugin renders / pair "
        "| captures / pair | steps offered / pair | ms / step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if pairs:
        for row in rows:
            label, s = ROWS[row], summarize([p for p in pairs if row in p["rows"]], row)
            lines.append(
                f"| {label} | {s['mse_pct']:+.1f} | {s['mssmae_pct']:+.1f} | {s['worse']} of {s['pairs']} | "
                f"{s['open_renders_per_pair']:.1f} | {s['plugin_renders_per_pair']:.1f} | "
                f"{s['captures_per_pair']:.1f} | {s['steps_offered_per_pair']:.1f} | {'–' if s['ms_per_step'] is None else format(s['ms_per_step'], '.0f')} |"
            )
    lines += [
        "",
        "Goals (100 pairs per group): (b) ≤ −85 % Mel-MSE, ≤ −60 % MSSMAE, 0 worse, "
        "≤ 8 captures per pair; (c)/(d) ≤ −88 % / ≤ −92 % Mel-MSE, ≤ −65 % / ≤ −72 % MSSMAE, 0 worse.",
        "",
    ]
    return "\n".join(lines)


def evaluate(
    group: str,
    *,
    profile: str = "debian_test",
    pairs: int = 100,
    rows: Sequence[str] = tuple(ROWS),
    k: int = 3,
    refine_budget: int = 24,
    models_dir: Path | None = None,
    out: str | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the evaluation; writes the JSON after every pair and the table at the end."""
    from serumrnn.server.models import STEP_MODELS, load_group
    from serumrnn.server.rack import OpenRack
    from serumrnn.server.rack.plugin_host import PluginHost
    from serumrnn.training.evaluate_models import RESULTS

    models = load_group(group, models_dir, which=STEP_MODELS)
    folder = (Path(out) if out else RESULTS) / models.group
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plugins.json"
    settings = {"group": models.group, "profile": profile, "k": k, "refine_budget": refine_budget}
    res: dict[str, Any] = {**settings, "pairs": pairs, "pairs_done": [], "runtime_s": 0.0}
    if path.exists():  # resume: same settings; kept pairs get the rows asked for now where missing
        old = json.loads(path.read_text())
        if all(old.get(key) == v for key, v in settings.items()):
            res["pairs_done"], res["runtime_s"] = old["pairs_done"], old.get("runtime_s", 0.0)
            res["pairs"] = max(pairs, old.get("pairs", 0))
    chains = draw_plugin_pairs(models.group, pairs)
    rack = OpenRack(models.render_settings)
    host = PluginHost(profile, models.render_settings)
    log = progress.group_log(models.group, quiet)

    done = res["pairs_done"]
    try:
        for i in range(pairs):
            t = time.perf_counter()
            todo = [r for r in rows if i >= len(done) or r not in done[i]["rows"]]
            if not todo:
                continue
            new = run_pair(models, rack, host, chains[i], rows=todo, k=k, refine_budget=refine_budget)
            if i < len(done):
                done[i]["rows"].update(new["rows"])
            else:
                done.append({"pair": i, **new})
            res["runtime_s"] += time.perf_counter() - t
            path.write_text(json.dumps(res, indent=1) + "\n")
            log(
                f"pair {i + 1}/{pairs} ({time.perf_counter() - t:.1f} s): "
                + progress_line(done[: i + 1], rows)
            )
    finally:
        host.close()
    (folder / "plugins.md").write_text(markdown(res))
    return res


def _cmd(a: argparse.Namespace) -> int:
    res = evaluate(
        a.group,
        profile=a.profile,
        pairs=a.pairs,
        rows=[r for r in a.rows.split(",") if r],
        k=a.k,
        refine_budget=a.refine_budget,
        models_dir=Path(a.models) if a.models else None,
        out=a.out,
    )
    print(markdown(res))
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval-plugins",
        help="the step loop on real plugins: open-rack suggestions, the device's flow, verified",
    )
    p.add_argument(
        "--group", required=True, help="preset group: basic | advanced | modulating (or its full id)"
    )
    p.add_argument("--profile", default="debian_test", help="plugin profile (default %(default)s)")
    p.add_argument(
        "--pairs", type=int, default=100, help="pairs to run (resumes a run with the same settings)"
    )
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows: " + ", ".join(ROWS))
    p.add_argument("--k", type=int, default=3, help="candidate effects rendered per verified step")
    p.add_argument("--refine-budget", type=int, default=24, help="renders the refinement may spend per step")
    p.add_argument("--models", default=None, help="models folder (default: the shipped models/)")
    p.add_argument("--out", default=None, help="results folder (default docs/results)")
    p.set_defaults(func=_cmd)
