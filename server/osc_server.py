"""The OSC server: the step loop for the Max for Live device, over UDP.

One receive thread (python-osc's UDP server) hands every datagram to a small pool of
daemon worker threads, so a slow step never blocks a ping and a stuck one never blocks
shutdown. Sessions (:mod:`serumrnn.server.osc_sessions`) belong to the address that made them and
are named by a secret id; each has a lock, so one session's requests run one at a time
while different sessions step in parallel. Every failure is an ``/serumrnn/error`` reply
with a stable code, never longer than its request: no input can stop the server or turn
it into an amplifier. What each session request does is :mod:`serumrnn.server.osc_steps`;
the wire format lives in :mod:`serumrnn.server.osc`; ``docs/protocol.md`` is the reference.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from serumrnn.server import osc
from serumrnn.server.osc import NO_REQUEST, PREFIX, ProtocolError, Reply, Request
from serumrnn.server.osc_sessions import (
    IDLE_S,
    REPLY_TTL_S,
    RUNNING,
    CachedReply,
    OscSession,
    Sessions,
    short_id,
)
from serumrnn.server.osc_steps import StepHandlers
from serumrnn.server.osc_transport import (
    LockedRenderer,
    Transport,
    Workers,
    bind_udp,
    is_loopback,
    is_loopback_ip,
    is_unspecified,
    peek_request_id,
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
#: The memory the sessions' sounds may hold in all (serve --session-memory).
DEFAULT_SESSION_MEMORY_MB = 1024
#: How long ``stop`` waits for the requests under way before giving up on them.
STOP_WAIT_S = 3.0
#: Datagrams and bytes waiting for a worker before new ones are refused as ``busy``.
MAX_PENDING, MAX_PENDING_BYTES = 512, 8 << 20
#: Reply ports remembered per sender socket (from ping, status and new).
MAX_ROUTES = 4096
__all__ = ["OscServer", "OscSession", "REPLY_TTL_S"]


@dataclass
class _Failure:
    """An error to answer: its code, its message, and a shorter message without the
    client's own path (used when the full one would outgrow the request)."""

    code: str
    text: str
    short: str | None = None


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
    return None


@dataclass
class _Outcome:
    """What running a request gave: a reply, or a failure; where it goes; for the log."""

    reply: Reply | None
    failure: _Failure | None
    dest: tuple[str, int]
    sid: str


