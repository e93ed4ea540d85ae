"""``serumrnn serve``: the OSC server for the Max for Live device; and a small blocking
client that the tests and ``bench_osc`` use to drive it like the device does.

Imports stay light at module level: ``serumrnn --help`` imports this module to register
the command, and TensorFlow loads only when a server starts.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from serumrnn.server import osc, spec

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.osc_server import ServerConfig

log = logging.getLogger("serumrnn.osc")


# -- the command ----------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:
    from serumrnn.server.match import add_loop_options
    from serumrnn.server.midi import DEFAULT_TRIGGER
    from serumrnn.server.osc_server import (
        DEFAULT_HOST,
        DEFAULT_PORT,
        DEFAULT_REPLY_PORT,
        DEFAULT_SESSION_MEMORY_MB,
        DEFAULT_WORKERS,
    )

    s = sub.add_parser(
        "serve",
        help="run the OSC server for the Max for Live device",
        description="Serve the step loop over OSC/UDP (docs/protocol.md).",
    )
    s.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default loopback). Any other lets everyone "
        "on the network drive the server and make it read files: keep "
        "loopback unless the device runs on another computer",
    )
    s.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="UDP port to listen on (default %(default)s)"
    )
    s.add_argument(
        "--reply-port",
        type=int,
        default=DEFAULT_REPLY_PORT,
        help="the device's udpreceive port, at the sender's address (default "
        "%(default)s; 0: the port a request came from); ping and new may name "
        "another",
    )
    s.add_argument("--models", default=None, help="models folder (default models/)")
    s.add_argument(
        "--groups", default=None, help="comma-separated groups to load (default: every group in --models)"
    )
    s.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="requests handled at once (default %(default)s)"
    )
    s.add_argument(
        "--profiles",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of plugin profiles that new may name, besides the shipped "
        "ones (repeatable); no other profile file is read",
    )
    s.add_argument(
        "--profile",
        default=None,
        metavar="P",
        help="render and judge every session's candidates on the plugins of profile P (a shipped "
        "name, or one in --profiles), loaded once at start; a session's new may still name "
        "another profile or 'open' (default: the open rack)",
    )
    s.add_argument("--max-sessions", type=int, default=256, help="open sessions in all (default %(default)s)")
    s.add_argument(
        "--sessions-per-client",
        type=int,
        default=32,
        help="open sessions per client address (default %(default)s)",
    )
    s.add_argument(
        "--session-memory",
        type=float,
        default=DEFAULT_SESSION_MEMORY_MB,
        metavar="MB",
        help="memory the sessions' sounds may hold in all (default "
        "%(default).0f MB, at most 32 MB per session)",
    )
    s.add_argument(
        "--size-rule",
        choices=("remote", "all"),
        default="remote",
        help="whose error replies are never longer than their request: senders "
        "off loopback (default; only they could be forged) or all (to measure "
        "the rule from this machine)",
    )
    add_loop_options(
        s,
        "verified: a step is simulated on the open rack and offered only when "
        "it brings the sound closer, and a capture that shows otherwise is taken "
        "back; refine: the same with knobs polished by listening; "
        "paper: the paper's loop",
    )
    s.add_argument(
        "--no-bundles",
        action="store_true",
        help="send each reply message in its own datagram instead of bundles",
    )
    s.add_argument(
        "--midi-in",
        default=None,
        metavar="PORT",
        help="MIDI input whose trigger runs the next step of the latest session",
    )
    s.add_argument(
        "--midi-trigger",
        default=DEFAULT_TRIGGER,
        help="note:N or cc:N, optionally @CHANNEL (default %(default)s)",
    )
    s.add_argument(
        "--preload",
        choices=("all", "none"),
        default="all",
        help="after start-up, load every group in the background (all, the default), or "
        "each only when a session first asks for it (none); pings are answered at once either "
        "way, and a new for a group still loading gets the error `loading`",
    )
    s.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (the device's launcher keeps it open, so a "
        "Live that is killed leaves no server behind)",
    )
    s.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING")
    s.set_defaults(func=_cmd_serve)


#: Seconds from the stop signal to the process's end, whatever is still running.
SHUTDOWN_LIMIT_S = 4.5


#: The watchdog's limit (a separate process, free of this one's threads): past it, the
#: server is killed, whatever holds its interpreter.
WATCHDOG_LIMIT_S = 4.9

_WATCHDOG = """
import os, select, signal, sys, time
fd, pid, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
while True:
    if not os.read(fd, 64):
        sys.exit(0)  # the server exited: its end of the pipe closed
    end = time.monotonic() + limit
    while (left := end - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0] and not os.read(fd, 64):
            sys.exit(0)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    sys.exit(0)
