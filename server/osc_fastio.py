"""Receiving and sending UDP datagrams without giving up the interpreter's lock (Linux).

Every ``socket.recvfrom`` and ``socket.sendto`` releases Python's global interpreter lock
around its system call. While workers run Python code, the thread that released it waits
for the workers' switch interval (5 ms) to get it back: the receive thread then reads one
datagram per wait, a flood fills the socket's buffer, and everyone's datagrams are lost
alike (measured: no ping of a second client answered over 20 s of flood). Here the calls
go through ``ctypes.PyDLL``, which keeps the lock, and never block (``MSG_DONTWAIT``):
``recvmmsg`` reads a whole batch in one call, ``sendto`` sends at once or reports that it
would block (the caller then falls back to the socket's own, blocking ``sendto``).

:func:`fast_io` returns None where this is not available (not Linux, no libc), and the
transport uses the socket's own methods.
"""

from __future__ import annotations

import ctypes
import functools
import socket
import struct
import sys

_MSG_DONTWAIT = 0x40
_EAGAIN = {11}  # EAGAIN == EWOULDBLOCK on Linux
_NAME = 128  # sizeof(struct sockaddr_storage)
_U32 = struct.Struct("=I")


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


def sender_of(name: bytes) -> tuple[str, int]:
    """(host, port) of a raw ``sockaddr_in`` or ``sockaddr_in6``."""
    family = struct.unpack_from("=H", name)[0]
    port = struct.unpack_from("!H", name, 2)[0]
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, name[4:8]), port
    return socket.inet_ntop(socket.AF_INET6, name[8:24]), port


@functools.lru_cache(maxsize=4096)
def sockaddr(family: int, host: str, port: int) -> bytes:
    """The raw ``sockaddr_in``/``sockaddr_in6`` of (host, port): the key a sender has in
    :mod:`serumrnn.server.osc_gate`, and what ``sendto`` takes."""
    if family == socket.AF_INET:
        return struct.pack("=H", family) + struct.pack("!H", port) + socket.inet_pton(family, host) + bytes(8)
    return (
        struct.pack("=H", family)
        + struct.pack("!H", port)
        + bytes(4)
        + socket.inet_pton(socket.AF_INET6, host)
        + bytes(4)
    )


class _PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


_POLLIN = 0x001


class FastIO:
    """Batched, lock-holding receive and send on one UDP socket (see the module's doc)."""

    def __init__(self, libc: ctypes.PyDLL, sock: socket.socket, batch: int, size: int):
        self._recvmmsg, self._sendto, self._poll = libc.recvmmsg, libc.sendto, libc.poll
        self._recvmmsg.restype = self._sendto.restype = self._poll.restype = ctypes.c_int
        self._pollfd = _PollFd(sock.fileno(), _POLLIN, 0)
        self._fd, self._family, self.batch, self.size = sock.fileno(), sock.family, batch, size
        self._bufs = [ctypes.create_string_buffer(size) for _ in range(batch)]
        self._names = ctypes.create_string_buffer(_NAME * batch)  # one block: sliced, not copied per field
        self._iov = (_IoVec * batch)()
        self._msgs = (_MMsgHdr * batch)()
        base = ctypes.addressof(self._names)
        for i in range(batch):
            self._iov[i].iov_base = ctypes.cast(self._bufs[i], ctypes.c_void_p)
            self._iov[i].iov_len = size
            h = self._msgs[i].msg_hdr
            h.msg_name = base + i * _NAME
            h.msg_namelen = _NAME
            h.msg_iov = ctypes.pointer(self._iov[i])
            h.msg_iovlen = 1
            h.msg_control, h.msg_controllen, h.msg_flags = None, 0, 0
        # The headers are read and reset through plain views: a ctypes field access costs
        # about a microsecond, and a flood is read at tens of thousands of datagrams a second.
        self._raw = memoryview(self._msgs).cast("B")
        self._names_raw = memoryview(self._names).cast("B")
        self._views = [memoryview(b).cast("B") for b in self._bufs]
        step = ctypes.sizeof(_MMsgHdr)
        self._namelen_at = [i * step + _MsgHdr.msg_namelen.offset for i in range(batch)]
        self._len_at = [i * step + _MMsgHdr.msg_len.offset for i in range(batch)]

    def ready(self) -> bool:
        """Whether a datagram is waiting, asked without giving up the lock: under a flood
        the receive thread then never queues for the lock behind the workers."""
        return bool(self._poll(ctypes.byref(self._pollfd), 1, 0) > 0)

    def receive(self) -> list[tuple[bytes, int, int]]:
        """The datagrams waiting now, up to a batch, as (sender's raw address, length,
        slot); :meth:`data` reads a slot's bytes (not copied for a datagram dropped unread)."""
        n = self._recvmmsg(self._fd, self._msgs, self.batch, _MSG_DONTWAIT, None)
        if n <= 0:
            return []
        raw, names, get, put = self._raw, self._names_raw, _U32.unpack_from, _U32.pack_into
        out = []
        for i in range(n):
            at = self._namelen_at[i]
            (namelen,) = get(raw, at)
            put(raw, at, _NAME)
            start = i * _NAME
            out.append((bytes(names[start : start + namelen]), get(raw, self._len_at[i])[0], i))
        return out

    def data(self, slot: int, length: int) -> bytes:
        """The first ``length`` bytes of a slot of the latest :meth:`receive`."""
        return bytes(self._views[slot][:length])

    def send(self, data: bytes, dest: tuple[str, int]) -> bool:
        """Send at once; False when it would block or the address is not this socket's kind
        (then send with the socket's own ``sendto``)."""
        try:
            name = sockaddr(self._family, dest[0], dest[1])
        except (OSError, ValueError, struct.error, OverflowError):
            return False
        sent: int = self._sendto(self._fd, data, len(data), _MSG_DONTWAIT, name, len(name))  # ctypes: untyped
        return sent == len(data)


def fast_io(sock: socket.socket, batch: int, size: int) -> FastIO | None:
    """Lock-holding I/O on ``sock``, or None where not available."""
    if not sys.platform.startswith("linux") or sock.type != socket.SOCK_DGRAM:
        return None
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        return FastIO(ctypes.PyDLL(None, use_errno=True), sock, batch, size)
    except (OSError, AttributeError):  # pragma: no cover - no libc symbols
        return None
