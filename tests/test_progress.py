"""Progress output: plain lines off a terminal, a tqdm bar on one, nothing when turned off."""

from __future__ import annotations

import io

import pytest

from serumrnn.server import progress


@pytest.fixture(autouse=True)
def _on():
    progress.set_enabled(True)
    yield
    progress.set_enabled(None)


def test_stage_and_step_lines(capsys):
    with progress.stage("loading models"):
        pass
    progress.step(2, 5, "distortion")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "loading models ..."
    assert err[1].startswith("loading models: done in ") and err[1].endswith(" s")
    assert err[2] == "step 2 of up to 5: distortion"


def test_a_failed_stage_says_nothing_more(capsys):
    with pytest.raises(RuntimeError), progress.stage("warming up"):
        raise RuntimeError("broken")
    assert capsys.readouterr().err.splitlines() == ["warming up ..."]


def test_plain_count_lines_off_a_terminal(capsys):
    assert list(progress.bar(range(20), desc="pairs")) == list(range(20))
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "pairs: 0/20"
    # about every tenth of the way (every 2 of 20), never the last twice
    assert [l.split()[1] for l in err[1:-1]] == [f"{n}/20" for n in range(2, 20, 2)]
    assert err[-1].startswith("pairs: 20/20 done in ")
    assert "\r" not in "".join(err)


def test_a_bar_on_a_terminal(monkeypatch):
    tty = io.StringIO()
    tty.isatty = lambda: True
    monkeypatch.setattr("sys.stderr", tty)
    assert sum(progress.bar(range(5), desc="renders")) == 10
    assert "renders" in tty.getvalue() and "5/5" in tty.getvalue() and "\r" in tty.getvalue()


def test_turned_off(capsys, monkeypatch):
    progress.set_enabled(None)
    monkeypatch.setenv("SERUMRNN_PROGRESS", "0")
    progress.say("hidden")
    assert list(progress.bar([1, 2])) == [1, 2]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", ["eval", "calibrate"])
def test_slow_commands_say_they_started_before_their_options_are_read(command, capsys, monkeypatch):
    """`eval` and `calibrate` take seconds before their first stage: their first line comes
    before anything is imported or parsed (here, before a bad option ends the command)."""
    from serumrnn.server import cli

    monkeypatch.setattr(cli, "_STARTED", [])
    with pytest.raises(SystemExit):
        cli.main([command, "--no-such-option"])
    assert capsys.readouterr().err.splitlines()[0] == f"serumrnn {command}: starting ..."
