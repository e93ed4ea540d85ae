"""The OSC server: the step loop for the Max for Live device, over UDP.

One receive thread (python-osc's UDP server) decodes every datagram and sorts its
requests into two lanes of fair queues (:mod:`serumrnn.server.osc_schedule`): *light*
requests (``ping``, ``status``, ``new``, ``end``) on their own thread, so they never wait
behind a step, and *heavy* ones (``target``, ``step``, ``undo``, ``reset``) on a small pool
of daemon workers. Each lane serves clients round-robin, so no client can starve the
others, and refuses work a client could not be served in time with ``busy`` and a
retry-after. A session's heavy requests run one at a time in request-id order.

Sessions (:mod:`serumrnn.server.osc_sessions`) belong to the address that made them and are
named by a secret id. Every failure is an ``/serumrnn/error`` reply with a stable code; no
reply to a sender that has not proved its address (by naming its session's secret id) is
longer than its request: no input can stop the server or turn it into an amplifier. What
each session request does is :mod:`serumrnn.server.osc_steps`; the wire format lives in
:mod:`serumrnn.server.osc`; ``docs/protocol.md`` is the reference.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from serumrnn.server import osc
from serumrnn.server.loop_settings import fine_tune_for
from serumrnn.server.native import BlasLimits, limit_blas
from serumrnn.server.osc import NO_REQUEST, PREFIX, ProtocolError, Reply, Request
from serumrnn.server.osc_config import (
    COST_PRIOR_S,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REPLY_PORT,
    DEFAULT_SESSION_MEMORY_MB,
    DEFAULT_WORKERS,
    HEAVY,
    HEAVY_PER_SESSION,
    LIGHT,
    LIGHT_PER_ADDRESS,
    LIGHT_PER_SOCKET,
    STOP_WAIT_S,
    ServerConfig,
)
from serumrnn.server.osc_front import FrontSettings
from serumrnn.server.osc_front_link import FrontLink
from serumrnn.server.osc_gate import Gate
from serumrnn.server.osc_intake import Handler, Intake
from serumrnn.server.osc_memory import fix_mmap_threshold
from serumrnn.server.osc_replies import Call
from serumrnn.server.osc_schedule import Busy, CostBook, FairQueue, WorkerPool
from serumrnn.server.osc_sessions import REPLY_TTL_S, OscSession, Sessions
from serumrnn.server.osc_steps import StepHandlers
from serumrnn.server.osc_transport import (
    GuardedGroups,
    LockedRenderer,
    LogBudget,
    Transport,
    bind_udp,
    is_unspecified,
)
from serumrnn.server.startup import group_states

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.render import Renderer

log = logging.getLogger("serumrnn.osc")

#: The interpreter's switch interval while the server runs (seconds; see ``start``).
SWITCH_INTERVAL_S = 0.001

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_REPLY_PORT",
    "DEFAULT_SESSION_MEMORY_MB",
    "DEFAULT_WORKERS",
    "OscServer",
    "OscSession",
    "REPLY_TTL_S",
    "ServerConfig",
]


class OscServer(Intake):
    """The SerumRNN OSC server. ``models``: group id -> loaded ``GroupModels``.

    Settings come as a :class:`ServerConfig` (``config``), or as its fields by name (the
    tests' and ``bench_osc``'s way: ``OscServer(models, "127.0.0.1", 0, 0, workers=1)``).
    ``sock``: a UDP socket already bound (``bind_udp``), else ``start`` binds (host, port).
    ``rack``: the open rack's renderer (made at ``start`` when None). ``start`` returns at
    once; ``stop`` ends within about :data:`STOP_WAIT_S` seconds whatever is running.
    """

    def __init__(
        self,
        models: dict[str, GroupModels],
        host: str | None = None,
        port: int | None = None,
        reply_port: int | None = None,
        *,
        config: ServerConfig | None = None,
        rack: Renderer | None = None,
        sock: socket.socket | None = None,
        **options: Any,
    ):
        if not models:
            raise ValueError("the server needs the models of at least one group")
        given: dict[str, Any] = {
            k: v for k, v in (("host", host), ("port", port), ("reply_port", reply_port)) if v is not None
        }
        cfg = dataclasses.replace(config or ServerConfig(), **given, **options)
        cfg.check()
        self.config = cfg
        self.models = models
        self.host, self.port, self.reply_port = cfg.host, cfg.port, cfg.reply_port
        self.size_rule, self.bundles, self.limit = cfg.size_rule, cfg.bundles, cfg.datagram_limit
        self.sessions = Sessions(
            max_total=cfg.max_sessions,
            per_client=cfg.sessions_per_client,
            memory_bytes=int(cfg.session_memory_mb * 2**20),
            idle_s=cfg.idle_s,
            collapse_loopback=not cfg.remote,
        )
        self.profile_dirs = tuple(Path(d) for d in cfg.profile_dirs)
        self.counts = {"requests": 0, "errors": 0, "unanswered": 0, "busy": 0}
        self._stop = threading.Event()  # set first thing in stop(); workers check it between stages
        self._stopped_sent = False
        self.light = FairQueue(
            per_key_jobs=LIGHT_PER_SOCKET,
            per_client_jobs=LIGHT_PER_ADDRESS,
            total_jobs=cfg.max_pending,
            per_client_in_flight=1,
        )
        self.heavy = FairQueue(
            per_key_jobs=HEAVY_PER_SESSION,
            per_client_jobs=cfg.max_pending,
            total_jobs=cfg.max_pending,
            bound_s=cfg.queue_bound_s,
            per_client_in_flight=max(1, cfg.workers - 1),
            per_key_in_flight=1,
            keep_spare=cfg.workers > 1,  # a flood of steps leaves a worker for the next client
        )
        self.costs = CostBook(COST_PRIOR_S)
        self._growth: dict[str, int] = {}  # the most bytes one request of a kind added
        self._pools: list[WorkerPool] = []
        self._lock = threading.Lock()  # counters, routes, growth
        self._routes: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._log_budget = LogBudget()
        self.gate = Gate(self.sessions.client)
        guarded = cast("dict[str, GroupModels]", GuardedGroups(models, self._stop))
        self.steps = StepHandlers(
            guarded,
            self.sessions,
            loop=cfg.loop,
            k=cfg.k,
            refine_budget=cfg.refine_budget,
            fine_tune=fine_tune_for(cfg.loop, cfg.fine_tune),
            tolerance=cfg.tolerance,
            extra=cfg.extra,
            rack=None if rack is None else LockedRenderer(rack, self._stop),
            profile_dirs=self.profile_dirs,
        )
        if cfg.profile is not None:  # serve --profile: the sessions' default renderer (checked here)
            from serumrnn.server.rack.profile import find_profile, load_profile

            self.steps.default_profile = load_profile(find_profile(cfg.profile, self.profile_dirs))
        #: What each request does, by name: the table the server dispatches on.
        self.handlers: dict[str, Handler] = {
            "ping": lambda req, call: self._on_ping(req),
            "status": lambda req, call: self._on_status(req),
            "new": self._on_new,
            "target": lambda req, call: self.steps.on_target(req, self._own(call)),
            "step": lambda req, call: self.steps.on_step(req, self._own(call)),
            "undo": lambda req, call: self.steps.on_undo(req, self._own(call)),
            "reset": lambda req, call: self.steps.on_reset(req, self._own(call)),
            "end": lambda req, call: self.steps.on_end(req, self._own(call)),
        }
        assert set(self.handlers) == set(osc.REQUESTS) == LIGHT | HEAVY
        self._blas_limits: BlasLimits | None = None
        self._switch_interval = sys.getswitchinterval()
        self._sock = sock
        self._transport: Transport | None = None
        self._link: FrontLink | None = None  # the front process, when config.front
        self._thread: threading.Thread | None = None
        self.started = time.monotonic()

    # -- life cycle -------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port): the real port when started with port 0."""
        if self._transport is None:
            return self.host, self.port
        return self._transport.bound

    @property
    def groups(self) -> str:
        return self.steps.groups

    def start(self) -> OscServer:
        if self.config.remote:
            log.warning(
                "listening on %s, not loopback: anyone on the network who can reach "
                "this address can drive the server (open sessions, make it read "
                "audio files on this machine, use its CPU). Keep the default "
                "127.0.0.1 unless the device runs on another computer, and then let "
                "only that computer through a firewall",
                self.host,
            )
        for d in self.profile_dirs:
            if not d.is_dir():
                raise ValueError(f"profile folder {d} is not a folder")
        if self.steps.rack is None:
            from serumrnn.server.rack import OpenRack

            # Made here, on the caller's thread: DawDreamer hangs rendering on an engine made
            # on a different thread from an earlier one, so never make one in a worker.
            from serumrnn.server.rack.render import RenderSettings

            order = self.config.rack_order
            settings = RenderSettings() if order is None else RenderSettings(rack_order=order)
            self.steps.rack = LockedRenderer(OpenRack(settings), self._stop)
        if self.steps.default_profile is not None:  # its plugins load now, not on the first session
            self.steps.hosts.get(self.steps.default_profile, self.steps.rack.settings)
        sock = self._sock or bind_udp(self.host, self.port)
        self._blas_limits = limit_blas(self.config.blas_threads)
        # Workers running Python hold the interpreter's lock a switch interval at a time
        # while the receive thread waits for it: a shorter interval keeps a flood from
        # filling the socket's buffer between its turns (with two workers stepping stub
        # sessions, its waits for the lock: p99 7.7 ms at 5 ms, 4.2 ms at 1 ms).
        self._switch_interval = sys.getswitchinterval()
        if (
            not self.config.front
        ):  # the front process reads the socket: no thread here races the workers for it
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        fix_mmap_threshold()  # RSS then follows what the sessions hold (the budget's count)
        self._pools = [
            WorkerPool(self.light, 1, "osc-light", self._job_failed),
            WorkerPool(self.heavy, self.config.workers, "osc-worker", self._job_failed),
        ]
        self._transport = Transport(sock, self._receive, self.gate.admit)
        receive: Callable[[], None] = self._transport.serve_forever
        if self.config.front:  # the socket is read in a process of its own (osc_front)
            self._link = FrontLink(
                sock,
                FrontSettings(
                    self.size_rule, self.reply_port, self.limit, self.bundles, not self.config.remote
                ),
                self._receive,
                self._answered,
                lambda: (len(self.sessions), self.groups),
            )
            self.gate.on_prove = self._link.prove
            self._link.start()
            receive = self._link.serve
        self._thread = threading.Thread(target=receive, name="osc-receive", daemon=True)
        self._thread.start()
        host, port = self.address
        log.info(
            "ready: listening on %s:%d (protocol %s, groups %s), replies to port %s",
            host,
            port,
            osc.PROTOCOL_VERSION,
            self.groups,
            self.reply_port or "of sender",
        )
        if self.reply_port:
            ready_host = "127.0.0.1" if is_unspecified(host) else host
            self._send(
                [(f"{PREFIX}/ready", (osc.PROTOCOL_VERSION, self.groups, port))],
                (ready_host, self.reply_port),
            )
        return self

    @staticmethod
    def _job_failed(e: BaseException) -> None:
        log.error("a worker job failed: %s", type(e).__name__, exc_info=e)

    def send_stopped(self) -> None:
        """Tell every open session's device the server is going (once; safe from any thread)."""
        with self._lock:
            if self._stopped_sent or self._transport is None:
                return
            self._stopped_sent = True
        for d in {s.reply_to for s in self.sessions}:
            self._send([(f"{PREFIX}/stopped", ())], d)

    def stop(self, wait_s: float = STOP_WAIT_S) -> bool:
        """Stop receiving, tell the devices, give the requests under way ``wait_s``
        seconds (they end at their next stage: the stop flag), close. False when a request
        was still running (it is abandoned: the workers are daemon threads)."""
        if self._transport is None:
            return True
        t0 = time.monotonic()
        self._stop.set()
        if self._link is not None:
            self._link.stop()
            if self._thread is not None:
                self._thread.join(1.0)
        else:
            self._transport.shutdown()
        self.send_stopped()
        stuck: list[str] = []
        for pool in self._pools:
            stuck += pool.stop(max(0.0, wait_s - (time.monotonic() - t0)))
        if stuck:
            log.warning(
                "stopping with %d request(s) still running (%s): not waiting for them",
                len(stuck),
                ", ".join(stuck),
            )
        self._transport.server_close()
        self._transport = None
        if self._blas_limits is not None:
            self._blas_limits.restore_original_limits()
        sys.setswitchinterval(self._switch_interval)
        if not stuck:  # a stuck request may still be rendering on a plugin host
            self.steps.hosts.close()
        log.info("stopped in %.1f s", time.monotonic() - t0)
        return not stuck

    def __enter__(self) -> OscServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _own(self, call: Call) -> OscSession:
        if call.sess is None:  # the lanes queue session requests only with their session
            raise ProtocolError("bad_args", "the request names no session of yours")
        return call.sess

    def _on_new(self, req: Request, call: Call) -> Reply:
        reply, made = self.steps.open_session(
            req, self._default_dest(call.sender, req.args.get("reply_port")), call.sender[0]
        )
        call.sess = made
        return reply

    def most_recent_session(self) -> str | None:
        return self.sessions.most_recent()

    def _on_ping(self, req: Request) -> Reply:
        return osc.pong(req.request_id, self.groups, len(self.sessions))

    def _on_status(self, req: Request) -> Reply:
        with self._lock:
            c = dict(self.counts)
        return [
            (
                f"{PREFIX}/status/reply",
                (
                    req.request_id,
                    osc.PROTOCOL_VERSION,
                    self.groups,
                    len(self.sessions),
                    c["requests"],
                    c["errors"],
                    float(time.monotonic() - self.started),
                    float(self.sessions.total_bytes() / 2**20),
                    group_states(self.models),
                ),
            )
        ]

    def trigger_step(self, session_id: str | None = None) -> bool:
        """Run "next step" for a session (default: the most recently used), as if the
        device had asked with its latest capture; the reply carries request id -1."""
        sid = session_id or self.most_recent_session()
        if sid is None:
            log.info("MIDI step: no session yet")
            return False
        sess = self.sessions.get(sid)
        if sess is None or self._transport is None or self._stop.is_set():
            return False
        args: tuple[Any, ...] = (NO_REQUEST, sid) + ((sess.last_path,) if sess.last_path else ())
        msg = osc.Message(osc.REQUESTS["step"][0], args, "is" + "s" * (len(args) - 2))
        req = osc.parse_request(msg)
        call = Call(sess.reply_to, sess)
        try:
            self.heavy.put(
                sess.owner,
                sess.id,
                lambda job: self._execute(req, call, None, time.perf_counter(), lambda: self.heavy.done(job)),
                cost_s=self.costs.estimate("step"),
                order=sess.last_rid,
                kind="step",
            )
        except Busy as b:
            log.info("MIDI step: %s", b)
            return False
        return True
