"""Sub-commands for naming effects on sounds made elsewhere, and calibration to plugins:
``ood-naming build|eval``, ``naming-head data|train|eval`` and ``calibrate``.

Registered by the entry point (``serumrnn.server.cli``); heavy imports inside the commands.
"""

from __future__ import annotations

import argparse
import json
import os
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
        from serumrnn.server import naming_prior as NP
        from serumrnn.training import naming_head as NH

        NP.attach(models, Path(a.head))  # the loops hear this head too, not only the rankings
        head = NH.load_head(Path(a.head))
        head_info = {"folder": str(a.head), "held_out": head.held_out, "trained_on": head.trained_on}
        namers["naming head"] = head.namer()
        namers["naming head + selector"] = NH.combined_namer(head, models)
    loops = [s for s in a.loops.split(",") if s]
    res = ON.evaluate(
        models,
        rack,
        cases,
        loops=loops,
        namers=namers,
        progress=not a.quiet,
        held_out=head_info["held_out"] if head_info else (),
    )
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


def _cmd_head_data(a: argparse.Namespace) -> int:
    from serumrnn.training import naming_head as NH

    NH.generate(Path(a.out), seed=a.seed, per_impl=a.per_impl)
    print(f"{a.out}: naming examples ready")
    return 0


def _cmd_head_train(a: argparse.Namespace) -> int:
    from serumrnn.training import naming_head as NH

    m = NH.train(Path(a.data), Path(a.out), seed=a.seed, epochs=a.epochs, verbose=0 if a.quiet else 2)
    print(
        f"{a.out}: trained in {m['train_seconds']} s on {m['data']['train_examples']} examples; "
        f"validation accuracy {100 * m['val_accuracy']:.1f} %, held-out implementations "
        f"{100 * m['held_out_accuracy']:.1f} % ({m['data']['held_out_examples']} examples)"
    )
    for name, r in m["held_out_by_implementation"].items():
        print(f"  {name} ({r['type']}): {100 * r['accuracy']:.0f} % of {r['examples']}")
    return 0


def _cmd_head_eval(a: argparse.Namespace) -> int:
    from serumrnn.server.models import load_group
    from serumrnn.training import naming_head as NH

    head = NH.load_head(Path(a.head))
    models = load_group(a.group, a.models, which=("selector",))
    res = NH.choose_weight(head, models, Path(a.data))
    if not a.no_write:
        path = Path(a.head) / "manifest.json"
        m = json.loads(path.read_text())
        m["combine_weight"] = res["weight"]
        m["combine"] = {"group": models.group, **res}
        path.write_text(json.dumps(m, indent=1) + "\n")
    h = res["held_out"]
    print(
        f"combination weight {res['weight']} (validation accuracy by weight: "
        + ", ".join(f"{w}: {100 * v:.1f} %" for w, v in res["val_accuracy_by_weight"].items())
        + ")"
    )
    print(
        f"held-out implementations, {h['examples']} examples: head {100 * h['head']:.1f} %, "
        f"selector ({models.group}) {100 * h['selector']:.1f} %, combined {100 * h['combined']:.1f} %"
    )
    return 0