"""


def _start_watchdog() -> int | None:
    """A tiny process that kills the server :data:`WATCHDOG_LIMIT_S` seconds after a stop
    signal. The signal reaches it through ``signal.set_wakeup_fd``, which the C signal
    handler writes at once: the Python handler runs only when the main thread next holds
    the interpreter, which a busy worker can delay by seconds. Returns the pipe's write end."""
    import subprocess

    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        subprocess.Popen(
            [sys.executable, "-S", "-c", _WATCHDOG, str(r), str(os.getpid()), str(WATCHDOG_LIMIT_S)],
            pass_fds=(r,),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal does not end it first
        )
    except OSError as e:
        log.warning("no shutdown watchdog (%s): a stop signal relies on the server's own timer", e)
        os.close(w)
        return None
    finally:
        os.close(r)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    return w


def _private_tmp() -> str:
    """A temporary folder of this server's own, used for every temporary file (TensorFlow's
    ``__autograph_generated_file*.py`` among them) and removed at exit, forced or not."""
    import tempfile

    d = tempfile.mkdtemp(prefix="serumrnn-serve-")
    os.environ["TMPDIR"] = d
    tempfile.tempdir = d
    return d


_CLEANUP: list[str] = []  # folders to remove at any exit
_SERVER: list[Any] = []  # the running server, told to send /serumrnn/stopped on a forced exit


def _clean_up() -> None:
    import shutil

    for d in _CLEANUP:
        shutil.rmtree(d, ignore_errors=True)


def _force_exit(code: int, why: str) -> None:
    log.warning("%s: exiting now", why)
    for server in _SERVER:
        try:
            server.send_stopped()
        except Exception:  # exiting anyway
            pass
    _clean_up()
    logging.shutdown()
    os._exit(code)


def config_of(a: argparse.Namespace, rack_order: tuple[str, ...] | None = None) -> ServerConfig:
    """The server's settings from ``serve``'s options."""
    from serumrnn.server.osc_server import ServerConfig

    return ServerConfig(
        host=a.host,
        port=a.port,
        reply_port=a.reply_port,
        workers=a.workers,
        bundles=not a.no_bundles,
        tolerance=a.tolerance,
        loop=a.loop,
        k=a.k,
        refine_budget=a.refine_budget,
        rack_order=rack_order,
        profile_dirs=tuple(a.profiles),
        profile=a.profile,
        max_sessions=a.max_sessions,
        sessions_per_client=a.sessions_per_client,
        session_memory_mb=a.session_memory,
        size_rule=a.size_rule,
    )


def check_options(a: argparse.Namespace) -> str | None:
    """The first impossible option of ``serve``, as one line (None: all fine): checked
    before anything binds or loads, by :meth:`ServerConfig.check`."""
    try:
        config_of(a).check()
    except ValueError as e:
        return str(e)
    return None


