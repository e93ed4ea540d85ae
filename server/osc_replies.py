"""The OSC server's replies: what an error says (:class:`Failure`), how a reply is held to
its request's size for a sender that has not proved its address (no amplification),
encoding, where replies go (the reply port a sender named), and sending."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from serumrnn.server import osc
from serumrnn.server.osc import PREFIX, ProtocolError, Reply, Request
from serumrnn.server.osc_config import MAX_ROUTES
from serumrnn.server.osc_sessions import CachedReply, OscSession, short_id
from serumrnn.server.osc_transport import LogBudget, Stopping, default_dest, reply_budget

if TYPE_CHECKING:
    from serumrnn.server.osc_sessions import Sessions
    from serumrnn.server.osc_transport import Transport

log = logging.getLogger("serumrnn.osc")


@dataclass
class Failure:
    """An error to answer: its code, its message, and a shorter message without the
    client's own path (used when the full one would outgrow the request)."""

    code: str
    text: str
    short: str | None = None
    retry_after_s: float | None = None  # busy: when to retry


def failure_of(e: BaseException) -> Failure | None:
    """The error reply for an exception the server knows how to explain, else None."""
    from serumrnn.server.audio_io import AudioInputError
    from serumrnn.server.models import ModelError
    from serumrnn.server.rack.profile import ProfileError
    from serumrnn.server.rack.render import RenderError

    if isinstance(e, ProtocolError):
        return Failure(e.code, str(e))
    if isinstance(e, AudioInputError):
        return Failure(e.code, str(e), e.reason)
    if isinstance(e, ModelError):
        return Failure(e.code, str(e))
    if isinstance(e, ProfileError):
        return Failure("bad_profile", str(e))
    if isinstance(e, RenderError):
        return Failure("render_error", str(e))
    if isinstance(e, Stopping):
        return Failure("busy", "the server is stopping", retry_after_s=5.0)
    return None


@functools.lru_cache(maxsize=64)
def min_error_bytes(code: str) -> int:
    return osc.min_error_bytes(code)


def log_request(req: Request, what: str) -> None:
    """One log line about a request that needed no work (a replay, a duplicate)."""
    log.info("%s rid=%d session=%s %s", req.name, req.request_id, short_id(req.session) or "-", what)


@dataclass
class Outcome:
    """What running a request gave: a reply, or a failure; where it goes; for the log."""

    reply: Reply | None
    failure: Failure | None
    dest: tuple[str, int]
    sid: str


@dataclass
class Call:
    """Who sent a request and the session of theirs it names (None: none)."""

    sender: tuple[str, int]
    sess: OscSession | None


class Replies:
    """The reply half of :class:`serumrnn.server.osc_server.OscServer` (a mixin: what it
    needs of the server is declared here)."""

    limit: int
    bundles: bool
    size_rule: str
    reply_port: int
    counts: dict[str, int]
    sessions: Sessions
    _lock: threading.Lock
    _routes: OrderedDict[tuple[str, int], int]
    _log_budget: LogBudget
    _transport: Transport | None

    def _budget(self, size: int, sender: tuple[str, int]) -> int | None:
        """The most bytes a reply to a ``size``-byte request from ``sender`` may take when
        the sender has not proved its address (None: no limit but the datagram's)."""
        return reply_budget(size, sender[0], self.size_rule)

    def _replay(self, req: Request, cached: CachedReply, t0: float) -> None:
        dest, datagrams = cached
        self._send_datagrams(datagrams, dest)
        log_request(req, f"replayed from cache {(time.perf_counter() - t0) * 1e3:.1f} ms")

    def _unknown_session(self, req: Request) -> Failure:
        return Failure(
            "unknown_session",
            f"no session {osc.printable(req.session)!r} of "
            "yours (ended, closed, from an earlier server run, or made from "
            f"another address); start one with {PREFIX}/new",
            "no such session",
        )

    def _fit(self, req: Request, out: Outcome, budget: int | None) -> Outcome:
        """``out``, or an error in its place when its reply would outgrow ``budget`` (the
        sender has not proved its address: no reply may be longer than the request)."""
        if out.reply is None or budget is None:
            return out
        size = sum(map(len, osc.to_datagrams(out.reply, self.limit, bundles=self.bundles)))
        if size <= budget:
            return out
        if req.name == "new" and out.sid:
            self.sessions.discard(out.sid)  # its id cannot go out: no one could use it
        return Outcome(
            None,
            Failure(
                "bad_args",
                f"the reply ({size} bytes) would be longer than the request ({budget} bytes) "
                "to an address that has not proved it is yours: pad the request with a "
                f"blob argument of {size - budget} bytes or more",
                "pad the request with a blob argument",
            ),
            out.dest,
            "",
        )

    def _encode(self, req: Request, out: Outcome, budget: int | None) -> list[bytes]:
        try:
            if out.reply is not None:
                return osc.to_datagrams(out.reply, self.limit, bundles=self.bundles)
            f = out.failure or Failure("internal", "the request gave neither a reply nor an error")
            d = self._error_datagram(req.request_id, f, req.address, out.sid, budget)
            if d is None:
                with self._lock:
                    self.counts["unanswered"] += 1
            return [] if d is None else [d]
        except Exception:  # a fault while encoding: still answer, and log it
            log.exception("%s rid=%d: cannot encode the reply", req.name, req.request_id)
            d = self._error_datagram(
                req.request_id,
                Failure(
                    "internal",
                    "internal error while encoding the reply; the server logged it and keeps running",
                ),
                req.address,
                out.sid,
                budget,
            )
            return [] if d is None else [d]

    def _error_datagram(
        self, rid: int, f: Failure, address: str, sid: str, budget: int | None
    ) -> bytes | None:
        """One error datagram within ``budget``; a ``busy`` carries its retry-after (seconds,
        a sixth argument) whenever that fits."""
        cap = budget or self.limit
        if cap < min_error_bytes(f.code):  # not even the barest error fits: no work spent
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

    def _answer_error(
        self,
        rid: int,
        f: Failure,
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
        """Where a successful ping/status/new reply goes (:func:`default_dest`)."""
        return default_dest(sender, reply_port, self.reply_port)

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
                transport.send(d, dest)
            except (OSError, OverflowError, ValueError) as e:  # a bad or gone device must not stop us
                log.warning("cannot send to %s:%d: %s", dest[0], dest[1], e)
