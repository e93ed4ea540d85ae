#!/usr/bin/env python3
"""Time one step of each loop on the same sessions, interleaved, so a loaded machine
slows every loop alike: ``bench``'s draw (seed 11, targets of 1 to every effect on the
group's presets). Prints per loop the wall and process-CPU p50 of every ``step()`` call,
the renders per call, and the ratio to the first loop (the baseline).

    nice -n 10 .venv/bin/python scripts/step_time.py --cases 12 --loops verified,refine,search
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from serumrnn.server import bench as B
from serumrnn.server import spec
from serumrnn.server.assistant import Assistant
from serumrnn.server.sampling import random_effects, sample_chain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--loops", default="verified,refine,search")
    ap.add_argument("--out", type=Path, help="a JSON of the figures")
    a = ap.parse_args()
    loops = a.loops.split(",")
    found = B.step_setup(None, seed=11)
    if found is None:
        raise SystemExit("no models")
    gm, rack, rng, presets = found
    cases = []
    for r in range(a.cases + 1):  # the first warms every loop up (the head loads there)
        names = random_effects(rng, 1 + r % len(spec.EFFECT_NAMES))
        p = presets[r % len(presets)]
        cases.append((p, rack.render(sample_chain(names, rng), p)))
    rec: dict[str, list[tuple[float, float, int]]] = {lp: [] for lp in loops}
    for i, (p, target) in enumerate(cases):
        for lp in loops:
            s = Assistant(gm, target, renderer=rack, preset=p, loop=lp)
            while not s.done:
                t, c, r0 = time.perf_counter(), time.process_time(), s.renders
                s.step()
                if i:
                    rec[lp].append(
                        ((time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3, s.renders - r0)
                    )
    out = {}
    base = None
    for lp in loops:
        x = np.array(rec[lp], dtype=float)
        w, c, n = np.median(x[:, 0]), np.median(x[:, 1]), x[:, 2].mean()
        base = base or (w, c)
        out[lp] = {"calls": len(x), "wall_p50_ms": w, "cpu_p50_ms": c, "renders_per_call": n}
        print(
            f"{lp:9s} {len(x):3d} calls  wall p50 {w:7.1f} ms  cpu p50 {c:7.1f} ms  renders/call {n:5.1f}"
            f"  ratio to {loops[0]}: wall {w / base[0]:.2f}x cpu {c / base[1]:.2f}x"
        )
    if a.out:
        a.out.write_text(json.dumps({"cases": a.cases, "loops": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
