"""``serumrnn bench-startup``: how soon a freshly started ``serumrnn serve`` answers a ping,
and how soon it gives the first step of a group, measured from outside as the device sees
it (the start-up goals: a ping within 3 s, a group's first step within 15 s).

It starts the server as a child process (the installed launcher's command line, or this
Python's ``-m serumrnn.server.cli serve``), pings every 100 ms from the moment it is
spawned, then opens a session of the group, sets a target and runs one step, and records
the server's own progress lines on the way. The install test uses :func:`measure_startup`
too, on the fresh venv's server.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from serumrnn.server import osc
from serumrnn.server.startup import PROGRESS_PREFIX


@dataclass
class StartupTimes:
    """Seconds from the spawn of ``serve``: its first pong, and the first step's reply
    (None when it never came); ``stages``: each progress line with its arrival time."""

    ping_s: float | None = None
    first_step_s: float | None = None
    group: str = ""
    step_effect: str = ""
    stages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    exit_code: int | None = None
    log_tail: str = ""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve_command(python: str | None = None) -> list[str]:
    """``serve`` run by ``python`` (default this one) as a module: no script on PATH needed."""
    return [python or sys.executable, "-m", "serumrnn.server.cli", "serve"]


def measure_startup(
    command: Sequence[str],
    group: str = "basic_shapes",
    *,
    extra: Sequence[str] = (),
    timeout_s: float = 300.0,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
) -> StartupTimes:
    """Start ``command`` (a ``serve`` command line; --port and --reply-port are added),
    then time the first pong and the first step of ``group``; stops the server after."""
    from serumrnn.server.audio_io import write_wav
    from serumrnn.server.osc_bench import note_audio as _note_audio
    from serumrnn.server.osc_client import OscClient

    port = free_udp_port()
    argv = [*command, "--port", str(port), "--reply-port", "0", *extra]
    out = StartupTimes(group=group)
    log_lines: list[str] = []
    tmp = tempfile.TemporaryDirectory(prefix="serumrnn-startup-")
    target, capture = Path(tmp.name) / "target.wav", Path(tmp.name) / "capture.wav"
    write_wav(target, _note_audio(drive=6.0))
    write_wav(capture, _note_audio())
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, bufsize=1
    )

    def read(stream: IO[str]) -> None:  # stdout and stderr apart, as the device reads them
        for line in stream:
            if line.startswith(PROGRESS_PREFIX):
                out.stages.append((time.monotonic() - t0, json.loads(line[len(PROGRESS_PREFIX) :])))
            log_lines.append(line)

    readers = [threading.Thread(target=read, args=(s,), daemon=True) for s in (proc.stdout, proc.stderr)]
    for r in readers:
        r.start()
    deadline = t0 + timeout_s
    try:
        with OscClient(("127.0.0.1", port), timeout=0.1) as c:
            while out.ping_s is None and time.monotonic() < deadline and proc.poll() is None:
                pong = c.request("ping", 0)
                if pong and pong[-1].address == f"{osc.PREFIX}/pong":
                    out.ping_s = time.monotonic() - t0
            if out.ping_s is not None:
                _time_first_step(c, group, (target, capture), deadline, t0, out, log_lines)
    finally:
        proc.terminate()
        try:
            out.exit_code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out.exit_code = proc.wait(30)
        for r in readers:
            r.join(10)
        tmp.cleanup()
    out.log_tail = "".join(log_lines)[-4000:]
    return out


def format_times(t: StartupTimes) -> str:
    ping = "none" if t.ping_s is None else f"{t.ping_s:.2f} s"
    step = "none" if t.first_step_s is None else f"{t.first_step_s:.2f} s"
    return f"ping after start: {ping}; first step of group {t.group}: {step}"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "bench-startup",
        help="time a fresh serve: its first pong and a group's first step",
        description="Start `serumrnn serve`, then print 'ping after start: X s; first step of group G: Y s'.",
    )
    s.add_argument("--group", default="basic_shapes", help="the group whose first step is timed")
    s.add_argument(
        "--launcher",
        default=None,
        metavar="JSON",
        help="start the server with an install's launcher.json (default: this Python's serve)",
    )
    s.add_argument("--preload", choices=("all", "none"), default="all", help="serve's --preload")
    s.add_argument("--models", default=None, help="serve's --models")
    s.add_argument("--stages", action="store_true", help="also print each progress line's arrival time")
    s.add_argument("--runs", type=int, default=1, help="fresh servers to time one after another")
    s.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="also write every run, with the machine's load average before it, to PATH",
    )
    s.set_defaults(func=_cmd_bench_startup)


def _cmd_bench_startup(a: argparse.Namespace) -> int:
    import os

    if a.runs < 1:
        print("serumrnn bench-startup: --runs must be at least 1", file=sys.stderr)
        return 2
    command = json.loads(Path(a.launcher).read_text())["argv"] if a.launcher else serve_command()
    extra = ["--preload", a.preload] + (["--models", a.models] if a.models else [])
    runs = []
    for _ in range(a.runs):
        load = os.getloadavg()[0]  # a busy machine starts slower: the figure says how busy
        t = measure_startup(command, a.group, extra=extra)
        if a.stages:
            for at, st in t.stages:
                fields = " ".join(f"{k}={v}" for k, v in st.items() if k not in ("stage", "t"))
                print(f"  {at:6.2f} s  {st['stage']} {fields}")
        print(f"{format_times(t)}  (load average before: {load:.2f})")
        if t.ping_s is None or t.first_step_s is None:
            print(t.log_tail, file=sys.stderr)
            return 1
        runs.append({"ping_s": t.ping_s, "first_step_s": t.first_step_s, "load_before": load})
    if a.json:
        _write_runs(Path(a.json), a, runs)
    return 0


def _write_runs(path: Path, a: argparse.Namespace, runs: list[dict[str, float]]) -> None:
    """The runs and their medians, with the command that measured them."""
    import os
    import statistics

    record = {
        "measured_by": f"serumrnn bench-startup --group {a.group} --preload {a.preload} --runs {a.runs}",
        "cpu_count": os.cpu_count(),
        "group": a.group,
        "preload": a.preload,
        "runs": runs,
        "median": {
            k: statistics.median(r[k] for r in runs) for k in ("ping_s", "first_step_s", "load_before")
        },
        "max": {k: max(r[k] for r in runs) for k in ("ping_s", "first_step_s")},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


def _time_first_step(
    c: Any,
    group: str,
    wavs: tuple[Path, Path],
    deadline: float,
    t0: float,
    out: StartupTimes,
    log_lines: list[str],
) -> None:
    """Open a session on ``group`` (asking again while it is loading, as the device does),
    then time its first step from ``t0``; what went wrong goes to ``log_lines``."""

    def left() -> float:
        return max(0.1, deadline - time.monotonic())

    new = c.request("new", group, 0, timeout=left())
    while new and new[-1].args[1:2] == ("loading",) and time.monotonic() < deadline:
        time.sleep(0.2)
        new = c.request("new", group, 0, timeout=left())
    if not (new and new[-1].address == f"{osc.PREFIX}/new/reply"):
        log_lines.append(f"new: {new}\n")
        return
    sid = new[-1].args[1]
    c.request("target", sid, str(wavs[0]), timeout=left())
    step = c.request("step", sid, str(wavs[1]), timeout=left())
    if step and step[-1].address != f"{osc.PREFIX}/error":
        out.first_step_s = time.monotonic() - t0
        out.step_effect = str(step[-1].args[3])  # step/end's effect
    else:
        log_lines.append(f"step: {step}\n")
