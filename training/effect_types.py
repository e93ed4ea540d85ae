"""Effect *types* heard through several implementations, and inputs made by other software.

The spec's five effects are types: compression, distortion, EQ, phasing and reverb. Our
open rack is one implementation of each; a producer's sound was made with another. This
module lists other implementations of each type (SoX's effects, and Debian plugins hosted
directly with DawDreamer: LSP, Zyn's effects, Dragonfly's reverbs, zam-plugins) with
settings drawn from a generator, and inputs made without the open rack (SoX oscillators,
the ZynAddSubFX synth). It is the one home of both for the out-of-domain naming suite
(:mod:`serumrnn.training.ood_naming`) and the naming head's data
(:mod:`serumrnn.training.naming_head`).

Process rule: hosting a Debian plugin flips the FPU's flush-to-zero flag, and an open rack
compiled after that aborts in Faust, so everything here that loads a plugin runs in a
process that never builds an open rack (the commands render plugins and the open rack in
separate processes).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.training.ood_suite import LXVST, TARGET_PEAK, VST, _staged, _u, run_sox
from serumrnn.training.ood_suite import PLUGINS as _SUITE  # the draws both suites share

#: The types a naming answer can be: the spec's effects.
TYPES: tuple[str, ...] = spec.EFFECT_NAMES
LSP = VST / "lsp-plugins"
ZYN_SAW = Path(__file__).resolve().parent.parent / "server" / "rack" / "profiles" / "zyn_saw.fxp"
SR = 44100
CLIP = SR  # 1 s clips, like the rack's


@dataclass(frozen=True)
class Implementation:
    """One way to make an effect type: a SoX effect, a plugin, or the open rack.

    ``draw`` turns a generator into settings: SoX arguments (a list) or plugin parameter
    values by name (a dict); for the open rack the knobs, fixed knobs included, by name."""

    name: str
    type: str  # one of TYPES
    family: str  # sox | lsp | zyn | dragonfly | zam | open_rack
    draw: Callable[[np.random.Generator], Any]
    path: Path | None = None  # the plugin file
    #: How a hosted plugin is cleared between targets (see ``serumrnn.server.rack.plugins``):
    #: "reload" is exact; ZamVerb takes 15 s to load its impulse responses, so it is flushed.
    reset: str = "reload"
    warmup_s: float = 0.0  # ZynPhaser's LFO starts at a random depth (see debian_test.json)

    @property
    def kind(self) -> str:
        return "plugin" if self.path is not None else self.family


def _sign(r: np.random.Generator) -> float:
    return float(r.choice([-1.0, 1.0]))


# -- SoX ------------------------------------------------------------------------------
SOX: tuple[Implementation, ...] = (
    Implementation(
        "sox overdrive", "distortion", "sox", lambda r: ["overdrive", f"{_u(r, 6, 35)}", f"{_u(r, 0, 40)}"]
    ),
    Implementation(
        "sox reverb",
        "reverb",
        "sox",
        lambda r: [
            "reverb",
            f"{_u(r, 30, 95)}",
            f"{_u(r, 20, 80)}",
            f"{_u(r, 30, 100)}",
            "100",
            f"{_u(r, 0, 40)}",
        ],
    ),
    Implementation(
        "sox phaser",
        "phaser",
        "sox",
        lambda r: [
            "phaser",
            "0.8",
            f"{_u(r, 0.6, 0.8, 2)}",
            f"{_u(r, 1.0, 5.0)}",
            f"{_u(r, 0.2, 0.6, 2)}",
            f"{_u(r, 0.2, 2.0)}",
            str(r.choice(["-s", "-t"])),
        ],
    ),
    Implementation(
        "sox compand",
        "compressor",
        "sox",
        lambda r: [
            "compand",
            f"{_u(r, 0.002, 0.05, 3)},{_u(r, 0.05, 0.5, 2)}",
            f"6:-70,-60,-{int(r.uniform(20, 45))},-{int(r.uniform(8, 20))},0,-{int(r.uniform(3, 8))}",
            f"{int(r.uniform(0, 6))}",
            "-70",
            f"{_u(r, 0.0, 0.05, 3)}",
        ],
    ),
    Implementation(
        "sox equalizer",
        "eq",
        "sox",
        lambda r: [
            "equalizer",
            f"{int(np.exp(r.uniform(np.log(200), np.log(9000))))}",
            f"{_u(r, 0.5, 3.0)}q",
            f"{_u(r, 6, 15) * _sign(r):+.1f}",
        ],
    ),
    Implementation(
        "sox bass",
        "eq",
        "sox",
        lambda r: ["bass", f"{_u(r, 6, 15) * _sign(r):+.1f}", f"{int(r.uniform(80, 400))}"],
    ),
    Implementation(
        "sox treble",
        "eq",
        "sox",
        lambda r: ["treble", f"{_u(r, 6, 15) * _sign(r):+.1f}", f"{int(r.uniform(2000, 8000))}"],
    ),
)


# -- Debian plugins -------------------------------------------------------------------
def _lsp_para_eq(r: np.random.Generator) -> dict[str, float]:
    # band 0 a Bell, mode "RLC (BT)", IIR
    return {
        "ft_0": 0.125,  # Bell (as in debian_test.json)
        "f_0": _u(r, 0.35, 0.85, 3),  # ~100 Hz .. 9 kHz on LSP's log 10..24000 Hz
        "g_0": round(0.5 + _u(r, 0.09, 0.2, 3) * _sign(r), 3),  # +-6..15 dB of +-36
        "q_0": _u(r, 0.005, 0.04, 3),  # Q 0.5..4 of 0..100
    }


def _from_suite(name: str, type_: str, family: str) -> Implementation:
    """A plugin whose draw ``ood_suite`` already holds (one home for those settings)."""
    path, draw = _SUITE[name]
    return Implementation(name, type_, family, draw, path)


PLUGINS: tuple[Implementation, ...] = (
    Implementation(
        "ZynDistortion",
        "distortion",
        "zyn",
        lambda r: {
            "Drive": _u(r, 0.3, 0.8, 2),
            "Type": round(int(r.integers(0, 14)) / 13, 6),
            "Level": _u(r, 0.4, 0.7, 2),
        },
        VST / "ZynDistortion.so",
    ),
    Implementation(
        "ZamTube",
        "distortion",
        "zam",
        lambda r: {
            "Tube Drive": _u(r, 0.4, 1.0, 2),
            "Bass": _u(r, 0.3, 0.7, 2),
            "Treble": _u(r, 0.3, 0.7, 2),
        },
        VST / "ZamTube-vst.so",
    ),
    Implementation(
        "ZynReverb",
        "reverb",
        "zyn",
        lambda r: {"Time": _u(r, 0.3, 0.7, 2), "Room size": _u(r, 0.3, 0.8, 2), "Damp": _u(r, 0.2, 0.6, 2)},
        VST / "ZynReverb.so",
    ),
    _from_suite("Dragonfly Hall Reverb", "reverb", "dragonfly"),
    _from_suite("Dragonfly Room Reverb", "reverb", "dragonfly"),
    Implementation(
        "Dragonfly Plate Reverb",
        "reverb",
        "dragonfly",
        lambda r: {
            "Dry Level": _u(r, 0.5, 0.8, 2),
            "Wet Level": _u(r, 0.2, 0.5, 2),
            "Decay": _u(r, 0.05, 0.3, 2),
        },
        LXVST / "DragonflyPlateReverb-vst.so",
    ),
    Implementation(
        "ZamVerb",
        "reverb",
        "zam",
        lambda r: {"Wet / Dry": _u(r, 0.2, 0.6, 2), "Room": round(float(r.integers(0, 2)), 1)},
        VST / "ZamVerb-vst.so",
        reset="flush",
    ),
    Implementation(
        "ZynPhaser",
        "phaser",
        "zyn",
        lambda r: {
            "LFO Frequency": _u(r, 0.2, 0.6, 2),
            "Depth": _u(r, 0.5, 1.0, 2),
            "Feedback": _u(r, 0.55, 0.95, 2),
            "Stages": _u(r, 0.1, 0.5, 2),
        },
        VST / "ZynPhaser.so",
        warmup_s=10.0,
    ),
    _from_suite("LSP Compressor Mono", "compressor", "lsp"),
    Implementation(
        "ZamComp",
        "compressor",
        "zam",
        lambda r: {
            "Ratio": _u(r, 0.3, 0.9, 2),
            "Threshold": _u(r, 0.4, 0.75, 2),
            "Attack": _u(r, 0.02, 0.2, 2),
            "Release": _u(r, 0.05, 0.4, 2),
            "Makeup": _u(r, 0.1, 0.4, 2),
        },
        VST / "ZamComp-vst.so",
    ),
    _from_suite("LSP Graphic Equalizer x16 Mono", "eq", "lsp"),
    Implementation(
        "LSP Parametric Equalizer x16 Mono", "eq", "lsp", _lsp_para_eq, LSP / "para-equalizer-x16-mono.so"
    ),
    Implementation(
        "ZamEQ2",
        "eq",
        "zam",
        lambda r: {
            "Boost/Cut 1": round(0.714 + _u(r, 0.12, 0.28, 3) * _sign(r), 3),
            "Frequency 1": _u(r, 0.1, 0.8, 2),
            "Bandwidth 1": _u(r, 0.1, 0.4, 2),
        },
        VST / "ZamEQ2-vst.so",
    ),
    Implementation(
        "ZamGEQ31",
        "eq",
        "zam",
        lambda r: {
            f"{b}": _u(r, 0.2, 0.8, 2)
            for b in ("126Hz", "251Hz", "501Hz", "999Hz", "1997Hz", "3986Hz", "7963Hz")
        },
        VST / "ZamGEQ31-vst.so",
    ),
)

#: Everything made by other software: what the out-of-domain suite draws from.
OTHER_SOFTWARE: tuple[Implementation, ...] = SOX + PLUGINS


def by_name(name: str) -> Implementation:
    for imp in OTHER_SOFTWARE:
        if imp.name == name:
            return imp
    raise KeyError(f"unknown implementation {name!r}; known: {', '.join(i.name for i in OTHER_SOFTWARE)}")


# -- inputs made by other software ----------------------------------------------------
SOX_WAVES = ("sine", "square", "triangle", "sawtooth", "trapezium")
NOTES = (36, 64)  # the range input notes are drawn from (the models were trained on 48)


def hz(note: int) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def draw_input(r: np.random.Generator) -> dict[str, Any]:
    """An input's recipe: a SoX oscillator (waveform, note, envelope) or a Zyn note."""
    note = int(r.integers(NOTES[0], NOTES[1] + 1))
    if r.random() < 0.6:
        return {
            "source": "sox",
            "wave": str(r.choice(SOX_WAVES)),
            "note": note,
            "fade_in": _u(r, 0.0, 0.05, 3),
            "fade_out": _u(r, 0.0, 0.5, 2),
        }
    return {"source": "zyn", "preset": str(r.choice(["saw", "init"])), "note": note}


