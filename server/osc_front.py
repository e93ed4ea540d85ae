"""The OSC server's front: the UDP socket read in a process of its own.

Why a process: in one, the workers running steps hold the interpreter's lock, and the
thread reading the socket waits for it; under a flood the kernel's buffer then overflows
and every client's datagrams are lost alike (measured with ``scripts/attack_osc.py
--goals --stub``: a second client's pings p99 4.2 s and 10 lost, its steps lost, over 60 s).
The front has no other thread and no other work. It reads every datagram (``recvmmsg``),
runs the gate (:mod:`serumrnn.server.osc_gate`), answers a plain ``ping`` itself (from the
session count the server sends it), and passes everything else to the server process over
a local stream socket. When the server falls behind, what waits is queued per client IP
and passed on round-robin, bounded per client: past it, that client's datagrams are
dropped and counted. Replies go out from the server process on the same UDP socket (the
descriptor is shared).

If the front process dies, the server logs it and starts a new one on the same socket; if
the server dies, the front sees its link close and exits.

Frames on the link, both ways: a 4-byte big-endian length, then a kind byte.

* front to server: ``D`` (a datagram to answer) or ``A`` (a ping the front answered: the
  server counts it and learns its reply port), then the sender's raw address length (one
  byte), the raw address (``sockaddr``), the datagram;
* server to front: ``P`` + a raw address (that sender proved it owns a session: it gets a
  bucket of its own at the gate), ``S`` + the open sessions (4 bytes) + the groups.
"""

from __future__ import annotations

import json
import logging
import select
import signal
import socket
import struct
import sys
from collections import OrderedDict, deque
from dataclasses import dataclass
from functools import partial

from serumrnn.server import osc
from serumrnn.server.osc_fastio import fast_io, sender_of, sockaddr
from serumrnn.server.osc_gate import Gate
from serumrnn.server.osc_transport import client_of, default_dest, reply_budget

log = logging.getLogger("serumrnn.osc")

_LEN = struct.Struct(">I")
_COUNT = struct.Struct(">I")
#: The link's socket buffers (bytes): seconds of admitted traffic (the gate's rates).
LINK_BUFFER = 4 << 20
#: Bytes one client IP may have waiting in the front when the server falls behind.
PER_CLIENT_BYTES = 4 << 20
#: Datagrams read per ``recvmmsg`` and batches read before the link is served again.
BATCH, ROUNDS = 64, 16
_PING = f"{osc.PREFIX}/ping\0".encode()
#: How long the server waits for the front to end at stop before killing it (seconds).
FRONT_STOP_S = 0.5
#: Front restarts allowed within a minute before the server stops trying.
MAX_RESTARTS = 5


@dataclass(frozen=True)
class FrontSettings:
    """What the front needs of the server's settings (passed on its command line)."""

    size_rule: str
    reply_port: int
    limit: int
    bundles: bool
    collapse_loopback: bool


def frame(kind: bytes, *parts: bytes) -> bytes:
    body = kind + b"".join(parts)
    return _LEN.pack(len(body)) + body


def datagram_frame(kind: bytes, name: bytes, data: bytes) -> bytes:
    return frame(kind, bytes((len(name),)), name, data)


def split_frames(buf: bytearray) -> list[bytes]:
    """The whole frames at the start of ``buf`` (removed from it)."""
    out, at = [], 0
    while len(buf) - at >= 4:
        (n,) = _LEN.unpack_from(buf, at)
        if len(buf) - at - 4 < n:
            break
        out.append(bytes(buf[at + 4 : at + 4 + n]))
        at += 4 + n
    del buf[:at]
    return out


def parse_datagram(body: bytes) -> tuple[bytes, bytes]:
    """(raw sender address, datagram) of a ``D`` or ``A`` frame's body."""
    n = body[1]
    return body[2 : 2 + n], body[2 + n :]


# -- the front process --------------------------------------------------------------------


