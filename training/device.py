"""``serumrnn device build|panel``: the Max for Live device's build products.

The device's sources are readable files in ``m4l_device/`` (the patcher JSON, the
JavaScript beside it, the generated spec JSON). Live loads a ``.amxd``: Max's binary
container around the patcher JSON, typed as an audio effect. ``build`` assembles it with
the same bytes every time, so the committed file can be checked against its source;
``panel`` draws the device's panel from the patcher's presentation layout, so the picture
in the docs cannot drift from the device.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIR = ROOT / "m4l_device"
PATCHER = DEVICE_DIR / "SerumRNN.maxpat"
AMXD = DEVICE_DIR / "SerumRNN.amxd"
PANEL_PNG = ROOT / "docs" / "device-panel.png"
#: The ``ampf`` chunk's device type (as in Ableton's maxdevtools amxd reader).
DEVICE_TYPES = {"audio_effect": b"aaaa", "instrument": b"iiii", "midi_effect": b"mmmm"}
#: Live's device height in pixels; the width comes from the patcher's ``devicewidth``.
DEVICE_HEIGHT = 169


# -- the .amxd container --------------------------------------------------------------

def _chunk(tag: bytes, data: bytes) -> bytes:
    """A chunk: 4-byte tag, little-endian 32-bit length of the data, the data."""
    return tag + struct.pack("<I", len(data)) + data


def build_amxd(patcher: bytes, device_type: str = "audio_effect") -> bytes:
    """The ``.amxd`` bytes for a patcher's JSON: ``ampf`` (the device type), ``meta`` and
    ``ptch`` (the JSON, NUL-terminated). Nothing time- or machine-dependent goes in."""
    json.loads(patcher)  # a broken patcher must not become a device
    return (_chunk(b"ampf", DEVICE_TYPES[device_type]) + _chunk(b"meta", bytes(4))
            + _chunk(b"ptch", patcher + b"\x00"))


def read_amxd(data: bytes) -> list[tuple[str, bytes]]:
    """The (tag, data) chunks of an ``.amxd``, in order; ValueError if they do not add up."""
    out, pos = [], 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f"chunk header cut at byte {pos}")
        tag = data[pos:pos + 4].decode("ascii")
        (size,) = struct.unpack_from("<I", data, pos + 4)
        if pos + 8 + size > len(data):
            raise ValueError(f"chunk {tag!r} of {size} bytes runs past the end")
        out.append((tag, data[pos + 8:pos + 8 + size]))
        pos += 8 + size
    return out


# -- the panel picture ----------------------------------------------------------------

@dataclass(frozen=True)
class PanelItem:
    """One thing on the device's face: its Max class, presentation rect and label."""

    maxclass: str
    rect: tuple[float, float, float, float]
    label: str
    name: str = ""      # the box's scripting name (varname), else its id


def presentation_items(patcher: dict[str, Any]) -> list[PanelItem]:
    """Every box shown in presentation mode, with what the panel prints on it."""
    items = []
    for b in patcher["patcher"]["boxes"]:
        box = b["box"]
        if not box.get("presentation"):
            continue
        cls = box["maxclass"]
        if cls == "live.menu":
            label = box["saved_attribute_attributes"]["valueof"]["parameter_enum"][0]
        elif cls == "live.drop":
            label = box.get("legend", "")
        else:
            label = box.get("text", "")
        items.append(PanelItem(cls, tuple(float(v) for v in box["presentation_rect"]), label,
                               box.get("varname", box["id"])))
    return items


BG, FG, DIM, BUTTON, ACCENT, FIELD = "#363636", "#e4e4e4", "#8c8c8c", "#575757", "#ffad56", "#2a2a2a"


