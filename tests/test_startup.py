"""``serve``'s start-up: pings before any group loads, each group loaded once on first use or
by the background preload, progress lines the device's launcher reads, and exit codes
(docs/install.md). Scripted stub models stand in for the trained ones where a load must be
held or made to fail every time."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from stub_models import StubModels

from serumrnn.server import cli, osc
from serumrnn.server.models import ModelError
from serumrnn.server.osc_cli import OscClient
from serumrnn.server.startup import PROGRESS_PREFIX, LazyGroups, PendingRack, Progress, group_states

P = osc.PREFIX
GROUPS = ["basic_shapes", "advanced_shapes", "advanced_modulating_shapes"]


class HeldLoader:
    """A group loader that waits on ``release`` and records what it loaded, in order."""

    def __init__(self, fail: dict[str, ModelError] | None = None):
        self.release = threading.Event()
        self.started = threading.Event()
        self.order: list[str] = []
        self.fail = fail or {}

    def __call__(self, group: str) -> StubModels:
        self.order.append(group)
        self.started.set()
        assert self.release.wait(60), "the test never released the load"
        if group in self.fail:
            raise self.fail[group]
        return StubModels(group=group)


def lines_of(stream: io.StringIO) -> list[dict]:
    text = stream.getvalue().splitlines()
    assert all(l.startswith(PROGRESS_PREFIX) for l in text), text
    return [json.loads(l[len(PROGRESS_PREFIX) :]) for l in text]


def wait_until(cond, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def lazy_server(rack):
    from serumrnn.server.osc_server import OscServer

    loader, out = HeldLoader(), io.StringIO()
    groups = LazyGroups(GROUPS, loader, Progress(out), preload=False)
    srv = OscServer(groups, "127.0.0.1", 0, 0, rack=rack, loop="paper").start()
    yield srv, groups, loader, out
    loader.release.set()
    groups.stop()
    srv.stop()


def code_of(reply: list[osc.Message]) -> str:
    assert reply, "no reply"
    return reply[-1].args[1] if reply[-1].address == f"{P}/error" else reply[-1].address


def test_ping_and_status_answer_while_no_group_is_loaded(lazy_server):
    srv, groups, loader, _ = lazy_server
    with OscClient(srv.address, timeout=10) as c:
        pong = c.request("ping", 0)
        assert pong[-1].address == f"{P}/pong" and pong[-1].args[2] == ",".join(GROUPS)
        st = c.request("status", 0)[-1]
        assert st.address == f"{P}/status/reply"
        assert (
            st.args[-1] == "basic_shapes=waiting,advanced_shapes=waiting,advanced_modulating_shapes=waiting"
        )
    assert loader.order == [] and sum(groups.loads.values()) == 0


def test_new_for_a_loading_group_is_answered_loading_at_once_and_the_group_loads_once(lazy_server):
    """Four clients ask for a group whose load is held: each is told `loading` at once (no
    worker waits), pings still answer, and once loaded every client's new succeeds."""
    srv, groups, loader, out = lazy_server
    clients = [OscClient(srv.address, timeout=10) for _ in range(4)]
    try:
        assert [code_of(c.request("new", "advanced", 0)) for c in clients] == ["loading"] * 4
        assert loader.started.wait(30)
        with OscClient(srv.address, timeout=10) as c:
            assert c.request("ping", 0)[-1].address == f"{P}/pong"
            assert "advanced_shapes=loading" in c.request("status", 0)[-1].args[-1]
            assert code_of(c.request("new", "advanced", 0)) == "loading"
        loader.release.set()
        wait_until(lambda: groups.state("advanced_shapes") == "ready")
        assert [code_of(c.request("new", "advanced", 0)) for c in clients] == [f"{P}/new/reply"] * 4
    finally:
        for c in clients:
            c.close()
    assert loader.order == ["advanced_shapes"] and groups.loads == {"advanced_shapes": 1}
    assert groups.state("basic_shapes") == "waiting"
    stages = [(l["stage"], l["group"]) for l in lines_of(out)]
    assert stages == [("group_loading", "advanced_shapes"), ("group_ready", "advanced_shapes")]


def test_a_group_that_fails_to_load_fails_every_new_and_is_not_loaded_again(rack):
    from serumrnn.server.osc_server import OscServer

    loader = HeldLoader({"basic_shapes": ModelError("checksum", "selector.keras does not match")})
    out = io.StringIO()
    loader.release.set()
    groups = LazyGroups(GROUPS[:2], loader, Progress(out)).start()
    wait_until(lambda: groups.states() == "basic_shapes=failed,advanced_shapes=ready")
    with OscServer(groups, "127.0.0.1", 0, 0, rack=rack, loop="paper") as srv:
        with OscClient(srv.address, timeout=30) as c:
            assert [code_of(c.request("new", "basic", 0)) for _ in range(2)] == ["checksum"] * 2
            assert code_of(c.request("new", "advanced", 0)) == f"{P}/new/reply"
            assert c.request("status", 0)[-1].args[-1] == "basic_shapes=failed,advanced_shapes=ready"
    assert groups.loads == {"basic_shapes": 1, "advanced_shapes": 1}
    failed = [l for l in lines_of(out) if l["stage"] == "group_failed"]
    assert [(l["group"], l["code"], l["message"]) for l in failed] == [
        ("basic_shapes", "checksum", "selector.keras does not match")
    ]


