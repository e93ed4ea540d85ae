"""The server process's end of the front process (:mod:`serumrnn.server.osc_front`): it
starts the front, reads the frames it passes on, and restarts or stops it. Kept apart from
the front's own loop so each side reads on its own."""

from __future__ import annotations

import json
import logging
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict

from serumrnn.server.osc_fastio import sender_of
from serumrnn.server.osc_front import (
    _COUNT,
    FRONT_STOP_S,
    LINK_BUFFER,
    MAX_RESTARTS,
    FrontSettings,
    frame,
    parse_datagram,
    split_frames,
)

log = logging.getLogger("serumrnn.osc")


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
