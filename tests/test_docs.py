"""The README and docs against the code and the measured JSON: the quickstart's commands
exist and parse, every link and picture is there, generated tables and figures match the
committed JSON, the README stays a front door, and no tracker numbers."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
from pathlib import Path

import pytest

from serumrnn.server import cli
from serumrnn.training import doc_figures as D
from serumrnn.training import result_figures as R

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
#: Pictures of sounds and screens, not of result data (so no data hash): what draws each.
PICTURES = {
    "docs/match-report.png": "headless Chromium's screenshot of `make demo`'s report",
    "docs/device-panel.png": "`serumrnn device panel`, from the patcher (tests/test_device.py)",
    "docs/results/basic_shapes/figure1_progression.png": "`serumrnn eval --figure1-only`: spectrograms",
    "docs/results/advanced_shapes/figure1_progression.png": "`serumrnn eval --figure1-only`: spectrograms",
    "docs/results/advanced_modulating_shapes/figure1_progression.png": "`serumrnn eval --figure1-only`",
}
README_MAX_LINES = 250


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|bash)?\n(.*?)```", text, re.S)


def _serumrnn_commands(text: str) -> list[str]:
    """Every `serumrnn ...` command a reader is told to run (code-block lines)."""
    cmds = []
    for block in _code_blocks(text):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"(?:\.venv/bin/)?serumrnn(?:\s+(.*))?$", line)
            if m:
                cmds.append((m.group(1) or "").strip())
    return cmds


def _serumrnn_mentions(text: str) -> list[str]:
    """Inline `serumrnn <command> ...` in the prose: the command named must exist."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [m.strip() for m in re.findall(r"`(?:\.venv/bin/)?serumrnn((?: [^`]*)?)`", prose)]


def test_every_command_the_readme_shows_exists_and_parses(monkeypatch, capsys):
    cmds = _serumrnn_commands(README.read_text())
    assert len(cmds) >= 5, cmds  # the quickstart shows serve, match (several), presets, ...
    parser = cli.build_parser()
    for cmd in cmds:
        argv = shlex.split(cmd.replace("<command>", "match"))
        if not argv or argv[-1] == "--help":
            continue  # `serumrnn` alone prints help; `--help` always parses
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"the README shows `serumrnn {cmd}`, which does not parse: {capsys.readouterr().err}")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for mention in _serumrnn_mentions(README.read_text()):
        words = mention.split()
        if words and not words[0].startswith("<"):
            assert words[0] in sub.choices, f"the README names `serumrnn {mention}`: no such command"


def test_the_quickstart_check_can_fail():
    parser = cli.build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(shlex.split("match a.wav b.wav --loop sideways"))
    text = "```sh\n.venv/bin/serumrnn match a b  # c\n```\nthen `serumrnn presets`"
    assert _serumrnn_commands(text) == ["match a b"] and _serumrnn_mentions(text) == ["presets"]


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, len(lines)
    first_block = _code_blocks("\n".join(lines[:12]))[0]
    targets = [l.split()[1] for l in first_block.splitlines() if l.startswith("make ")]
    assert targets == ["demo", "test"]
    makefile = (ROOT / "Makefile").read_text()
    for t in targets:
        assert re.search(rf"^{t}:", makefile, re.M), t


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_and_picture_exists(doc):
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            missing.append(target)
    assert missing == [], f"{doc.name} links to files that are not here: {missing}"


def test_every_picture_is_data_checked_or_a_known_screen():
    figures = {p.as_posix() for p in R.figures(ROOT / R.RESULTS)}
    for doc in DOCS:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", doc.read_text()):
            rel = (doc.parent / target).resolve().relative_to(ROOT).as_posix()
            assert (ROOT / rel).as_posix() in figures or rel in PICTURES, f"{doc.name}: {rel}"


def test_figures_are_drawn_from_the_committed_json():
    """Each data figure carries the hash of the data it shows: redraw with `serumrnn results`."""
    figures = R.figures(ROOT / R.RESULTS)
    assert any(p.name == "table4.png" for p in figures) and any(p.name == "loops.png" for p in figures)
    stale = [
        p.relative_to(ROOT).as_posix()
        for p, (data, _) in figures.items()
        if not p.is_file() or R.png_data_hash(p) != R.data_hash(data)
    ]
    assert stale == [], "figures out of date with their JSON: run `serumrnn results`"


