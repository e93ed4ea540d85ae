#!/usr/bin/env python3
"""Run mypy on the code as it is installed: ``serumrnn.server`` (server/),
``serumrnn.training`` (training/) and ``serumrnn.device`` (m4l_device/tooling/).

setuptools maps those names onto the folders (pyproject.toml's ``package-dir``) with an
import hook that mypy cannot follow, so this lays the same names out as symbolic links
in a temporary folder and checks them there, with the configuration in pyproject.toml.
All of ``serumrnn.server`` is checked strictly (pyproject.toml says which checks). The
tests are checked too (tests/*.py, as top-level modules): the scripted stub models
(tests/stub_models.py) strictly, as they implement the protocol the assistant takes
(``models.StepModels``), the test files with mypy's default settings (one other owner's
test file is left out there, with why). Exit status: mypy's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = {"server": ROOT / "server", "training": ROOT / "training", "device": ROOT / "m4l_device" / "tooling"}


def test_files() -> list[str]:
    """Every Python file under tests/ (the stub models among them, checked strictly by
    pyproject.toml's overrides; the tests themselves with the default settings)."""
    return [str(p) for p in sorted((ROOT / "tests").glob("*.py"))]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="serumrnn-typecheck-") as tmp:
        ns = Path(tmp) / "serumrnn"
        ns.mkdir()
        for name, folder in LAYOUT.items():
            (ns / name).symlink_to(folder, target_is_directory=True)
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            # the packages as folders (mypy takes files or packages, not both), named by
            # explicit_package_bases from this folder: serumrnn/server/x.py is serumrnn.server.x
            *[f"serumrnn/{name}" for name in LAYOUT],
            *test_files(),
        ]
        env = dict(os.environ, MYPYPATH=os.pathsep.join([tmp, str(ROOT / "tests")]))
        return subprocess.run(cmd, cwd=tmp, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
