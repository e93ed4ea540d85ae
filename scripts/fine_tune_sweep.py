"""Measure the fine-tune's settings on held-out pairs: the search loop with and without it.

    nice -n 10 .venv/bin/python scripts/fine_tune_sweep.py basic_shapes 15 60 0.03

Arguments: group, pairs (``serumrnn eval``'s held-out draw, ``verified_eval.draw_pairs``),
the fine-tune's render budget, and its CMA-ES step (``fine_tune.SIGMA``; optional). Prints one
line per pair (Mel-MSE and MSSMAE Δ %, seconds, renders, whether the fine-tune was kept) and,
per setting, the Δ of the means (Table 5), the mean of the pairs' Δ, pairs worse, seconds.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import serumrnn.server.fine_tune as FT
from serumrnn.server.assistant import Assistant
from serumrnn.server.models import load_group
from serumrnn.server.rack import OpenRack
from serumrnn.training.verified_eval import draw_pairs


def main(argv: list[str]) -> None:
    group, n, budget = argv[0], int(argv[1]), int(argv[2])
    if len(argv) > 3:
        FT.SIGMA = float(argv[3])  # read by the loop at each fine-tune
    rack, models = OpenRack(), load_group(group)
    rows = []
    for i, (preset, truth) in enumerate(draw_pairs(group, n)):
        target = rack.render(truth, preset)
        r = {}
        for ft in (0, budget):
            t = time.perf_counter()
            res = Assistant(models, target, renderer=rack, preset=preset, loop="search", fine_tune=ft).run()
            assert res.initial is not None and res.best is not None
            kept = (res.fine_tune or {}).get("kept")
            r[ft] = (res.initial["mse"], res.best["mse"], res.initial["mssmae"], res.best["mssmae"])
            r[ft] += (time.perf_counter() - t, res.renders, kept)
        rows.append(r)
        shown = {
            k: (round(100 * (v[1] / v[0] - 1), 1), round(100 * (v[3] / v[2] - 1), 1)) + v[4:]
            for k, v in r.items()
        }
        print(i, truth.order, shown, flush=True)
    for ft in (0, budget):
        mse = 100 * (np.mean([r[ft][1] for r in rows]) / np.mean([r[ft][0] for r in rows]) - 1)
        mss = 100 * (np.mean([r[ft][3] for r in rows]) / np.mean([r[ft][2] for r in rows]) - 1)
        print(
            ft,
            "mse delta of means",
            round(mse, 1),
            "mean pct",
            round(np.mean([100 * (r[ft][1] / r[ft][0] - 1) for r in rows]), 1),
            "mss",
            round(mss, 1),
            "mean pct mss",
            round(np.mean([100 * (r[ft][3] / r[ft][2] - 1) for r in rows]), 1),
            "worse",
            sum(r[ft][1] > r[ft][0] or r[ft][3] > r[ft][2] for r in rows),
            "s/pair",
            round(np.mean([r[ft][4] for r in rows]), 1),
        )


if __name__ == "__main__":
    main(sys.argv[1:])