def render_input(recipe: dict[str, Any], folder: Path) -> np.ndarray:
    """The input sound of a recipe from :func:`draw_input`, peak at ``TARGET_PEAK``."""
    from serumrnn.server.audio_io import load_clip

    if recipe["source"] == "sox":
        out = folder / "osc.wav"
        args = [
            "-n",
            "-r",
            str(SR),
            "-c",
            "1",
            str(out),
            "synth",
            "1",
            recipe["wave"],
            f"{hz(recipe['note']):.3f}",
        ]
        args += ["fade", "t", f"{recipe['fade_in']}", "1", f"{recipe['fade_out']}"]
        run_sox(args, "the out-of-domain naming suite")
        audio = load_clip(out)
    else:
        audio = zyn_note(recipe["note"], recipe["preset"])
    return _staged(audio)


def zyn_note(note: int, preset: str = "saw") -> np.ndarray:
    """One second of ZynAddSubFX (a fresh instance: its 'saw' preset or its default)."""
    from serumrnn.server.rack.plugins import PluginStage
    from serumrnn.server.rack.profile import PluginSpec
    from serumrnn.server.rack.render import RenderSettings

    path = VST / "ZynAddSubFX.so"
    settings = RenderSettings()
    st = PluginStage(
        "zyn", str(path), PluginSpec("zyn", str(path), None, "none", 0.0, 0.0), settings, instrument=True
    )
    if preset == "saw":
        st.use_preset(str(ZYN_SAW))
    return st.play(note).mean(axis=0).astype(np.float32)


