"""The OSC server's intake: a datagram from the socket to a queued request. The gate
(:mod:`serumrnn.server.osc_gate`) drops a flood before it is decoded; a request that needs
no work (malformed, an unknown session, a retried id) is answered at once; the rest goes
to its lane of fair queues, and a worker runs it (:meth:`Intake._execute`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from serumrnn.server import osc
from serumrnn.server.osc import NO_REQUEST, ProtocolError, Reply, Request
from serumrnn.server.osc_config import GROWTH_PRIOR, HEAVY, LIGHT
from serumrnn.server.osc_front_link import FrontLink
from serumrnn.server.osc_gate import Gate
from serumrnn.server.osc_memory import give_back_free_memory
from serumrnn.server.osc_replies import Call, Failure, Outcome, Replies, failure_of, log_request
from serumrnn.server.osc_reply_cache import RUNNING, CachedReply, Running
from serumrnn.server.osc_schedule import Busy, CostBook, FairQueue
from serumrnn.server.osc_sessions import OscSession, is_older, short_id

log = logging.getLogger("serumrnn.osc")

#: A request handler: the reply, or raises (ProtocolError with its code, or an error the
#: server maps to one).
Handler = Callable[[Request, Call], Reply]


class Intake(Replies):
    """The intake half of :class:`serumrnn.server.osc_server.OscServer` (a mixin: what it
    needs of the server is declared here)."""

    gate: Gate
    light: FairQueue
    heavy: FairQueue
    costs: CostBook
    handlers: dict[str, Handler]
    _stop: threading.Event
    _growth: dict[str, int]
    _link: FrontLink | None

    def handle_message(self, msg: osc.Message, sender: tuple[str, int]) -> None:
        """Answer one message as if it had come in a datagram (the tests' entry point)."""
        self._admit(msg, sender)

    def _receive(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
            if self._stop.is_set():
                return
            try:
                messages = osc.decode(data)
            except osc.DecodeError as e:
                first = e.partial_args[0] if e.partial_args else None
                rid = first if type(first) is int else NO_REQUEST
                self._answer_error(
                    rid,
                    Failure("bad_packet", f"not an OSC datagram ({len(data)} bytes): {e}"),
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
                    Failure(
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

    def _answered(self, data: bytes, sender: tuple[str, int]) -> None:
        """A ping the front process answered (:mod:`serumrnn.server.osc_front`): counted,
        and its reply port learned, as if it had been answered here."""
        try:
            (msg,) = osc.decode(data)
            req = osc.parse_request(osc.unpadded(msg))
        except (osc.DecodeError, ProtocolError, ValueError):  # pragma: no cover - the front checked it
            return
        with self._lock:
            self.counts["requests"] += 1
        port = req.args.get("reply_port")
        if port is not None and 0 <= port <= 65535:
            self._learn_route(sender, port)
        log.info("ping rid=%d session=- ok (answered by the front process)", req.request_id)

    def _admit(self, msg: osc.Message, sender: tuple[str, int], t0: float | None = None) -> None:
        """Parse one message; answer it at once if it needs no work (a malformed request,
        an unknown session, a retried id), else queue it in its lane."""
        t0 = time.perf_counter() if t0 is None else t0
        budget = self._budget(msg.size, sender)
        with self._lock:
            self.counts["requests"] += 1
        req = self._parse(msg, sender, budget, t0)
        if req is None:
            return
        port = req.args.get("reply_port")
        if port is not None and 0 <= port <= 65535:
            self._learn_route(sender, port)
        sess: OscSession | None = None
        if "session" in req.args:
            sess = self._session_of(req, sender, budget, t0)
            if sess is None:
                return
            self.gate.prove(sender)
        call = Call(sender, sess)
        if req.name in ("ping", "status"):  # microseconds, no side effect: answered at once
            self._execute(req, call, budget, t0)
        elif req.name in LIGHT:
            self._queue(self.light, req, call, budget, t0, key=sender, cost_s=0.0)
        elif sess is not None:  # every heavy request names a session
            self._admit_heavy(req, call, sess, t0)

    def _parse(
        self, msg: osc.Message, sender: tuple[str, int], budget: int | None, t0: float
    ) -> Request | None:
        """The request, or None when it is malformed (answered here)."""
        try:
            return osc.parse_request(osc.unpadded(msg))
        except ProtocolError as e:
            named = self._named_session(msg, sender[0])
            self._answer_error(
                e.request_id,
                Failure(e.code, str(e)),
                msg.address,
                named.id if named else "",
                named.reply_to if named else self._asker(sender),
                budget,
                t0,
            )
            return None

    def _session_of(
        self, req: Request, sender: tuple[str, int], budget: int | None, t0: float
    ) -> OscSession | None:
        """The sender's own session the request names, or None (answered here: a retried
        ``end`` of a session ended lately is replayed, anything else is an unknown session)."""
        sess = self.sessions.owned(req.session, sender[0])
        if sess is not None:
            return sess
        hit = (
            self.sessions.replay_ended(req.session, sender[0], req.request_id) if req.name == "end" else None
        )
        if hit is not None:
            self._replay(req, hit, t0)
        else:
            self._answer_error(
                req.request_id, self._unknown_session(req), req.address, "", self._asker(sender), budget, t0
            )
        return None

    def _admit_heavy(self, req: Request, call: Call, sess: OscSession, t0: float) -> None:
        """A heavy request: in request-id order, within the memory budget, then queued."""
        try:
            self._check_order(req, sess)
            growth = self._growth_of(req.name)
            if growth:
                self.sessions.make_room(sess, growth, req.request_id)
        except ProtocolError as e:
            self._answer_error(
                req.request_id, Failure(e.code, str(e)), req.address, sess.id, sess.reply_to, None, t0
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

    @staticmethod
    def _check_order(req: Request, sess: OscSession) -> None:
        """Refuse a request id older than the session's latest (unless it is a retry of an
        answered one, replayed from the cache)."""
        last = sess.last_rid
        if last is None or req.request_id in (NO_REQUEST, last) or not is_older(req.request_id, last):
            return
        if req.request_id not in sess.replies.items:
            raise ProtocolError(
                "bad_args",
                f"request id {req.request_id} is older than this session's latest "
                f"request ({last}): a session's requests run in id order, "
                "so send each with a larger id",
                req.request_id,
            )

    def _queue(
        self,
        lane: FairQueue,
        req: Request,
        call: Call,
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
        try:
            cached = self._claim(req, call, scope)
        except ProtocolError as e:
            self._refuse(req, call, Failure(e.code, str(e), retry_after_s=1.0), budget, t0)
            return
        if cached is RUNNING:
            self._answer_working(req, call, budget)
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
            self._unclaim(req, call, scope)
            with self._lock:
                self.counts["busy"] += 1
            busy = Failure("busy", f"{b}; retry in {b.retry_after_s:.1f} s", retry_after_s=b.retry_after_s)
            self._refuse(req, call, busy, budget, t0)
            return
        if sess is not None and req.name in HEAVY and req.request_id != NO_REQUEST:
            if sess.last_rid is None or is_older(sess.last_rid, req.request_id):
                sess.last_rid = req.request_id

    def _answer_working(self, req: Request, call: Call, budget: int | None) -> None:
        """A retry of a request still queued or running: not run again; ``working`` tells
        the sender its first copy arrived (within the reply budget, like any reply)."""
        datagrams = osc.to_datagrams(osc.working(req.request_id, req.name, req.session), self.limit)
        sent = budget is None or sum(map(len, datagrams)) <= budget
        if sent:
            self._send_datagrams(datagrams, self._answer_to(call))
        log_request(
            req,
            "duplicate while queued or running: "
            + ("answered working" if sent else "not answered (the request is shorter than working)"),
        )

    def _claim(self, req: Request, call: Call, scope: OscSession | None) -> CachedReply | Running | None:
        """Mark the request id running in its reply cache; what the cache held for it."""
        if req.name == "new":
            return self.sessions.claim_new(call.sender, req.request_id)
        if scope is not None:
            return self.sessions.claim(scope, req.request_id)
        return None

    def _unclaim(self, req: Request, call: Call, scope: OscSession | None) -> None:
        """Forget a claimed request that never ran."""
        if req.name == "new":
            self.sessions.store_new(call.sender, req.request_id, None)
        elif scope is not None:
            self.sessions.release(scope, req.request_id)

    def _answer_to(self, call: Call) -> tuple[str, int]:
        """Where an answer that ran no work (an error, ``working``) goes: the session's
        reply address, else the sender's (:meth:`_asker`)."""
        return self._asker(call.sender) if call.sess is None else call.sess.reply_to

    def _refuse(self, req: Request, call: Call, failure: Failure, budget: int | None, t0: float) -> None:
        self._answer_error(
            req.request_id, failure, req.address, req.session, self._answer_to(call), budget, t0
        )

    def _execute(
        self,
        req: Request,
        call: Call,
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
        if req.name in HEAVY or req.name == "end":
            # after end too: an ended session's memory goes back to the system at once,
            # not at the next heavy request
            give_back_free_memory()
        datagrams = self._encode(req, out, budget)
        self._keep(req, call, out, datagrams)  # before sending: a retry may follow the reply at once
        if self._link is not None and req.name in ("new", "end"):
            self._link.send_state()  # the front's pongs count the sessions this reply opened or ended
        finished()
        self._send_datagrams(datagrams, out.dest)
        self._log_done(req, call, out, bool(datagrams), t0, started)

    def _keep(self, req: Request, call: Call, out: Outcome, datagrams: list[bytes]) -> None:
        """Keep the reply for a retried request id (a failed ``new`` is not kept)."""
        if req.name == "new":
            ok = out.failure is None and bool(datagrams)
            self.sessions.store_new(call.sender, req.request_id, (out.dest, datagrams) if ok else None)
            if ok:
                self.gate.prove(call.sender)
        elif call.sess is not None and req.name in osc.MUTATING:
            self.sessions.store(call.sess, req.request_id, (out.dest, datagrams))

    def _log_done(
        self, req: Request, call: Call, out: Outcome, sent: bool, t0: float, started: float
    ) -> None:
        what = "ok" if out.failure is None else f"error {out.failure.code}"
        if not sent:
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

    def _run(self, req: Request, call: Call) -> Outcome:
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
            return Outcome(reply, None, dest, sid)
        except Exception as e:
            failure = failure_of(e)
            if failure is None:
                log.exception(
                    "%s rid=%d session=%s: internal fault", req.name, req.request_id, short_id(sid) or "-"
                )
                failure = Failure(
                    "internal", f"internal error ({type(e).__name__}); the server logged it and keeps running"
                )
            if req.name == "new" or call.sess is None:
                dest = self._asker(sender, port if valid_port else None)
                sid = "" if req.name == "new" else sid
            else:
                dest = call.sess.reply_to
            with self._lock:
                self.counts["errors"] += 1
            return Outcome(None, failure, dest, sid)

    def _named_session(self, msg: osc.Message, ip: str) -> OscSession | None:
        """The caller's own open session a malformed message names (its second argument),
        if any: its error then goes to that session's reply port, where the device listens."""
        if len(msg.args) > 1 and isinstance(msg.args[1], str):
            return self.sessions.owned(msg.args[1], ip, touch=False)
        return None

    def _growth_of(self, kind: str) -> int:
        with self._lock:
            return self._growth.get(kind, GROWTH_PRIOR.get(kind, 0))

    def _learn_growth(self, kind: str, grew: int) -> None:
        """The most a request of ``kind`` has added to a session (what admission reserves)."""
        with self._lock:
            seen = self._growth.get(kind)
            self._growth[kind] = max(0, grew) if seen is None else max(seen, grew)
