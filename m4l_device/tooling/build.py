"""``serumrnn device build|panel``: the Max for Live device's build products.

The device's sources are readable files in ``m4l_device/`` (the patcher JSON, the
JavaScript beside it, the spec JSON from ``serumrnn spec export``). Live loads a
``.amxd``: Max's binary container around the patcher JSON, typed as an audio effect.
``build`` writes the spec as a JavaScript module (``serumrnn_spec.js``, which the device
loads with ``require`` like its other modules) and assembles the ``.amxd`` with the same
bytes every time, so both committed files can be checked against their sources; ``panel``
draws the device's panel from the patcher's presentation layout, so the picture in the
docs cannot drift from the device.

``build`` writes two devices. ``m4l_device/SerumRNN.amxd`` is the unfrozen one for working
on the device: it finds its JavaScript beside it (Max searches the folder of the patcher
being loaded first). ``out/device/SerumRNN.amxd`` is the frozen one for producers: one file
with the js (bundled into one file, bundle.py) and node.script's launcher inside it
(frozen.py), so it survives Live's "Collect All and Save" (docs/device.md).
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

from serumrnn.device import bundle, frozen
from serumrnn.server.spec import EXPORT_PATH

DEVICE_DIR = Path(__file__).resolve().parent.parent
ROOT = DEVICE_DIR.parent
PATCHER = DEVICE_DIR / "SerumRNN.maxpat"
AMXD = DEVICE_DIR / "SerumRNN.amxd"
PANEL_PNG = ROOT / "docs" / "device-panel.png"
SPEC_MODULE = DEVICE_DIR / "serumrnn_spec.js"
GLUE = DEVICE_DIR / "serumrnn_device.js"
LAUNCHER = DEVICE_DIR / "server_launcher.js"
FROZEN_AMXD = ROOT / "out" / "device" / "SerumRNN.amxd"
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
    return (
        _chunk(b"ampf", DEVICE_TYPES[device_type])
        + _chunk(b"meta", bytes(4))
        + _chunk(b"ptch", patcher + b"\x00")
    )


def build_frozen_amxd(patcher: bytes, device_type: str = "audio_effect") -> bytes:
    """The self-contained ``.amxd``: the patcher, the bundled js and the launcher in one
    frozen ``ptch`` (frozen.py). Reads the js beside the patcher as it is now, so write
    serumrnn_spec.js first."""
    files = [
        frozen.Embedded(GLUE.name, bundle.bundle(GLUE.read_text(), DEVICE_DIR).encode()),
        frozen.Embedded(LAUNCHER.name, LAUNCHER.read_bytes(), flag=frozen.FLAG_ON_DISK),
    ]
    device = frozen.freeze_patcher(json.loads(patcher), files)
    own = json.dumps(device, indent=4).encode() + b"\n\x00"
    entries = [frozen.Embedded(AMXD.name, own, "JSON", frozen.FLAG_DEVICE), *files]
    return (
        _chunk(b"ampf", DEVICE_TYPES[device_type])
        + _chunk(b"meta", frozen.FROZEN_META)
        + _chunk(b"ptch", frozen.pack_ptch(entries))
    )


def read_amxd(data: bytes) -> list[tuple[str, bytes]]:
    """The (tag, data) chunks of an ``.amxd``, in order; ValueError if they do not add up."""
    out, pos = [], 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f"chunk header cut at byte {pos}")
        tag = data[pos : pos + 4].decode("ascii")
        (size,) = struct.unpack_from("<I", data, pos + 4)
        if pos + 8 + size > len(data):
            raise ValueError(f"chunk {tag!r} of {size} bytes runs past the end")
        out.append((tag, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size
    return out


# -- the spec as a JavaScript module ----------------------------------------------------


def spec_module(spec_json: str, model_note: int) -> str:
    """``serumrnn_spec.js``: the spec JSON as an ES5 CommonJS module (``exports.spec``)
    and the note the models know (``exports.model_note``), for Max's ``require``.

    JSON is an ES5 expression once U+2028/U+2029 are escaped (``json.dumps`` escapes every
    non-ASCII character). An empty spec is refused here, and again by the device."""
    spec = json.loads(spec_json)
    if not spec.get("effects"):
        raise ValueError("the spec JSON lists no effects: run `serumrnn spec export`")
    body = json.dumps(spec, indent=1, ensure_ascii=True)
    return (
        "// Generated by `serumrnn device build` from serumrnn_spec.json: do not edit.\n"
        "// The effect spec (server/spec.py) for the device's js, loaded with require().\n"
        f"exports.spec = {body};\n"
        f"exports.model_note = {int(model_note)};\n"
    )


def default_model_note() -> int:
    """The MIDI note the shipped models were rendered at (``RenderSettings``' default)."""
    from serumrnn.server.rack.render import DEFAULT_NOTE

    return int(DEFAULT_NOTE)


# -- the panel picture ----------------------------------------------------------------


@dataclass(frozen=True)
class PanelItem:
    """One thing on the device's face: its Max class, presentation rect and label."""

    maxclass: str
    rect: tuple[float, float, float, float]
    label: str
    name: str = ""  # the box's scripting name (varname), else its id


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
        elif cls == "live.numbox":
            v = box["saved_attribute_attributes"]["valueof"]
            label = f"{v['parameter_shortname']} {v['parameter_initial'][0]}"
        else:
            label = box.get("text", "")
        x, y, w, h = (float(v) for v in box["presentation_rect"])
        items.append(PanelItem(cls, (x, y, w, h), label, box.get("varname", box["id"])))
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
        # centred in the box (matplotlib's line spacing), or from its top-left corner
        at = (
            (x + w / 2, y + (h or 0) / 2, "center", "center", 1.2)
            if center
            else (x + 2, y + 2, "left", "top", 1.15)
        )
        ax.text(
            at[0],
            at[1],
            wrapped,
            color=color,
            fontsize=size * pt,
            ha=at[2],
            va=at[3],
            weight=weight,
            linespacing=at[4],
        )

    items = presentation_items(patcher)
    boxes = {b["box"].get("varname", b["box"]["id"]): b["box"] for b in patcher["patcher"]["boxes"]}
    for it in items:
        x, y, w, h = it.rect
        size = float(boxes.get(it.name, {}).get("fontsize", 10.0))
        if it.maxclass == "live.text":
            color = ACCENT if it.name == "Next" else BUTTON
            ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=2", color=color))
            write(
                x,
                y,
                w,
                it.label,
                10.0 if h < 30 else 12.0,
                "#1e1e1e" if it.name == "Next" else FG,
                "bold",
                center=True,
                h=h,
            )
        elif it.maxclass == "live.menu":
            ax.add_patch(Rectangle((x, y), w, h, color=FIELD))
            write(x, y, w, it.label + "  \u25be", 10.0, FG, center=True, h=h)
        elif it.maxclass == "live.numbox":
            ax.add_patch(Rectangle((x, y), w, h, color=FIELD))
            write(x, y, w, it.label, 10.0, FG, center=True, h=h)
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
    module = spec_module(Path(a.spec).read_text(), default_model_note())
    out, mod = Path(a.out), Path(a.spec_module)
    if a.check:
        stale = [
            f"{path} is out of sync with {src}"
            for path, want, src in ((out, data, a.patcher), (mod, module.encode(), a.spec))
            if not path.exists() or path.read_bytes() != want
        ]
        for line in stale:
            print(f"{line}: run `serumrnn device build`", file=sys.stderr)
        if stale:
            return 1
        print(f"{out} ({len(data)} bytes) and {mod.name} are in sync")
        return 0
    mod.write_text(module)
    out.write_bytes(data)
    packed = build_frozen_amxd(Path(a.patcher).read_bytes())
    frozen_out = Path(a.frozen_out)
    frozen_out.parent.mkdir(parents=True, exist_ok=True)
    frozen_out.write_bytes(packed)
    print(f"wrote {mod} and {out} ({len(data)} bytes, audio effect)")
    print(f"wrote {frozen_out} ({len(packed)} bytes, frozen: drop this one into Live)")
    return 0


def _cmd_panel(a: argparse.Namespace) -> int:
    items = draw_panel(json.loads(Path(a.patcher).read_text()), Path(a.out))
    print(f"wrote {a.out} ({len(items)} controls and displays)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("device", help="the Max for Live device: build the .amxd files, draw its panel")
    dsub = d.add_subparsers(dest="device_cmd", required=True)
    b = dsub.add_parser(
        "build", help="write serumrnn_spec.js, SerumRNN.amxd and the frozen out/device/SerumRNN.amxd"
    )
    b.add_argument("--patcher", default=str(PATCHER), help="the device's Max patcher (default %(default)s)")
    b.add_argument("--out", default=str(AMXD), help="the .amxd to write (default %(default)s)")
    b.add_argument("--spec", default=str(EXPORT_PATH), help="the spec JSON (`serumrnn spec export`)")
    b.add_argument(
        "--spec-module",
        default=str(SPEC_MODULE),
        help="the JavaScript spec module to write (default %(default)s)",
    )
    b.add_argument(
        "--frozen-out",
        default=str(FROZEN_AMXD),
        help="the self-contained (frozen) .amxd to write (default %(default)s)",
    )
    b.add_argument(
        "--check", action="store_true", help="fail if the .amxd or serumrnn_spec.js is out of sync"
    )
    b.set_defaults(func=_cmd_build)
    p = dsub.add_parser("panel", help="draw the device's panel (docs/device-panel.png)")
    p.add_argument("--patcher", default=str(PATCHER), help="the device's Max patcher (default %(default)s)")
    p.add_argument("--out", default=str(PANEL_PNG), help="the PNG to write (default %(default)s)")
    p.set_defaults(func=_cmd_panel)