def _cmd_calibrate(a: argparse.Namespace) -> int:
    from serumrnn.training import calibrate as C

    folder = C.calibrate(
        a.profile,
        a.minutes,
        group=a.group,
        models_dir=Path(a.models) if a.models else None,
        work=Path(a.work),
        out=Path(a.out),
        max_pairs=a.max_pairs or C.MAX_PAIRS,
        max_epochs=a.max_epochs,
        verbose=0 if a.quiet else 2,
        round_pairs=a.round_pairs,
        workers=a.workers,
    )
    print(f"wrote {folder} (use it with --models {Path(a.out)})")
    if a.eval_pairs:
        res = C.evaluate(
            a.profile,
            a.group,
            {"shipped": Path(a.models) if a.models else None, "calibrated": Path(a.out)},
            a.eval_pairs,
            Path(a.work) / folder.name,
        )
        ref = C.open_rack_figures(a.group) or {}
        print("| effect | open rack (Table 2) | plugins, shipped | plugins, calibrated |")
        print("|---|---:|---:|---:|")
        for e, v in res["calibrated"].items():
            o = f"{ref[e]:+.1f} %" if e in ref else "n/a"
            print(f"| {e} | {o} | {res['shipped'][e]['mse']:+.1f} % | {v['mse']:+.1f} % |")
        if a.results:
            out = {"command": "serumrnn " + " ".join(sys.argv[1:]), "open_rack": ref, **res}
            Path(a.results).parent.mkdir(parents=True, exist_ok=True)
            Path(a.results).write_text(json.dumps(out, indent=1) + "\n")
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
    e.add_argument(
        "--head",
        default=None,
        help="a naming-head folder: the loops' first step hears it, and it and its combination are scored as rankings",
    )
    e.add_argument("--limit", type=int, default=None, help="only the first N cases")
    e.add_argument("--out", default=None, help=f"results JSON (e.g. {RESULTS}/basic-seed0.json)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_ood_eval)

    h = sub.add_parser("naming-head", help="a head that names effect types: data | train | eval")
    hsub = h.add_subparsers(dest="head_cmd", required=True, metavar="<naming-head command>")
    d = hsub.add_parser(
        "data", help="render examples of every implementation (resumable; two child processes)"
    )
    d.add_argument("--out", default="data/naming", help="data folder (default data/naming)")
    d.add_argument("--seed", type=int, default=0, help="seed of inputs and settings (default 0)")
    d.add_argument("--per-impl", type=int, default=100, help="examples per implementation (default 100)")
    d.set_defaults(func=_cmd_head_data)
    t = hsub.add_parser("train", help="train the head without the held-out implementations, score them")
    t.add_argument("--data", default="data/naming", help="data folder (default data/naming)")
    t.add_argument(
        "--out", default="models/naming_head", help="where the head goes (default models/naming_head)"
    )
    t.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    t.add_argument("--epochs", type=int, default=30, help="most epochs (early stopping on validation)")
    t.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    t.set_defaults(func=_cmd_head_train)
    v = hsub.add_parser("eval", help="choose the head+selector weight on validation; held-out figures")
    v.add_argument("--head", default="models/naming_head", help="head folder (default models/naming_head)")
    v.add_argument("--data", default="data/naming", help="data folder (default data/naming)")
    v.add_argument("--group", default="basic", help="whose selector to combine with (default basic)")
    v.add_argument("--models", default=None, help="models folder (default: the shipped models/)")
    v.add_argument("--no-write", action="store_true", help="do not record the weight in the manifest")
    v.set_defaults(func=_cmd_head_eval)

    c = sub.add_parser("calibrate", help="fine-tune the parameter models on a plugin profile (resumable)")
    c.add_argument("--profile", required=True, help="plugin profile: name (debian_test, serum) or JSON path")
    c.add_argument(
        "--minutes",
        type=float,
        required=True,
        help="time budget of the whole calibration, rendering then training; a rerun with the same --work continues what is left",
    )
    c.add_argument(
        "--group", default="basic", help="preset group whose models are calibrated (default basic)"
    )
    c.add_argument("--models", default=None, help="models to start from (default: the shipped models/)")
    c.add_argument("--work", default="runs/calibrate", help="data and checkpoints (default runs/calibrate)")
    c.add_argument("--out", default="models-calibrated", help="new models folder (default models-calibrated)")
    c.add_argument(
        "--max-pairs",
        type=int,
        default=None,
        help="most training pairs per effect (default: calibrate.MAX_PAIRS, a backstop the budget comes before)",
    )
    c.add_argument(
        "--round-pairs",
        type=int,
        default=None,
        help="most pairs per effect one round of data adds (default: as many as its time allows)",
    )
    c.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="most epochs per model (default: calibrate.RECIPE's, a backstop the budget and early stopping come before)",
    )
    c.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes that render the data, each hosting the plugins (default: one per core)",
    )
    c.add_argument("--eval-pairs", type=int, default=0, help="then score shipped vs calibrated on N pairs")
    c.add_argument("--results", default=None, help="write the scores as JSON here")
    c.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    c.set_defaults(func=_cmd_calibrate)
