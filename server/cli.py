"""The ``serumrnn`` command line: the entry point, and the commands of the runtime.

The outermost edge of the project. Each command module registers its own sub-commands
with ``add_parser(subparsers)``; this file lists those modules by name in
:data:`COMMAND_MODULES` and a missing one is an error, never a silently absent command.
That list is the one place the runtime names training code, and it does so only to
build the parser (see ``tests/test_layout.py``). Heavy imports happen inside each
command, so ``serumrnn --help`` stays instant.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from pathlib import Path

from serumrnn.server import quiet

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: Modules that add their own sub-commands (each defines ``add_parser(subparsers)``).
COMMAND_MODULES = (
    "serumrnn.server.match",
    "serumrnn.server.osc_cli",
    "serumrnn.server.startup_bench",
    "serumrnn.server.nn_export",
    "serumrnn.server.rack.capture",
    "serumrnn.server.rack.draft",
    "serumrnn.device.build",
    "serumrnn.training.commands",
    "serumrnn.training.evaluate_system",
    "serumrnn.training.verified_eval",
    "serumrnn.training.plugin_eval",
    "serumrnn.training.chain_search",
    "serumrnn.training.summary",
    "serumrnn.training.naming_cli",
)


def _cmd_spec_export(a: argparse.Namespace) -> int:
    from serumrnn.server import spec

    text = spec.export_json()
    out = Path(a.out)
    if a.check:
        have = out.read_text() if out.exists() else None
        if have != text:
            print(f"{out} is out of sync with server/spec.py: run `serumrnn spec export`", file=sys.stderr)
            return 1
        print(
            f"{out} is in sync (spec {spec.SPEC_VERSION}, fingerprint "
            f"{spec.fingerprint()[: spec.FINGERPRINT_SHOWN]})"
        )
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(
        f"wrote {out} (spec {spec.SPEC_VERSION}, fingerprint "
        f"{spec.fingerprint()[: spec.FINGERPRINT_SHOWN]}, {len(spec.EFFECTS)} effects)"
    )
    return 0


def _cmd_presets(a: argparse.Namespace) -> int:
    from serumrnn.server.rack import presets as P

    for g, names in P.GROUPS.items():
        aliases = [k for k, v in P.GROUP_ALIASES.items() if v == g]
        print(f"{g} ({', '.join(aliases)}): {', '.join(names)}")
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    """The main job: ``match`` on the shipped example pair with the shipped models."""
    if a.presets:
        from serumrnn.server.demo import render_demo

        for p in render_demo(Path(a.out), seed=a.seed):
            print(p)
        return 0
    return main(
        [
            "match",
            str(EXAMPLES / "input-saw.wav"),
            str(EXAMPLES / "target-saw.wav"),
            "--group",
            "basic",
            "--out",
            str(a.out),
        ]
    )


def _add_runtime_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from serumrnn.server import spec

    sp = sub.add_parser("spec", help="the effect specification")
    ssub = sp.add_subparsers(dest="spec_cmd", required=True)
    ex = ssub.add_parser("export", help="write the spec as JSON for the Max for Live device")
    ex.add_argument(
        "--out", default=str(spec.EXPORT_PATH), help=f"where to write it (default {spec.EXPORT_PATH})"
    )
    ex.add_argument("--check", action="store_true", help="fail if the file is out of sync")
    ex.set_defaults(func=_cmd_spec_export)

    sub.add_parser("presets", help="list preset groups and presets").set_defaults(func=_cmd_presets)

    d = sub.add_parser("demo", help="match the shipped example pair (input -> target) step by step")
    d.add_argument(
        "--presets", action="store_true", help="instead, render the 12 presets through random effect chains"
    )
    d.add_argument(
        "--out",
        default=str(Path("out") / "demo"),
        help="report folder, relative to the current folder (default out/demo)",
    )
    d.add_argument(
        "--seed", type=int, default=0, help="random effect chains' seed, with --presets (default 0)"
    )
    d.set_defaults(func=_cmd_demo)


#: ``serve`` is started by the device on every Live start: its parser alone skips importing
#: the training and evaluation commands (a third of the time to the first pong).
FAST_COMMANDS = {"serve": "serumrnn.server.osc_cli"}


def build_parser(modules: tuple[str, ...] | None = None, runtime: bool = True) -> argparse.ArgumentParser:
    """Every command (``modules``: only these command modules, for a fast start), built once
    per list (``demo`` runs ``match`` through :func:`main`, which would otherwise import and
    build everything twice)."""
    return _parser_for(COMMAND_MODULES if modules is None else modules, runtime)


@functools.cache
def _parser_for(modules: tuple[str, ...], runtime: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="serumrnn",
        description="SerumRNN: step-by-step effect programming for Xfer Serum, on an open "
        "Faust rack by default. `serumrnn <command> --help` shows a command's options.",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="<command>")
    if runtime:
        _add_runtime_commands(sub)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as e:  # a broken install: say which part is missing
            raise SystemExit(
                f"serumrnn: the command module {name} cannot be imported ({e}); reinstall with `make setup`"
            ) from e
        module.add_parser(sub)
    return p


#: Commands that take seconds before their first stage: they say so before the parser is
#: built (which imports numpy and the step loop's settings).
ANNOUNCED = ("demo", "match", "eval", "calibrate")
_STARTED: list[list[str]] = []


def main(argv: list[str] | None = None) -> int:
    quiet.tensorflow()
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ANNOUNCED and not {"-h", "--help"} & set(argv) and not _STARTED:
        from serumrnn.server import progress

        progress.say(f"serumrnn {argv[0]}: starting ...")
    _STARTED.append(argv[:1])  # once per process: `demo` runs `match` through main()
    fast = FAST_COMMANDS.get(argv[0]) if argv else None
    parser = build_parser((fast,), runtime=False) if fast else build_parser()
    if not argv:  # `serumrnn` alone: the commands, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
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
