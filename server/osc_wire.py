"""OSC on the wire, as pure functions: decoding a datagram into messages (our own small
reader, because python-osc raises on a string that is not UTF-8 and silently drops a
malformed datagram, while the server must answer both with an error that carries the
request id), encoding messages (our own small writer: python-osc's builder parses every
message it builds again, which made an error reply cost a millisecond under a flood), and
packing them into datagrams that never exceed :data:`MAX_DATAGRAM` bytes. The protocol itself (requests,
replies, error codes) is :mod:`serumrnn.server.osc`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Largest datagram the server sends: under the IPv6 minimum MTU (1280 bytes) less the IP
#: and UDP headers, so a reply is never fragmented on any network.
MAX_DATAGRAM = 1200
_BUNDLE_TAG = b"#bundle\x00"
#: The time tag of a bundle to run at once (OSC's "immediately").
_IMMEDIATELY = b"\x00\x00\x00\x00\x00\x00\x00\x01"
_MAX_BUNDLE_DEPTH = 4


# -- messages and decoding ------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One decoded OSC message: its address, its arguments and their type tags.

    ``size`` is the message's length in bytes in the datagram it came in (0 when built by
    hand): an error reply to it may not be longer (no amplification).
    """

    address: str
    args: tuple[Any, ...] = ()
    types: str = ""
    size: int = field(default=0, compare=False)


class DecodeError(ValueError):
    """A datagram that is not OSC. ``address`` and ``partial_args`` hold what was read before
    the fault, so an error reply can still carry the request id."""

    def __init__(self, reason: str, address: str | None = None, args: Sequence[Any] = ()):
        super().__init__(reason)
        self.address, self.partial_args = address, tuple(args)


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise DecodeError(f"string at byte {pos} has no terminating zero")
    # surrogateescape keeps a non-UTF-8 path's bytes: os.fsencode gives them back exactly.
    text = data[pos:end].decode("utf-8", "surrogateescape")
    return text, (end + 4) & ~3


def _read(fmt: str, data: bytes, pos: int) -> tuple[Any, int]:
    size = struct.calcsize(fmt)
    if pos + size > len(data):
        raise DecodeError(f"argument at byte {pos} runs past the end of the datagram")
    return struct.unpack_from(fmt, data, pos)[0], pos + size


#: The struct format of each fixed-size OSC argument type.
_FIXED = {"i": ">i", "h": ">q", "f": ">f", "d": ">d"}
#: The OSC types that carry no bytes, and their values.
_EMPTY: dict[str, Any] = {"T": True, "F": False, "N": None, "I": math.inf}


def _read_arg(t: str, data: bytes, pos: int) -> tuple[Any, int]:
    """One argument of type tag ``t`` at ``pos``, and the position after it."""
    if t in _FIXED:
        return _read(_FIXED[t], data, pos)
    if t in "sS":
        return _read_string(data, pos)
    if t == "b":
        n, pos = _read(">i", data, pos)
        if n < 0 or pos + n > len(data):
            raise DecodeError(f"blob of {n} bytes runs past the end of the datagram")
        return data[pos : pos + n], (pos + n + 3) & ~3
    if t in _EMPTY:
        return _EMPTY[t], pos
    raise DecodeError(f"unsupported OSC type tag {t!r}")


def _decode_message(data: bytes) -> Message:
    if not data.startswith(b"/"):
        raise DecodeError("an OSC message starts with an address beginning with '/'")
    address, pos = _read_string(data, 0)
    if pos >= len(data):
        return Message(address, size=len(data))
    if data[pos : pos + 1] != b",":
        raise DecodeError("the type tag string must start with ','", address)
    tags, pos = _read_string(data, pos)
    args: list[Any] = []
    for t in tags[1:]:
        try:
            v, pos = _read_arg(t, data, pos)
        except DecodeError as e:
            raise DecodeError(str(e), address, args) from None
        args.append(v)
    return Message(address, tuple(args), tags[1:], len(data))


def _decode(data: bytes, depth: int) -> list[Message]:
    if not data.startswith(_BUNDLE_TAG):
        return [_decode_message(data)]
    if depth >= _MAX_BUNDLE_DEPTH:
        raise DecodeError(f"bundles nested deeper than {_MAX_BUNDLE_DEPTH}")
    pos, out = 16, []
    if len(data) < pos:
        raise DecodeError("bundle shorter than its header")
    while pos < len(data):
        n, pos = _read(">i", data, pos)
        if n <= 0 or pos + n > len(data):
            raise DecodeError(f"bundle element of {n} bytes does not fit the datagram")
        out.extend(_decode(data[pos : pos + n], depth + 1))
        pos += n
    return out


