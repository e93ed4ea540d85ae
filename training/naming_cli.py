"""Sub-commands for naming effects on sounds made elsewhere, and calibration to plugins:
``ood-naming build|eval``, ``naming-head data|train|eval`` and ``calibrate``.

Registered by the entry point (``serumrnn.server.cli``); heavy imports inside the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path("docs") / "results" / "ood_naming"


def _cmd_ood_build(a: argparse.Namespace) -> int:
    from serumrnn.training import ood_naming as ON

    rec = ON.build(
        Path(a.out),
        seed=a.seed,
        cases=a.cases,
        implementations=[s for s in a.implementations.split(",") if s] if a.implementations else None,
        progress=not a.quiet,
    )
    print(f"{a.out}: {len(rec['cases'])} cases (seed {a.seed}) in {rec['build_seconds']} s")
    return 0


def _cmd_ood_eval(a: argparse.Namespace) -> int:
    from serumrnn.server.models import STEP_MODELS, load_group
    from serumrnn.server.rack import OpenRack
    from serumrnn.training import ood_naming as ON

    record, cases = ON.load(Path(a.suite))
    if a.limit:
        cases = cases[: a.limit]
    models = load_group(a.group, a.models, which=STEP_MODELS)
    rack = OpenRack(models.render_settings)
    namers: dict[str, ON.Namer] = {"selector": ON.selector_namer(models)}
    head_info = None
    if a.head:
        from serumrnn.training import naming_head as NH

        head = NH.load_head(Path(a.head))
        head_info = {"folder": str(a.head), "held_out": head.held_out, "trained_on": head.trained_on}
        namers["naming head"] = head.namer()
        namers["naming head + selector"] = NH.combined_namer(head, models)
    loops = [s for s in a.loops.split(",") if s]
    res = ON.evaluate(models, rack, cases, loops=loops, namers=namers, progress=not a.quiet)
    out = {
        "command": "serumrnn " + " ".join(sys.argv[1:]),
        "suite": {k: v for k, v in record.items() if k != "cases"},
        "group": models.group,
        "head": head_info,
        **res,
    }
    if a.out:
        path = Path(a.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {path}")
    print(ON.markdown(res))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``ood-naming``, ``naming-head`` and ``calibrate``."""
    o = sub.add_parser("ood-naming", help="out-of-domain suite for naming the effect: build | eval")
    osub = o.add_subparsers(dest="ood_cmd", required=True, metavar="<ood-naming command>")
    b = osub.add_parser(
        "build", help="render single-effect cases made by other software (SoX, Debian plugins)"
    )
    b.add_argument("--out", required=True, help="folder for suite.json and wav/")
    b.add_argument(
        "--seed", type=int, default=0, help="suite seed: settings, inputs, implementations (default 0)"
    )
    b.add_argument("--cases", type=int, default=40, help="number of cases, types in turn (default 40)")
    b.add_argument(
        "--implementations",
        default=None,
        help="comma-separated implementation names to draw from (default all)",
    )
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_ood_build)
    e = osub.add_parser("eval", help="run loops on a built suite (open rack, another process than build)")
    e.add_argument("--suite", required=True, help="a folder made by `ood-naming build`")
    e.add_argument("--group", default="basic", help="preset group whose models run (default basic)")
    e.add_argument("--models", default=None, help="models folder (default: the shipped models/)")
    e.add_argument(
        "--loops", default="verified,refine,paper", help="comma-separated loops (default all three)"
    )
    e.add_argument("--head", default=None, help="a naming-head folder: score it and its combination too")
    e.add_argument("--limit", type=int, default=None, help="only the first N cases")
    e.add_argument("--out", default=None, help=f"results JSON (e.g. {RESULTS}/basic-seed0.json)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_ood_eval)