class OscServer:
    """The SerumRNN OSC server. ``models``: group id -> loaded ``GroupModels``.

    ``reply_port`` is where replies go by default (the device's ``udpreceive`` port, at the
    sender's IP); 0 means "to the port the request came from". ``sock``: a UDP socket
    already bound (``bind_udp``), else ``start`` binds (host, port). ``profile_dirs``:
    folders besides the shipped one that ``new`` may take profiles from. ``start`` returns
    at once; ``stop`` ends within about :data:`STOP_WAIT_S` seconds whatever is running.

    ``size_rule``: whose error replies are never longer than their request (see
    :func:`osc.fit_error`). ``"remote"`` (the default): senders off loopback, the only ones
    a forged source address could turn the server into a reflector against; a local
    client gets whole messages. ``"all"``: every sender (the attack campaign and the tests
    measure the rule this way, from loopback).
    """

    def __init__(
        self,
        models: dict[str, GroupModels],
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        reply_port: int = DEFAULT_REPLY_PORT,
        *,
        workers: int = DEFAULT_WORKERS,
        bundles: bool = True,
        datagram_limit: int = osc.MAX_DATAGRAM,
        max_sessions: int = 256,
        sessions_per_client: int = 32,
        session_memory_mb: float = DEFAULT_SESSION_MEMORY_MB,
        idle_s: float | None = None,
        max_pending: int = MAX_PENDING,
        tolerance: int = 1,
        blas_threads: int | None = 1,
        rack: Renderer | None = None,
        loop: str | None = None,
        k: int = 3,
        refine_budget: int = 24,
        rack_order: tuple[str, ...] | None = None,
        sock: socket.socket | None = None,
        profile_dirs: tuple[str | os.PathLike, ...] = (),
        size_rule: str = "remote",
        profile: str | None = None,
    ):
        if not models:
            raise ValueError("the server needs the models of at least one group")
        if size_rule not in ("remote", "all"):
            raise ValueError(f"size_rule is 'remote' or 'all', not {size_rule!r}")
        self.size_rule = size_rule
        self.models, self.host, self.port, self.reply_port = models, host, port, reply_port
        self.bundles, self.limit = bundles, datagram_limit
        from serumrnn.server.loop_settings import DEFAULT_LOOP, LOOPS

        loop = DEFAULT_LOOP if loop is None else loop
        if loop not in LOOPS:
            raise ValueError(f"loop is one of {', '.join(LOOPS)}, not {loop!r}")
        self.rack_order = rack_order
        self.max_pending = max_pending
        self.sessions = Sessions(
            max_total=max_sessions,
            per_client=sessions_per_client,
            memory_bytes=int(session_memory_mb * 2**20),
            idle_s=IDLE_S if idle_s is None else idle_s,
        )
        self.profile_dirs = tuple(Path(d) for d in profile_dirs)
        self.counts = {"requests": 0, "errors": 0, "unanswered": 0}
        self._workers_n = workers
        self._workers: Workers | None = None
        self._lock = threading.Lock()  # counters, pending, routes
        self._pending = self._pending_bytes = 0
        self._routes: OrderedDict[tuple[str, int], int] = OrderedDict()
        self.steps = StepHandlers(
            models,
            self.sessions,
            loop=loop,
            k=k,
            refine_budget=refine_budget,
            tolerance=tolerance,
            rack=None if rack is None else LockedRenderer(rack),
            profile_dirs=self.profile_dirs,
        )
        if profile is not None:  # serve --profile: the sessions' default renderer (checked here)
            from serumrnn.server.rack.profile import find_profile, load_profile

            self.steps.default_profile = load_profile(find_profile(profile, self.profile_dirs))
        self.blas_threads = blas_threads
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
        if not is_loopback(self.host):
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

            settings = (
                RenderSettings() if self.rack_order is None else RenderSettings(rack_order=self.rack_order)
            )
            self.steps.rack = LockedRenderer(OpenRack(settings))
        if self.steps.default_profile is not None:  # its plugins load now, not on the first session
            self.steps.hosts.get(self.steps.default_profile, self.steps.rack.settings)
        sock = self._sock or bind_udp(self.host, self.port)
        self._blas_limits = limit_blas(self.blas_threads)
        self._workers = Workers(self._workers_n, "osc-worker")
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

    def stop(self, wait_s: float = STOP_WAIT_S) -> bool:
        """Stop receiving, give the requests under way ``wait_s`` seconds, tell the
        devices, close. False when a request was still running (it is abandoned: the
        workers are daemon threads)."""
        if self._transport is None:
            return True
        t0 = time.monotonic()
        self._transport.shutdown()
        stuck = (
            [] if self._workers is None else self._workers.stop(max(0.0, wait_s - (time.monotonic() - t0)))
        )
        if stuck:
            log.warning(
                "stopping with %d request(s) still running (%s): not waiting for them",
                len(stuck),
                ", ".join(stuck),
            )
        for d in {s.reply_to for s in self.sessions}:
            self._send([(f"{PREFIX}/stopped", ())], d)
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

    # -- receiving --------------------------------------------------------------------
    def _receive(self, data: bytes, sender: tuple[str, int]) -> None:
        with self._lock:
            busy = self._pending >= self.max_pending or self._pending_bytes + len(data) > MAX_PENDING_BYTES
            if not busy:
                self._pending += 1
                self._pending_bytes += len(data)
        if busy:
            self._answer_error(
                peek_request_id(data),
                _Failure("busy", "too many requests queued; retry shortly"),
                "",
                "",
                self._asker(sender),
                self._budget(len(data), sender),
            )
            return
        try:
            if self._workers is None:  # not started: the transport starts after the workers
                raise RuntimeError("the workers are not started")
            self._workers.submit(self._handle_datagram, data, sender)
        except RuntimeError:  # stopping
            self._done_pending(len(data))

    def _done_pending(self, n: int) -> None:
        with self._lock:
            self._pending -= 1
            self._pending_bytes -= n

    def _handle_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
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
                self.handle_message(m, sender)
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
        except Exception:  # never let a worker die silently
            log.exception("unexpected fault handling a datagram from %s", sender)
        finally:
            self._done_pending(len(data))

    def _budget(self, size: int, sender: tuple[str, int]) -> int | None:
        """The most bytes an error reply to a ``size``-byte request from ``sender`` may
        take (None: no limit but the datagram's)."""
        if not size or (self.size_rule == "remote" and is_loopback_ip(sender[0])):
            return None
        return size

    def handle_message(self, msg: osc.Message, sender: tuple[str, int]) -> None:
        """Answer one message: from the cache for a retried id, else by running it."""
        t0 = time.perf_counter()
        budget = self._budget(msg.size, sender)  # msg.size 0: made by the server (MIDI)
        with self._lock:
            self.counts["requests"] += 1
        try:
            req = osc.parse_request(msg)
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
        scope: OscSession | tuple[str, int] | None = None
        if req.name == "new":
            scope = (sender[0], sender[1])
        elif "session" in req.args:
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
            if req.name in osc.MUTATING:
                scope = sess
        if scope is not None:
            try:
                cached = self.sessions.claim(scope, req.request_id)
            except ProtocolError as e:
                self._answer_error(
                    req.request_id,
                    _Failure(e.code, str(e)),
                    req.address,
                    req.session,
                    self._asker(sender),
                    budget,
                    t0,
                )
                return
            if cached is RUNNING:  # still running
                log.info(
                    "%s rid=%d session=%s duplicate while running: ignored %.1f ms",
                    req.name,
                    req.request_id,
                    short_id(req.session) or "-",
                    (time.perf_counter() - t0) * 1e3,
                )
                return
            if cached is not None:
                self._replay(req, cached, t0)
                return
        out = self._run(req, sender, sess)
        datagrams = self._encode(req, out, budget)
        if scope is not None:  # kept before sending: a retry may follow the reply at once
            self.sessions.store(scope, req.request_id, (out.dest, datagrams))
        self._send_datagrams(datagrams, out.dest)
        what = "ok" if out.failure is None else f"error {out.failure.code}"
        if not datagrams:
            what += " (no reply: the request is shorter than its error)"
        log.info(
            "%s rid=%d session=%s %s %.1f ms",
            req.name,
            req.request_id,
            short_id(out.sid) or "-",
            what,
            (time.perf_counter() - t0) * 1e3,
        )

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

    def _encode(self, req: Request, out: _Outcome, budget: int | None) -> list[bytes]:
        try:
            if out.reply is not None:
                return osc.to_datagrams(out.reply, self.limit, bundles=self.bundles)
            f = out.failure or _Failure("internal", "the request gave neither a reply nor an error")
            d = osc.fit_error(
                req.request_id,
                f.code,
                f.text,
                req.address,
                out.sid,
                budget=budget or self.limit,
                limit=self.limit,
                short_message=f.short,
            )
            if d is None:
                with self._lock:
                    self.counts["unanswered"] += 1
            return [] if d is None else [d]
        except Exception:  # a fault while encoding: still answer, and log it
            log.exception("%s rid=%d: cannot encode the reply", req.name, req.request_id)
            d = osc.fit_error(
                req.request_id,
                "internal",
                "internal error while encoding the reply; the server logged it and keeps running",
                req.address,
                out.sid,
                budget=budget or self.limit,
                limit=self.limit,
            )
            return [] if d is None else [d]

    def _run(self, req: Request, sender: tuple[str, int], sess: OscSession | None) -> _Outcome:
        """Run a parsed request (``sess``: the caller's own session it names)."""
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
            if req.name == "new":
                reply, made = self.steps.open_session(
                    req, self._default_dest(sender, req.args.get("reply_port")), sender[0]
                )
                sid, dest = made.id, made.reply_to
            elif sess is not None:
                dest = sess.reply_to
                reply = getattr(self.steps, f"on_{req.name}")(req, sess)
            else:
                reply = getattr(self, f"_on_{req.name}")(req)
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
            if req.name == "new" or sess is None:
                dest = self._asker(sender, port if valid_port else None)
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
        d = osc.fit_error(
            rid,
            f.code,
            f.text,
            address,
            sid,
            budget=budget or self.limit,
            limit=self.limit,
            short_message=f.short,
        )
        if d is None:
            with self._lock:
                self.counts["unanswered"] += 1
        else:
            self._send_datagrams([d], dest)
        took = f" {(time.perf_counter() - t0) * 1e3:.1f} ms" if t0 else ""
        log.info(
            "%s rid=%d session=%s error %s%s%s",
            address or "<garbage>",
            rid,
            short_id(sid) or "-",
            f.code,
            took,
            "" if d else " (no reply: the request is shorter than its error)",
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
        if self._transport is None:
            return
        for d in datagrams:
            try:
                self._transport.socket.sendto(d, dest)
            except (OSError, OverflowError) as e:  # a bad or gone device must not stop us
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
        if sess is None or self._workers is None:
            return False
        args: tuple = (NO_REQUEST, sid) + ((sess.last_path,) if sess.last_path else ())
        msg = osc.Message(osc.REQUESTS["step"][0], args, "is" + "s" * (len(args) - 2))
        with self._lock:
            self._pending += 1
        try:
            self._workers.submit(self._handle_trigger, msg, sess)
        except RuntimeError:
            self._done_pending(0)
            return False
        return True

    def _handle_trigger(self, msg: osc.Message, sess: OscSession) -> None:
        try:
            req = osc.parse_request(msg)
            out = self._run(req, sess.reply_to, sess)
            for d in self._encode(req, out, None):
                self._send_datagrams([d], out.dest)
            log.info(
                "step (MIDI) session=%s %s",
                short_id(sess.id),
                "ok" if out.failure is None else f"error {out.failure.code}",
            )
        except Exception:
            log.exception("MIDI step failed")
        finally:
            self._done_pending(0)
