"""The anchor for "renders against quality": CMA-ES over the whole chain, from scratch.

In the spirit of ST-ITO (inference-time optimization of effect settings by search), no
model is used: CMA-ES searches one vector that holds every decision a producer makes in
the rack, each coordinate in 0..1:

* one on/off switch per effect (an effect is on when its coordinate is above 0.5);
* every continuous knob, each mapped onto its Table 1 span;
* the distortion mode (12 modes, one twelfth of the coordinate each).

Each evaluation renders the input through the switched-on effects in rack order and
scores it with the judge's decision distance (the fast estimate, as the verified loops'
searches do). The best chain after each budget (50, 200, 800, 3,200 renders by default)
is measured exactly. One run to the largest budget gives every smaller one: CMA-ES does
not know its budget, so the best after n renders is what a run of budget n would return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serumrnn.server import progress, spec
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.render import Renderer
from serumrnn.server.refine import cma_search
from serumrnn.training.md_table import table
from serumrnn.training.verified_eval import PAIRS_DRAWN, heading

BUDGETS = (50, 200, 800, 3200)
SIGMA0 = 0.3
#: (effect, knob) per continuous coordinate, in spec order.
CONTINUOUS = tuple((e.name, k) for e in spec.EFFECTS for k in e.continuous)
N_SWITCHES = len(spec.EFFECT_NAMES)
DIM = N_SWITCHES + len(CONTINUOUS) + 1  # + the distortion mode
MODE_KNOB = spec.effect("distortion").categorical[0]


def decode(vector: Sequence[float] | np.ndarray) -> Chain:
    """A search vector as a chain (turn-on order = spec order; the rack orders it)."""
    x = np.clip(np.asarray(vector, np.float64), 0.0, 1.0)
    values: dict[str, dict[str, float]] = {e: {} for e in spec.EFFECT_NAMES}
    for (effect, knob), v in zip(CONTINUOUS, x[N_SWITCHES : N_SWITCHES + len(CONTINUOUS)]):
        lo, hi = knob.span
        values[effect][knob.name] = float(lo + (hi - lo) * v)
    n_modes = len(MODE_KNOB.choices)
    values["distortion"][MODE_KNOB.name] = float(min(int(x[-1] * n_modes), n_modes - 1))
    return Chain(FX(e, values[e]) for i, e in enumerate(spec.EFFECT_NAMES) if x[i] > 0.5)


@dataclass
class SearchResult:
    checkpoints: dict[int, dict[str, Any]]  # budget -> best chain (JSON), exact metrics, score
    renders: int
    start: dict[str, float]


def search_chain(
    renderer: Renderer,
    preset: str,
    target: np.ndarray,
    *,
    budgets: Sequence[int] = BUDGETS,
    seed: int = 0,
    popsize: int | None = None,
    decision: str | None = None,
) -> SearchResult:
    """CMA-ES from scratch towards ``target`` from ``preset`` dry, up to max(budgets)
    renders; the best chain found after each budget, measured exactly."""
    from serumrnn.server import judge as J

    budgets = sorted(set(int(b) for b in budgets))
    tsound = J.measure([target])[0]
    start = J.judged(renderer.render(Chain(), preset), tsound).distances
    judge = J.Judge(start, decision=decision or J.DECISION)
    best_chain, best = Chain(), judge.score(start)  # doing nothing is always a candidate
    marks: dict[int, tuple[Chain, float]] = {}
    used = 0

    def score(xs: list[np.ndarray]) -> list[float]:
        nonlocal best_chain, best, used
        chains = [decode(x) for x in xs]
        sounds = J.measure([renderer.render(c, preset) for c in chains], tsound, exact=False)
        scores = [judge.score(s.distances) for s in sounds]
        for c, sc in zip(chains, scores):
            used += 1
            if sc < best:
                best_chain, best = c, sc
            for b in budgets:
                if used == b:
                    marks[b] = (best_chain, best)
        return scores

    cma_search([0.5] * DIM, SIGMA0, budgets[-1], score, seed=seed, popsize=popsize)
    out: dict[int, dict[str, Any]] = {}
    for b in budgets:
        chain, _ = marks.get(b, (best_chain, best))
        d = J.judged(renderer.render(chain, preset), tsound).distances
        out[b] = {"chain": chain.to_json(), "effects": list(chain.order), "dist": d, "score": judge.score(d)}
    return SearchResult(out, used, start)


def run_anchor(
    models,
    renderer,
    pairs: Sequence[tuple[str, Any]],
    *,
    budgets: Sequence[int] = BUDGETS,
    seed: int = 0,
    log=None,
) -> list[dict[str, Any]]:
    """The anchor on (preset, chain) pairs (``models`` is unused: the anchor has none; the
    argument keeps the evaluation's calling convention). One row per pair: start and, per
    budget, the exact Mel-MSE and MSSMAE of the best chain found."""
    rows = []
    for i, (preset, chain) in enumerate(pairs):
        r = search_chain(renderer, preset, renderer.render(chain, preset), budgets=budgets, seed=seed + i)
        rows.append(
            {
                "preset": preset,
                "truth": list(chain.order),
                "start": {m: r.start[m] for m in ("mse", "mssmae")},
                "budgets": {
                    str(b): {"mse": c["dist"]["mse"], "mssmae": c["dist"]["mssmae"], "effects": c["effects"]}
                    for b, c in r.checkpoints.items()
                },
                "renders": r.renders,
            }
        )
        if log:
            log(f"anchor: {i + 1}/{len(pairs)} pairs")
    return rows


def summarize_anchor(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Δ% of the mean per budget, as the verified loops' summaries."""
    out: dict[str, dict[str, float]] = {}
    for b in rows[0]["budgets"]:
        out[b] = {}
        for m in ("mse", "mssmae"):
            s = np.mean([r["start"][m] for r in rows])
            e = np.mean([r["budgets"][b][m] for r in rows])
            out[b][f"{m}_pct"] = float(100 * (e - s) / s)
    return out


# -- the command ---------------------------------------------------------------------


def compare(
    group: str, *, pairs: int = 10, budgets: Sequence[int] = BUDGETS, models_dir=None, quiet: bool = False
) -> dict[str, Any]:
    """The anchor against the verified and verified + refine loops on the same held-out
    pairs (drawn like the evaluation's, an equal share per chain length)."""
    import time

    from serumrnn.server.models import STEP_MODELS, load_group
    from serumrnn.server.rack import OpenRack
    from serumrnn.training.verified_eval import draw_pairs, run_pairs, summarize

    t0 = time.time()
    models = load_group(group, models_dir, which=STEP_MODELS)
    rack = OpenRack(models.render_settings)
    log = progress.group_log(models.group, quiet)

    test = draw_pairs(models.group, pairs)
    rows = run_anchor(models, rack, test, budgets=budgets, log=log)
    loops = {loop: summarize(run_pairs(models, rack, test, loop=loop)) for loop in ("verified", "refine")}
    return {
        "group": models.group,
        "pairs": pairs,
        "budgets": list(budgets),
        "anchor": summarize_anchor(rows),
        "anchor_rows": rows,
        "loops": loops,
        "runtime_s": round(time.time() - t0, 1),
    }


#: What anchor.md says of the anchor after its heading.
ABOUT_ANCHOR = (
    f"The anchor is CMA-ES over the whole chain from scratch ({N_SWITCHES} switches, "
    f"{len(CONTINUOUS)} continuous knobs, the distortion mode), scored by the judge's decision "
    "distance; the best chain after each budget, measured exactly."
)


def markdown(res: dict[str, Any]) -> str:
    about = f" on {res['pairs']} held-out pairs {PAIRS_DRAWN}. {ABOUT_ANCHOR}"
    rows = [
        (loop, f"{s['renders_per_pair']:.1f}", f"{s['mse_pct']:+.1f} %", f"{s['mssmae_pct']:+.1f} %")
        for loop, s in res["loops"].items()
    ]
    rows += [
        ("CMA-ES whole chain", b, f"{s['mse_pct']:+.1f} %", f"{s['mssmae_pct']:+.1f} %")
        for b, s in res["anchor"].items()
    ]
    L = heading("Renders against quality", "chain-search", res, about)
    return "\n".join([*L, "", *table(["system", "renders per pair", "Mel-MSE Δ%", "MSSMAE Δ%"], rows)]) + "\n"


def _cmd(a) -> int:
    from serumrnn.training.verified_eval import write_results

    res = compare(a.group, pairs=a.pairs, budgets=[int(x) for x in a.budgets.split(",")])
    print(f"wrote {write_results(res, 'anchor', markdown(res), a.out)}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "chain-search", help="the whole-chain CMA-ES anchor against the verified loops, per render budget"
    )
    p.add_argument(
        "--group", required=True, help="preset group: basic | advanced | modulating (or its full id)"
    )
    p.add_argument("--pairs", type=int, default=10, help=f"held-out pairs (multiple of {spec.MAX_STEPS})")
    p.add_argument(
        "--budgets",
        default=",".join(map(str, BUDGETS)),
        help="comma-separated render budgets of the CMA-ES anchor (default %(default)s)",
    )
    p.add_argument(
        "--out", default=None, help="results folder, relative to the current folder (default docs/results)"
    )
    p.set_defaults(func=_cmd)
