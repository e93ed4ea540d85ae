"""A small blocking OSC client that talks to ``serumrnn serve`` the way the Max for Live
device does: the tests, ``bench_osc`` and debugging use it. Standard library only."""

from __future__ import annotations

import itertools
import socket
import time
from typing import Any

from serumrnn.server import osc


class OscClient:
    """Talks to the server the way the device does, one request at a time.

    It sends from its own socket and asks for replies at that socket's port (reply port
    0 in ``ping`` and ``new``), so many clients can share one machine.
    """

    def __init__(
        self, server: tuple[str, int], timeout: float = 10.0, host: str = "127.0.0.1", first_id: int = 1
    ):
        self.server, self.timeout = server, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))  # another loopback address (127.0.0.2) is another client
        self.port = self.sock.getsockname()[1]
        # ``first_id``: where this client's request ids start. The server keeps its reply to
        # ``new`` per sender socket for a retry, so a client that gets a closed client's port
        # back must not start where the closed one did (its request 1 would get the old reply).
        self._ids = itertools.count(first_id)
        self.stray: list[osc.Message] = []  # messages that answered no pending request
        self.working: list[osc.Message] = []  # "working" answers to retries of a running request

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> OscClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_id(self) -> int:
        return next(self._ids)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def send(self, address: str, *args: Any) -> None:
        self.send_raw(osc.encode(address, args))

    def receive(self, timeout: float | None = None) -> list[osc.Message]:
        """The messages of the next datagram; [] on timeout."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return []
        return osc.decode(data)

    def collect(self, rid: int, timeout: float | None = None) -> list[osc.Message]:
        """Every message of request ``rid``'s reply, up to its final message ([] if lost)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got: list[osc.Message] = []
        while (left := deadline - time.monotonic()) > 0:
            for m in self.receive(left):
                if osc.request_id_of(m) != rid:
                    self.stray.append(m)
                    continue
                if m.address == osc.WORKING:  # a retry of a request still running: wait on
                    self.working.append(m)
                    continue
                got.append(m)
                if osc.is_final(m.address):
                    return got
        return got

    def request(
        self, name: str, *args: Any, rid: int | None = None, timeout: float | None = None
    ) -> list[osc.Message]:
        """Send request ``name`` (a key of ``osc.REQUESTS``) and wait for its reply."""
        rid = self.next_id() if rid is None else rid
        self.send(osc.REQUESTS[name][0], rid, *args)
        return self.collect(rid, timeout)
