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
import subprocess
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
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


# -- the server's end ---------------------------------------------------------------------


class FrontLink:
    """The server process's end of the front: starts it, reads what it passes on (on its
    own thread, calling ``on_datagram`` or ``on_answered`` with the datagram and its
    sender), tells it which senders proved their address and how many sessions are open,
    restarts it if it dies, and stops it."""

    def __init__(
        self,
        udp: socket.socket,
        settings: FrontSettings,
        on_datagram: Callable[[bytes, tuple[str, int]], None],
        on_answered: Callable[[bytes, tuple[str, int]], None],
        state: Callable[[], tuple[int, str]],
    ):
        self.udp, self.settings = udp, settings
        self.on_datagram, self.on_answered, self.state = on_datagram, on_answered, state
        self.proc: subprocess.Popen[bytes] | None = None
        self._link: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._sent_state: tuple[int, str] | None = None
        self._restarts: deque[float] = deque()
        self.restarted = 0

    def start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for s in (mine, theirs):
            for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                try:
                    s.setsockopt(socket.SOL_SOCKET, opt, LINK_BUFFER)
                except OSError:  # pragma: no cover - a system that refuses the size
                    pass
        code = "import sys; from serumrnn.server.osc_front import main; sys.exit(main())"
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    code,
                    json.dumps(asdict(self.settings)),
                    str(self.udp.fileno()),
                    str(theirs.fileno()),
                ],
                pass_fds=(self.udp.fileno(), theirs.fileno()),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # serve's stdout carries the start-up lines for the device
            )
        finally:
            theirs.close()
        mine.settimeout(1.0)  # a front that stops reading cannot block a worker for long
        self._link = mine
        self._sent_state = None
        self.send_state()

    def serve(self) -> None:
        """Read the front's frames until :meth:`stop` (the server's receive thread)."""
        buf = bytearray()
        while not self._stop.is_set():
            link = self._link
            if link is None:
                return
            try:
                ready = select.select([link], [], [], 0.2)[0]
                got = link.recv(1 << 20) if ready else None
            except TimeoutError:
                got = None
            except (OSError, ValueError):
                got = b""
            if got == b"":
                if self._stop.is_set():
                    return
                self._restart()
                buf.clear()
                continue
            if got:
                buf += got
                for body in split_frames(buf):
                    self._dispatch(body)
            self.send_state()

    def _dispatch(self, body: bytes) -> None:
        try:
            name, data = parse_datagram(body)
            sender = sender_of(name)
        except (IndexError, OSError, ValueError, struct.error):  # pragma: no cover - our own frames
            return
        (self.on_answered if body[:1] == b"A" else self.on_datagram)(data, sender)

    def _restart(self) -> None:
        """The front died: log it and start a new one (a few a minute at most)."""
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > 60:
            self._restarts.popleft()
        if len(self._restarts) >= MAX_RESTARTS:
            log.error(
                "the front process ended (exit code %s) %d times within a minute: waiting 10 s",
                code,
                MAX_RESTARTS,
            )
            if self._stop.wait(10.0):
                return
        else:
            log.error("the front process ended (exit code %s): starting a new one", code)
        self._restarts.append(time.monotonic())
        if self._link is not None:
            self._link.close()
        self.restarted += 1
        self.start()

    def _send(self, data: bytes) -> None:
        link = self._link
        if link is None:
            return
        with self._send_lock:
            try:
                link.sendall(data)
            except OSError:
                # The front is gone, or stopped reading for a second: a frame may be cut,
                # so close the link; the receive thread then starts a new front.
                try:
                    link.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def prove(self, name: bytes) -> None:
        """The sender whose raw address is ``name`` proved it owns a session."""
        self._send(frame(b"P", name))

    def send_state(self) -> None:
        """Tell the front the open sessions and the groups (for its pongs), if changed."""
        state = self.state()
        if state == self._sent_state:
            return
        self._sent_state = state
        self._send(frame(b"S", _COUNT.pack(state[0]), state[1].encode()))

    def stop(self, wait_s: float = FRONT_STOP_S) -> None:
        """Close the link (the front exits when it sees it), wait for it, else kill it."""
        self._stop.set()
        link, self._link = self._link, None
        if link is not None:
            try:
                link.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            link.close()
        if self.proc is not None:
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":  # pragma: no cover - started by FrontLink with -c
    sys.exit(main())