def _cmd_serve(
    a: argparse.Namespace, *, models: dict[str, GroupModels] | None = None, rack: Any = None
) -> int:
    """``serve``. ``models`` and ``rack``: given instead of loaded (the attack campaign's
    scripted stubs); everything else, signals and shutdown included, as for real."""
    from serumrnn.server.osc_transport import bind_udp
    from serumrnn.server.startup import EXIT_USAGE, Progress

    progress = Progress()  # machine-readable start-up lines for the device (docs/install.md)
    progress(
        "starting",
        version=_version(),
        protocol=osc.PROTOCOL_VERSION,
        pid=os.getpid(),
        text="starting the SerumRNN server",
    )

    def usage(msg: str) -> int:
        print(f"serumrnn serve: error: {msg}", file=sys.stderr)
        progress("error", code="usage", message=msg, text=f"bad option: {msg}")
        return EXIT_USAGE

    try:
        rack_order = None if a.rack_order is None else spec.rack_order(a.rack_order)
    except ValueError as e:
        return usage(f"--rack-order: {e}")
    bad = check_options(a)
    if bad is not None:
        return usage(bad)

    # Bind before anything slow: a port in use is one line and exit code 2 at once.
    try:
        sock = bind_udp(a.host, a.port)
    except OSError as e:
        in_use = getattr(e, "errno", None) in (98, 48, 10048)
        hint = "; is another serumrnn serve running? Stop it or pick another --port" if in_use else ""
        print(
            f"serumrnn serve: error: cannot listen on {a.host}:{a.port} (UDP): {e.strerror or e}{hint}",
            file=sys.stderr,
        )
        progress(
            "error",
            code="port_in_use" if in_use else "usage",
            message=f"{e.strerror or e}",
            text=f"port {a.port} is in use: choose another port"
            if in_use
            else f"cannot listen on {a.host}:{a.port}",
        )
        return EXIT_USAGE
    from serumrnn.server.osc_transport import SafeLogFilter

    for d in a.profiles:
        if not Path(d).is_dir():
            return usage(f"--profiles {d} is not a folder")

    logging.basicConfig(
        level=a.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    for h in logging.getLogger().handlers:
        h.addFilter(SafeLogFilter())
    _CLEANUP.append(_private_tmp())  # before TensorFlow loads: its temp files go there
    try:
        return _serve(a, sock, rack_order, progress, models, rack)
    finally:
        _clean_up()


def _serve(
    a: argparse.Namespace,
    sock: socket.socket,
    rack_order: tuple[str, ...] | None,
    progress: Any,
    given: dict[str, GroupModels] | None,
    rack: Any,
) -> int:
    from serumrnn.server import native
    from serumrnn.server.midi import Trigger, open_listener
    from serumrnn.server.models import ModelError
    from serumrnn.server.osc_server import OscServer
    from serumrnn.server.rack.render import RenderError, RenderSettings
    from serumrnn.server.startup import (
        EXIT_NO_MODELS,
        LazyGroups,
        PendingRack,
        default_models_dir,
        find_groups,
        load_and_warm,
        warm_up_process,
    )

    trigger = Trigger.parse(a.midi_trigger) if a.midi_in else None
    native.tune_allocator()
    # Groups load on first use or in the background (startup.LazyGroups): pings are
    # answered from the start, and the device shows each group's progress.
    lazy: LazyGroups | None = None
    if given is None:
        models_dir = a.models or default_models_dir()
        try:
            found = find_groups(models_dir, a.groups.split(",") if a.groups else None)
        except ModelError as e:
            print(f"serumrnn serve: error: {e}", file=sys.stderr)
            progress("error", code=e.code, message=str(e), text="no models found: run the installer again")
            return EXIT_NO_MODELS
        lazy = LazyGroups(found, lambda g: load_and_warm(g, models_dir), progress, preload=a.preload == "all")
    models = cast(
        "dict[str, GroupModels]", given if lazy is None else lazy
    )  # read-only: the server only reads it
    settings = RenderSettings() if rack_order is None else RenderSettings(rack_order=rack_order)
    pending_rack = PendingRack(settings) if rack is None else None
    stop = threading.Event()

    def on_signal(n, f) -> None:
        if stop.is_set():
            _force_exit(1, "second signal")
        progress("stopping", reason="signal", text="server stopping")
        stop.set()
        # Whatever hangs from here on (a stuck request, a plugin), the process ends.
        t = threading.Timer(SHUTDOWN_LIMIT_S, _force_exit, (0, f"shutdown took over {SHUTDOWN_LIMIT_S} s"))
        t.daemon = True
        t.start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    _start_watchdog()
    try:
        server = OscServer(
            models,
            config=config_of(a, rack_order),
            sock=sock,
            rack=rack if rack is not None else pending_rack,
        ).start()
    except RenderError as e:  # serve --profile: a profile or plugin that does not load
        print(f"serumrnn serve: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    _SERVER.append(server)
    host, port = server.address
    progress("ready", host=host, port=port, groups=list(models), text="server ready")
    midi_port = None
    process_warm = threading.Thread(target=warm_up_process, name="process-warm-up", daemon=True)
    try:
        # The open rack is made here, on the main thread, as DawDreamer needs; requests
        # that render wait for it, pings do not.
        from serumrnn.server.rack import OpenRack

        process_warm.start()
        if lazy is not None:
            lazy.start()
        if pending_rack is not None:
            pending_rack.fill(OpenRack(settings))
        if trigger is not None:
            midi_port = open_listener(a.midi_in, trigger, server.trigger_step)
            log.info("MIDI: %s on %r runs the next step of the latest session", trigger, a.midi_in)
        if a.exit_on_stdin_eof:
            threading.Thread(target=_stop_at_eof, args=(stop,), name="stdin-watch", daemon=True).start()
        while not stop.wait(0.5):
            pass
        if stdin_closed.is_set():
            progress("stopping", reason="stdin_closed", text="server stopping")
        log.info("%s: shutting down", "stdin closed" if stdin_closed.is_set() else "signal received")
    finally:
        if lazy is not None:
            lazy.stop()
        if midi_port is not None:
            midi_port.close()
        clean = server.stop()
    if not clean:  # a request is stuck in a system call: do not wait for it at exit
        _force_exit(0, "a request was still running")
    if (lazy is not None and lazy.busy) or process_warm.is_alive():  # a load or a numba compile
        _force_exit(0, "start-up work was still running")
    return 0


stdin_closed = threading.Event()


def _stop_at_eof(stop: threading.Event) -> None:
    """Read standard input to its end, then stop the server like a signal would."""
    try:
        while os.read(sys.stdin.fileno(), 65536):
            pass
    except (OSError, ValueError):
        pass
    stdin_closed.set()
    stop.set()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("serumrnn")
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


# -- a client (tests, bench, debugging) -----------------------------------------------


class OscClient:
    """Talks to the server the way the device does, one request at a time.

    It sends from its own socket and asks for replies at that socket's port (reply port
    0 in ``ping`` and ``new``), so many clients can share one machine.
    """

    def __init__(self, server: tuple[str, int], timeout: float = 10.0, host: str = "127.0.0.1"):
        self.server, self.timeout = server, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))  # another loopback address (127.0.0.2) is another client
        self.port = self.sock.getsockname()[1]
        self._ids = itertools.count(1)
        self.stray: list[osc.Message] = []  # messages that answered no pending request

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> OscClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_id(self) -> int:
        return next(self._ids)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def send(self, address: str, *args: Any) -> None:
        self.send_raw(osc.encode(address, args))

    def receive(self, timeout: float | None = None) -> list[osc.Message]:
        """The messages of the next datagram; [] on timeout."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return []
        return osc.decode(data)

    def collect(self, rid: int, timeout: float | None = None) -> list[osc.Message]:
        """Every message of request ``rid``'s reply, up to its final message ([] if lost)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got: list[osc.Message] = []
        while (left := deadline - time.monotonic()) > 0:
            for m in self.receive(left):
                if osc.request_id_of(m) != rid:
                    self.stray.append(m)
                    continue
                got.append(m)
                if osc.is_final(m.address):
                    return got
        return got

    def request(
        self, name: str, *args: Any, rid: int | None = None, timeout: float | None = None
    ) -> list[osc.Message]:
        """Send request ``name`` (a key of ``osc.REQUESTS``) and wait for its reply."""
        rid = self.next_id() if rid is None else rid
        self.send(osc.REQUESTS[name][0], rid, *args)
        return self.collect(rid, timeout)


