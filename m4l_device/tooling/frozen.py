"""A frozen Max for Live device: one ``.amxd`` that carries every file it needs.

Why: the unfrozen device finds its JavaScript beside it, which breaks on Live's "Collect
All and Save" and when a set is shared. A frozen device embeds them. Its layout, as
Ableton's maxdevtools reads it (``maxdiff/freezing_utils.py``, ``frozen_device_printer.py``)
and as its frozen example ``FrozenTest.amxd`` shows (docs/device-facts.md):

- the ``.amxd`` chunks ``ampf`` (device type), ``meta``, ``ptch``: 4-byte tag, little-endian
  32-bit size, data;
- ``ptch`` data: ``mx@c``, big-endian 32-bit header size (16), big-endian 64-bit offset of
  the footer; then the embedded files back to back, the device's own patcher JSON first;
- the footer: ``dlst``, big-endian 32-bit size of the whole footer, then one ``dire`` per
  file (``dire``, big-endian size including its 8-byte head) holding the fields ``type``,
  ``fnam`` (NUL-terminated, padded to 4 bytes), ``sz32``, ``of32``, ``vers``, ``flag`` and
  ``mdat`` (HFS+ seconds), each a tag, a big-endian size including its 8-byte head, data.

The device JSON's ``dependency_cache`` lists the embedded files, as Max writes it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: ``ptch`` data of a frozen device starts with this.
MAGIC = b"mx@c"
HEADER_SIZE = 16
#: Seconds from the HFS+ epoch (1904-01-01) to the Unix epoch.
HFS_TO_UNIX = 2082844800
#: The date every embedded file carries: a fixed one, so a build is byte-for-byte repeatable.
FROZEN_DATE = datetime(2024, 1, 1, tzinfo=UTC)
#: ``flag`` values as in Ableton's frozen example: the device's own patcher, and files that
#: Max hands to another program on disk (its node.script file and its sample carry 8; its
#: js object's files and patchers carry 0).
FLAG_DEVICE = 0x11
FLAG_ON_DISK = 0x08
FLAG_PLAIN = 0x00
#: The ``meta`` chunk of Ableton's frozen example (4 bytes, little-endian 7); its meaning is
#: not documented, so the frozen device repeats it.
FROZEN_META = struct.pack("<I", 7)


@dataclass(frozen=True)
class Embedded:
    """One file inside the frozen device."""

    name: str
    data: bytes
    kind: str = "TEXT"  # Max's four-character file type: JSON, TEXT, ...
    flag: int = FLAG_PLAIN


def _field(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack(">I", 8 + len(data)) + data


def _name(name: str) -> bytes:
    raw = name.encode("ascii") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def _dire(e: Embedded, offset: int, mdat: int) -> bytes:
    fields = (
        _field(b"type", e.kind.encode("ascii").ljust(4)[:4])
        + _field(b"fnam", _name(e.name))
        + _field(b"sz32", struct.pack(">I", len(e.data)))
        + _field(b"of32", struct.pack(">I", offset))
        + _field(b"vers", struct.pack(">I", 0))
        + _field(b"flag", struct.pack(">I", e.flag))
        + _field(b"mdat", struct.pack(">I", mdat))
    )
    return _field(b"dire", fields)


def pack_ptch(entries: list[Embedded]) -> bytes:
    """The frozen ``ptch`` data for ``entries`` (the device's patcher first)."""
    if not entries or entries[0].flag != FLAG_DEVICE:
        raise ValueError("the device's own patcher comes first")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"a file is embedded twice: {names}")
    mdat = int(FROZEN_DATE.timestamp()) + HFS_TO_UNIX
    body, dires, pos = b"", b"", HEADER_SIZE
    for e in entries:
        dires += _dire(e, pos, mdat)
        body += e.data
        pos += len(e.data)
    footer = b"dlst" + struct.pack(">I", 8 + len(dires)) + dires
    return MAGIC + struct.pack(">IQ", HEADER_SIZE, HEADER_SIZE + len(body)) + body + footer


def freeze_patcher(patcher: dict[str, Any], files: list[Embedded]) -> dict[str, Any]:
    """The device's patcher as a frozen device holds it: every embedded file named in its
    ``dependency_cache`` (Max's record of what the device uses)."""
    out = json.loads(json.dumps(patcher))
    out["patcher"]["dependency_cache"] = [
        {"name": f.name, "bootpath": "~/SerumRNN/m4l_device", "type": f.kind, "implicit": 1}
        for f in sorted(files, key=lambda f: f.name)
    ]
    return out


def unpack_ptch(data: bytes) -> list[Embedded]:
    """The files in a frozen ``ptch`` (ValueError when it does not add up): the reader the
    build checks itself with; the tests read it with their own, separate reader."""
    if data[:4] != MAGIC:
        raise ValueError("not a frozen device (no mx@c)")
    header, footer_at = struct.unpack_from(">IQ", data, 4)
    footer = data[footer_at:]
    if footer[:4] != b"dlst" or struct.unpack_from(">I", footer, 4)[0] != len(footer):
        raise ValueError("the footer does not start with dlst or its size is wrong")
    out, pos = [], 8
    while pos < len(footer):
        tag, size = footer[pos : pos + 4], struct.unpack_from(">I", footer, pos + 4)[0]
        if tag != b"dire" or size < 8:
            raise ValueError(f"footer entry {tag!r} at {pos}")
        fields, fpos = {}, pos + 8
        while fpos < pos + size:
            ftag = footer[fpos : fpos + 4].decode("ascii")
            (fsize,) = struct.unpack_from(">I", footer, fpos + 4)
            fields[ftag] = footer[fpos + 8 : fpos + fsize]
            fpos += fsize
        start, length = struct.unpack(">I", fields["of32"])[0], struct.unpack(">I", fields["sz32"])[0]
        if start < header or start + length > footer_at:
            raise ValueError("an embedded file lies outside the body")
        out.append(
            Embedded(
                fields["fnam"].rstrip(b"\x00").decode("ascii"),
                data[start : start + length],
                fields["type"].decode("ascii").strip(),
                struct.unpack(">I", fields["flag"])[0],
            )
        )
        pos += size
    return out