# -- applying one implementation ------------------------------------------------------
def check_available(imps: tuple[Implementation, ...] | list[Implementation]) -> None:
    """One clear error naming what is missing, before any rendering."""
    missing = [str(i.path) for i in imps if i.path is not None and not i.path.is_file()]
    if missing:
        raise RuntimeError(
            f"missing plugin file(s): {', '.join(missing)} (scripts/setup-system.sh installs the Debian plugins)"
        )


def apply(imp: Implementation, audio: np.ndarray, settings: Any, folder: Path | None = None) -> np.ndarray:
    """``audio`` through one SoX effect or one plugin, peak at ``TARGET_PEAK``."""
    from serumrnn.training.ood_suite import sox_target

    if imp.kind == "sox":
        if folder is None:
            with tempfile.TemporaryDirectory() as tmp:
                return _staged(sox_target(audio, settings, Path(tmp)))
        return _staged(sox_target(audio, settings, folder))
    if imp.path is None:
        raise ValueError(f"{imp.name} is the open rack's: render it with serumrnn.training.naming_head")
    stage = _stage(imp)
    stage.prepare()
    for name, value in settings.items():
        stage.set(stage.param_names.index(name), value)
    out = stage.run(np.asarray(audio, np.float32)[None], len(audio))
    return _staged(out.mean(axis=0).astype(np.float32))


_STAGES: dict[str, Any] = {}  # one hosted instance per plugin in this process


def _stage(imp: Implementation):
    """The plugin's instance in this process, loaded once (cleared by its ``reset``)."""
    if imp.name not in _STAGES:
        from serumrnn.server.rack.plugins import PluginStage
        from serumrnn.server.rack.profile import PluginSpec
        from serumrnn.server.rack.render import RenderSettings

        assert imp.path is not None
        spec_ = PluginSpec(imp.name, str(imp.path), None, imp.reset, 5.0, imp.warmup_s)
        _STAGES[imp.name] = PluginStage(imp.name, str(imp.path), spec_, RenderSettings(), instrument=False)
    return _STAGES[imp.name]


__all__ = [
    "TYPES",
    "TARGET_PEAK",
    "Implementation",
    "SOX",
    "PLUGINS",
    "OTHER_SOFTWARE",
    "by_name",
    "draw_input",
    "render_input",
    "apply",
    "check_available",
]
