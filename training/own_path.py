"""Why NI can beat SerumRNN under the research code's rule: the selectors on their own path.

Table 3 scores a selector on sounds made with the target's true knobs; in the system it
sees sounds made with the parameter models' knobs. This runs SerumRNN and SerumRNN NI on
the first ``pairs`` held-out test pairs of ``serumrnn eval`` (pairs/5 per chain length) and
prints per chain length: the research-rule Mel-MSE Δ, how often a system's first n steps
are exactly the target's n effects, and the mean Mel-MSE change of the step after them (an
effect the target lacks).

    python -m serumrnn.training.own_path modulating 250
"""

from __future__ import annotations

import sys

import numpy as np

from serumrnn.server import judge as J
from serumrnn.server.models import load_group
from serumrnn.server.rack import OpenRack
from serumrnn.training.evaluate_models import training_keys
from serumrnn.training.evaluate_system import draw_test_pairs
from serumrnn.training.system_scores import TABLE_TOLERANCE, summarize_research
from serumrnn.training.systems import make_cases, run_iterative

SYSTEMS = ("serumrnn", "serumrnn_ni")


def main(group: str = "modulating", n_pairs: int = 250) -> None:
    models = load_group(group)
    rack = OpenRack(models.render_settings)
    pairs = draw_test_pairs(models.group, n_pairs, training_keys(models))
    truths = [tuple(c.order) for _, c in pairs]
    trajs: dict[str, list] = {s: [] for s in SYSTEMS}
    for s in range(0, len(pairs), 25):
        part = pairs[s : s + 25]
        cases = make_cases(
            [p for p, _ in part],
            [rack.dry(p) for p, _ in part],
            [rack.render(c, p) for p, c in part],
            truths[s : s + 25],
            range(s, s + len(part)),
        )
        for k, v in run_iterative(cases, SYSTEMS, models, rack)[0].items():
            trajs[k] += v
    lens = np.array([len(t) for t in truths])
    print(f"{models.group}: {len(pairs)} held-out pairs, research-code rule, tolerance {TABLE_TOLERANCE}")
    for n in sorted(set(lens.tolist())):
        idx = np.flatnonzero(lens == n)
        cells = [f"{n} effects"]
        for k in SYSTEMS:
            ts = [trajs[k][i] for i in idx]
            rr = summarize_research(ts, TABLE_TOLERANCE)
            right = np.mean([set(t.effects[:n]) == set(truths[i]) for t, i in zip(ts, idx)])
            extra = [t.metrics[n + 1, 0] - t.metrics[n, 0] for t in ts if t.steps > n]
            ends = np.mean([J.research_end(t.metrics[:, 0].tolist(), TABLE_TOLERANCE, False) for t in ts])
            cells.append(
                f"{k}: Δ {rr['delta']['mse']:+.3f} ({rr['delta_pct']['mse']:+.1f} %), "
                f"first {n} right {right:.2f}, next step ΔMel-MSE "
                + (f"{np.mean(extra):+.3f}" if extra else "none")
                + f", end {ends:.2f}"
            )
        print(" | ".join(cells))
    for k in SYSTEMS:
        rr = summarize_research(trajs[k], TABLE_TOLERANCE)
        print(f"{k}, all: Δ {rr['delta']['mse']:+.3f} ({rr['delta_pct']['mse']:+.1f} %)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "modulating", int(sys.argv[2]) if len(sys.argv) > 2 else 250)
