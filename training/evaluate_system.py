"""Whole-system evaluation (paper section 4.4): Tables 4-6, Figures 1 and 4, out of domain.

``serumrnn eval --group G --pairs 1000`` writes ``docs/results/<group>/system.md``,
``system.json``, ``figure1_progression.png`` and ``figure4_tolerance.png``.

The systems are in :mod:`serumrnn.training.systems`, the SoX out-of-domain table in
:mod:`serumrnn.training.system_ood`, the report in :mod:`serumrnn.training.system_report`;
the scoring in :mod:`serumrnn.training.system_scores`; this module draws the held-out
pairs and runs the evaluation.

**Scoring, two ways.** (1) *The research code's rule* (``eval_util.py``,
``until_worse_n``), which the paper's tables use: applied per metric, on that metric's own
path; a step is bad when the metric gets worse (PCC: when it falls); with tolerance n the
end value is the value *before* the (n+1)-th bad step, so each metric may end at a
different step (``research_end``). (2) *The product's rule*, below.

**Stopping (the product's rule).** A step is *bad* when it does not lower the Mel-MSE to the target
(``serumrnn.server.judge.STOP_METRIC``, the rule the assistant uses). With tolerance ``t`` an
iterative system stops at the step that makes the (t+1)-th bad step, and that step is
**kept**: the paper's loop applies an effect, sees the distance grow and terminates, so
the sound after the mistake is its "final output" (as ``Assistant.result().final``). Each
trajectory is computed once to the end (every effect, Oracle: the true chain's length),
and every tolerance from 0 to ``MAX_STEPS - 1`` is read off it; the last is the whole
trajectory. Tables 4-6
use tolerance 1, the paper's choice from Figure 4. SerumCNN 1S has no steps to stop.

**Held-out pairs.** ``pairs / MAX_STEPS`` per chain length 1 to ``MAX_STEPS`` (the effect count): a preset of the group drawn at
random, input = the preset dry, target = the preset through a random chain of that many
effects with knobs from Table 1, drawn from a seed stream no data set uses
(``TEST_STREAM``, as the model-level evaluation, on its own sub-streams); a draw equal to
a training record (preset and knobs) or to an earlier test draw is skipped.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serumrnn.server import judge as J
from serumrnn.server.spec import MAX_STEPS
from serumrnn.training.seed_streams import PAIR_STREAM, TEST_STREAM
from serumrnn.training.system_ood import evaluate_ood
from serumrnn.training.system_report import write_report
from serumrnn.training.system_scores import (
    PAPER_SERUMRNN,
    TABLE_TOLERANCE,
    as_metric_dict,
    goals,
    summarize,
    summarize_research,
    system_summary,
)
from serumrnn.training.systems import (
    ITERATIVE,
    SYSTEMS,
    Case,
    Evaluation,
    Trajectory,
    make_cases,
    metrics_module,
    run_iterative,
    run_one_shot,
)

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.chain import Chain
    from serumrnn.server.rack.render import Renderer

#: Our own loops (server.assistant), extra rows beside the paper's systems: each step is
#: rendered before it is offered and kept only when the judge says it is closer.
VERIFIED: dict[str, tuple[str, str]] = {
    "serumrnn_verified": ("SerumRNN verified", "verified"),
    "serumrnn_refine": ("SerumRNN verified + refine", "refine"),
}
#: Pairs the verified rows run on by default: every pair's loop is a whole Assistant run, and
#: refine spends about 100 renders a pair, so they take a spread subset of the test pairs.
VERIFIED_PAIRS = 100


# -- test pairs -----------------------------------------------------------------------


def draw_test_pairs(
    group: str, pairs: int, train_keys: set[tuple[str, tuple]], stream: int = PAIR_STREAM
) -> list[tuple[str, Chain]]:
    """(preset, chain) held out: pairs / MAX_STEPS per chain length, in order of length;
    ``stream`` picks another sub-stream of the test seeds (e.g. development pairs)."""
    from serumrnn.server.sampling import knob_key, record_seed
    from serumrnn.training.evaluate_models import draw_chain

    if pairs < MAX_STEPS or pairs % MAX_STEPS:
        raise ValueError(
            f"--pairs must be a positive multiple of {MAX_STEPS} "
            f"(pairs/{MAX_STEPS} per length 1-{MAX_STEPS}), got {pairs}"
        )
    out: list[tuple[str, Chain]] = []
    seen = set(train_keys)
    for n in range(1, MAX_STEPS + 1):
        made, i = 0, 0
        while made < pairs // MAX_STEPS:
            rng = np.random.default_rng(record_seed(TEST_STREAM, stream + n, i))
            i += 1
            preset, chain = draw_chain(group, rng, None, n)
            key = (preset, knob_key(chain))
            if key in seen:
                continue
            seen.add(key)
            out.append((preset, chain))
            made += 1
    return out


# -- the evaluation ------------------------------------------------------------------
def _example_index(truths: Sequence[tuple[str, ...]]) -> int:
    """Figure 1 shows the first pair made by three effects (as the paper's), else the longest."""
    want = min(3, max(len(t) for t in truths))
    return next(i for i, t in enumerate(truths) if len(t) == want)


def _capture_example(case: Case, traj: Trajectory) -> dict[str, Any]:
    nodes = [case.nodes[traj.effects[:j]] for j in range(traj.steps + 1)]
    return {
        "preset": case.name,
        "truth": list(case.truth),
        "effects": list(traj.effects),
        "mels": [n.mel for n in nodes] + [case.target.mel],
        "mse": [float(n.metrics[0]) for n in nodes],
    }


def run_pairs(
    models: GroupModels,
    renderer: Renderer,
    pairs: Sequence[tuple[str, Chain]],
    chunk: int = 25,
    log: Callable[[str], None] | None = None,
) -> Evaluation:
    """All six systems on the given (preset, chain) pairs, in chunks of ``chunk`` pairs."""
    trajs: dict[str, list[Trajectory]] = {s: [] for s in SYSTEMS}
    truths = [tuple(c.order) for _, c in pairs]
    ex_i = _example_index(truths)
    example: dict[str, Any] | None = None
    renders, t0 = 0, time.time()
    for s in range(0, len(pairs), chunk):
        part = pairs[s : s + chunk]
        cases = make_cases(
            [p for p, _ in part],
            [renderer.dry(p) for p, _ in part],
            [renderer.render(c, p) for p, c in part],
            truths[s : s + chunk],
            range(s, s + len(part)),
        )
        it, n = run_iterative(cases, ITERATIVE, models, renderer)
        renders += n + len(part)  # the iterative systems' (shared) renders + the one-shot ones
        for k, v in it.items():
            trajs[k] += v
        trajs["serumcnn_1s"] += run_one_shot(cases, models, renderer)
        if s <= ex_i < s + len(part):
            example = _capture_example(cases[ex_i - s], trajs["serumrnn"][ex_i])
        done, el = s + len(part), time.time() - t0
        if log:
            log(
                f"pairs {done}/{len(pairs)} (chain length {len(truths[done - 1])}), "
                f"{el:.0f} s, {1000 * el / done:.0f} ms/pair, {renders} renders"
            )
    needed = sum(t.renders for v in trajs.values() for t in v)
    return Evaluation({"renders": {"done": renders, "systems_need": needed}}, trajs, truths, example)


def verified_subset(n_pairs: int, n: int) -> list[int]:
    """Indices of ``n`` test pairs spread evenly over the chain lengths (pairs come
    ordered by length, pairs/MAX_STEPS of each)."""
    if n >= n_pairs:
        return list(range(n_pairs))
    return sorted({int(i) for i in np.linspace(0, n_pairs - 1, n)})


def run_verified(
    models: GroupModels,
    renderer: Renderer,
    pairs: Sequence[tuple[str, Chain]],
    loop: str,
    log: Callable[[str], None] | None = None,
) -> list[Trajectory]:
    """One of our loops on each pair (input = the preset dry): the distances after each
    kept step, as a trajectory the research code's rule can read. The product's result is
    the last state (a verified loop keeps only steps that bring the sound closer)."""
    from serumrnn.server.assistant import Assistant

    M = metrics_module()
    out, t0 = [], time.time()
    for i, (preset, chain) in enumerate(pairs):
        s = Assistant(models, renderer.render(chain, preset), renderer=renderer, preset=preset, loop=loop)
        res = s.run()
        path = [d for d in [res.initial] + [st.after for st in res.steps] if d is not None]
        if len(path) != len(res.steps) + 1:  # a rendered session measures every state
            raise RuntimeError(f"the {loop} loop left a state of pair {i} ({preset}) unmeasured")
        dist = np.array([[d[m] for m in M.METRICS] for d in path], np.float64)
        out.append(Trajectory(tuple(st.effect for st in res.steps), dist, s.renders, s.chain.to_json()))
        if log and (i + 1) % 20 == 0:
            log(f"{loop}: {i + 1}/{len(pairs)} pairs, {time.time() - t0:.0f} s")
    return out


def verified_summary(trajs: Sequence[Trajectory], paper: Sequence[Trajectory]) -> dict[str, Any]:
    """A verified loop scored both ways, beside SerumRNN (the paper's loop) on the same
    pairs: the research code's rule, and the product's own result (its last, best state)."""
    n = max(t.steps for t in trajs) if trajs else 0
    return {
        "pairs": len(trajs),
        "table_research": summarize_research(trajs, TABLE_TOLERANCE),
        "product": summarize(trajs, n + 1),  # tolerance above any step count: the end
        "serumrnn_same_pairs": summarize_research(paper, TABLE_TOLERANCE),
        "renders_per_pair": float(np.mean([t.renders for t in trajs])),
        "steps_per_pair": float(np.mean([t.steps for t in trajs])),
        "ended_worse": {
            m: int(
                sum(
                    t.metrics[-1, k] > t.metrics[0, k] if m != "pcc" else t.metrics[-1, k] < t.metrics[0, k]
                    for t in trajs
                )
            )
            for k, m in enumerate(metrics_module().METRICS)
        },
    }


def verified_goals(ver: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals for our loops' own result (never asserted here)."""
    out = []
    for v in ver.values():
        pct = v["product"]["delta_pct"]
        out.append(
            {
                "goal": f"{v['label']}, its result: Δ% Mel-MSE ≤ −85 % and MSSMAE ≤ −55 %",
                "value": f"{pct['mse']:+.1f} % / {pct['mssmae']:+.1f} %",
                "met": bool(pct["mse"] <= -85.0 and pct["mssmae"] <= -55.0),
            }
        )
    return out


def build_result(group: str, ev: Evaluation) -> dict[str, Any]:
    lengths = [len(t) for t in ev.truths]
    res = {
        "group": group,
        "pairs": len(ev.truths),
        "per_length": len(ev.truths) // MAX_STEPS,
        "tolerance": TABLE_TOLERANCE,
        "stop_metric": J.STOP_METRIC,
        "bad_step_kept": True,
        "systems": {s: {"label": SYSTEMS[s], **system_summary(ev.trajectories[s], lengths)} for s in SYSTEMS},
        "checks": {
            "oracle_follows_truth": float(
                np.mean(
                    [t.effects[: len(tr)] == tuple(tr) for t, tr in zip(ev.trajectories["oracle"], ev.truths)]
                )
            ),
            "one_shot_renders": sorted({t.renders for t in ev.trajectories["serumcnn_1s"]}),
        },
        **ev.result,
    }
    if group in PAPER_SERUMRNN:
        res["paper_serumrnn_delta"] = as_metric_dict(np.array(PAPER_SERUMRNN[group]))
    res["goals"] = goals(res)
    return res


def evaluate_system(
    group: str,
    *,
    models_dir: Path | None = None,
    pairs: int = 1000,
    out_dir: Path | None = None,
    ood: bool = True,
    chunk: int = 25,
    renderer: Renderer | None = None,
    quiet: bool = False,
    verified_pairs: int = VERIFIED_PAIRS,
) -> Evaluation:
    """The whole evaluation of one group; writes the report unless ``out_dir`` is None."""
    from serumrnn.server import progress
    from serumrnn.server.models import load_group
    from serumrnn.server.rack import OpenRack
    from serumrnn.training.evaluate_models import training_keys

    t0 = time.time()
    with progress.stage(f"[{group}] loading models"):
        models = load_group(group, models_dir)
    renderer = renderer or OpenRack(models.render_settings)
    log = progress.group_log(models.group, quiet)

    test = draw_test_pairs(models.group, pairs, training_keys(models))
    log(f"{len(test)} held-out pairs drawn; six systems, up to {MAX_STEPS} steps each")
    ev = run_pairs(models, renderer, test, chunk, log)
    res = build_result(models.group, ev)
    if verified_pairs > 0:
        idx = verified_subset(len(test), verified_pairs)
        paper = [ev.trajectories["serumrnn"][i] for i in idx]
        res["verified"] = {}
        for key, (label, loop) in VERIFIED.items():
            trajs = run_verified(models, renderer, [test[i] for i in idx], loop, log)
            ev.verified[key] = trajs
            res["verified"][key] = {"label": label, **verified_summary(trajs, paper)}
        res["goals"] += verified_goals(res["verified"])
        log(f"verified rows: {len(idx)} pairs")
    if ood:
        with tempfile.TemporaryDirectory() as tmp:
            res["ood"] = evaluate_ood(models, renderer, Path(tmp))
        log(f"out of domain: {len(res['ood']['targets'])} SoX targets")
    res["runtime_s"] = round(time.time() - t0, 1)
    ev.result = res
    if out_dir is not None:
        log("writing the report")
        write_report(ev, Path(out_dir) / models.group)
        log(f"wrote {Path(out_dir) / models.group / 'system.md'} in {res['runtime_s']:.0f} s")
    return ev


def figure1(group: str, *, models_dir: Path | None = None, pairs: int = 1000, out_dir: Path) -> Path:
    """Figure 1 alone: SerumRNN on the evaluation's example pair (the same draw as ``eval``),
    without running the whole evaluation."""
    from serumrnn.server import progress
    from serumrnn.server.models import load_group
    from serumrnn.server.rack import OpenRack
    from serumrnn.training.evaluate_models import training_keys
    from serumrnn.training.system_report import plot_progression

    with progress.stage(f"[{group}] loading models"):
        models = load_group(group, models_dir)
    renderer = OpenRack(models.render_settings)
    test = draw_test_pairs(models.group, pairs, training_keys(models))
    truths = [tuple(c.order) for _, c in test]
    i = _example_index(truths)
    preset, chain = test[i]
    cases = make_cases([preset], [renderer.dry(preset)], [renderer.render(chain, preset)], [truths[i]], [i])
    it, _ = run_iterative(cases, ("serumrnn",), models, renderer)
    ex = _capture_example(cases[0], it["serumrnn"][0])
    path = Path(out_dir) / models.group / "figure1_progression.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return plot_progression(ex, J.paper_stop_index(ex["mse"], TABLE_TOLERANCE), path)


# -- the command ---------------------------------------------------------------------


def _cmd_eval(a: argparse.Namespace) -> int:
    from serumrnn.training.evaluate_models import RESULTS

    if a.figure1_only:
        print(
            figure1(
                a.group,
                models_dir=Path(a.models) if a.models else None,
                pairs=a.pairs,
                out_dir=Path(a.out) if a.out else RESULTS,
            )
        )
        return 0
    evaluate_system(
        a.group,
        models_dir=Path(a.models) if a.models else None,
        pairs=a.pairs,
        out_dir=Path(a.out) if a.out else RESULTS,
        ood=not a.no_ood,
        chunk=a.chunk,
        verified_pairs=a.verified_pairs,
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``serumrnn eval`` (the CLI imports this module only to build its parser)."""
    p = subparsers.add_parser(
        "eval",
        help="the whole system: Tables 4-6, Figures 1 and 4 "
        "and the out-of-domain table into docs/results/<group>/",
    )
    p.add_argument("--group", required=True, help="basic | advanced | modulating (or full id)")
    p.add_argument(
        "--pairs",
        type=int,
        default=1000,
        help=f"held-out pairs, a multiple of {MAX_STEPS} "
        f"(pairs/{MAX_STEPS} per chain length 1-{MAX_STEPS}; default 1000, the paper's)",
    )
    p.add_argument("--models", default=None, help="models folder (default models/)")
    p.add_argument("--out", default=None, help="results folder (default docs/results/)")
    p.add_argument("--chunk", type=int, default=25, help="pairs processed together (memory)")
    p.add_argument("--no-ood", action="store_true", help="skip the SoX out-of-domain targets")
    p.add_argument(
        "--verified-pairs",
        type=int,
        default=VERIFIED_PAIRS,
        help="test pairs for the verified and verified + refine rows (0: skip; default %(default)s)",
    )
    p.add_argument(
        "--figure1-only",
        action="store_true",
        help="draw Figure 1 again (SerumRNN on the example pair) without the whole evaluation",
    )
    p.set_defaults(func=_cmd_eval)
