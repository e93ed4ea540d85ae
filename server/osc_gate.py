"""The OSC server's door: which datagrams are worth decoding at all.

Under a flood, what the receive thread spends per datagram decides whether anyone else's
datagram still finds room in the socket's buffer: decoding, parsing and answering cost
about a millisecond, so a flood of them saturates the thread and the kernel drops
everyone's datagrams alike. The gate decides *before* decoding, from the sender and the
datagram's size alone, in a few microseconds:

* a sender socket that has proved its address (it made a session, or named one of its
  own) has a token bucket of its own: a flood from it costs only itself;
* every other socket draws from its client's *stranger* bucket (a client as the session
  caps count it: every loopback address is one), so one-shot datagrams from thousands of
  source ports cost the server a bounded rate, whatever their number;
* pings and statuses from strangers have a bucket of their own: a new device's first
  ping is not lost behind another socket's flood of ``new`` requests.

A datagram costs one token per started :data:`UNIT_BYTES` (a bundle of 16 requests costs
about 16). What a bucket cannot pay is dropped unanswered and counted; the log gets one
summary line every :data:`REPORT_S` seconds instead of a line per datagram.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from serumrnn.server.osc import PREFIX
from serumrnn.server.osc_fastio import sender_of, sockaddr

log = logging.getLogger("serumrnn.osc")

#: Bytes a token pays for (a plain request is well under it).
UNIT_BYTES = 256
#: (tokens per second, burst) of a proved sender socket, a client's strangers, and a
#: client's strangers' pings and statuses. A device sends a few requests a second; the
#: bursts let a test or a script send hundreds at once.
PROVED_RATE = (20.0, 500.0)
STRANGER_RATE = (50.0, 1000.0)
PROBE_RATE = (200.0, 1000.0)
#: Proved sockets remembered (least recently seen forgotten first) and clients with
#: buckets (all forgotten at once past it: a bucket is only a rate).
MAX_PROVED, MAX_CLIENTS = 4096, 4096
#: Seconds between the log's summaries of dropped datagrams.
REPORT_S = 10.0
_PROBES = (f"{PREFIX}/ping\0".encode(), f"{PREFIX}/status\0".encode())
_SOCKADDR_IN = 16  # sizeof(struct sockaddr_in)


def cost(size: int) -> int:
    """The tokens a ``size``-byte datagram pays (one per started :data:`UNIT_BYTES`)."""
    return 1 + size // UNIT_BYTES


@dataclass
class Bucket:
    tokens: float
    at: float

    def take(self, cost: float, now: float, rate: tuple[float, float]) -> bool:
        self.tokens = min(rate[1], self.tokens + (now - self.at) * rate[0])
        self.at = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


class Gate:
    """Per-sender rate limits checked before a datagram is decoded (see the module's doc).
    ``client``: the client an IP address counts as (``Sessions.client``). A sender is known
    by its raw socket address (``sockaddr``: what ``recvmmsg`` gives, no parsing needed)."""

    def __init__(self, client: Callable[[str], str], clock: Callable[[], float] = time.monotonic):
        self._client, self._clock = client, clock
        self._proved: OrderedDict[bytes, Bucket] = OrderedDict()
        self._strangers: dict[tuple[str, bool], Bucket] = {}
        self._clients: dict[bytes, str] = {}  # a raw IP address -> its client
        self._lock = threading.Lock()
        self.dropped = 0  # in all, for the tests
        #: told each proved sender's raw address (the front process keeps the real gate)
        self.on_prove: Callable[[bytes], None] | None = None
        self._since_report, self._report_at = 0, clock()

    def prove(self, sender: tuple[str, int]) -> None:
        """``sender`` has shown it owns a session: from now on it has a bucket of its own."""
        family = socket.AF_INET6 if ":" in sender[0] else socket.AF_INET
        try:
            name = sockaddr(family, sender[0], sender[1])
        except (OSError, ValueError, OverflowError):
            return
        if self.on_prove is not None:
            self.on_prove(name)
        with self._lock:
            if name in self._proved:
                self._proved.move_to_end(name)
                return
            self._proved[name] = Bucket(PROVED_RATE[1], self._clock())
            while len(self._proved) > MAX_PROVED:
                self._proved.popitem(last=False)

    def _client_of(self, name: bytes) -> str:
        ip = name[4:8] if len(name) == _SOCKADDR_IN else name[8:24]
        client = self._clients.get(ip)
        if client is None:
            if len(self._clients) >= MAX_CLIENTS:
                self._clients.clear()
            client = self._clients[ip] = self._client(sender_of(name)[0])
        return client

    def admit(self, name: bytes, size: int, head: bytes) -> bool:
        """Whether to decode and answer a ``size``-byte datagram that begins with ``head``
        from the sender whose raw address is ``name``; False: drop it unanswered."""
        now = self._clock()
        price = cost(size)
        with self._lock:
            bucket = self._proved.get(name)
            if bucket is not None:
                ok = bucket.take(price, now, PROVED_RATE)
            else:
                probe = head.startswith(_PROBES)
                rate = PROBE_RATE if probe else STRANGER_RATE
                key = (self._client_of(name), probe)
                bucket = self._strangers.get(key)
                if bucket is None:
                    if len(self._strangers) >= MAX_CLIENTS:
                        self._strangers.clear()
                    bucket = self._strangers[key] = Bucket(rate[1], now)
                ok = bucket.take(price, now, rate)
            if ok:
                return True
            self.dropped += 1
            self._since_report += 1
            if now - self._report_at < REPORT_S:
                return False
            n, self._since_report, self._report_at = self._since_report, 0, now
        log.warning("flood: %d datagrams over the senders' rate limits dropped unanswered", n)
        return False
