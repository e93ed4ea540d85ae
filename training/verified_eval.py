"""The verified loops measured: held-out pairs, the out-of-domain suite, and the evidence
behind the judge's decision distance.

``serumrnn verified-eval --group G`` writes ``docs/results/<group>/verified.md`` and
``verified.json``:

* **Held-out pairs** (drawn like ``evaluate_system.draw_test_pairs``: an equal share per
  chain length, 1 to every effect, the same test seed stream): Mel-MSE Δ% and MSSMAE Δ% of what each loop
  hands the producer (the best state; the paper's loop: its final output), renders per
  pair, how many pairs end further away on either metric.
* **Out of domain** (``serumrnn.training.ood_suite``): per seed, how many targets end worse, how
  many closer on both metrics, the steps identical and gain-only targets take.
* **Decision-distance evidence** (``--evidence``), on pairs from a development stream
  the test pairs never use and on an out-of-domain suite of its own seed: (1) pairwise
  agreement of each candidate distance with the six metrics' majority, over the current
  sound and the model-knob candidates of every unused effect at each state; (2) the
  outcome of the verified loop run with each distance.

``run_pairs(models, renderer, pairs, ...)`` is what ``serumrnn eval`` can call.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serumrnn.server import progress, spec
from serumrnn.server.loop_settings import DEFAULT_K, LOOPS, REFINE_BUDGET, loop_row
from serumrnn.training.md_table import table
from serumrnn.training.seed_streams import DEV_STREAM, PAIR_STREAM

if TYPE_CHECKING:  # annotations only: the functions import these where they run
    from serumrnn.server.judge import Sound
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.chain import Chain
    from serumrnn.server.rack.render import Renderer

EVIDENCE_OOD_SEED = 7


# -- pairs ---------------------------------------------------------------------------


def draw_pairs(
    group: str, pairs: int, *, stream: int | None = None, train_keys: set | None = None
) -> list[tuple[str, Any]]:
    """(preset, chain) pairs, an equal share per chain length, as ``draw_test_pairs`` draws them;
    ``stream`` picks another sub-stream (default: the test pairs' own)."""
    from serumrnn.training.evaluate_system import draw_test_pairs

    return draw_test_pairs(group, pairs, set(train_keys or ()), PAIR_STREAM if stream is None else stream)


def run_pairs(
    models,
    renderer,
    pairs: Sequence[tuple[str, Any]],
    *,
    loop: str = "verified",
    k: int = DEFAULT_K,
    refine_budget: int = REFINE_BUDGET,
    decision: str | None = None,
    log=None,
) -> list[dict[str, Any]]:
    """One loop on every (preset, chain) pair: the input is the preset dry, the target the
    preset through the chain. One row per pair (see ``ood_suite.run_target``)."""
    from serumrnn.training.ood_suite import run_target

    rows, t0 = [], time.time()
    for i, (preset, chain) in enumerate(pairs):
        target = renderer.render(chain, preset)
        row = run_target(
            models, renderer, preset, target, loop=loop, k=k, refine_budget=refine_budget, decision=decision
        )
        rows.append({"preset": preset, "truth": list(chain.order), **row})
        if log and (i + 1) % 10 == 0:
            log(f"{loop}: {i + 1}/{len(pairs)} pairs, {time.time() - t0:.0f} s")
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Δ% of the mean (as Table 5: mean end against mean start), renders and steps."""
    out: dict[str, Any] = {"pairs": len(rows)}
    for m in ("mse", "mssmae"):
        s = np.mean([r["start"][m] for r in rows])
        e = np.mean([r["end"][m] for r in rows])
        out[f"{m}_start"], out[f"{m}_end"] = float(s), float(e)
        out[f"{m}_pct"] = float(100 * (e - s) / s)
        out[f"{m}_median_pair_pct"] = float(
            np.median([100 * (r["end"][m] - r["start"][m]) / r["start"][m] for r in rows])
        )
    out["renders_per_pair"] = float(np.mean([r["renders"] for r in rows]))
    out["steps_per_pair"] = float(np.mean([len(r["steps"]) for r in rows]))
    out["worse_any"] = int(sum(r["worse_any"] for r in rows))
    out["closer_both"] = int(sum(r["closer_both"] for r in rows))
    out["stops"] = {k: int(v) for k, v in zip(*np.unique([r["stop"] for r in rows], return_counts=True))}
    return out


# -- decision-distance evidence -----------------------------------------------------


def _majority(a: dict[str, float], b: dict[str, float]) -> int:
    """+1 when most of the six metrics (4 of 6) call ``a`` closer, -1 for ``b``, 0 else."""
    from serumrnn.server import metrics as M

    votes = 0
    for m in M.METRICS:
        if a[m] == b[m]:
            continue
        a_better = (a[m] < b[m]) if m in M.LOWER_IS_BETTER else (a[m] > b[m])
        votes += 1 if a_better else -1
    return 1 if votes >= 2 else -1 if votes <= -2 else 0


def _state_candidates(
    models: GroupModels, renderer: Renderer, preset: str, chain: Chain, target_sound: Sound
) -> list[dict[str, float]]:
    """Exact six metrics of the sound of ``chain`` and of it plus each unused effect with
    its parameter model's knobs."""
    from serumrnn.server import judge as J
    from serumrnn.server.models import knobs_from_outputs, pair_inputs, param_model_name

    cur = J.judged(renderer.render(chain, preset), target_sound)
    x = pair_inputs(cur.features, target_sound.features)
    unused = [e for e in spec.EFFECT_NAMES if e not in chain.order]
    fxs = [knobs_from_outputs(e, models.predict(param_model_name(e), x)) for e in unused]
    sounds = J.measure([renderer.render(chain.then(fx), preset) for fx in fxs], target_sound)
    return [cur.distances] + [s.distances for s in sounds]


def agreement(models, renderer, runs: Sequence[tuple[str, Any, np.ndarray]]) -> dict[str, Any]:
    """How often each decision distance prefers the sound the six metrics' majority
    prefers, over every pair of sounds among a state's current sound and candidates.

    ``runs``: (preset, the chain a verified run applied, target audio); the states are that
    chain's prefixes, each distance normalized by the run's start.
    """
    from serumrnn.server import judge as J

    hits = {d: 0 for d in J.DECISIONS}
    split_hits = {d: 0 for d in J.DECISIONS}  # where Mel-MSE and MSSMAE disagree
    n = n_split = 0
    for preset, chain, target in runs:
        tsound = J.measure([target])[0]
        judges: dict[str, J.Judge] = {}
        for depth in range(len(chain) + 1):
            dists = _state_candidates(models, renderer, preset, chain.prefix(depth), tsound)
            if not judges:
                judges = {d: J.Judge(dists[0], decision=d) for d in J.DECISIONS}
            for a, b in itertools.combinations(dists, 2):
                maj = _majority(a, b)
                if maj == 0:
                    continue
                split = (a["mse"] < b["mse"]) != (a["mssmae"] < b["mssmae"])
                n, n_split = n + 1, n_split + split
                for d, jd in judges.items():
                    agree = (1 if jd.score(a) < jd.score(b) else -1) == maj
                    hits[d] += agree
                    split_hits[d] += split and agree
    return {
        "pairs_compared": n,
        "pairs_mel_mss_split": n_split,
        "agreement": {d: hits[d] / max(n, 1) for d in J.DECISIONS},
        "agreement_when_split": {d: split_hits[d] / max(n_split, 1) for d in J.DECISIONS},
    }


def judge_evidence(
    models,
    renderer,
    pairs: Sequence[tuple[str, Any]],
    *,
    k: int = DEFAULT_K,
    ood_seed: int = EVIDENCE_OOD_SEED,
    log=None,
) -> dict[str, Any]:
    """The decision distances compared on development pairs and an OOD suite: each one's
    agreement with the metrics, and the outcome of the verified loop run with it."""
    from serumrnn.server import judge as J
    from serumrnn.server.rack.chain import Chain
    from serumrnn.training.ood_suite import SUITE_PRESET, build_suite, run_suite, summarize_suite

    out: dict[str, Any] = {"pairs": len(pairs), "ood_seed": ood_seed, "outcome": {}}
    suite = build_suite(renderer, SUITE_PRESET.get(models.group, "saw"), ood_seed)
    runs = []
    for d in J.DECISIONS:
        rows = run_pairs(models, renderer, pairs, loop="verified", k=k, decision=d)
        ood = run_suite(models, renderer, suite, loop="verified", k=k, decision=d)
        out["outcome"][d] = {"pairs": summarize(rows), "ood": summarize_suite(ood)}
        if d == J.DECISION:
            runs = [(p, Chain.from_json(r["chain"]), renderer.render(c, p)) for (p, c), r in zip(pairs, rows)]
        if log:
            log(f"evidence: decision {d} done")
    out["agreement"] = agreement(models, renderer, runs)
    return out


# -- the command ---------------------------------------------------------------------


def readable(value: Any) -> str:
    """A summary as one log line: ``key value`` pairs, numbers to 3 significant digits."""
    if isinstance(value, dict):
        return ", ".join(
            f"{k} {readable(v)}" if not isinstance(v, dict) else f"{k} ({readable(v)})"
            for k, v in value.items()
        )
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def evaluate(
    group: str,
    *,
    pairs: int = 50,
    loops: Sequence[str] = LOOPS,
    k: int = DEFAULT_K,
    refine_budget: int = REFINE_BUDGET,
    ood_seeds: Sequence[int] = (0, 1, 2),
    evidence: bool = True,
    models_dir: Path | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    from serumrnn.server.models import STEP_MODELS, load_group
    from serumrnn.server.rack import OpenRack
    from serumrnn.training.ood_suite import evaluate_ood_suite

    t0 = time.time()
    models = load_group(group, models_dir, which=STEP_MODELS)
    rack = OpenRack(models.render_settings)
    log = progress.group_log(models.group, quiet)

    test = draw_pairs(models.group, pairs)
    res: dict[str, Any] = {
        "group": models.group,
        "pairs": pairs,
        "k": k,
        "refine_budget": refine_budget,
        "loops": {},
    }
    for loop in loops:
        rows = run_pairs(models, rack, test, loop=loop, k=k, refine_budget=refine_budget, log=log)
        res["loops"][loop] = {"summary": summarize(rows), "rows": rows}
        log(f"{loop}: {readable(res['loops'][loop]['summary'])}")
    res["ood"] = evaluate_ood_suite(
        models, rack, loops=loops, seeds=ood_seeds, k=k, refine_budget=refine_budget
    )
    log("out of domain: " + readable({l: v["summary"] for l, v in res["ood"]["loops"].items()}))
    if evidence:
        dev = draw_pairs(models.group, pairs, stream=DEV_STREAM)
        res["evidence"] = judge_evidence(models, rack, dev, k=k, log=log)
        log("evidence: " + readable(res["evidence"]["agreement"]))
    res["runtime_s"] = round(time.time() - t0, 1)
    return res


#: How the reports' held-out pairs are drawn (:func:`draw_pairs`), said in their header.
PAIRS_DRAWN = (
    f"drawn like `serumrnn eval`'s (pairs/{spec.MAX_STEPS} per chain length 1–{spec.MAX_STEPS}, "
    "the test seed stream)"
)


def _pairs_row(loop: str, s: dict[str, Any]) -> list[object]:
    """One loop's row of the held-out pairs table."""
    return [
        loop,
        f"{s['mse_pct']:+.1f} %",
        f"{s['mssmae_pct']:+.1f} %",
        f"{s['mse_median_pair_pct']:+.1f} / {s['mssmae_median_pair_pct']:+.1f} %",
        f"{s['renders_per_pair']:.1f}",
        f"{s['steps_per_pair']:.2f}",
        s["worse_any"],
        f"{s['closer_both']} of {s['pairs']}",
        ", ".join(f"{k} {n}" for k, n in s["stops"].items()),
    ]


def _ood_row(loop: str, s: dict[str, Any]) -> list[object]:
    """One loop's row of the out-of-domain table."""
    return [
        loop,
        s["targets"],
        s["worse_any"],
        f"{s['closer_both']} of {s['made']} ({100 * s['closer_both_share']:.0f} %)",
        " / ".join(", ".join(map(str, v)) for v in s["trivial_steps"].values()),
        f"{s['mean_renders']:.1f}",
    ]


def heading(title: str, command: str, res: dict[str, Any], rest: str) -> list[str]:
    """A held-out report's title and first paragraph: the command that wrote it, how long
    it ran, then ``rest``."""
    g = res["group"]
    ran = f"Generated by `serumrnn {command} --group {g} --pairs {res['pairs']}` in {res['runtime_s']:.0f} s"
    return [f"# {title}: {g}", "", ran + rest]


#: What verified.md says of its loops' end after its heading.
ABOUT_END = (
    "The end is what the loop hands the producer: the best state (verified loops) or the "
    "paper's final output with its bad last step kept (paper)."
)


def markdown(res: dict[str, Any]) -> str:
    settings = f" (k = {res['k']}, refinement {res['refine_budget']} renders per step)"
    L = heading(
        "Verified loops", "verified-eval", res, f"{settings}. Held-out pairs {PAIRS_DRAWN}. {ABOUT_END}"
    )
    L += ["", "## Held-out pairs", ""]
    columns = ["loop", "Mel-MSE Δ%", "MSSMAE Δ%", "median pair Δ% (Mel-MSE / MSSMAE)", "renders per pair"]
    columns += ["steps per pair", "pairs worse on either", "closer on both", "stops"]
    L += table(columns, [_pairs_row(loop, v["summary"]) for loop, v in res["loops"].items()])
    ood = res["ood"]
    L += [
        "",
        "## Out of domain",
        "",
        f"Input: preset `{ood['preset']}` dry; targets from SoX and Debian plugins hosted "
        f"directly with DawDreamer, plus an identical and a gain-only target; settings drawn "
        f"per seed (seeds {', '.join(map(str, ood['seeds']))}).",
        "",
    ]
    columns = ["loop", "targets", "end worse (either metric)", "made targets closer on both"]
    columns += ["steps: identical / gain-only (per seed)", "renders per target"]
    L += table(columns, [_ood_row(loop, v["summary"]) for loop, v in ood["loops"].items()])
    L += [
        "",
        "Per target, every loop and seed: start → end Mel-MSE / MSSMAE, effects applied.",
        "",
    ]
    rows: list[tuple[object, ...]] = [
        (
            r["seed"],
            r["target"],
            loop,
            f"{r['start']['mse']:.3f} → {r['end']['mse']:.3f}",
            f"{r['start']['mssmae']:.1f} → {r['end']['mssmae']:.1f}",
            " → ".join(r["steps"]) or "–",
            r["stop"],
        )
        for loop, v in ood["loops"].items()
        for r in v["rows"]
    ]
    L += table(["seed", "target", "loop", "Mel-MSE", "MSSMAE", "steps", "stop"], rows)
    if "evidence" in res:
        ev = res["evidence"]
        L += [
            "",
            "## Decision distance: the evidence",
            "",
            f"Development pairs ({ev['pairs']}, a seed stream the test pairs never use) and an "
            f"out-of-domain suite of seed {ev['ood_seed']}.",
            "",
            f"Agreement with the six metrics' majority over {ev['agreement']['pairs_compared']} "
            f"pairs of sounds (the current sound and the model-knob candidate of every unused "
            f"effect, at each state a verified run visited); "
            f"{ev['agreement']['pairs_mel_mss_split']} of them split Mel-MSE and MSSMAE.",
            "",
        ]
        names = {
            "mel": "Mel-MSE / start",
            "mss": "MSSMAE / start",
            "sum": "(Mel-MSE / start + MSSMAE / start) / 2",
            "sum_guard": "the mean, vetoing a rise of either",
        }
        rows = [
            (
                names[d],
                f"{100 * ev['agreement']['agreement'][d]:.1f} %",
                f"{100 * ev['agreement']['agreement_when_split'][d]:.1f} %",
                f"{o['pairs']['mse_pct']:+.1f} %",
                f"{o['pairs']['mssmae_pct']:+.1f} %",
                o["pairs"]["worse_any"],
                o["ood"]["worse_any"],
                f"{o['ood']['closer_both']} of {o['ood']['made']}",
            )
            for d, o in ev["outcome"].items()
        ]
        columns = ["decision distance", "agrees with the majority", "when Mel-MSE and MSSMAE disagree"]
        columns += ["pairs: Mel-MSE Δ%", "MSSMAE Δ%", "worse on either", "OOD: worse", "OOD: closer on both"]
        L += table(columns, rows)
    return "\n".join(L) + "\n"


def write_results(res: dict[str, Any], name: str, text: str, out: str | None) -> Path:
    """``<name>.json`` and ``<name>.md`` in the group's results folder (default
    docs/results/<group>/); returns the markdown's path."""
    from serumrnn.training.evaluate_models import RESULTS

    folder = (Path(out) if out else RESULTS) / res["group"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(res, indent=1) + "\n")
    (folder / f"{name}.md").write_text(text)
    return folder / f"{name}.md"


def _cmd(a: argparse.Namespace) -> int:
    loops = [x for x in a.loops.split(",") if x]
    for row in loops:
        loop_row(row)  # an unknown loop fails here, before anything slow
    res = evaluate(
        a.group,
        pairs=a.pairs,
        loops=loops,
        k=a.k,
        refine_budget=a.refine_budget,
        ood_seeds=[int(x) for x in a.ood_seeds.split(",") if x],
        evidence=not a.no_evidence,
        models_dir=Path(a.models) if a.models else None,
    )
    print(f"wrote {write_results(res, 'verified', markdown(res), a.out)}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "verified-eval",
        help="the verified loops on held-out pairs and "
        "the out-of-domain suite, with the decision-distance evidence",
    )
    p.add_argument(
        "--group", required=True, help="preset group: basic | advanced | modulating (or its full id)"
    )
    p.add_argument("--pairs", type=int, default=50, help=f"held-out pairs (multiple of {spec.MAX_STEPS})")
    p.add_argument(
        "--loops",
        default=",".join(LOOPS),
        help=f"comma-separated loops to measure: {', '.join(LOOPS)}; a row may end in +fine-tune, a search row "
        "in /table1 (its search moves the Table 1 knobs only) (default %(default)s)",
    )

    p.add_argument(
        "--k",
        type=int,
        default=DEFAULT_K,
        help=f"candidate effects rendered per verified step (default {DEFAULT_K})",
    )
    p.add_argument(
        "--refine-budget",
        type=int,
        default=REFINE_BUDGET,
        help=f"renders the CMA-ES refinement may spend per step (default {REFINE_BUDGET})",
    )
    p.add_argument(
        "--ood-seeds",
        default="0,1,2",
        help="comma-separated seeds of the out-of-domain suite's settings (default 0,1,2)",
    )
    p.add_argument(
        "--no-evidence", action="store_true", help="skip the decision-distance evidence (development pairs)"
    )
    p.add_argument("--models", default=None, help="models folder (default: the shipped models/)")
    p.add_argument(
        "--out", default=None, help="results folder, relative to the current folder (default docs/results)"
    )
    p.set_defaults(func=_cmd)