def _note_audio(seconds: float = 1.0, sr: int = 44100, drive: float = 1.0):
    """A saw at the models' note (MIDI 48), optionally driven into a soft clip."""
    import numpy as np

    t = np.arange(int(sr * seconds)) / sr
    saw = 2.0 * ((130.8128 * t) % 1.0) - 1.0
    return (0.5 * np.tanh(drive * saw) / np.tanh(drive)).astype(np.float32)


def _retry_after(busy: osc.Message) -> float:
    """Seconds a ``busy`` error asks the client to wait (its sixth argument; 1 s if absent)."""
    return float(busy.args[5]) if len(busy.args) > 5 else 1.0


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


class OscBench(TypedDict):
    """What :func:`bench_osc` measured (``lost``, ``wrong``, ``errors``: replies missing,
    misrouted, or errors other than ``session_done`` and ``busy``; ``error_codes``: every
    error reply by code, so a run's refusals show)."""

    clients: int
    seconds: float
    lost: int
    wrong: int
    errors: int
    error_codes: dict[str, int]
    steps: int
    served: int
    p50_ms: float
    p95_ms: float
    steps_per_s: float


_FAIRNESS_GRACE_S = 300.0  # how long ``at_least`` may keep a client past its window


def bench_osc(
    models_dir: Path | str | None,
    clients: int,
    seconds: float,
    *,
    models: dict[str, GroupModels] | None = None,
    group: str | None = None,
    workers: int | None = None,
    malloc: bool = True,
    at_least: int = 0,
) -> OscBench:
    """Step round trips over loopback: ``clients`` sessions stepping in parallel for
    ``seconds``, each from its own socket with the device's captured flow (the capture is
    a file path). Checks each reply arrived and belonged to its own request and session.

    ``malloc`` tunes this process's allocator as ``serve`` does (``native.tune_allocator``), for
    figures that match the server's; it lasts for the rest of the process.

    ``at_least`` keeps each client stepping past ``seconds`` until it has that many steps (a
    fairness check: every client is answered however slow a step is), up to a deadline.

    Returns clients, steps, served (clients with a step), p50_ms, p95_ms, steps_per_s, lost,
    wrong, errors.
    """
    import tempfile

    from serumrnn.server import native
    from serumrnn.server.audio_io import write_wav
    from serumrnn.server.osc_server import DEFAULT_WORKERS, OscServer
    from serumrnn.server.startup import load_models, warm_up

    if malloc:
        native.tune_allocator()
    if models is None:
        models = load_models(models_dir)
        for m in models.values():
            warm_up(m)
    group = group or next(iter(models))
    tmp = tempfile.TemporaryDirectory(prefix="serumrnn-bench-")
    target, capture = Path(tmp.name) / "target.wav", Path(tmp.name) / "capture.wav"
    write_wav(target, _note_audio(drive=6.0))
    write_wav(capture, _note_audio())
    lock = threading.Lock()
    rtts: list[float] = []
    tally = {"lost": 0, "wrong": 0, "errors": 0, "steps": 0, "served": 0}
    codes: dict[str, int] = {}  # error replies by code (busy: the fair scheduler's refusal)
    server = OscServer(models, "127.0.0.1", 0, 0, workers=workers or DEFAULT_WORKERS)
    server.start()
    ready = threading.Barrier(clients)
    window = [0.0, 0.0]  # when stepping began and ended (targets are set before)

    def client() -> None:
        with OscClient(server.address, timeout=60.0) as c:
            new = c.request("new", group, 0)
            if not new or new[-1].address != f"{osc.PREFIX}/new/reply":
                with lock:
                    tally["lost" if not new else "errors"] += 1
                return
            sid = new[-1].args[1]
            for _ in range(60):  # a busy server says when to come back; the device waits as long
                t = c.request("target", sid, str(target))
                if not (t and t[-1].address == f"{osc.PREFIX}/error" and t[-1].args[1] == "busy"):
                    break
                time.sleep(_retry_after(t[-1]))
            try:
                ready.wait(timeout=120)  # every client steps in the same window
            except threading.BrokenBarrierError:
                pass
            with lock:
                window[0] = window[0] or time.monotonic()
            end = time.monotonic() + seconds
            deadline = end + _FAIRNESS_GRACE_S
            mine = 0
            while time.monotonic() < end or (mine < at_least and time.monotonic() < deadline):
                t0 = time.perf_counter()
                rid = c.next_id()
                reply = c.request("step", sid, str(capture), rid=rid)
                dt = (time.perf_counter() - t0) * 1e3
                with lock:
                    if not reply:
                        tally["lost"] += 1
                        continue
                    if (
                        any(m.args[:2] != (rid, sid) and m.address != f"{osc.PREFIX}/error" for m in reply)
                        or c.stray
                    ):
                        tally["wrong"] += 1 + len(c.stray)
                        c.stray.clear()
                    last = reply[-1]
                    if last.address == f"{osc.PREFIX}/error":
                        code = str(last.args[1])
                        codes[code] = codes.get(code, 0) + 1
                        tally["errors"] += code not in ("session_done", "busy")
                    else:
                        tally["steps"] += 1
                        tally["served"] += mine == 0
                        mine += 1
                        rtts.append(dt)
                if last.address == f"{osc.PREFIX}/error" and last.args[1] == "busy":
                    # the fair scheduler's answer: come back after its retry-after
                    time.sleep(_retry_after(last))
                elif last.address == f"{osc.PREFIX}/error" or last.args[4]:  # done: start over
                    c.request("reset", sid)
            with lock:
                window[1] = max(window[1], time.monotonic())

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 120 + (_FAIRNESS_GRACE_S if at_least else 0))
    finally:
        server.stop()
        tmp.cleanup()
    span = window[1] - window[0]
    return {
        "clients": clients,
        "seconds": seconds,
        "lost": tally["lost"],
        "wrong": tally["wrong"],
        "errors": tally["errors"],
        "error_codes": codes,
        "steps": tally["steps"],
        "served": tally["served"],
        "p50_ms": _percentile(rtts, 50),
        "p95_ms": _percentile(rtts, 95),
        "steps_per_s": tally["steps"] / span if span > 0 else 0.0,
    }


def format_bench(result: OscBench) -> str:
    """One line for ``serumrnn bench``."""
    r = result
    return (
        f"OSC step round trip, {r['clients']:>2} client(s): p50 {r['p50_ms']:.1f} ms, "
        f"p95 {r['p95_ms']:.1f} ms ({r['steps']} steps, {r['steps_per_s']:.1f}/s; "
        f"lost {r['lost']}, misrouted {r['wrong']}, errors {r['errors']})"
    )
