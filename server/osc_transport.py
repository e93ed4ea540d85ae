"""The OSC server's plumbing: the UDP socket and receive thread, the worker pool, the
renderer shared under a lock, log lines that never quote a client's bytes, and the address
rules (loopback, unspecified). :mod:`serumrnn.server.osc_server` holds the protocol loop.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import queue
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVarTuple

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import OSCUDPServer

from serumrnn.server import osc
from serumrnn.server.osc import NO_REQUEST

if TYPE_CHECKING:
    import numpy as np

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


class SafeLogFilter(logging.Filter):
    """Escapes control characters in every text argument and exception of a log record,
    so newlines or terminal codes a client sends cannot forge or hide log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                osc.loggable(a) if isinstance(a, (str, bytes, tuple)) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = osc.loggable(record.msg)
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = safe_traceback(record.exc_info[1])
        return True


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


class Transport(OSCUDPServer):
    """python-osc's UDP server on an already bound socket, passing every datagram, OSC or
    not, to the app: a garbage datagram deserves an error reply rather than silence."""

    max_packet_size = 65535

    def __init__(self, sock: socket.socket, on_datagram: Callable[[bytes, tuple[str, int]], None]):
        self._on_datagram = on_datagram
        super().__init__(sock.getsockname()[:2], Dispatcher(), bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = sock.getsockname()
        self.bound: tuple[str, int] = sock.getsockname()[:2]  # an IP socket's (host, port)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:  # pragma: no cover - some systems cap the buffer
            pass

    def verify_request(self, request, client_address) -> bool:
        return True

    def process_request(self, request, client_address) -> None:
        self._on_datagram(request[0], client_address)


_Ts = TypeVarTuple("_Ts")


class Workers:
    """A fixed set of daemon threads taking jobs from a queue.

    Unlike ``ThreadPoolExecutor`` (whose threads the interpreter joins at exit), a worker
    stuck in a system call can neither keep the process alive nor stall :meth:`stop`
    past its deadline.
    """

    def __init__(self, n: int, name: str):
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[object, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(max(1, n))
        ]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[[*_Ts], None], *args: *_Ts) -> None:
        if self._stopping:
            raise RuntimeError("the workers are stopping")
        self._jobs.put((fn, args))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._stopping:
                continue  # queued before stop: dropped
            fn, args = job
            try:
                fn(*args)
            except BaseException:  # a job's own handler logs; this is the last net
                log.exception("a worker job failed")

    def stop(self, timeout: float) -> list[str]:
        """Drop queued jobs, wait up to ``timeout`` s for running ones; return the names
        of workers still busy (they are daemons: the process may exit without them)."""
        self._stopping = True
        for _ in self._threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]


class LockedRenderer:
    """A shared renderer (one DawDreamer engine set) used by one thread at a time; a
    ``Renderer`` itself."""

    def __init__(self, rack: Renderer):
        self.rack, self.settings, self._lock = rack, rack.settings, threading.Lock()

    @property
    def presets(self) -> tuple[str, ...]:
        return self.rack.presets

    def render(
        self, chain: Chain | Sequence[FX] = (), preset: str | None = None, *, note: int | None = None
    ) -> np.ndarray:
        with self._lock:
            return self.rack.render(chain, preset, note=note)

    def dry(self, preset: str, *, note: int | None = None) -> np.ndarray:
        with self._lock:
            return self.rack.dry(preset, note=note)

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray:
        with self._lock:
            return self.rack.process(audio, chain)


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


def peek_request_id(data: bytes) -> int:
    """The request id of a datagram's first message, so a ``busy`` reply can name it."""
    try:
        return osc.request_id_of(osc.decode(data[: osc.MAX_DATAGRAM * 4])[0])
    except Exception:
        return NO_REQUEST


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
