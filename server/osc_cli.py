"""``serumrnn serve``: the OSC server for the Max for Live device, its start-up, signals,
watchdog and shutdown. The client that drives it like the device does is in
``osc_client`` (``OscClient``, importable from here too); the loopback benchmark in
``osc_bench``.

Imports stay light at module level: ``serumrnn --help`` imports this module to register
the command, and TensorFlow loads only when a server starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serumrnn.server import osc, spec

# The client lives in osc_client; tests and scripts import it from here too.
from serumrnn.server.osc_client import OscClient as OscClient

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.osc_server import ServerConfig

log = logging.getLogger("serumrnn.osc")


# -- the command ----------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from serumrnn.server.loop_settings import add_loop_options
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
SHUTDOWN_LIMIT_S = 4.0


#: The watchdog's limit (a separate process, free of this one's threads): past it, the
#: server is killed, whatever holds its interpreter. Under load (2 workers computing, load
#: average 4-9) a 4.9 s limit gave exits of up to 4.99 s (attack_osc.py --goals): the
#: kill itself and the parent's wait take tens of milliseconds on a busy machine. At 4.0 s
#: a server on TensorFlow models was killed instead of exiting cleanly (load average 6-9).
WATCHDOG_LIMIT_S = 4.5

_WATCHDOG = """
import os, select, shutil, signal, sys, time
fd, pid, limit, tmp = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
def done():
    for d in tmp:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(0)
while True:
    if not os.read(fd, 64):
        done()  # the server exited, however: its end of the pipe closed
    end = time.monotonic() + limit
    while (left := end - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0] and not os.read(fd, 64):
            done()
    try:
        os.kill(pid, signal.SIGSTOP)  # frozen: it writes no file after the folder goes
        for d in tmp:
            shutil.rmtree(d, ignore_errors=True)
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    done()
"""


def _start_watchdog() -> int | None:
    """A tiny process that kills the server :data:`WATCHDOG_LIMIT_S` seconds after a stop
    signal, and removes the server's private temporary folder (:func:`_private_tmp`)
    whenever the server ends, killed or not. The signal reaches it through
    ``signal.set_wakeup_fd``, which the C signal handler writes at once: the Python
    handler runs only when the main thread next holds the interpreter, which a busy
    worker can delay by seconds. Returns the pipe's write end."""
    import subprocess

    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        subprocess.Popen(
            [
                sys.executable,
                "-S",
                "-c",
                _WATCHDOG,
                str(r),
                str(os.getpid()),
                str(WATCHDOG_LIMIT_S),
                *_CLEANUP,
            ],
            pass_fds=(r,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
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
        fine_tune=a.fine_tune,
        extra=not a.no_extra_knobs,
        rack_order=rack_order,
        profile_dirs=tuple(a.profiles),
        profile=a.profile,
        max_sessions=a.max_sessions,
        sessions_per_client=a.sessions_per_client,
        session_memory_mb=a.session_memory,
        size_rule=a.size_rule,
        front=sys.platform != "win32",  # a front process needs inherited descriptors
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
    from serumrnn.server.serve_run import serve_until_stopped
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
        return serve_until_stopped(a, sock, rack_order, progress, models, rack)
    finally:
        _clean_up()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("serumrnn")
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


# -- a client (tests, bench, debugging) -----------------------------------------------
