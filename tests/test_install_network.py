"""The producer install for real, per supported Python beyond the project's own 3.11: the
documented command (scripts/install.sh) into a fresh home folder, with every package
downloaded from the index, then the installed server started by its launcher, as the
device starts it, up to a ping and a first step ("test the install on this
machine with Python 3.12 and 3.13").

Marked ``network`` (deselected by default: several hundred MB per Python). The Pythons
are pyenv's (``~/.pyenv/versions/3.12*``), or ``SERUMRNN_TEST_PYTHON_3_12`` / ``_3_13``;
a missing one fails the test, it is never skipped.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from serumrnn.server.startup_bench import format_times, measure_startup

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.network


def python_for(version: str) -> str:
    named = os.environ.get("SERUMRNN_TEST_PYTHON_" + version.replace(".", "_"))
    found = (
        [named]
        if named
        else sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python")))
    )
    assert found, (
        f"no Python {version}: install it with pyenv or set SERUMRNN_TEST_PYTHON_{version.replace('.', '_')}"
    )
    return found[-1]


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_documented_install_serves_a_first_step(version, tmp_path):
    python = python_for(version)
    home = tmp_path / "user"  # a fresh user: no pip config, no folder of ours yet
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "SERUMRNN_PYTHON": python,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        # Wheels are fetched once per Python version across runs; nothing else is shared.
        "PIP_CACHE_DIR": os.path.expanduser("~/.cache/pip"),
    }
    for k in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "http_proxy", "https_proxy", "no_proxy"):
        if k in os.environ:
            env[k] = os.environ[k]
    t0 = time.monotonic()
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh")], capture_output=True, text=True, env=env, timeout=3000
    )
    install_s = time.monotonic() - t0
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = home / ".local" / "share" / "SerumRNN"
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"SerumRNN is installed in {folder} (Python {version}."), last
    launcher = json.loads((folder / "launcher.json").read_text())
    assert launcher["python"].startswith(version + ".") and Path(launcher["argv"][0]).is_file()
    venv_python = folder / "venv" / "bin" / "python"
    # The fallback and the terminal command both reach serve.
    for cmd in (
        [str(venv_python), "-m", "serumrnn.server.cli", "serve", "--help"],
        [str(folder / "bin" / "serumrnn"), "serve", "--help"],
    ):
        assert subprocess.run(cmd, capture_output=True, env=env, timeout=300).returncode == 0, cmd
    # the install compiled pYIN's numba kernels into the venv's cache, before any serve
    cached = list((folder / "venv").glob("lib/python*/site-packages/librosa/**/__pycache__/*.nbi"))
    assert cached, "no numba cache in the venv after the install"
    # the producer install has no TensorFlow: the server runs the models' NumPy exports
    no_tf = subprocess.run(
        [str(venv_python), "-c", "import tensorflow"], capture_output=True, text=True, env=env
    )
    assert no_tf.returncode == 1 and "No module named 'tensorflow'" in no_tf.stderr, no_tf.stderr[-500:]
    times = measure_startup(launcher["argv"], "basic_shapes", env=env, cwd=home, timeout_s=600)
    print(
        f"Python {launcher['python']}: install {install_s:.0f} s, venv {size_mb(folder / 'venv'):.0f} MB, "
        f"models {size_mb(folder / 'models'):.0f} MB; {format_times(times)}"
    )
    assert times.ping_s is not None and times.first_step_s is not None, times.log_tail
    assert times.exit_code == 0, times.log_tail
    assert [s["stage"] for _, s in times.stages][:2] == ["starting", "ready"]
