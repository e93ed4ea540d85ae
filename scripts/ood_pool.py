"""Pool the loops of several ``serumrnn ood-naming eval`` results (one per suite seed) into
one compact JSON: each loop's summary per seed and over all seeds, and a short record of
each case, so a page can compare two loops on every case without 150 kB per seed.

    python scripts/ood_pool.py RESULT.json [RESULT.json ...] --out docs/results/ood_naming/pooled.json \
        --measured-by "the eval commands"

Several files of one seed (two loops run separately) are merged by seed; a loop that
appears twice for one seed is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from serumrnn.training.ood_naming import summarize


def _case(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": r["index"],
        "type": r["type"],
        "implementation": r["implementation"],
        "first": r["first"],
        "named": r["named"],
        "delta_pct": {m: round(v, 2) for m, v in r["delta_pct"].items()},
        "renders": r["renders"],
        "extra": [t["effect"] for t in r.get("first_tried") or [] if t.get("extra")],
    }


def pool(paths: list[Path]) -> dict[str, Any]:
    seeds: dict[str, dict[str, list[dict[str, Any]]]] = {}
    commands: list[str] = []
    for p in paths:
        d = json.loads(p.read_text())
        seed = str(d["suite"]["seed"])
        commands.append(d.get("command", ""))
        for loop, v in d["loops"].items():
            if loop in seeds.setdefault(seed, {}):
                raise SystemExit(f"{p}: loop {loop!r} of seed {seed} is in two files")
            seeds[seed][loop] = v["rows"]
    loops = sorted({loop for s in seeds.values() for loop in s})
    out: dict[str, Any] = {"commands": commands, "seeds": {}, "all": {}}
    for seed, by_loop in sorted(seeds.items()):
        out["seeds"][seed] = {
            loop: {"summary": summarize(rows), "cases": [_case(r) for r in rows]}
            for loop, rows in by_loop.items()
        }
    for loop in loops:
        rows = [r for s in seeds.values() for r in s.get(loop, [])]
        out["all"][loop] = summarize(rows)
        out["all"][loop]["seeds"] = sorted(s for s in seeds if loop in seeds[s])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--measured-by", default="", help="how the results were made (recorded as measured_by)")
    a = ap.parse_args(argv)
    res = {"measured_by": a.measured_by, **pool(a.results)}
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    for loop, s in res["all"].items():
        print(
            f"{loop}: {s['named']}/{s['cases']} named, {s['worse_any']} worse, Mel-MSE {s['mean_mse_delta_pct']:.1f} %, "
            f"MSSMAE {s['mean_mssmae_delta_pct']:.1f} %, {s['mean_renders']:.0f} renders",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