def decode(data: bytes) -> list[Message]:
    """The messages of a datagram (a bundle's in order); :class:`DecodeError` if not OSC."""
    if not data:
        raise DecodeError("empty datagram")
    return _decode(bytes(data), 0)


# -- encoding and packing -------------------------------------------------------------


def printable(text: str) -> str:
    """Text that encodes as UTF-8 without NULs: undecodable path bytes shown as \\xNN."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\0")


def _escape_char(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def _is_control(c: str) -> bool:
    n = ord(c)
    return (
        n < 0x20
        or 0x7F <= n < 0xA0
        or n in (0x2028, 0x2029)
        or 0x202A <= n <= 0x202E
        or 0x2066 <= n <= 0x2069
    )


def loggable(text: Any) -> str:
    """``text`` safe for one log line: control characters (newlines, terminal escapes,
    Unicode line separators and direction overrides) shown as \\xNN or \\uNNNN, and
    undecodable path bytes as \\xNN, so a client cannot forge or hide log lines."""
    t = printable(str(text))
    if not any(_is_control(c) for c in t):
        return t
    return "".join(_escape_char(c) if _is_control(c) else c for c in t)


def _tag(value: Any) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int):
        return "i" if -(2**31) <= value < 2**31 else "h"
    if isinstance(value, float):
        return "f"
    if isinstance(value, str):
        return "s"
    if isinstance(value, (bytes, bytearray)):
        return "b"
    raise TypeError(f"cannot send {type(value).__name__} over OSC")


def _osc_string(text: str) -> bytes:
    """UTF-8, ended by one to four NULs (a multiple of 4 bytes)."""
    data = text.encode("utf-8")
    return data + b"\0" * (4 - len(data) % 4)


def _osc_arg(tag: str, value: Any) -> bytes:
    if tag == "i":
        return struct.pack(">i", value)
    if tag == "h":
        return struct.pack(">q", value)
    if tag == "f":
        return struct.pack(">f", value)
    if tag == "s":
        return _osc_string(value)
    if tag == "b":
        return struct.pack(">i", len(value)) + bytes(value) + b"\0" * (-len(value) % 4)
    return b""  # T, F: the tag is the value


def encode(address: str, args: Sequence[Any] = ()) -> bytes:
    """One OSC message: ints as i (h past 32 bits), floats as f (32 bit), text as s
    (:func:`printable`), bytes as b, booleans as T/F; numpy scalars as their Python value."""
    tags, parts = [","], []
    for a in args:
        if isinstance(a, str):
            a = printable(a)
        elif hasattr(a, "dtype"):  # numpy scalars from the models
            a = a.item()
        tag = _tag(a)
        tags.append(tag)
        parts.append(_osc_arg(tag, a))
    return _osc_string(address) + _osc_string("".join(tags)) + b"".join(parts)


def encode_fitting(address: str, args: Sequence[Any], limit: int = MAX_DATAGRAM) -> bytes:
    """Like :func:`encode`, shortening the longest text argument until it fits ``limit``."""
    args = list(args)
    data = encode(address, args)
    while len(data) > limit:
        texts = [i for i, a in enumerate(args) if isinstance(a, str) and len(a) > 3]
        if not texts:
            raise ValueError(f"{address}: {len(data)} bytes do not fit {limit} without text")
        i = max(texts, key=lambda j: len(args[j].encode("utf-8", "surrogateescape")))
        keep = min(len(args[i]) - 2, max(1, len(args[i]) - (len(data) - limit) - 4))
        args[i] = args[i][:keep] + "…"
        data = encode(address, args)
    return data


def pack(messages: Iterable[bytes], limit: int = MAX_DATAGRAM, *, bundles: bool = True) -> list[bytes]:
    """Datagrams for a reply: messages gathered into bundles of at most ``limit`` bytes
    (a lone message goes bare), or one message per datagram when ``bundles`` is off."""
    msgs = list(messages)
    for m in msgs:
        if len(m) > limit:
            raise ValueError(f"a {len(m)}-byte message exceeds the {limit}-byte datagram limit")
    if not bundles:
        return msgs
    groups: list[list[bytes]] = []
    size = 0
    for m in msgs:
        if not groups or size + 4 + len(m) > limit:
            groups.append([])
            size = 16  # "#bundle\0" and the time tag
        groups[-1].append(m)
        size += 4 + len(m)
    out = []
    for g in groups:
        if len(g) == 1:
            out.append(g[0])
            continue
        out.append(_BUNDLE_TAG + _IMMEDIATELY + b"".join(struct.pack(">i", len(m)) + m for m in g))
    return out
