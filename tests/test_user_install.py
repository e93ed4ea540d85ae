"""The producer install's per-user folder and launcher (server/user_install.py), and the
install scripts' structure. The real install, with downloads, per Python version, is
tests/test_install_network.py (marker ``network``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from serumrnn.server import user_install as U

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


@pytest.mark.parametrize(
    "system, env, expected",
    [
        ("darwin", {"HOME": "/Users/ann"}, "/Users/ann/Library/Application Support/SerumRNN"),
        (
            "win32",
            {"HOME": "/h", "LOCALAPPDATA": "C:/Users/ann/AppData/Local"},
            "C:/Users/ann/AppData/Local/SerumRNN",
        ),
        ("win32", {"HOME": "/h"}, "/h/AppData/Local/SerumRNN"),
        ("linux", {"HOME": "/home/ann"}, "/home/ann/.local/share/SerumRNN"),
        ("linux", {"HOME": "/home/ann", "XDG_DATA_HOME": "/data"}, "/data/SerumRNN"),
        ("darwin", {"HOME": "/Users/ann", "SERUMRNN_HOME": "/tmp/x"}, "/tmp/x"),
    ],
)
def test_the_per_user_folder_of_each_system(system, env, expected):
    assert U.serumrnn_home(env, system) == Path(expected)


def test_install_copies_the_models_and_writes_a_launcher_that_serves(tmp_path):
    home = tmp_path / "Application Support" / "SerumRNN"  # a space, as on macOS
    spec = U.install(ROOT, home, Path(sys.executable), system="linux")
    launcher = json.loads((home / "launcher.json").read_text())
    assert launcher == spec and launcher["format"] == U.LAUNCHER_FORMAT
    assert launcher["argv"] == [
        sys.executable,
        "-m",
        "serumrnn.server.cli",
        "serve",
        "--models",
        str(home / "models"),
    ]
    shipped = sorted(p.parent.name for p in (ROOT / "models").glob("*/manifest.json"))
    assert launcher["groups"] == shipped and shipped
    for g in shipped:
        for f in (ROOT / "models" / g).iterdir():
            assert (home / "models" / g / f.name).read_bytes() == f.read_bytes()
    assert launcher["serumrnn"] == str(Path(sys.executable).parent / "serumrnn")
    # The launcher's command line and the terminal command both reach serve.
    help_text = subprocess.run(
        [*launcher["argv"], "--help"], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    assert "--exit-on-stdin-eof" in help_text and "--preload" in help_text
    term = home / "bin" / "serumrnn"
    assert os.access(term, os.X_OK)
    done = subprocess.run([str(term), "serve", "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "--models" in done.stdout


def test_a_second_install_replaces_the_models_whole(tmp_path):
    home = tmp_path / "home"
    (home / "models" / "old_group").mkdir(parents=True)
    U.install(ROOT, home, Path(sys.executable), system="linux")
    assert not (home / "models" / "old_group").exists()
    assert not (home / "models.new").exists() and not (home / "models.old").exists()


def test_no_models_to_install_is_an_error_and_writes_no_launcher(tmp_path):
    (tmp_path / "src" / "models").mkdir(parents=True)
    with pytest.raises(SystemExit, match="no models to install"):
        U.install(tmp_path / "src", tmp_path / "home", Path(sys.executable), system="linux")
    assert not (tmp_path / "home" / "launcher.json").exists()


def test_the_windows_terminal_command_runs_the_venv_python(tmp_path):
    py = Path("C:/Users/ann/AppData/Local/SerumRNN/venv/Scripts/python.exe")
    path = U.terminal_command(py, tmp_path, "win32")
    assert path.name == "serumrnn.cmd"
    assert path.read_bytes() == f'@echo off\r\n"{py}" -m serumrnn.server.cli %*\r\n'.encode()


def test_the_shell_install_scripts_pass_shellcheck():
    """shellcheck comes from scripts/setup-system.sh (Debian's package)."""
    assert shutil.which("shellcheck"), "shellcheck is missing: run scripts/setup-system.sh"
    files = [SCRIPTS / "install.sh", SCRIPTS / "install-macos.command"]
    done = subprocess.run(["shellcheck", *map(str, files)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    assert all(os.access(f, os.X_OK) for f in files)


def test_install_sh_refuses_an_unsupported_python_with_one_instruction(tmp_path):
    env = {**os.environ, "SERUMRNN_HOME": str(tmp_path / "home"), "SERUMRNN_PYTHON": "/bin/false"}
    done = subprocess.run(["bash", str(SCRIPTS / "install.sh")], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "SerumRNN install FAILED: SERUMRNN_PYTHON=/bin/false is not Python 3.11, 3.12 or 3.13"
    )
    assert not (tmp_path / "home").exists()


def test_the_windows_scripts_name_the_same_steps_as_the_shell_one():
    """No PowerShell here: the structure is checked, the run is for a Windows machine
    (docs/install.md says so)."""
    ps1 = (SCRIPTS / "install-windows.ps1").read_text()
    bat = (SCRIPTS / "install-windows.bat").read_bytes()
    for step in (
        "-m venv",
        "-m pip install",
        "[producer]",
        "-m serumrnn.server.user_install",
        "LOCALAPPDATA",
    ):
        assert step in ps1, step
    for version in ("3.13", "3.12", "3.11"):
        assert f"'py', '-{version}'" in ps1
    assert b"\r\n" in bat and b"install-windows.ps1" in bat and b"-ExecutionPolicy Bypass" in bat
    assert ps1.count("{") == ps1.count("}") and ps1.count("(") == ps1.count(")")


def test_a_profile_goes_into_the_launcher_and_a_broken_one_installs_nothing(tmp_path, monkeypatch):
    """``SERUMRNN_PROFILE`` (or ``--profile``): the server the device starts renders on the
    producer's plugins; a profile that does not parse stops the install before it writes."""
    from serumrnn.server import startup
    from serumrnn.server.rack.profile_files import PROFILE_DIR

    monkeypatch.setattr(startup, "warm_up_process", lambda: None)  # tested above
    mine = tmp_path / "my profiles" / "mine.json"
    mine.parent.mkdir()
    shutil.copy(PROFILE_DIR / "debian_test.json", mine)
    monkeypatch.chdir(mine.parent)
    spec = U.install(ROOT, tmp_path / "a", Path(sys.executable), system="linux", profile="mine.json")
    # absolute, in a folder serve may read: the device starts the server elsewhere
    assert spec["argv"][-4:] == ["--profiles", str(mine.parent), "--profile", str(mine)]
    monkeypatch.setenv("SERUMRNN_PROFILE", "debian_test")
    assert U.main(["--source", str(ROOT), "--home", str(tmp_path / "b")]) == 0
    launcher = json.loads((tmp_path / "b" / "launcher.json").read_text())
    assert launcher["argv"][-2:] == ["--profile", "debian_test"]  # a shipped profile by name
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(SystemExit, match=r"--profile: profile .*broken\.json: not valid JSON"):
        U.install(
            ROOT, tmp_path / "c", Path(sys.executable), system="linux", profile=str(tmp_path / "broken.json")
        )
    assert not (tmp_path / "c").exists()