def test_preload_loads_every_group_in_order_and_a_requested_group_goes_first():
    loader = HeldLoader()
    groups = LazyGroups(GROUPS, loader).start()
    assert loader.started.wait(30) and loader.order == ["basic_shapes"]
    with pytest.raises(ModelError) as e:
        groups["advanced_modulating_shapes"]
    assert e.value.code == "loading" and "advanced_modulating_shapes=ready" in str(e.value)
    loader.release.set()
    got = groups.wait("advanced_modulating_shapes", timeout=30)
    wait_until(lambda: groups.states().count("=ready") == 3)
    groups.stop()
    assert loader.order == ["basic_shapes", "advanced_modulating_shapes", "advanced_shapes"]
    assert got.group == "advanced_modulating_shapes" and groups["advanced_modulating_shapes"] is got
    assert set(groups.loads.values()) == {1}


def test_membership_and_iteration_load_nothing():
    loader = HeldLoader()
    groups = LazyGroups(GROUPS, loader)
    assert "basic_shapes" in groups and "nope" not in groups and list(groups) == GROUPS and len(groups) == 3
    assert ",".join(groups) == ",".join(GROUPS) and loader.order == []
    with pytest.raises(KeyError):
        groups["nope"]
    assert group_states({"basic_shapes": object()}) == "basic_shapes=ready"


def test_a_render_waits_for_the_rack_made_after_start_up(rack):
    pending = PendingRack(rack.settings, wait_s=30)
    got: list = []
    t = threading.Thread(target=lambda: got.append(pending.dry("saw")))
    t.start()
    time.sleep(0.2)
    assert not got and t.is_alive()
    pending.fill(rack)
    t.join(30)
    assert got and got[0].shape == rack.dry("saw").shape
    from serumrnn.server.rack.render import RenderError

    with pytest.raises(RenderError, match="not ready within"):
        PendingRack(rack.settings, wait_s=0.05).dry("saw")


def test_progress_lines_are_one_json_object_each_with_stage_and_time():
    out = io.StringIO()
    progress = Progress(out, t0=time.monotonic() - 1.5)
    progress("ready", port=9870, groups=["basic_shapes"])
    (line,) = lines_of(out)
    assert line["stage"] == "ready" and line["port"] == 9870 and line["groups"] == ["basic_shapes"]
    assert 1.5 <= line["t"] < 60


# -- the real command: a child process, as the device starts it ------------------------------


def _serve(*args: str, stdin: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "serumrnn.server.cli", "serve", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _progress_of(stdout: str) -> list[dict]:
    return [
        json.loads(l[len(PROGRESS_PREFIX) :]) for l in stdout.splitlines() if l.startswith(PROGRESS_PREFIX)
    ]


def test_serve_answers_ping_before_loading_and_stops_with_code_0(tmp_path):
    """The shipped models with --preload none: ready, a pong and a status saying every
    group waits, then SIGTERM ends it with code 0 and a stopping line."""
    from serumrnn.server.startup_bench import free_udp_port

    port = free_udp_port()
    proc = _serve("--port", str(port), "--reply-port", "0", "--preload", "none")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert json.loads(first[len(PROGRESS_PREFIX) :])["stage"] == "starting"
        ready = json.loads(proc.stdout.readline()[len(PROGRESS_PREFIX) :])
        assert ready["stage"] == "ready" and ready["port"] == port and "basic_shapes" in ready["groups"]
        with OscClient(("127.0.0.1", port), timeout=30) as c:
            assert c.request("ping", 0)[-1].address == f"{P}/pong"
            states = c.request("status", 0)[-1].args[-1]
        assert states == ",".join(f"{g}=waiting" for g in ready["groups"])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert [l["stage"] for l in _progress_of(out)] == ["stopping"]
    assert "Traceback" not in err


def test_serve_exits_2_with_an_error_line_when_the_port_is_taken():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        proc = _serve("--port", str(s.getsockname()[1]))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-2000:]
    stages = _progress_of(out)
    assert [l["stage"] for l in stages] == ["starting", "error"] and stages[1]["code"] == "port_in_use"