class Front:
    """The front's loop (see the module's doc): one thread, never blocking on the link."""

    def __init__(self, udp: socket.socket, link: socket.socket, settings: FrontSettings):
        self.udp, self.link, self.settings = udp, link, settings
        self.gate = Gate(partial(client_of, collapse_loopback=settings.collapse_loopback))
        self.fast = fast_io(udp, BATCH, 65535)
        self.groups, self.sessions = "", 0
        self._in = bytearray()
        self._out = b""  # the frame being written to the link
        self._waiting: OrderedDict[str, deque[bytes]] = OrderedDict()  # client IP -> frames
        self._bytes: dict[str, int] = {}
        self.dropped = 0
        link.setblocking(False)
        udp.setblocking(False)

    def run(self) -> None:
        """Serve until the server's end of the link closes."""
        poller = select.poll()
        poller.register(self.udp, select.POLLIN)
        poller.register(self.link, select.POLLIN)
        writing, link = False, self.link.fileno()
        while True:
            events = dict(poller.poll(1000))
            ev = events.get(link, 0)
            # The link first: a session count the server sent before its reply to ``new``
            # or ``end`` is known before a ping sent after that reply is answered.
            if ev & (select.POLLIN | select.POLLHUP | select.POLLERR) and not self._read_link():
                return
            if ev & select.POLLOUT:
                self._flush()
            if events.get(self.udp.fileno(), 0) & select.POLLIN and not self._read_udp():
                return
            want = bool(self._out or self._waiting)
            if want != writing:
                writing = want
                poller.modify(self.link, select.POLLIN | (select.POLLOUT if want else 0))

    def _read_link(self) -> bool:
        try:
            got = self.link.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not got:
            return False
        self._in += got
        for body in split_frames(self._in):
            try:
                if body[:1] == b"P":
                    self.gate.prove(sender_of(body[1:]))
                elif body[:1] == b"S":
                    (self.sessions,) = _COUNT.unpack_from(body, 1)
                    self.groups = body[5:].decode("utf-8", "replace")
            except (OSError, ValueError, struct.error):  # pragma: no cover - the server's own frames
                log.warning("front: a frame from the server could not be read")
        return True

    def _read_udp(self) -> bool:
        """Read the datagrams waiting (up to :data:`ROUNDS` batches); False when the
        server's end of the link closed meanwhile."""
        fast, admit = self.fast, self.gate.admit
        if fast is None:  # not Linux: one datagram per wake-up
            try:
                data, sender = self.udp.recvfrom(65535)
            except OSError:
                return True
            name = sockaddr(self.udp.family, *sender[:2])
            if admit(name, len(data), data[:16]):
                self._take(name, data)
            return True
        for _ in range(ROUNDS):
            if not self._read_link():  # what the server said before these datagrams came
                return False
            got = fast.receive()
            for name, length, slot in got:
                if admit(name, length, fast.data(slot, 16)):
                    self._take(name, fast.data(slot, length))
            if len(got) < fast.batch:
                break
        return True

    def _take(self, name: bytes, data: bytes) -> None:
        try:
            sender = sender_of(name)
        except (OSError, ValueError, struct.error):
            return
        answered = data.startswith(_PING) and self._pong(data, sender)
        self._forward(datagram_frame(b"A" if answered else b"D", name, data), sender[0])

    def _pong(self, data: bytes, sender: tuple[str, int]) -> bool:
        """Answer a datagram that is one well-formed ping whose reply fits the size rule;
        False (the server answers it, an error or not) for anything else."""
        try:
            (msg,) = osc.decode(data)
            req = osc.parse_request(osc.unpadded(msg))
        except (osc.DecodeError, osc.ProtocolError, ValueError):
            return False
        port = req.args.get("reply_port")
        if req.name != "ping" or (port is not None and not 0 <= port <= 65535):
            return False
        s = self.settings
        datagrams = osc.to_datagrams(
            osc.pong(req.request_id, self.groups, self.sessions), s.limit, bundles=s.bundles
        )
        budget = reply_budget(msg.size, sender[0], s.size_rule)
        if budget is not None and sum(map(len, datagrams)) > budget:
            return False
        dest = default_dest(sender, port, s.reply_port)
        for d in datagrams:
            try:
                if self.fast is None or not self.fast.send(d, dest):
                    self.udp.sendto(d, dest)
            except (OSError, OverflowError, ValueError):
                pass
        return True

    def _forward(self, data: bytes, ip: str) -> None:
        if not self._out and not self._waiting:
            try:
                n = self.link.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                return
            if n < len(data):
                self._out = data[n:]
            return
        held = self._bytes.get(ip, 0)
        if held + len(data) > PER_CLIENT_BYTES:
            self.dropped += 1
            return
        self._waiting.setdefault(ip, deque()).append(data)
        self._bytes[ip] = held + len(data)

    def _flush(self) -> None:
        """Write what waits to the link, one frame per client in turn."""
        while True:
            if self._out:
                try:
                    n = self.link.send(self._out)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    self._out = b""
                    return
                self._out = self._out[n:]
                if self._out:
                    return
            if not self._waiting:
                return
            ip, q = next(iter(self._waiting.items()))
            self._out = q.popleft()
            self._bytes[ip] -= len(self._out)
            del self._waiting[ip]
            if q:
                self._waiting[ip] = q  # to the back of the round
            else:
                self._bytes.pop(ip, None)


def main(argv: list[str] | None = None) -> int:
    """The front process: ``SETTINGS_JSON UDP_FD LINK_FD``."""
    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the server; the server stops this
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    settings = FrontSettings(**json.loads(args[0]))
    udp = socket.socket(fileno=int(args[1]))
    link = socket.socket(fileno=int(args[2]))
    try:
        Front(udp, link, settings).run()
    except KeyboardInterrupt:  # pragma: no cover - SIGINT is ignored
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover - started by FrontLink with -c
    sys.exit(main())