@pytest.mark.parametrize("doc", R.doc_files(ROOT / R.RESULTS), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_generated_tables_match_the_json(doc):
    """Every generated table, JSON table and figure span shows what its JSON holds."""
    systems, research = R.load(ROOT / R.RESULTS)
    text = doc.read_text()
    filled = R.fill(text, systems, research, ROOT / R.RESULTS)
    assert filled == text, f"{doc.name}'s tables or figures drifted from the JSON: run `serumrnn results`"


def test_the_results_pages_have_generated_tables():
    for doc in (README, ROOT / "docs" / "results.md", ROOT / "docs" / "developer-guide.md"):
        assert "<!-- results:" in doc.read_text(), doc.name


#: Every page whose tables and figures come from docs/results/ (README.md and docs/*.md): each
#: measured figure in it is a span or a generated table.
FIGURES_FROM_JSON = [p.relative_to(ROOT).as_posix() for p in R.doc_files(ROOT / R.RESULTS)]


@pytest.mark.parametrize("page", FIGURES_FROM_JSON)
def test_no_figure_is_typed_by_hand(page):
    """A number with a unit, a ratio, a count out of a total, a signed change, a count of
    measured things or a numeric table cell, outside a span, a generated table or code, is a
    figure typed by hand: tie it to its JSON (training/doc_figures.py), or write a constant
    as code and a count the spec fixes as a word."""
    assert D.unmarked((ROOT / page).read_text()) == []


def test_a_drifted_figure_span_is_caught():
    text = (ROOT / "docs" / "results.md").read_text()
    span = re.search(r"(<!-- fig:[^>]*? pct -->)([^<]*)(<!-- /fig -->)", text)
    assert span is not None
    tampered = text.replace(span.group(0), span.group(1) + "−1.0 %" + span.group(3), 1)
    systems, research = R.load(ROOT / R.RESULTS)
    assert tampered != text and R.fill(tampered, systems, research, ROOT / R.RESULTS) == text


def test_a_drifted_table_is_caught():
    systems, research = R.load(ROOT / R.RESULTS)
    text = README.read_text()
    tampered = text.replace("−77.8 %", "−70.0 %", 1)
    assert tampered != text and R.fill(tampered, systems, research) != tampered


#: How a tracker number reads ("issue N", "issue #N", "issues N"): the code and the docs
#: say what a thing does, not which ticket asked for it.
TRACKER = re.compile(r"(?i)\bissue[- ]?#?\d+|\bissues? \d+")


def test_no_tracker_numbers_in_the_docs():
    for doc in DOCS:
        hits = TRACKER.findall(doc.read_text())
        assert hits == [], f"{doc.name}: {hits}"


def test_no_tracker_numbers_in_the_code():
    code = [p for d in ("server", "training", "scripts", "tests") for p in (ROOT / d).rglob("*.py")]
    code += [p for p in (ROOT / "m4l_device").rglob("*.js") if "node_modules" not in p.parts]
    n = 13  # the check itself can fail: a number written here would be found
    assert len(code) > 100 and TRACKER.findall(f"as issue {n} asked") == [f"issue {n}"]
    hits = {p.relative_to(ROOT).as_posix(): TRACKER.findall(p.read_text()) for p in code}
    assert {p: h for p, h in hits.items() if h} == {}


def test_make_demo_needs_no_root_and_make_test_sets_up_the_system():
    """`make demo` runs pip only; the Debian packages (plugins, node, Chromium) stay with `make test`."""
    import subprocess

    def plan(target: str) -> str:
        # A make that runs these tests (CI's `make test`) passes MAKELEVEL and MAKEFLAGS down;
        # without them, and without directory lines, the plan is what a user's `make` prints.
        env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
        r = subprocess.run(
            ["make", "--no-print-directory", "-n", "-B", target],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    demo, test = plan("demo"), plan("test")
    assert not re.search(r"sudo|apt-get|setup-system|npm", demo), demo
    assert "pip install" in demo and "serumrnn demo" in demo
    assert "[ml" not in demo  # the demo runs the NumPy exports: no TensorFlow to download
    assert demo.splitlines()[0].startswith('echo "make demo:')  # the first line, before any set-up
    assert "setup-system.sh" in test and "npm ci" in test
    assert "chromium" in (ROOT / "scripts" / "setup-system.sh").read_text()


def test_serumrnn_alone_prints_the_commands(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: serumrnn") and "match" in out and "demo" in out


@pytest.mark.parametrize(
    "record", sorted((ROOT / R.RESULTS / "history").glob("*.json")), ids=lambda p: p.name
)
def test_every_history_record_names_its_command_or_says_why_not(record):
    """A figure recorded after the fact names the command that measured it; where none was
    recorded, ``measured_by_unknown`` says what is known instead. Never a silent null."""
    data = json.loads(record.read_text())
    how = {k: data.get(k) for k in ("measured_by", "measured_by_unknown") if k in data}
    assert len(how) == 1, f"{record.name}: give measured_by or measured_by_unknown, not {sorted(how)}"
    ((key, value),) = how.items()
    assert isinstance(value, str) and value.strip(), f"{record.name}: {key} is empty"
    assert isinstance(data.get("date"), str) and isinstance(data.get("note"), str), record.name
