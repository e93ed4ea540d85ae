"""``serumrnn serve`` once its port is bound: load the groups, start the server and the
background work, wait for a signal (or stdin's end), then stop within
:data:`~serumrnn.server.osc_cli.SHUTDOWN_LIMIT_S`. The command, its options and the
process's forced exit are in ``osc_cli``, which imports this when a server starts."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from serumrnn.server.osc_cli import _SERVER, SHUTDOWN_LIMIT_S, _force_exit, _start_watchdog, config_of

if TYPE_CHECKING:
    from serumrnn.server.midi import Trigger
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.render import RenderSettings
    from serumrnn.server.startup import LazyGroups, PendingRack

log = logging.getLogger("serumrnn.osc")


class _Work(NamedTuple):
    """What runs beside the server: the process warm-up, the groups' loading, the open
    rack (made on the main thread, as DawDreamer needs) and the MIDI trigger."""

    process_warm: threading.Thread
    lazy: LazyGroups | None
    pending_rack: PendingRack | None
    settings: RenderSettings
    trigger: Trigger | None


def serve_until_stopped(
    a: argparse.Namespace,
    sock: socket.socket,
    rack_order: tuple[str, ...] | None,
    progress: Any,
    given: dict[str, GroupModels] | None,
    rack: Any,
) -> int:
    from serumrnn.server import native
    from serumrnn.server.midi import Trigger
    from serumrnn.server.osc_server import OscServer
    from serumrnn.server.rack.render import RenderError, RenderSettings
    from serumrnn.server.startup import EXIT_NO_MODELS, PendingRack, warm_up_process

    trigger = Trigger.parse(a.midi_trigger) if a.midi_in else None
    native.tune_allocator()
    # Groups load on first use or in the background (startup.LazyGroups): pings are
    # answered from the start, and the device shows each group's progress.
    lazy = None if given is not None else _lazy_groups(a, progress)
    if given is None and lazy is None:
        return EXIT_NO_MODELS
    models = cast(
        "dict[str, GroupModels]", given if lazy is None else lazy
    )  # read-only: the server only reads it
    settings = RenderSettings() if rack_order is None else RenderSettings(rack_order=rack_order)
    pending_rack = PendingRack(settings) if rack is None else None
    stop = threading.Event()
    _stop_on_signals(stop, progress)
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
    process_warm = threading.Thread(target=warm_up_process, name="process-warm-up", daemon=True)
    work = _Work(process_warm, lazy, pending_rack, settings, trigger)
    clean = _run_until_stopped(a, server, stop, progress, work)
    if not clean:  # a request is stuck in a system call: do not wait for it at exit
        _force_exit(0, "a request was still running")
    if (lazy is not None and lazy.busy) or process_warm.is_alive():  # a load or a numba compile
        _force_exit(0, "start-up work was still running")
    return 0


def _lazy_groups(a: argparse.Namespace, progress: Any) -> LazyGroups | None:
    """The model groups ``serve`` loads (lazily); None, said on stderr and to the device,
    when there are none."""
    from serumrnn.server.models import ModelError
    from serumrnn.server.startup import LazyGroups, default_models_dir, find_groups, load_and_warm

    models_dir = a.models or default_models_dir()
    try:
        found = find_groups(models_dir, a.groups.split(",") if a.groups else None)
    except ModelError as e:
        print(f"serumrnn serve: error: {e}", file=sys.stderr)
        progress("error", code=e.code, message=str(e), text="no models found: run the installer again")
        return None
    return LazyGroups(found, lambda g: load_and_warm(g, models_dir), progress, preload=a.preload == "all")


def _stop_on_signals(stop: threading.Event, progress: Any) -> None:
    """SIGINT and SIGTERM stop the server; past :data:`SHUTDOWN_LIMIT_S`, or at a second
    signal, the process ends whatever still runs."""

    def on_signal(n: int, f: object) -> None:
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


def _run_until_stopped(
    a: argparse.Namespace,
    server: Any,
    stop: threading.Event,
    progress: Any,
    work: _Work,
) -> bool:
    """Start the background work, wait for a stop, then stop everything; whether the
    server stopped cleanly (no request stuck)."""
    midi_port = None
    try:
        midi_port = _start_work(a, server, stop, work)
        while not stop.wait(0.5):
            pass
        if stdin_closed.is_set():
            progress("stopping", reason="stdin_closed", text="server stopping")
        log.info("%s: shutting down", "stdin closed" if stdin_closed.is_set() else "signal received")
    finally:
        if work.lazy is not None:
            work.lazy.stop()
        if midi_port is not None:
            midi_port.close()
        clean: bool = server.stop()
    return clean


def _start_work(
    a: argparse.Namespace,
    server: Any,
    stop: threading.Event,
    work: _Work,
) -> Any:
    """The process warm-up, the groups' loading, the open rack, the MIDI trigger and the
    stdin watch; the MIDI port (None without ``--midi-in``)."""
    from serumrnn.server.midi import open_listener

    # The open rack is made here, on the main thread, as DawDreamer needs; requests
    # that render wait for it, pings do not.
    from serumrnn.server.rack import OpenRack

    midi_port = None
    work.process_warm.start()
    if work.lazy is not None:
        work.lazy.start()
    if work.pending_rack is not None:
        work.pending_rack.fill(OpenRack(work.settings))
    if work.trigger is not None:
        midi_port = open_listener(a.midi_in, work.trigger, server.trigger_step)
        log.info("MIDI: %s on %r runs the next step of the latest session", work.trigger, a.midi_in)
    if a.exit_on_stdin_eof:
        threading.Thread(target=_stop_at_eof, args=(stop,), name="stdin-watch", daemon=True).start()
    return midi_port


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
