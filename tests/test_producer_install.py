"""A producer's install (README, "Max for Live device"): pip alone, on macOS and Windows.

CI runs Linux, so this checks what can be checked from here: every package the producer
install pulls in exists as a wheel for macOS (Apple silicon and Intel) and Windows (so
pip needs no compiler and no system library there), and an editable install with
``--no-deps`` into a fresh venv runs ``serumrnn serve`` with no program on PATH but
the venv's own (no Debian tool: those are only for the test plugins and fixtures).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from serumrnn.server.startup_bench import measure_startup

ROOT = Path(__file__).resolve().parent.parent
#: pip platform tag (a wheel for that system or older qualifies), and the markers of that
#: system. macOS 12 is the oldest the producer install supports: current scipy wheels for
#: Apple silicon need it (dawdreamer's need macOS 11).
PLATFORMS = {
    "macos-arm64": (
        "macosx_12_0_arm64",
        {
            "sys_platform": "darwin",
            "platform_system": "Darwin",
            "os_name": "posix",
            "platform_machine": "arm64",
        },
    ),
    "macos-x86_64": (
        "macosx_12_0_x86_64",
        {
            "sys_platform": "darwin",
            "platform_system": "Darwin",
            "os_name": "posix",
            "platform_machine": "x86_64",
        },
    ),
    "windows": (
        "win_amd64",
        {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64"},
    ),
}
#: What the test suite and Debian set-up need, none of which a producer installs.
NOT_FOR_PRODUCERS = {"pytest", "pytest-timeout"}


def producer_requirements(markers: dict[str, str]) -> list[Requirement]:
    """The project's dependencies plus the ``producer`` extra, as they apply on a system
    with these markers (pip evaluates markers for the machine it runs on, not for
    ``--platform``, so they are evaluated here)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env: dict[str, Any] = {**default_environment(), **markers, "extra": "producer"}
    out = []
    for text in project["dependencies"] + project["optional-dependencies"]["producer"]:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(req)
    return out


def test_producer_install_brings_the_runtime_without_tensorflow_and_nothing_for_tests():
    """The server runs the models' NumPy exports, so no system installs TensorFlow (or
    Keras); the editable-install test below serves a first step where it cannot be imported."""
    for name, (_, markers) in [*PLATFORMS.items(), ("linux", ("", {"sys_platform": "linux"}))]:
        names = {r.name for r in producer_requirements(markers)}
        assert not names & {"tensorflow", "tensorflow-cpu", "keras"}, name
        assert {"dawdreamer", "numpy", "python-osc", "soundfile", "librosa"} <= names, name
        assert not names & NOT_FOR_PRODUCERS, name


#: Every case needs the package index (network marker). The Pythons pyproject's requires-python admits; 3.11 (the project's own) runs by default,
#: the newer ones with the network tests (each resolution takes minutes).
PYTHONS = [
    "3.11",
    pytest.param("3.12", marks=pytest.mark.network),
    pytest.param("3.13", marks=pytest.mark.network),
]


def test_requires_python_admits_exactly_the_tested_pythons():
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    tested = ["3.11", "3.12", "3.13"]
    assert [v for v in ["3.10", *tested, "3.14"] if f"{v}.0" in spec] == tested


@pytest.mark.network
@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("system", sorted(PLATFORMS))
def test_every_producer_dependency_is_a_wheel_for(system, python, tmp_path):
    """pip resolves the producer install for that system from wheels only (needs the
    package index, as ``make test``'s own set-up does)."""
    tag, markers = PLATFORMS[system]
    report = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--quiet",
        "--ignore-installed",
        "--only-binary=:all:",
        "--platform",
        tag,
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--target",
        str(tmp_path / "t"),
        "--report",
        str(report),
        *[str(r) for r in producer_requirements(markers)],
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"no wheels for {system}: "
        + "\n".join(l for l in proc.stderr.splitlines() if "WARNING" not in l)[-3000:]
    )
    installs = json.loads(report.read_text())["install"]
    files = {i["metadata"]["name"].lower(): i["download_info"]["url"].rsplit("/", 1)[1] for i in installs}
    assert all(f.endswith(".whl") for f in files.values()), files
    assert {"dawdreamer", "numpy", "librosa", "scipy"} <= set(files) and "tensorflow" not in files
    assert tag.split("_")[0] in files["dawdreamer"]
    assert f"cp{python.replace('.', '')}" in files["dawdreamer"], files["dawdreamer"]
    print(f"{system}, Python {python}: {len(files)} wheels, dawdreamer {files['dawdreamer']}")


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_editable_install_with_no_deps_serves_a_step_with_no_system_program_and_no_tensorflow(tmp_path):
    """``pip install --no-deps -e .`` into a fresh venv; the dependencies come from this
    test run's environment (as pip would have installed them), PATH holds only the
    venv's bin, and ``import tensorflow`` / ``import keras`` fail in the venv (as where the
    producer install never put them): ``serumrnn serve`` loads the shipped models,
    answers a ping and gives a first step."""
    from serumrnn.server.osc_cli import OscClient

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # every site folder of this run (a venv layered on another lists both)
    deps = [sysconfig.get_paths()["purelib"]] + [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "_producer_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    # this environment has TensorFlow (the ml extra); the producer's has not: hide it
    Path(site, "_no_tensorflow.pth").write_text(
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
    )
    # the build backend too comes from this environment (pyproject needs a newer setuptools
    # than the one a fresh venv carries, and this install builds offline)
    subprocess.run([str(py), "-m", "pip", "uninstall", "-y", "-q", "setuptools"], check=True, timeout=300)
    subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "-e",
            str(ROOT),
        ],
        check=True,
        timeout=600,
        cwd=tmp_path,
    )
    env = {"PATH": str(bindir), "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for tool in ("sox", "node", "npm", "apt-get", "dpkg", "oscsend"):
        assert shutil.which(tool, path=env["PATH"]) is None, tool
    exe = bindir / "serumrnn"
    assert exe.is_file(), "the console script"
    port = _free_udp_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", "--port", str(port), "--reply-port", "0", "--groups", "basic"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 240
        while "ready: listening" not in log.read_text():
            assert proc.poll() is None, "serve stopped:\n" + log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no ready in 240 s:\n" + log.read_text()[-3000:]
            time.sleep(0.5)
        with OscClient(("127.0.0.1", port), timeout=30.0) as c:
            pong = c.request("ping", 0)
        assert pong[0].address == "/serumrnn/pong" and "basic_shapes" in pong[0].args[2]
    finally:
        proc.terminate()
        proc.wait(30)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    no_tf = subprocess.run([str(py), "-c", "import tensorflow"], env=env, capture_output=True, text=True)
    assert no_tf.returncode == 1 and "ModuleNotFoundError" in no_tf.stderr
    t = measure_startup(
        [str(exe), "serve"], "basic_shapes", extra=["--preload", "none"], env=env, cwd=tmp_path
    )
    assert t.first_step_s is not None, t.log_tail  # a step reply, not an error
