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
import functools
import logging
import math
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from serumrnn.server import osc
from serumrnn.server.loop_settings import DEFAULT_K, DEFAULT_LOOP, REFINE_BUDGET
from serumrnn.server.osc import NO_REQUEST, PREFIX, ProtocolError, Reply, Request
from serumrnn.server.osc_gate import Gate
from serumrnn.server.osc_schedule import Busy, CostBook, FairQueue, WorkerPool
from serumrnn.server.osc_sessions import (
    IDLE_S,
    REPLY_TTL_S,
    RUNNING,
    SOUND_BYTES,
    TARGET_BYTES,
    CachedReply,
    OscSession,
    Sessions,
    is_older,
    short_id,
)
from serumrnn.server.osc_steps import StepHandlers
from serumrnn.server.osc_transport import (
    GuardedGroups,
    LockedRenderer,
    LogBudget,
    Stopping,
    Transport,
    bind_udp,
    is_loopback,
    is_loopback_ip,
    is_unspecified,
)
from serumrnn.server.startup import BlasLimits, group_states, limit_blas

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.render import Renderer

log = logging.getLogger("serumrnn.osc")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9870
DEFAULT_REPLY_PORT = 9871
#: Requests handled at once. More than the cores only adds contention: on 2 busy cores,
#: 20 clients got 48 steps/s with 2 workers and 32 with 4.
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))
#: The memory the sessions may hold in all (serve --session-memory).
DEFAULT_SESSION_MEMORY_MB = 1024
#: How long ``stop`` waits for the requests under way before giving up on them.
STOP_WAIT_S = 3.0
#: Requests waiting in all before new ones are refused as ``busy``.
MAX_PENDING = 512
#: The most estimated seconds of heavy work one client may have queued and running; more
#: is refused ``busy`` with a retry-after (the client could not be served in time).
QUEUE_BOUND_S = 20.0
#: Light requests one socket, and one address, may have waiting.
LIGHT_PER_SOCKET, LIGHT_PER_ADDRESS = 2 * osc.MAX_MESSAGES, 256
#: Heavy requests one session may have waiting (its reply cache holds 8).
HEAVY_PER_SESSION = 4
#: Requests by lane: light ones never wait behind a heavy one (``ping`` and ``status`` are
#: answered on the receive thread itself; ``new`` and ``end`` have a thread of their own).
LIGHT = frozenset({"ping", "status", "new", "end"})
HEAVY = frozenset({"target", "step", "undo", "reset"})
#: What a heavy request costs before any was measured (seconds; a step on the shipped
#: models takes 2.6-3.9 s of a worker on 2 cores), and the bytes it may add to a session
#: before any was measured (a target: its features, the input; a step: one sound).
COST_PRIOR_S = {"target": 1.5, "step": 3.0, "undo": 0.05, "reset": 0.5}
GROWTH_PRIOR = {"target": TARGET_BYTES + SOUND_BYTES, "step": SOUND_BYTES, "undo": 0, "reset": SOUND_BYTES}
#: Reply ports remembered per sender socket (from ping, status and new).
MAX_ROUTES = 4096
#: Ranges of the options ``serve`` checks at start (see :meth:`ServerConfig.check`).
PORT_RANGE, REPLY_PORT_RANGE = (0, 65535), (0, 65535)
__all__ = ["OscServer", "OscSession", "REPLY_TTL_S", "ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``serve`` decides about the server (see ``serumrnn serve --help``).

    ``reply_port``: where replies go by default (the device's ``udpreceive`` port, at the
    sender's IP); 0 means "to the port the request came from". ``size_rule``: whose replies
    are held to their request's size: ``"remote"`` (the default) senders off loopback, the
    only ones a forged source address could turn the server into a reflector against;
    ``"all"`` every sender (the attack campaign and the tests measure the rule this way).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    reply_port: int = DEFAULT_REPLY_PORT
    workers: int = DEFAULT_WORKERS
    bundles: bool = True
    datagram_limit: int = osc.MAX_DATAGRAM
    max_sessions: int = 256
    sessions_per_client: int = 32
    session_memory_mb: float = DEFAULT_SESSION_MEMORY_MB
    idle_s: float = IDLE_S
    max_pending: int = MAX_PENDING
    queue_bound_s: float = QUEUE_BOUND_S
    tolerance: int = 1
    blas_threads: int | None = 1
    loop: str = DEFAULT_LOOP
    k: int = DEFAULT_K
    refine_budget: int = REFINE_BUDGET
    rack_order: tuple[str, ...] | None = None
    profile_dirs: tuple[str | os.PathLike, ...] = ()
    size_rule: str = "remote"
    profile: str | None = None  # serve --profile: the sessions' default plugin profile

    @property
    def remote(self) -> bool:
        """Whether the server listens beyond this machine (then loopback senders are no
        longer the only ones, and each address counts as its own client)."""
        return not is_loopback(self.host)

    def check(self) -> None:
        """Raise ``ValueError`` with one line naming the first option out of its range."""
        from serumrnn.server.loop_settings import LOOPS

        def need(ok: bool, text: str) -> None:
            if not ok:
                raise ValueError(text)

        need(PORT_RANGE[0] <= self.port <= PORT_RANGE[1], f"--port {self.port} is not a UDP port (0-65535)")
        need(
            REPLY_PORT_RANGE[0] <= self.reply_port <= REPLY_PORT_RANGE[1],
            f"--reply-port {self.reply_port} is not a UDP port (0-65535; 0: the port a request came from)",
        )
        need(self.workers >= 1, f"--workers {self.workers}: at least 1")
        need(self.max_sessions >= 1, f"--max-sessions {self.max_sessions}: at least 1")
        need(self.sessions_per_client >= 1, f"--sessions-per-client {self.sessions_per_client}: at least 1")
        need(
            math.isfinite(self.session_memory_mb) and self.session_memory_mb > 0,
            f"--session-memory {self.session_memory_mb}: a positive number of MB",
        )
        need(self.tolerance >= 0, f"--tolerance {self.tolerance}: 0 or more")
        need(self.k >= 1, f"--k {self.k}: at least 1")
        need(self.refine_budget >= 0, f"--refine-budget {self.refine_budget}: 0 or more")
        need(self.size_rule in ("remote", "all"), f"size_rule is 'remote' or 'all', not {self.size_rule!r}")
        need(self.loop in LOOPS, f"loop is one of {', '.join(LOOPS)}, not {self.loop!r}")
        need(
            self.idle_s > 0 and self.queue_bound_s > 0 and self.max_pending >= 1,
            "idle, queue bounds: positive",
        )
        need(256 <= self.datagram_limit <= 65507, f"datagram_limit {self.datagram_limit}: 256-65507")


@dataclass
class _Failure:
    """An error to answer: its code, its message, and a shorter message without the
    client's own path (used when the full one would outgrow the request)."""

    code: str
    text: str
    short: str | None = None
    retry_after_s: float | None = None  # busy: when to retry


def _failure(e: BaseException) -> _Failure | None:
    """The error reply for an exception the server knows how to explain, else None."""
    from serumrnn.server.audio_io import AudioInputError
    from serumrnn.server.models import ModelError
    from serumrnn.server.rack.profile import ProfileError
    from serumrnn.server.rack.render import RenderError

    if isinstance(e, ProtocolError):
        return _Failure(e.code, str(e))
    if isinstance(e, AudioInputError):
        return _Failure(e.code, str(e), e.reason)
    if isinstance(e, ModelError):
        return _Failure(e.code, str(e))
    if isinstance(e, ProfileError):
        return _Failure("bad_profile", str(e))
    if isinstance(e, RenderError):
        return _Failure("render_error", str(e))
    if isinstance(e, Stopping):
        return _Failure("busy", "the server is stopping", retry_after_s=5.0)
    return None


@functools.lru_cache(maxsize=64)
def _min_error_bytes(code: str) -> int:
    return osc.min_error_bytes(code)


@dataclass
class _Outcome:
    """What running a request gave: a reply, or a failure; where it goes; for the log."""

    reply: Reply | None
    failure: _Failure | None
    dest: tuple[str, int]
    sid: str


@dataclass
class _Call:
    """Who sent a request and the session of theirs it names (None: none)."""

    sender: tuple[str, int]
    sess: OscSession | None


#: A request handler: the reply, or raises (ProtocolError with its code, or an error the
#: server maps to one).
Handler = Callable[[Request, _Call], Reply]


class OscServer:
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
            tolerance=cfg.tolerance,
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
        self._sock = sock
        self._transport: Transport | None = None
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
        self._pools = [
            WorkerPool(self.light, 1, "osc-light", self._job_failed),
            WorkerPool(self.heavy, self.config.workers, "osc-worker", self._job_failed),
        ]
        self._transport = Transport(sock, self._receive)
        self._thread = threading.Thread(
            target=self._transport.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="osc-receive",
            daemon=True,
        )
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
        if not stuck:  # a stuck request may still be rendering on a plugin host
            self.steps.hosts.close()
        log.info("stopped in %.1f s", time.monotonic() - t0)
        return not stuck

    def __enter__(self) -> OscServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- receiving: decode, answer at once what needs no work, queue the rest ------------
    def _receive(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
            if self._stop.is_set() or not self.gate.admit(data, sender):
                return
            try:
                messages = osc.decode(data)
            except osc.DecodeError as e:
                first = e.partial_args[0] if e.partial_args else None
                rid = first if type(first) is int else NO_REQUEST
                self._answer_error(
                    rid,
                    _Failure("bad_packet", f"not an OSC datagram ({len(data)} bytes): {e}"),
                    e.address or "",
                    "",
                    self._asker(sender),
                    self._budget(len(data), sender),
                )
                return
            run, rest = messages[: osc.MAX_MESSAGES], messages[osc.MAX_MESSAGES :]
            for m in run:
                self._admit(m, sender)
            if rest:  # one error for all the rest, no longer than they are
                self._answer_error(
                    osc.request_id_of(rest[0]),
                    _Failure(
                        "too_many_messages",
                        f"{len(rest)} of the datagram's "
                        f"{len(messages)} messages were not run: at most "
                        f"{osc.MAX_MESSAGES} per datagram",
                    ),
                    "",
                    "",
                    self._asker(sender),
                    self._budget(sum(m.size for m in rest), sender),
                )
        except Exception:  # the receive thread must never die
            log.exception("unexpected fault receiving a datagram from %s", sender)

    def _budget(self, size: int, sender: tuple[str, int]) -> int | None:
        """The most bytes a reply to a ``size``-byte request from ``sender`` may take when
        the sender has not proved its address (None: no limit but the datagram's)."""
        if not size or (self.size_rule == "remote" and is_loopback_ip(sender[0])):
            return None
        return size

    @staticmethod
    def _unpadded(msg: osc.Message) -> osc.Message:
        """``msg`` without a trailing blob: padding a client adds so that a reply to an
        address it has not proved may be as long as the request (see docs/protocol.md)."""
        if msg.types.endswith("b") and msg.args:
            return osc.Message(msg.address, msg.args[:-1], msg.types[:-1], msg.size)
        return msg

    def _admit(self, msg: osc.Message, sender: tuple[str, int], t0: float | None = None) -> None:
        """Parse one message; answer it at once if it needs no work (a malformed request,
        an unknown session, a retried id), else queue it in its lane."""
        t0 = time.perf_counter() if t0 is None else t0
        budget = self._budget(msg.size, sender)
        with self._lock:
            self.counts["requests"] += 1
        try:
            req = osc.parse_request(self._unpadded(msg))
        except ProtocolError as e:
            named = self._named_session(msg, sender[0])
            self._answer_error(
                e.request_id,
                _Failure(e.code, str(e)),
                msg.address,
                named.id if named else "",
                named.reply_to if named else self._asker(sender),
                budget,
                t0,
            )
            return
        port = req.args.get("reply_port")
        if port is not None and 0 <= port <= 65535:
            self._learn_route(sender, port)
        sess: OscSession | None = None
        if "session" in req.args:
            sess = self.sessions.owned(req.session, sender[0])
            if sess is None:
                hit = (
                    self.sessions.replay_ended(req.session, sender[0], req.request_id)
                    if req.name == "end"
                    else None
                )
                if hit is not None:
                    self._replay(req, hit, t0)
                    return
                self._answer_error(
                    req.request_id,
                    self._unknown_session(req),
                    req.address,
                    "",
                    self._asker(sender),
                    budget,
                    t0,
                )
                return
            self.gate.prove(sender)
        call = _Call(sender, sess)
        if req.name in ("ping", "status"):  # microseconds, no side effect: answered at once
            self._execute(req, call, budget, t0)
            return
        if req.name in LIGHT:
            self._queue(self.light, req, call, budget, t0, key=sender, cost_s=0.0)
            return
        assert sess is not None  # every heavy request names a session
        try:
            if sess.last_rid is not None and req.request_id != NO_REQUEST:
                if req.request_id != sess.last_rid and is_older(req.request_id, sess.last_rid):
                    cached = sess.replies.items.get(req.request_id)
                    if cached is None:  # a retry of an answered one is replayed below
                        raise ProtocolError(
                            "bad_args",
                            f"request id {req.request_id} is older than this session's latest "
                            f"request ({sess.last_rid}): a session's requests run in id order, "
                            "so send each with a larger id",
                            req.request_id,
                        )
            growth = self._growth_of(req.name)
            if growth:
                self.sessions.make_room(sess, growth, req.request_id)
        except ProtocolError as e:
            self._answer_error(
                req.request_id, _Failure(e.code, str(e)), req.address, sess.id, sess.reply_to, None, t0
            )
            return
        self._queue(
            self.heavy,
            req,
            call,
            None,  # names its session's secret id: the sender has proved its address
            t0,
            key=sess.id,
            cost_s=self.costs.estimate(req.name),
            order=req.request_id,
        )

    def _queue(
        self,
        lane: FairQueue,
        req: Request,
        call: _Call,
        budget: int | None,
        t0: float,
        *,
        key: object,
        cost_s: float,
        order: int | None = None,
    ) -> None:
        """Claim the request id (a retry is replayed or ignored here) and queue the request;
        a lane that is full for this client answers ``busy`` with a retry-after."""
        sess = call.sess
        scope = sess if req.name in osc.MUTATING and req.name != "new" else None

        def refuse(failure: _Failure) -> None:
            to = self._asker(call.sender) if sess is None else sess.reply_to
            self._answer_error(req.request_id, failure, req.address, req.session, to, budget, t0)

        try:
            if req.name == "new":
                cached = self.sessions.claim_new(call.sender, req.request_id)
            elif scope is not None:
                cached = self.sessions.claim(scope, req.request_id)
            else:
                cached = None
        except ProtocolError as e:
            refuse(_Failure(e.code, str(e), retry_after_s=1.0))
            return
        if cached is RUNNING:
            log.info(
                "%s rid=%d session=%s duplicate while queued or running: ignored",
                req.name,
                req.request_id,
                short_id(req.session) or "-",
            )
            return
        if cached is not None:
            self._replay(req, cached, t0)
            return
        try:
            lane.put(
                call.sender[0],
                key,
                lambda job: self._execute(req, call, budget, t0, lambda: lane.done(job)),
                cost_s=cost_s,
                order=order,
                kind=req.name,
            )
        except Busy as b:
            if req.name == "new":
                self.sessions.store_new(call.sender, req.request_id, None)
            elif scope is not None:
                self.sessions.release(scope, req.request_id)
            with self._lock:
                self.counts["busy"] += 1
            refuse(_Failure("busy", f"{b}; retry in {b.retry_after_s:.1f} s", retry_after_s=b.retry_after_s))
            return
        if sess is not None and req.name in HEAVY and req.request_id != NO_REQUEST:
            if sess.last_rid is None or is_older(sess.last_rid, req.request_id):
                sess.last_rid = req.request_id

    def _execute(
        self,
        req: Request,
        call: _Call,
        budget: int | None,
        t0: float,
        finished: Callable[[], None] = lambda: None,
    ) -> None:
        """Run a queued request (on a worker), answer it, keep its reply for retries.
        ``finished``: tells the lane the work is done, before the reply goes out."""
        if self._stop.is_set():
            return
        sess = call.sess
        started = time.perf_counter()
        before = sess.nbytes if sess is not None else 0
        out = self._fit(req, self._run(req, call), budget)
        if req.name in HEAVY:
            self.costs.record(req.name, time.perf_counter() - started)
            if sess is not None and out.failure is None:
                self._learn_growth(req.name, sess.nbytes - before)
        datagrams = self._encode(req, out, budget)
        # kept before sending: a retry may follow the reply at once
        if req.name == "new":
            ok = out.failure is None and bool(datagrams)
            self.sessions.store_new(call.sender, req.request_id, (out.dest, datagrams) if ok else None)
            if ok:
                self.gate.prove(call.sender)
        elif sess is not None and req.name in osc.MUTATING:
            self.sessions.store(sess, req.request_id, (out.dest, datagrams))
        finished()
        self._send_datagrams(datagrams, out.dest)
        what = "ok" if out.failure is None else f"error {out.failure.code}"
        if not datagrams:
            what += " (no reply: the request is shorter than its reply)"
        if out.failure is not None:  # a flood of failing requests: a few lines a second
            skipped = self._log_budget.take(self.sessions.client(call.sender[0]))
            if skipped is None:
                return
            if skipped:
                what += f" ({skipped} more error lines of this client left out)"
        log.info(
            "%s rid=%d session=%s %s %.1f ms (waited %.1f ms)",
            req.name,
            req.request_id,
            short_id(out.sid) or "-",
            what,
            (time.perf_counter() - t0) * 1e3,
            (started - t0) * 1e3,
        )

    def _growth_of(self, kind: str) -> int:
        with self._lock:
            return self._growth.get(kind, GROWTH_PRIOR.get(kind, 0))

    def _learn_growth(self, kind: str, grew: int) -> None:
        """The most a request of ``kind`` has added to a session (what admission reserves)."""
        with self._lock:
            seen = self._growth.get(kind)
            self._growth[kind] = max(0, grew) if seen is None else max(seen, grew)

    def handle_message(self, msg: osc.Message, sender: tuple[str, int]) -> None:
        """Answer one message as if it had come in a datagram (the tests' entry point)."""
        self._admit(msg, sender)

    def _replay(self, req: Request, cached: CachedReply, t0: float) -> None:
        dest, datagrams = cached
        self._send_datagrams(datagrams, dest)
        log.info(
            "%s rid=%d session=%s replayed from cache %.1f ms",
            req.name,
            req.request_id,
            short_id(req.session) or "-",
            (time.perf_counter() - t0) * 1e3,
        )

    def _unknown_session(self, req: Request) -> _Failure:
        return _Failure(
            "unknown_session",
            f"no session {osc.printable(req.session)!r} of "
            "yours (ended, closed, from an earlier server run, or made from "
            f"another address); start one with {PREFIX}/new",
            "no such session",
        )

    def _fit(self, req: Request, out: _Outcome, budget: int | None) -> _Outcome:
        """``out``, or an error in its place when its reply would outgrow ``budget`` (the
        sender has not proved its address: no reply may be longer than the request)."""
        if out.reply is None or budget is None:
            return out
        size = sum(map(len, osc.to_datagrams(out.reply, self.limit, bundles=self.bundles)))
        if size <= budget:
            return out
        if req.name == "new" and out.sid:
            self.sessions.discard(out.sid)  # its id cannot go out: no one could use it
        return _Outcome(
            None,
            _Failure(
                "bad_args",
                f"the reply ({size} bytes) would be longer than the request ({budget} bytes) "
                "to an address that has not proved it is yours: pad the request with a "
                f"blob argument of {size - budget} bytes or more",
                "pad the request with a blob argument",
            ),
            out.dest,
            "",
        )

    def _encode(self, req: Request, out: _Outcome, budget: int | None) -> list[bytes]:
        try:
            if out.reply is not None:
                return osc.to_datagrams(out.reply, self.limit, bundles=self.bundles)
            f = out.failure or _Failure("internal", "the request gave neither a reply nor an error")
            d = self._error_datagram(req.request_id, f, req.address, out.sid, budget)
            if d is None:
                with self._lock:
                    self.counts["unanswered"] += 1
            return [] if d is None else [d]
        except Exception:  # a fault while encoding: still answer, and log it
            log.exception("%s rid=%d: cannot encode the reply", req.name, req.request_id)
            d = self._error_datagram(
                req.request_id,
                _Failure(
                    "internal",
                    "internal error while encoding the reply; the server logged it and keeps running",
                ),
                req.address,
                out.sid,
                budget,
            )
            return [] if d is None else [d]

    def _error_datagram(
        self, rid: int, f: _Failure, address: str, sid: str, budget: int | None
    ) -> bytes | None:
        """One error datagram within ``budget``; a ``busy`` carries its retry-after (seconds,
        a sixth argument) whenever that fits."""
        cap = budget or self.limit
        if cap < _min_error_bytes(f.code):  # not even the barest error fits: no work spent
            return None
        if f.retry_after_s is not None:
            after = float(round(f.retry_after_s, 1))
            for text, a, s in ((f.text, address, sid), (f.text, "", ""), ("retry later", "", "")):
                data = osc.encode(f"{PREFIX}/error", (rid, f.code, text, a, s, after))
                if len(data) <= min(cap, self.limit):
                    return data
        return osc.fit_error(
            rid, f.code, f.text, address, sid, budget=cap, limit=self.limit, short_message=f.short
        )

    def _own(self, call: _Call) -> OscSession:
        if call.sess is None:  # the lanes queue session requests only with their session
            raise ProtocolError("bad_args", "the request names no session of yours")
        return call.sess

    def _on_new(self, req: Request, call: _Call) -> Reply:
        reply, made = self.steps.open_session(
            req, self._default_dest(call.sender, req.args.get("reply_port")), call.sender[0]
        )
        call.sess = made
        return reply

    def _run(self, req: Request, call: _Call) -> _Outcome:
        """Run a parsed request by its handler."""
        sender = call.sender
        port = req.args.get("reply_port")
        valid_port = port is None or 0 <= port <= 65535
        dest = self._default_dest(sender, port if valid_port else None)
        sid = req.session
        try:
            if not valid_port:
                raise ProtocolError(
                    "bad_args",
                    f"reply_port {port} is not a UDP port (0-65535; 0 = the port the request came from)",
                    req.request_id,
                )
            had = call.sess
            reply = self.handlers[req.name](req, call)
            if call.sess is not None:
                sid, dest = call.sess.id, call.sess.reply_to
            if had is None and req.name != "new":
                dest = self._default_dest(sender, port)
            return _Outcome(reply, None, dest, sid)
        except Exception as e:
            failure = _failure(e)
            if failure is None:
                log.exception(
                    "%s rid=%d session=%s: internal fault", req.name, req.request_id, short_id(sid) or "-"
                )
                failure = _Failure(
                    "internal", f"internal error ({type(e).__name__}); the server logged it and keeps running"
                )
            if req.name == "new" or call.sess is None:
                dest = self._asker(sender, port if valid_port else None)
                sid = "" if req.name == "new" else sid
            else:
                dest = call.sess.reply_to
            with self._lock:
                self.counts["errors"] += 1
            return _Outcome(None, failure, dest, sid)

    def _named_session(self, msg: osc.Message, ip: str) -> OscSession | None:
        """The caller's own open session a malformed message names (its second argument),
        if any: its error then goes to that session's reply port, where the device listens."""
        if len(msg.args) > 1 and isinstance(msg.args[1], str):
            return self.sessions.owned(msg.args[1], ip, touch=False)
        return None

    def _answer_error(
        self,
        rid: int,
        f: _Failure,
        address: str,
        sid: str,
        dest: tuple[str, int],
        budget: int | None,
        t0: float | None = None,
    ) -> None:
        with self._lock:
            self.counts["errors"] += 1
        d = self._error_datagram(rid, f, address, sid, budget)
        if d is None:
            with self._lock:
                self.counts["unanswered"] += 1
        else:
            self._send_datagrams([d], dest)
        skipped = self._log_budget.take(self.sessions.client(dest[0]))
        if skipped is None:  # a flood: counted, and said in the next line written
            return
        took = f" {(time.perf_counter() - t0) * 1e3:.1f} ms" if t0 else ""
        log.info(
            "%s rid=%d session=%s error %s%s%s%s",
            address or "<garbage>",
            rid,
            short_id(sid) or "-",
            f.code,
            took,
            "" if d else " (no reply: the request is shorter than its error)",
            f" ({skipped} more error lines of this client left out)" if skipped else "",
        )

    # -- where replies go -----------------------------------------------------------
    def _learn_route(self, sender: tuple[str, int], port: int) -> None:
        """Remember the reply port a sender socket named (0: its own port)."""
        with self._lock:
            self._routes[sender] = port
            self._routes.move_to_end(sender)
            while len(self._routes) > MAX_ROUTES:
                self._routes.popitem(last=False)

    def _asker(self, sender: tuple[str, int], reply_port: int | None = None) -> tuple[str, int]:
        """Where an error goes when no session of the sender's is involved: the port this
        request, or an earlier ping/status/new from the same socket, named; else back to
        the socket it came from. Never to anyone else's port."""
        if reply_port is None:
            with self._lock:
                reply_port = self._routes.get(sender)
        return sender[0], reply_port or sender[1]

    def _default_dest(self, sender: tuple[str, int], reply_port: int | None = None) -> tuple[str, int]:
        """Where a successful ping/status/new reply goes: the named port, else the
        server's reply port (the device's), at the sender's address."""
        port = self.reply_port if reply_port is None else reply_port
        return sender[0], port or sender[1]

    # -- sending ----------------------------------------------------------------------
    def _send(self, reply: Reply, dest: tuple[str, int]) -> list[bytes]:
        datagrams = osc.to_datagrams(reply, self.limit, bundles=self.bundles)
        self._send_datagrams(datagrams, dest)
        return datagrams

    def _send_datagrams(self, datagrams: list[bytes], dest: tuple[str, int]) -> None:
        transport = self._transport
        if transport is None:
            return
        for d in datagrams:
            try:
                transport.socket.sendto(d, dest)
            except (OSError, OverflowError, ValueError) as e:  # a bad or gone device must not stop us
                log.warning("cannot send to %s:%d: %s", dest[0], dest[1], e)

    # -- sessions ---------------------------------------------------------------------
    def most_recent_session(self) -> str | None:
        return self.sessions.most_recent()

    # -- handlers: each returns the reply or raises -----------------------------------
    def _on_ping(self, req: Request) -> Reply:
        return [(f"{PREFIX}/pong", (req.request_id, osc.PROTOCOL_VERSION, self.groups, len(self.sessions)))]

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

    # -- steps the server starts (MIDI) -----------------------------------------------
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
        args: tuple = (NO_REQUEST, sid) + ((sess.last_path,) if sess.last_path else ())
        msg = osc.Message(osc.REQUESTS["step"][0], args, "is" + "s" * (len(args) - 2))
        req = osc.parse_request(msg)
        call = _Call(sess.reply_to, sess)
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
