"""The ``serumrnn`` command line.

It is the outermost edge of the project: it imports ``server`` (the runtime core) and
``training``, and keeps every side effect (files, progress bars, exit codes) here.
Heavy imports happen inside each command so ``serumrnn --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
SPEC_JSON = ROOT / "m4l_device" / "serumrnn_spec.json"
#: Modules that add their own subcommands (each defines ``add_parser(subparsers)``).
COMMAND_MODULES = ("training.match", "training.evaluate_system", "server.osc_cli", "training.device",
                   "training.summary", "training.verified_eval", "training.chain_search")


def _cmd_spec_export(a: argparse.Namespace) -> int:
    from server import spec

    text = spec.export_json()
    out = Path(a.out)
    if a.check:
        have = out.read_text() if out.exists() else None
        if have != text:
            print(f"{out} is out of sync with server/spec.py: run `serumrnn spec export`",
                  file=sys.stderr)
            return 1
        print(f"{out} is in sync (spec {spec.SPEC_VERSION})")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out} (spec {spec.SPEC_VERSION}, {len(spec.EFFECTS)} effects)")
    return 0


def _cmd_presets(a: argparse.Namespace) -> int:
    from server.rack import presets as P

    for g, names in P.GROUPS.items():
        aliases = [k for k, v in P.GROUP_ALIASES.items() if v == g]
        print(f"{g} ({', '.join(aliases)}): {', '.join(names)}")
    return 0


EXAMPLES = ROOT / "examples"


def _cmd_demo(a: argparse.Namespace) -> int:
    """The main job: ``match`` on the shipped example pair with the shipped models."""
    if a.presets:
        from training.demo import render_demo

        for p in render_demo(Path(a.out), seed=a.seed):
            print(p)
        return 0
    return main(["match", str(EXAMPLES / "input-saw.wav"), str(EXAMPLES / "target-saw.wav"),
                 "--group", "basic", "--out", str(a.out)])


def _cmd_data_generate(a: argparse.Namespace) -> int:
    from training import datagen

    cfg = datagen.config_from_args(a.group, a.per_combo, a.seed, paper_scale=a.paper_scale,
                                   renderer=a.profile or "open_rack", chunk=a.chunk, note=a.note,
                                   presets=a.presets, rack_order=a.rack_order)
    out = Path(a.out) if a.out else ROOT / "data" / cfg.group
    res = datagen.generate(cfg, out, workers=a.workers, progress=not a.quiet, limit=a.limit)
    print(json.dumps({"out": str(out), **res}, indent=2))
    return 0


def _cmd_data_info(a: argparse.Namespace) -> int:
    from training import datagen

    print(json.dumps(datagen.summarize(Path(a.dir)), indent=2))
    return 0


def _cmd_bench(a: argparse.Namespace) -> int:
    from training.bench import run_bench

    run_bench(quick=a.quick, workers=a.workers)
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from training import recipes
    from training.train import train_group

    recipe = recipes.get("paper" if a.paper_scale else a.recipe, width=a.width,
                         max_epochs=a.epochs, per_combo=a.per_combo, seed=a.seed)
    only = tuple(a.models.split(",")) if a.models else None
    best, info = train_group(a.group, recipe, data_root=Path(a.data), runs_root=Path(a.runs), only=only,
                       workers=a.workers, strategy=a.strategy, verbose=0 if a.quiet else 2)
    if not a.no_export:
        from training.export import export_group

        print(export_group(a.group, recipe, best, Path(a.models_dir), data_size=info))
    return 0


def _cmd_eval_models(a: argparse.Namespace) -> int:
    from training.evaluate_models import RESULTS, evaluate_group

    evaluate_group(a.group, models_dir=Path(a.models) if a.models else None, pairs=a.pairs,
                   per_length=a.per_length, out_dir=Path(a.out) if a.out else RESULTS)
    return 0


def _cmd_learning_curve(a: argparse.Namespace) -> int:
    from training import recipes
    from training.evaluate_models import RESULTS
    from training.learning_curve import learning_curve

    recipe = recipes.get(a.recipe, max_epochs=a.epochs)
    print(learning_curve(a.group, a.effect, recipe, data_root=Path(a.data),
                         runs_root=Path(a.runs), out_dir=RESULTS, pairs=a.pairs, workers=a.workers))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="serumrnn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    sp = sub.add_parser("spec", help="the effect specification")
    ssub = sp.add_subparsers(dest="spec_cmd", required=True)
    ex = ssub.add_parser("export", help="write the spec as JSON for the Max for Live device")
    ex.add_argument("--out", default=str(SPEC_JSON))
    ex.add_argument("--check", action="store_true", help="fail if the file is out of sync")
    ex.set_defaults(func=_cmd_spec_export)

    sub.add_parser("presets", help="list preset groups and presets").set_defaults(func=_cmd_presets)

    d = sub.add_parser("demo", help="match the shipped example pair (input -> target) step by step")
    d.add_argument("--presets", action="store_true",
                   help="instead, render the 12 presets through random effect chains")
    d.add_argument("--out", default=str(ROOT / "out" / "demo"))
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_cmd_demo)

    dp = sub.add_parser("data", help="training data")
    dsub = dp.add_subparsers(dest="data_cmd", required=True)
    g = dsub.add_parser("generate", help="render and featurize shards (resumable)")
    g.add_argument("--group", required=True, help="basic | advanced | modulating (or full id)")
    g.add_argument("--per-combo", type=int, default=None,
                   help="unique clips per preset per effect subset (default 64)")
    g.add_argument("--paper-scale", action="store_true",
                   help="the paper's 4,000 clips per combination per preset")
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--chunk", type=int, default=32, help="clips per shard")
    g.add_argument("--note", type=int, default=None, help="MIDI note (default 48)")
    g.add_argument("--rack-order", default=None,
                   help="processing order of the effects, comma-separated (default: Serum's "
                        "FX rack, distortion,phaser,compressor,reverb,eq)")
    g.add_argument("--profile", default=None,
                   help="render on a plugin profile (name or JSON path) instead of the open rack")
    g.add_argument("--presets", default=None,
                   help="comma-separated presets to render instead of the group's (for a profile)")
    g.add_argument("--out", default=None, help="output folder (default data/<group>)")
    g.add_argument("--limit", type=int, default=None, help="stop after this many shards")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=_cmd_data_generate)
    i = dsub.add_parser("info", help="summarize a data folder")
    i.add_argument("dir")
    i.set_defaults(func=_cmd_data_info)

    t = sub.add_parser("train", help="train every model of a preset group (resumable)")
    t.add_argument("--group", required=True)
    t.add_argument("--recipe", default="cpu", help="cpu (default, minutes per model) | paper | tiny")
    t.add_argument("--paper-scale", action="store_true", help="the paper's recipe (GPU advised)")
    t.add_argument("--models", default=None, help="comma-separated subset, e.g. param_eq,selector")
    t.add_argument("--width", type=float, default=None, help="override the recipe's network width")
    t.add_argument("--epochs", type=int, default=None, help="override the recipe's max epochs")
    t.add_argument("--per-combo", type=int, default=None, help="override the data scale")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    t.add_argument("--strategy", default=None, help="tf.distribute: mirrored | multiworker")
    t.add_argument("--data", default=str(ROOT / "data"))
    t.add_argument("--runs", default=str(ROOT / "runs"))
    t.add_argument("--models-dir", default=str(ROOT / "models"))
    t.add_argument("--no-export", action="store_true")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_cmd_train)

    em = sub.add_parser("eval-models", help="Tables 2 and 3 for a group into docs/results/")
    em.add_argument("--group", required=True)
    em.add_argument("--pairs", type=int, default=1000, help="test pairs per parameter model")
    em.add_argument("--per-length", type=int, default=200, help="test chains per length 1-5")
    em.add_argument("--models", default=None, help="models folder (default models/)")
    em.add_argument("--out", default=None, help="results folder (default docs/results/)")
    em.set_defaults(func=_cmd_eval_models)

    lc = sub.add_parser("learning-curve", help="one parameter model (or the selector) on growing data fractions")
    lc.add_argument("--group", required=True)
    lc.add_argument("--effect", required=True,
                    choices=["compressor", "distortion", "eq", "phaser", "reverb", "selector"])
    lc.add_argument("--recipe", default="cpu")
    lc.add_argument("--epochs", type=int, default=12)
    lc.add_argument("--pairs", type=int, default=200)
    lc.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    lc.add_argument("--data", default=str(ROOT / "data"))
    lc.add_argument("--runs", default=str(ROOT / "runs"))
    lc.set_defaults(func=_cmd_learning_curve)

    # Commands that live in their own modules register themselves (add_parser(sub)).
    import importlib
    import importlib.util

    for mod in COMMAND_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod).add_parser(sub)

    b = sub.add_parser("bench", help="print speed figures for this machine")
    b.add_argument("--quick", action="store_true", help="fewer repetitions")
    b.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"serumrnn: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
