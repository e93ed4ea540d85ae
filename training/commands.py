"""The training package's sub-commands: data, train, eval-models, learning-curve, bench.

Registered by the entry point (``serumrnn.server.cli``). Every default output folder is
relative to the current folder, as each option's help says; heavy imports happen inside
the commands so building the parser stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from serumrnn.server.spec import EFFECT_NAMES, MAX_STEPS, SERUM_RACK_ORDER
from serumrnn.training.evaluate_models import RESULTS

WORKERS = os.cpu_count() or 1


def _cmd_data_generate(a: argparse.Namespace) -> int:
    from serumrnn.training import datagen

    cfg = datagen.config_from_args(
        a.group,
        a.per_combo,
        a.seed,
        paper_scale=a.paper_scale,
        renderer=a.profile or "open_rack",
        chunk=a.chunk,
        note=a.note,
        presets=a.presets,
        rack_order=a.rack_order,
    )
    out = Path(a.out) if a.out else Path("data") / cfg.group
    res = datagen.generate(cfg, out, workers=a.workers, progress=not a.quiet, limit=a.limit)
    print(
        f"{out}: wrote {res['shards_written']} of {res['shards_total']} shards "
        f"({res['clips_written']} of {res['clips_total']} clips) in {res['seconds']:.1f} s, "
        f"{res['clips_per_s']:.0f} clips/s"
    )
    return 0


def _cmd_data_info(a: argparse.Namespace) -> int:
    from serumrnn.training import datagen

    s = datagen.summarize(Path(a.dir))
    print(
        f"{a.dir}: {s['group']}, {s['per_combo']} clips per preset and effect subset, "
        f"{s['complete']} of {s['shards']} shards complete, {s['clips']} clips planned"
    )
    return 0


def _cmd_bench(a: argparse.Namespace) -> int:
    from serumrnn.server.bench import run_bench
    from serumrnn.training.datagen import bench_datagen

    load_before, t0 = os.getloadavg()[0], time.perf_counter()
    figures = run_bench(
        quick=a.quick, workers=a.workers, extra=lambda: bench_datagen(a.workers, 16 if a.quick else 48)
    )
    if a.json:  # the figures the docs' spans read; the load says how quiet the machine was
        record = {
            "measured_by": "serumrnn bench" + (" --quick" if a.quick else ""),
            "date": time.strftime("%Y-%m-%d"),
            "cpu_count": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "seconds": time.perf_counter() - t0,
            "figures": figures,
        }
        Path(a.json).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from serumrnn.training import recipes
    from serumrnn.training.train import train_group

    recipe = recipes.get(
        "paper" if a.paper_scale else a.recipe,
        width=a.width,
        max_epochs=a.epochs,
        per_combo=a.per_combo,
        seed=a.seed,
    )
    only = tuple(a.models.split(",")) if a.models else None
    best, info = train_group(
        a.group,
        recipe,
        data_root=Path(a.data),
        runs_root=Path(a.runs),
        only=only,
        workers=a.workers,
        strategy=a.strategy,
        verbose=0 if a.quiet else 2,
    )
    if not a.no_export:
        from serumrnn.server.models import DEFAULT_MODELS_DIR
        from serumrnn.training.export import export_group

        folder = Path(a.models_dir) if a.models_dir else DEFAULT_MODELS_DIR
        print(f"exported {len(best)} models: {export_group(a.group, recipe, best, folder, data_size=info)}")
    return 0


def _cmd_eval_models(a: argparse.Namespace) -> int:
    from serumrnn.training.evaluate_models import evaluate_group

    evaluate_group(
        a.group,
        models_dir=Path(a.models) if a.models else None,
        pairs=a.pairs,
        per_length=a.per_length,
        out_dir=Path(a.out) if a.out else RESULTS,
    )
    return 0


def _cmd_learning_curve(a: argparse.Namespace) -> int:
    from serumrnn.training import recipes
    from serumrnn.training.learning_curve import learning_curve

    recipe = recipes.get(a.recipe, max_epochs=a.epochs)
    print(
        learning_curve(
            a.group,
            a.effect,
            recipe,
            data_root=Path(a.data),
            runs_root=Path(a.runs),
            out_dir=Path(a.out),
            pairs=a.pairs,
            workers=a.workers,
        )
    )
    return 0


def _group(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--group", required=True, help="preset group: basic | advanced | modulating (or its full id)"
    )


def _workers(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--workers", type=int, default=WORKERS, help=f"{what} (default: this machine's {WORKERS} CPU cores)"
    )


def _data_parsers(sub: argparse._SubParsersAction) -> None:
    dp = sub.add_parser("data", help="training data: generate (resumable) or summarize a folder")
    dsub = dp.add_subparsers(dest="data_cmd", required=True, metavar="<data command>")
    g = dsub.add_parser("generate", help="render and featurize shards (resumable)")
    _group(g)
    g.add_argument(
        "--per-combo", type=int, default=None, help="unique clips per preset per effect subset (default 64)"
    )
    g.add_argument(
        "--paper-scale", action="store_true", help="the paper's 4,000 clips per combination per preset"
    )
    _workers(g, "rendering processes")
    g.add_argument("--seed", type=int, default=0, help="random knob settings' seed (default 0)")
    g.add_argument("--chunk", type=int, default=32, help="clips per shard (default 32)")
    g.add_argument("--note", type=int, default=None, help="MIDI note (default 48)")
    g.add_argument(
        "--rack-order",
        default=None,
        help="processing order of the effects, comma-separated (default: Serum's "
        "FX rack, " + ",".join(SERUM_RACK_ORDER) + ")",
    )
    g.add_argument(
        "--profile",
        default=None,
        help="render on a plugin profile (name or JSON path) instead of the open rack",
    )
    g.add_argument(
        "--presets",
        default=None,
        help="comma-separated presets to render instead of the group's (for a profile)",
    )
    g.add_argument(
        "--out", default=None, help="output folder, relative to the current folder (default data/<group id>)"
    )
    g.add_argument("--limit", type=int, default=None, help="stop after this many shards")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_data_generate)
    i = dsub.add_parser("info", help="summarize a data folder")
    i.add_argument("dir", help="a folder made by `serumrnn data generate`")
    i.set_defaults(func=_cmd_data_info)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the training package's commands."""
    _data_parsers(sub)

    t = sub.add_parser("train", help="train every model of a preset group (resumable)")
    _group(t)
    t.add_argument("--recipe", default="cpu", help="cpu (default, minutes per model) | paper | tiny")
    t.add_argument("--paper-scale", action="store_true", help="the paper's recipe (GPU advised)")
    t.add_argument("--models", default=None, help="comma-separated subset, e.g. param_eq,selector")
    t.add_argument("--width", type=float, default=None, help="override the recipe's network width")
    t.add_argument("--epochs", type=int, default=None, help="override the recipe's max epochs")
    t.add_argument("--per-combo", type=int, default=None, help="override the data scale")
    t.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    _workers(t, "data-generation processes")
    t.add_argument("--strategy", default=None, help="tf.distribute: mirrored | multiworker")
    t.add_argument("--data", default="data", help="data root, relative to the current folder (default data)")
    t.add_argument(
        "--runs", default="runs", help="checkpoints and logs, relative to the current folder (default runs)"
    )
    t.add_argument(
        "--models-dir",
        default=None,
        help="where the trained group is exported (default: the project's models/ "
        "folder, where match, serve and eval look)",
    )
    t.add_argument("--no-export", action="store_true", help="train (or resume) without exporting")
    t.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    t.set_defaults(func=_cmd_train)

    em = sub.add_parser("eval-models", help="Tables 2 and 3 for a group into docs/results/")
    _group(em)
    em.add_argument("--pairs", type=int, default=1000, help="test pairs per parameter model (default 1000)")
    em.add_argument(
        "--per-length", type=int, default=200, help=f"test chains per length 1-{MAX_STEPS} (default 200)"
    )
    em.add_argument("--models", default=None, help="models folder (default: the shipped models/)")
    em.add_argument(
        "--out", default=None, help="results folder, relative to the current folder (default docs/results)"
    )
    em.set_defaults(func=_cmd_eval_models)

    lc = sub.add_parser(
        "learning-curve", help="one parameter model (or the selector) on growing data fractions"
    )
    _group(lc)
    lc.add_argument(
        "--effect",
        required=True,
        choices=[*EFFECT_NAMES, "selector"],
        help="which model to train on each fraction",
    )
    lc.add_argument("--recipe", default="cpu", help="training recipe: cpu | paper | tiny (default cpu)")
    lc.add_argument("--epochs", type=int, default=12, help="epochs per run (default 12)")
    lc.add_argument("--pairs", type=int, default=200, help="held-out pairs scored per run (default 200)")
    _workers(lc, "data-generation processes")
    lc.add_argument("--data", default="data", help="data root (default data)")
    lc.add_argument("--runs", default="runs", help="checkpoints and logs (default runs)")
    lc.add_argument("--out", default=str(RESULTS), help="where the plot goes (default docs/results)")
    lc.set_defaults(func=_cmd_learning_curve)

    b = sub.add_parser("bench", help="print speed figures for this machine")
    b.add_argument("--quick", action="store_true", help="fewer repetitions")
    _workers(b, "data-generation processes")
    b.add_argument("--json", metavar="PATH", help="also write every figure, with the load average, to PATH")
    b.set_defaults(func=_cmd_bench)