def test_serve_exits_3_with_an_error_line_when_there_are_no_models(tmp_path):
    from serumrnn.server.startup_bench import free_udp_port

    proc = _serve("--port", str(free_udp_port()), "--models", str(tmp_path))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-2000:]
    stages = _progress_of(out)
    assert [l["stage"] for l in stages] == ["starting", "error"] and stages[1]["code"] == "missing_group"
    assert str(tmp_path) in err


def test_the_installed_models_are_the_default_when_the_checkout_has_none(tmp_path, monkeypatch):
    from serumrnn.server import models, startup

    home = tmp_path / "home"
    (home / "models" / "basic_shapes").mkdir(parents=True)
    (home / "models" / "basic_shapes" / "manifest.json").write_text("{}")
    monkeypatch.setenv("SERUMRNN_HOME", str(home))
    assert startup.default_models_dir() == models.DEFAULT_MODELS_DIR  # the checkout has models
    monkeypatch.setattr(models, "DEFAULT_MODELS_DIR", tmp_path / "no-models")
    assert startup.default_models_dir() == home / "models"
    assert startup.find_groups() == ["basic_shapes"]


def test_serve_stops_when_its_stdin_closes_with_exit_on_stdin_eof():
    """The device keeps the server's stdin open; a Max that dies closes it."""
    from serumrnn.server.startup_bench import free_udp_port

    proc = _serve(
        "--port", str(free_udp_port()), "--preload", "none", "--exit-on-stdin-eof", stdin=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    for stage in ("starting", "ready"):
        assert json.loads(proc.stdout.readline()[len(PROGRESS_PREFIX) :])["stage"] == stage
    proc.stdin.close()
    proc.wait(60)
    out, err = proc.stdout.read(), proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, err[-2000:]
    assert [(l["stage"], l["reason"]) for l in _progress_of(out)] == [("stopping", "stdin_closed")]


def test_serve_imports_no_training_command():
    """The device starts serve on every Live start: its parser alone is built."""
    code = (
        "import sys\nfrom serumrnn.server import cli\ntry:\n    cli.main(['serve', '--help'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('serumrnn.training', 'serumrnn.device'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--exit-on-stdin-eof" in done.stdout and done.stdout.strip().endswith("[]")


def test_bench_startup_writes_its_runs_and_medians_with_the_command(tiny_run, tmp_path, capsys):
    """Two fresh servers of the tiny models, timed from outside: the JSON the docs quote."""
    out = tmp_path / "startup.json"
    code = cli.main(
        [
            "bench-startup",
            "--group",
            "basic_shapes",
            "--models",
            str(tiny_run[0] / "models"),
            "--preload",
            "none",
            "--runs",
            "2",
            "--json",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr()
    r = json.loads(out.read_text())
    assert len(r["runs"]) == 2 and r["measured_by"].endswith("--preload none --runs 2")
    for run in r["runs"]:
        assert 0 < run["ping_s"] < run["first_step_s"]
    firsts = sorted(run["first_step_s"] for run in r["runs"])
    assert (
        r["median"]["first_step_s"] == pytest.approx(sum(firsts) / 2)
        and r["max"]["first_step_s"] == firsts[1]
    )


def test_bench_startup_refuses_zero_runs(capsys):
    assert cli.main(["bench-startup", "--runs", "0"]) == 2
    assert "--runs must be at least 1" in capsys.readouterr().err


def test_after_the_warm_ups_a_first_search_step_imports_no_heavy_library():
    """``serve``'s warm-ups load what a group's first step needs (pYIN's scipy and numba,
    pycma for the knob refinement), so the first step pays none of it; pycma comes without
    matplotlib (about a second of imports no serve request uses); and no TensorFlow."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from serumrnn.server import spec\n"
        "from serumrnn.server.assistant import Assistant\n"
        "from serumrnn.server.rack import OpenRack\n"
        "from serumrnn.server.sampling import sample_chain\n"
        "from serumrnn.server.startup import load_and_warm\n"
        "gm = load_and_warm('basic_shapes')\n"
        "print('warm', 'cma' in sys.modules, 'matplotlib' in sys.modules)\n"
        "rack = OpenRack(gm.render_settings)\n"
        "target = rack.render(sample_chain(['eq', 'reverb'], np.random.default_rng(2)), 'saw')\n"
        "before = set(sys.modules)\n"
        "r = Assistant(gm, target, renderer=rack, preset='saw').step()\n"
        "heavy = ('cma', 'scipy', 'numba', 'librosa', 'matplotlib', 'tensorflow', 'keras', 'sklearn')\n"
        "print('step', r.loop, sorted(m for m in set(sys.modules) - before if m.split('.')[0] in heavy))\n"
        "import matplotlib.pyplot\n"
        "print('pyplot', matplotlib.pyplot.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "warm True False" in lines
    assert "step search []" in lines
    assert "pyplot matplotlib.pyplot" in lines  # hiding it for pycma left it importable
