"""The architecture as the tree shows it: import direction, command registration, layout
table and command table in the developer guide, and help text for every option."""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from serumrnn.server import cli

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "developer-guide.md").read_text()
#: Folder -> installed package (pyproject.toml's package-dir).
PACKAGES = {
    "server": "serumrnn.server",
    "training": "serumrnn.training",
    "m4l_device/tooling": "serumrnn.device",
}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, statically (``import x`` and ``from x import y``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _py_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize(
    "folder, forbidden",
    [
        ("server", ("serumrnn.training", "serumrnn.device", "server", "training")),
        ("m4l_device/tooling", ("serumrnn.training", "server", "training")),
        ("training", ("serumrnn.device", "server", "training")),
    ],
)
def test_import_direction(folder, forbidden):
    """The runtime never imports training code (nor the device tooling); nothing imports
    the old top-level names."""
    bad = [
        (p.relative_to(ROOT).as_posix(), m)
        for p in _py_files(folder)
        for m in _imports(p)
        if any(m == f or m.startswith(f + ".") for f in forbidden)
    ]
    assert bad == []


def test_only_the_entry_point_names_training_modules_and_only_to_register_commands():
    mentions = [
        p.relative_to(ROOT).as_posix() for p in _py_files("server") if "serumrnn.training" in p.read_text()
    ]
    assert mentions == ["server/cli.py"]
    assert all(m.startswith("serumrnn.") for m in cli.COMMAND_MODULES)


def test_every_command_module_registers_itself():
    for name in cli.COMMAND_MODULES:
        module = __import__(name, fromlist=["add_parser"])
        assert callable(getattr(module, "add_parser", None)), name


def test_a_missing_command_module_is_an_error(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", cli.COMMAND_MODULES + ("serumrnn.training.nope",))
    with pytest.raises(SystemExit, match="serumrnn.training.nope cannot be imported"):
        cli.build_parser()


def _subparsers(p: argparse.ArgumentParser, path: str = "serumrnn"):
    yield path, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items():
                yield from _subparsers(sp, f"{path} {name}")


def _commands() -> list[tuple[str, argparse.ArgumentParser]]:
    return list(_subparsers(cli.build_parser()))


def test_every_option_of_every_command_has_help():
    missing = [
        f"{path} {a.option_strings or a.dest}"
        for path, p in _commands()
        for a in p._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
        and not (a.help or "").strip()
    ]
    assert missing == []


def test_every_sub_command_has_help_in_its_parent():
    for path, p in _commands():
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in a._choices_actions}
                assert set(helps) == set(a.choices), path
                assert all((h or "").strip() for h in helps.values()), path


def test_top_level_help_is_plain_text():
    text = cli.build_parser().format_help()
    assert not re.search(r"``|:mod:|:func:|:class:|\*\*", text)
    assert "serumrnn <command> --help" in text


def test_the_guide_s_command_table_lists_every_sub_command():
    table = GUIDE.split("## Commands", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `serumrnn ([a-z-]+(?: [a-z]+)?)", table, re.M))
    every = {
        path.removeprefix("serumrnn ")
        for path, p in _commands()
        if path != "serumrnn" and not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
    }
    assert every - listed == set()
    assert listed - every == set()


def test_the_guide_s_layout_table_matches_the_tree():
    table = GUIDE.split("## Layout", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    named = {path for cell in first_cells for path in re.findall(r"`([^`]+)`", cell)}
    modules = {
        p.relative_to(ROOT).as_posix()
        for folder in PACKAGES
        for p in _py_files(folder)
        if p.name != "__init__.py"
    }
    assert modules - named == set(), "modules the layout table does not list"
    assert {n for n in named if not (ROOT / n.rstrip("/")).exists()} == set(), (
        "paths in the layout table that do not exist"
    )


def test_no_tensorflow_chatter_before_a_command_s_output(tmp_path):
    """A command that loads the models prints its own lines only."""
    out = tmp_path / "m"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "serumrnn.server.cli",
            "match",
            str(ROOT / "examples" / "input-saw.wav"),
            str(ROOT / "examples" / "target-saw.wav"),
            "--group",
            "basic",
            "--loop",
            "paper",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={
            k: v
            for k, v in __import__("os").environ.items()
            if k not in ("TF_CPP_MIN_LOG_LEVEL", "SERUMRNN_TF_LOGS")
        },
    )
    assert r.returncode == 0, r.stderr
    noise = [
        line
        for line in r.stderr.splitlines()
        # the folder's name (this test's own name) would match "tensorflow" in our own lines
        if re.search(
            r"absl|oneDNN|cpu_feature_guard|I0000|W0000|E0000|tensorflow", line.replace(str(tmp_path), "")
        )
    ]
    assert noise == []
    assert (out / "index.html").is_file()


def test_default_outputs_are_relative_to_the_current_folder():
    p = cli.build_parser()
    for argv, dest, want in [
        (["demo"], "out", Path("out/demo")),
        (["train", "--group", "basic"], "runs", Path("runs")),
        (["train", "--group", "basic"], "data", Path("data")),
    ]:
        assert Path(getattr(p.parse_args(argv), dest)) == want
    from serumrnn.server.match import DEFAULT_OUT
    from serumrnn.training.evaluate_models import RESULTS

    assert not DEFAULT_OUT.is_absolute() and not RESULTS.is_absolute()
    # train exports where match, serve and eval read models (not an output folder)
    assert p.parse_args(["train", "--group", "basic"]).models_dir is None


def test_data_info_on_a_missing_folder_is_one_clear_line(tmp_path, capsys):
    assert cli.main(["data", "info", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a data folder" in err[0] and "serumrnn data generate" in err[0]


def test_run_summaries_are_readable_lines(tmp_path, capsys):
    out = tmp_path / "d"
    assert (
        cli.main(
            [
                "data",
                "generate",
                "--group",
                "basic",
                "--per-combo",
                "1",
                "--limit",
                "1",
                "--workers",
                "1",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert cli.main(["data", "info", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r".*: wrote 1 of \d+ shards \(\d+ of \d+ clips\) in \d+\.\d s, \d+ clips/s", lines[0])
    assert re.fullmatch(
        r".*: basic_shapes, 1 clips per preset and effect subset, 1 of \d+ shards "
        r"complete, \d+ clips planned",
        lines[1],
    )


def test_verified_eval_logs_summaries_as_readable_lines():
    from serumrnn.training.verified_eval import readable

    line = readable({"verified": {"mse_pct": -80.61234567, "worse": 0}, "pairs": 50})
    assert line == "verified (mse_pct -80.6, worse 0), pairs 50"
