"""The OSC server's plumbing: the UDP socket and receive thread, the renderer shared under
a lock, the stop flag the workers check between stages, log lines that never quote a client's bytes, and the address
rules (loopback, unspecified). :mod:`serumrnn.server.osc_server` holds the protocol loop.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import selectors
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from serumrnn.server import osc
from serumrnn.server.osc_fastio import FastIO, fast_io, sender_of, sockaddr

if TYPE_CHECKING:
    import numpy as np

    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.chain import FX, Chain
    from serumrnn.server.rack.render import Renderer

log = logging.getLogger("serumrnn.osc")


# -- logging ---------------------------------------------------------------------------


def safe_traceback(e: BaseException) -> str:
    """A traceback whose exception messages are :func:`osc.loggable` (they may quote a
    client's text); the frames are the server's own code."""
    parts: list[str] = []
    cur: BaseException | None = e
    seen = 0
    while cur is not None and seen < 5:
        parts.insert(
            0,
            "".join(traceback.format_tb(cur.__traceback__))
            + f"{type(cur).__qualname__}: {osc.loggable(cur)}",
        )
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
        seen += 1
    return "Traceback (most recent call last):\n" + "\n".join(parts)


#: The longest log line the server writes (characters, tracebacks aside), and the longest
#: piece of a client's text in one: the log may not grow faster than the traffic.
MAX_LOG_LINE, MAX_LOG_ARG = 1000, 200


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + f"…(+{len(text) - n})"


class SafeLogFilter(logging.Filter):
    """Escapes control characters in every text argument and exception of a log record,
    so newlines or terminal codes a client sends cannot forge or hide log lines, and caps
    each text argument (:data:`MAX_LOG_ARG`) and the whole line (:data:`MAX_LOG_LINE`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_serumrnn_safe", False):  # one record may pass two handlers
            return True
        if isinstance(record.args, tuple):
            record.args = tuple(
                osc.loggable(_clip(a if isinstance(a, str) else str(a), MAX_LOG_ARG))
                if isinstance(a, (str, bytes, tuple))
                else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = osc.loggable(record.msg)
        try:
            line = record.getMessage()
        except (TypeError, ValueError):
            line = None
        if line is not None and len(line) > MAX_LOG_LINE:
            record.msg, record.args = _clip(line, MAX_LOG_LINE), ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = safe_traceback(record.exc_info[1])
        record._serumrnn_safe = True
        return True


class LogBudget:
    """Lines per second each client may add to the log (a token bucket per client): past
    it, lines are counted, not written, and the next line written says how many were
    left out. A flood then costs the log a few lines a second, not one per datagram."""

    def __init__(self, per_s: float = 20.0, burst: float = 50.0, clients: int = 1024):
        self.per_s, self.burst, self.clients = per_s, burst, clients
        self._buckets: dict[str, list[float]] = {}  # client -> [tokens, last time, suppressed]
        self._lock = threading.Lock()

    def take(self, client: str) -> int | None:
        """None: leave this line out; else how many were left out before it."""
        now = time.monotonic()
        with self._lock:
            b = self._buckets.get(client)
            if b is None:
                if len(self._buckets) >= self.clients:
                    self._buckets.clear()
                b = self._buckets[client] = [self.burst, now, 0.0]
            b[0] = min(self.burst, b[0] + (now - b[1]) * self.per_s)
            b[1] = now
            if b[0] < 1.0:
                b[2] += 1
                return None
            b[0] -= 1.0
            dropped, b[2] = int(b[2]), 0.0
            return dropped


if not any(isinstance(f, SafeLogFilter) for f in log.filters):
    log.addFilter(SafeLogFilter())


# -- transport and workers --------------------------------------------------------------


def bind_udp(host: str, port: int) -> socket.socket:
    """A UDP socket bound to (host, port), before anything slow starts: a port in use is
    one clear ``OSError`` at once rather than after the models load."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


class Transport:
    """The receive loop on an already bound UDP socket, passing every datagram, OSC or not,
    to the app (a garbage datagram deserves an error reply rather than silence).

    A plain loop rather than ``socketserver``'s machinery: under a flood, what the receive
    thread spends per datagram decides whether anyone else's datagram still finds room in
    the socket's buffer. Once the socket is readable, the loop drains up to :data:`BATCH`
    datagrams without waiting again (``MSG_DONTWAIT``): the thread, once it holds the
    interpreter's lock, keeps it for the batch instead of queueing for it per datagram
    behind the workers. The socket itself stays blocking, so replies never fail for a
    full send buffer.
    """

    max_packet_size = 65535
    #: Datagrams read per wake-up at most (the stop flag is checked between batches).
    BATCH = 512
    #: Datagrams one lock-holding ``recvmmsg`` reads (:mod:`serumrnn.server.osc_fastio`).
    FAST_BATCH = 64
    #: The receive buffer asked for (the system may cap it lower): room for a burst.
    RCVBUF = 8 << 20

    def __init__(
        self,
        sock: socket.socket,
        on_datagram: Callable[[bytes, tuple[str, int]], None],
        admit: Callable[[bytes, int, bytes], bool] | None = None,
    ):
        self._on_datagram = on_datagram
        #: the gate, asked before a datagram is decoded (the sender's raw address, the
        #: datagram's size and head); on the fast path, before it is even copied
        self.admit = admit
        self.socket = sock
        self.bound: tuple[str, int] = sock.getsockname()[:2]  # an IP socket's (host, port)
        self._stop = threading.Event()
        self._done = threading.Event()
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF)
        except OSError:  # pragma: no cover - some systems refuse the size
            pass
        self._fast = fast_io(sock, self.FAST_BATCH, self.max_packet_size)

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Receive until :meth:`shutdown`."""
        sel = selectors.DefaultSelector()
        sel.register(self.socket, selectors.EVENT_READ)
        try:
            fast = self._fast
            while not self._stop.is_set():
                if (fast is not None and fast.ready()) or sel.select(poll_interval):
                    self._drain()
        finally:
            sel.close()
            self._done.set()

    def _drain(self) -> None:
        if self._fast is not None:
            for _ in range(self.BATCH // self.FAST_BATCH):
                if self._fast_round(self._fast) < self._fast.batch:
                    return
            return
        receive, handle, size = self.socket.recvfrom, self._on_datagram, self.max_packet_size
        flags = getattr(socket, "MSG_DONTWAIT", None)
        for _ in range(self.BATCH if flags is not None else 1):
            try:
                data, sender = receive(size, flags or 0)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error from an earlier send, or the socket closed
                return
            sender = sender[:2]
            if self.admit is None or self.admit(sockaddr(self.socket.family, *sender), len(data), data[:16]):
                handle(data, sender)

    def _fast_round(self, fast: FastIO) -> int:
        """One batch by ``recvmmsg``: the gate sees each sender's raw address and the
        datagram's size and head before anything is copied or decoded."""
        got = fast.receive()
        admit = self.admit
        for name, length, slot in got:
            if admit is None or admit(name, length, fast.data(slot, 16)):
                try:
                    sender = sender_of(name)
                except (OSError, ValueError, struct.error):  # pragma: no cover - not an IP sender
                    continue
                self._on_datagram(fast.data(slot, length), sender)
        return len(got)

    def send(self, data: bytes, dest: tuple[str, int]) -> None:
        """Send one datagram: at once without giving up the interpreter's lock where the
        system allows (:mod:`serumrnn.server.osc_fastio`), else by the socket's ``sendto``."""
        if self._fast is None or not self._fast.send(data, dest):
            self.socket.sendto(data, dest)

    def shutdown(self) -> None:
        """Stop the loop and wait for it (about one poll interval, one batch at most)."""
        self._stop.set()
        self._done.wait(5.0)

    def server_close(self) -> None:
        self.socket.close()


class Stopping(Exception):
    """The server is stopping: the request is abandoned between two stages."""


class LockedRenderer:
    """A shared renderer (one DawDreamer engine set) used by one thread at a time; a
    ``Renderer`` itself. Once ``stop`` is set, a render raises :class:`Stopping` instead of
    starting: a render is a stage of a step, and a stopping server starts no new stage."""

    def __init__(self, rack: Renderer, stop: threading.Event | None = None):
        self.rack, self.settings, self._lock = rack, rack.settings, threading.Lock()
        self.stop = stop or threading.Event()

    def _go(self) -> None:
        if self.stop.is_set():
            raise Stopping("the server is stopping")

    @property
    def presets(self) -> tuple[str, ...]:
        return self.rack.presets

    def render(
        self, chain: Chain | Sequence[FX] = (), preset: str | None = None, *, note: int | None = None
    ) -> np.ndarray:
        self._go()
        with self._lock:
            return self.rack.render(chain, preset, note=note)

    def dry(self, preset: str, *, note: int | None = None) -> np.ndarray:
        self._go()
        with self._lock:
            return self.rack.dry(preset, note=note)

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray:
        self._go()
        with self._lock:
            return self.rack.process(audio, chain)


class GuardedModels:
    """A group's models whose every prediction first checks the server's stop flag: a
    model call is a stage of a step, and a stopping server starts no new stage."""

    def __init__(self, models: GroupModels, stop: threading.Event):
        self._models, self._stop = models, stop

    def predict(self, name: str, inputs: Any) -> Any:
        if self._stop.is_set():
            raise Stopping("the server is stopping")
        return self._models.predict(name, inputs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._models, name)


class GuardedGroups(Mapping[str, Any]):
    """Every group's models guarded by the stop flag, wrapped when first asked for: the
    groups may load lazily (startup.LazyGroups), and wrapping them all up front would
    load them all before the server answers a ping."""

    def __init__(self, groups: Mapping[str, GroupModels], stop: threading.Event):
        self._groups, self._stop = groups, stop
        self._wrapped: dict[str, GuardedModels] = {}

    def __getitem__(self, group: str) -> GuardedModels:
        if group not in self._wrapped:
            self._wrapped[group] = GuardedModels(self._groups[group], self._stop)
        return self._wrapped[group]

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def __contains__(self, group: object) -> bool:
        return group in self._groups


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (resolving a name if needed)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except socket.gaierror:
            return False
        return all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


@functools.lru_cache(maxsize=1024)
def is_loopback_ip(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


@functools.lru_cache(maxsize=4096)
def client_of(ip: str, *, collapse_loopback: bool = True) -> str:
    """The client an address counts as for the caps: the IP itself, except that every
    loopback address is the one client ``"loopback"`` (``collapse_loopback``: the server
    listens on loopback, so every sender is a process on this machine)."""
    if collapse_loopback:
        try:
            if ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback:
                return "loopback"
        except ValueError:
            pass
    return ip


def reply_budget(size: int, ip: str, size_rule: str) -> int | None:
    """The most bytes a reply to a ``size``-byte request from ``ip`` may take when the
    sender has not proved its address (None: no limit but the datagram's): the size rule
    (``"remote"``: senders off loopback; ``"all"``: every sender)."""
    if not size or (size_rule == "remote" and is_loopback_ip(ip)):
        return None
    return size


def default_dest(sender: tuple[str, int], named: int | None, reply_port: int) -> tuple[str, int]:
    """Where a successful ping/status/new reply goes: the port the request ``named``, else
    the server's ``reply_port`` (the device's), at the sender's address; 0 means the port
    the request came from."""
    port = reply_port if named is None else named
    return sender[0], port or sender[1]