def draw_panel(patcher: dict[str, Any], out: Path, scale: float = 2.0) -> list[PanelItem]:
    """Draw the panel to a PNG and return the items drawn (one per presentation box)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Rectangle

    width = float(patcher["patcher"].get("devicewidth") or 600.0)
    dpi = 100
    fig = plt.figure(figsize=(width * scale / dpi, DEVICE_HEIGHT * scale / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(DEVICE_HEIGHT, 0)
    ax.axis("off")
    ax.add_patch(Rectangle((0, 0), width, DEVICE_HEIGHT, color=BG))
    pt = scale * 72 / dpi  # one Max pixel in points

    def write(x, y, w, text, size, color=FG, weight="normal", center=False, h=None):
        per_line = max(4, int(w / (0.55 * size)))
        wrapped = "\n".join(textwrap.wrap(text, per_line)) or text
        if center:
            ax.text(x + w / 2, y + (h or 0) / 2, wrapped, color=color, fontsize=size * pt,
                    ha="center", va="center", weight=weight)
        else:
            ax.text(x + 2, y + 2, wrapped, color=color, fontsize=size * pt, ha="left", va="top",
                    weight=weight, linespacing=1.15)

    items = presentation_items(patcher)
    boxes = {b["box"].get("varname", b["box"]["id"]): b["box"] for b in patcher["patcher"]["boxes"]}
    for it in items:
        x, y, w, h = it.rect
        size = float(boxes.get(it.name, {}).get("fontsize", 10.0))
        if it.maxclass == "live.text":
            color = ACCENT if it.name == "Next" else BUTTON
            ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=2",
                                        color=color))
            write(x, y, w, it.label, 10.0 if h < 30 else 12.0, "#1e1e1e" if it.name == "Next"
                  else FG, "bold", center=True, h=h)
        elif it.maxclass == "live.menu":
            ax.add_patch(Rectangle((x, y), w, h, color=FIELD))
            write(x, y, w, it.label + "  \u25be", 10.0, FG, center=True, h=h)
        elif it.maxclass == "live.drop":
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec=DIM, ls="--", lw=1.0))
            write(x, y, w, it.label, 10.0, DIM, center=True, h=h)
        elif it.label:
            bold = boxes.get(it.name, {}).get("fontface") == 1
            write(x, y, w, it.label, size, FG, "bold" if bold else "normal")
        else:  # an empty display line: show where it is and what it shows
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec="#4a4a4a", ls=":", lw=0.8))
            write(x, y, w, f"({it.name})", size, DIM)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, facecolor=BG, metadata={"Software": None})
    plt.close(fig)
    return items


# -- the command ----------------------------------------------------------------------

def _cmd_build(a: argparse.Namespace) -> int:
    data = build_amxd(Path(a.patcher).read_bytes())
    out = Path(a.out)
    if a.check:
        if not out.exists() or out.read_bytes() != data:
            print(f"{out} is out of sync with {a.patcher}: run `serumrnn device build`",
                  file=sys.stderr)
            return 1
        print(f"{out} is in sync ({len(data)} bytes)")
        return 0
    out.write_bytes(data)
    print(f"wrote {out} ({len(data)} bytes, audio effect)")
    return 0


def _cmd_panel(a: argparse.Namespace) -> int:
    items = draw_panel(json.loads(Path(a.patcher).read_text()), Path(a.out))
    print(f"wrote {a.out} ({len(items)} controls and displays)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("device", help="the Max for Live device: build the .amxd, draw its panel")
    dsub = d.add_subparsers(dest="device_cmd", required=True)
    b = dsub.add_parser("build", help="assemble m4l_device/SerumRNN.amxd from the patcher")
    b.add_argument("--patcher", default=str(PATCHER))
    b.add_argument("--out", default=str(AMXD))
    b.add_argument("--check", action="store_true", help="fail if the .amxd is out of sync")
    b.set_defaults(func=_cmd_build)
    p = dsub.add_parser("panel", help="draw the device's panel (docs/device-panel.png)")
    p.add_argument("--patcher", default=str(PATCHER))
    p.add_argument("--out", default=str(PANEL_PNG))
    p.set_defaults(func=_cmd_panel)
