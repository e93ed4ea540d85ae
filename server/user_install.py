"""The producer install's per-user folder, and the launcher the device starts the server with.

The install scripts (scripts/install.sh, scripts/install-windows.ps1) make a private venv
in this folder and install the package into it; then they run this module with that venv's
Python, which copies the models, writes ``bin/serumrnn`` for a terminal and, last,
``launcher.json``: the command line the device's node.script spawns. Its presence means the
install finished. The folder and the file's fields are a contract with the device
(docs/install.md), which looks for them at the same place.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Setting this names the folder on every system (the tests install into a temp folder).
HOME_ENV = "SERUMRNN_HOME"
LAUNCHER_FILE = "launcher.json"
#: Raised when a field changes meaning; the device refuses a format it does not know.
LAUNCHER_FORMAT = 1
#: The module the launcher runs: ``python -m serumrnn.server.cli serve`` needs no script on PATH.
CLI_MODULE = "serumrnn.server.cli"


def serumrnn_home(environ: Mapping[str, str] | None = None, system: str | None = None) -> Path:
    """The per-user folder: macOS ``~/Library/Application Support/SerumRNN``, Windows
    ``%LOCALAPPDATA%\\SerumRNN``, Linux ``$XDG_DATA_HOME/SerumRNN`` (else
    ``~/.local/share/SerumRNN``); ``$SERUMRNN_HOME`` overrides all three. Per user, so
    the install needs no administrator rights."""
    env = os.environ if environ is None else environ
    system = sys.platform if system is None else system
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV])
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    if system == "darwin":
        return home / "Library" / "Application Support" / "SerumRNN"
    if system == "win32":
        local = env.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "SerumRNN"
    data = env.get("XDG_DATA_HOME")
    return (Path(data) if data else home / ".local" / "share") / "SerumRNN"


def serve_argv(python: Path, models: Path, profile: str | None = None) -> list[str]:
    """The command line that starts the server; the device appends --port and --reply-port.
    ``profile``: the plugin profile every session renders on (``serve --profile``)."""
    argv = [str(python), "-m", CLI_MODULE, "serve", "--models", str(models)]
    if profile and os.path.isabs(profile):  # serve reads profile files only from folders it is given
        argv += ["--profiles", os.path.dirname(profile)]
    return argv + (["--profile", profile] if profile else [])


def checked_profile(profile: str) -> str:
    """``profile`` as the launcher should name it: a profile file's absolute path, or a
    shipped profile's name; a profile that does not parse is a one-line ``SystemExit``, before
    anything is installed. Why here: the device starts the server with it, and a server that
    cannot start says so only in its log."""
    from serumrnn.server.rack.profile_files import PROFILE_DIR, ProfileError, load_profile

    try:
        source = Path(load_profile(profile).source).resolve()  # the file it was read from
    except (ProfileError, OSError) as e:
        raise SystemExit(f"SERUMRNN_PROFILE / --profile: {e}") from None
    return profile if source == (PROFILE_DIR / f"{profile}.json").resolve() else str(source)


def _write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write through a temp file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_models(source: Path, home: Path) -> list[str]:
    """Copy every group with a manifest from ``source`` into ``home/models``, replacing an
    older copy whole (so a group removed upstream does not linger). Returns the groups."""
    groups = sorted(p.parent.name for p in source.glob("*/manifest.json"))
    if not groups:
        raise SystemExit(f"no models to install: {source} holds no <group>/manifest.json")
    dest, staging = home / "models", home / "models.new"
    shutil.rmtree(staging, ignore_errors=True)
    for g in groups:
        shutil.copytree(source / g, staging / g)
    old = home / "models.old"
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return groups


def terminal_command(python: Path, home: Path, system: str) -> Path:
    """``bin/serumrnn`` (``bin\\serumrnn.cmd`` on Windows): the venv's serumrnn, for a terminal."""
    if system == "win32":
        path = home / "bin" / "serumrnn.cmd"
        _write_atomic(path, f'@echo off\r\n"{python}" -m {CLI_MODULE} %*\r\n')
    else:
        path = home / "bin" / "serumrnn"
        quoted = str(python).replace("'", "'\\''")
        _write_atomic(
            path,
            f"#!/bin/sh\n# Written by the SerumRNN installer: the private environment's serumrnn.\n"
            f"exec '{quoted}' -m {CLI_MODULE} \"$@\"\n",
            mode=stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH,
        )
    return path


def launcher(python: Path, home: Path, source: Path, profile: str | None = None) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "format": LAUNCHER_FORMAT,
        "argv": serve_argv(python, home / "models", profile),
        "version": version("serumrnn"),
        "python": platform.python_version(),
        "installed_from": str(source),
        "home": str(home),
    }


def install(
    source: Path, home: Path, python: Path, system: str | None = None, profile: str | None = None
) -> dict[str, Any]:
    """Copy the models, write the terminal command, check the server imports, warm up what
    every server start needs once per machine, and write ``launcher.json`` last (with
    ``profile``, the server the device starts renders on that plugin profile). Returns
    the launcher."""
    system = sys.platform if system is None else system
    profile = checked_profile(profile) if profile else None
    groups = copy_models(source / "models", home)
    terminal_command(python, home, system)
    # The server's modules import here as they will at start-up (no TensorFlow yet).
    from serumrnn.server import osc_cli, osc_server, startup  # noqa: F401

    startup.find_groups(home / "models")
    # Once per install, not at the producer's first start: pYIN's numba kernels compile into
    # the venv's cache (a fresh venv's first warm-up took 14.0 s against 4.7 s cached, Python
    # 3.12 on 2 busy cores), and the first search step's pycma is byte-compiled.
    startup.warm_up_process()
    spec = launcher(python, home, source, profile)
    # The venv's console script too (the device's first proposal read this key).
    spec["serumrnn"] = str(python.parent / ("serumrnn.exe" if system == "win32" else "serumrnn"))
    spec["groups"] = groups
    _write_atomic(home / LAUNCHER_FILE, json.dumps(spec, indent=2) + "\n")
    return spec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m serumrnn.server.user_install",
        description="Finish a producer install (run by scripts/install.sh and install-windows.ps1).",
    )
    p.add_argument("--source", required=True, help="the checkout the package was installed from")
    p.add_argument("--home", default=None, help=f"the per-user folder (default: {serumrnn_home()})")
    p.add_argument(
        "--profile",
        default=os.environ.get("SERUMRNN_PROFILE") or None,
        help="the plugin profile the device's server renders every candidate on (serve --profile): "
        "a shipped name or a JSON file (default: $SERUMRNN_PROFILE; none: the open rack)",
    )
    a = p.parse_args(argv)
    home = Path(a.home) if a.home else serumrnn_home()
    spec = install(Path(a.source).resolve(), home, Path(sys.executable), profile=a.profile)
    cmd = home / "bin" / ("serumrnn.cmd" if sys.platform == "win32" else "serumrnn")
    print(
        f"SerumRNN is installed in {home} (Python {spec['python']}, groups {', '.join(spec['groups'])}). "
        f'The device starts the server by itself; in a terminal: "{cmd}" serve'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
