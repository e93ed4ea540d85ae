"""Replies kept for retried requests: a session's own (:class:`SessionReplies`) and the
replies to ``new`` per sender socket (:class:`NewReplies`), bounded so that one client
cannot push out another's, and never holding a failed ``new``."""

from __future__ import annotations

import enum
from collections import Counter, OrderedDict
from typing import Final

from serumrnn.server.osc import ProtocolError

#: How long a reply is kept for a retried request id.
REPLY_TTL_S = 120.0
#: A reply kept for a retried request: where it went and its datagrams.
CachedReply = tuple[tuple[str, int], list[bytes]]


class Running(enum.Enum):
    """The mark of a request whose reply is not known yet (a retry of it is ignored)."""

    RUNNING = "running"


RUNNING: Final = Running.RUNNING


class SessionReplies:
    """Replies by request id for :data:`REPLY_TTL_S`, at most ``capacity`` of them."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.items: OrderedDict[int, tuple[float, CachedReply | Running]] = OrderedDict()

    def expire(self, now: float) -> None:
        for rid in [r for r, (t, v) in self.items.items() if now - t >= REPLY_TTL_S and v is not RUNNING]:
            del self.items[rid]

    def claim(self, rid: int, now: float) -> CachedReply | Running | None:
        """None: run it (now marked running); :data:`RUNNING`; the cached reply; or
        raises ``busy`` when every kept entry is still running."""
        self.expire(now)
        hit = self.items.get(rid)
        if hit is not None:
            return hit[1]
        if len(self.items) >= self.capacity:
            done = next((r for r, (_, v) in self.items.items() if v is not RUNNING), None)
            if done is None:
                raise ProtocolError(
                    "busy",
                    f"{len(self.items)} requests of this session or sender are still running; retry shortly",
                    rid,
                )
            del self.items[done]
        self.items[rid] = (now, RUNNING)
        return None

    def store(self, rid: int, value: CachedReply, now: float) -> None:
        self.items[rid] = (now, value)
        self.items.move_to_end(rid)

    def __len__(self) -> int:
        return len(self.items)


class NewReplies:
    """Replies to ``new`` by (sender socket, request id), kept :data:`REPLY_TTL_S`: at most
    ``per_client`` entries of one client (:func:`client_of`) and ``total`` in all. A client
    at its share pushes out its own oldest finished entry, never another's (a client at
    the total pushes out the oldest finished entry of the client with the most); an entry
    still running is never pushed out (``busy`` instead). Only successful replies are kept:
    :meth:`release` forgets a failed ``new`` at once."""

    def __init__(self, per_client: int, total: int):
        self.per_client, self.total = per_client, total
        self.items: OrderedDict[tuple[tuple[str, int], int], tuple[float, CachedReply | Running, str]] = (
            OrderedDict()
        )
        self.counts: Counter[str] = Counter()

    def _drop(self, key: tuple[tuple[str, int], int]) -> None:
        _, _, client = self.items.pop(key)
        self.counts[client] -= 1
        if not self.counts[client]:
            del self.counts[client]

    def _oldest_done(self, client: str) -> tuple[tuple[str, int], int] | None:
        return next((k for k, (_, v, c) in self.items.items() if c == client and v is not RUNNING), None)

    def expire(self, now: float) -> None:
        for key in [k for k, (t, v, _) in self.items.items() if now - t >= REPLY_TTL_S and v is not RUNNING]:
            self._drop(key)

    def claim(
        self, client: str, sender: tuple[str, int], rid: int, now: float
    ) -> CachedReply | Running | None:
        self.expire(now)
        key = (sender, rid)
        hit = self.items.get(key)
        if hit is not None:
            return hit[1]
        for who in (client, None):
            full = self.counts[client] >= self.per_client if who else len(self.items) >= self.total
            if not full:
                continue
            victim = client if who else max(self.counts, key=lambda c: self.counts[c])
            old = self._oldest_done(victim)
            if old is None:
                raise ProtocolError(
                    "busy", f"{self.counts[victim]} new requests are still running; retry shortly", rid
                )
            self._drop(old)
        self.items[key] = (now, RUNNING, client)
        self.counts[client] += 1
        return None

    def store(self, sender: tuple[str, int], rid: int, value: CachedReply, now: float) -> None:
        key = (sender, rid)
        hit = self.items.get(key)
        if hit is not None:
            self.items[key] = (now, value, hit[2])
            self.items.move_to_end(key)

    def release(self, sender: tuple[str, int], rid: int) -> None:
        if (sender, rid) in self.items:
            self._drop((sender, rid))

    def __len__(self) -> int:
        return len(self.items)
