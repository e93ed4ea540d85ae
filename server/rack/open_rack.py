"""The open rack: a Faust synth and Serum-like effects run by DawDreamer.

The dry synth is deterministic for a (preset, note), so it is rendered once and cached;
each render then plays it back through the chain's effects in rack order
(``RenderSettings.rack_order``, Serum's FX rack by default), whatever order they were
switched on in.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.server.rack import presets as P
from serumrnn.server.rack.chain import FX, Chain, ChainKey
from serumrnn.server.rack.render import OPEN_RACK_LABEL, RenderError, RenderSettings, daw

FAUST_DIR = Path(__file__).with_name("faust")

#: Every preset leaves the synth at this peak (-6 dBFS), gain-staged like a real patch,
#: so the level-dependent effects (compressor, distortion) see the same input level.
DRY_PEAK = 0.5


@functools.cache
def faust_source(name: str) -> str:
    return (FAUST_DIR / f"{name}.dsp").read_text()


def faust_value(effect_name: str, knob_name: str, value: float) -> float:
    """A spec knob's 0..1 value in the unit its Faust slider takes (Hz, dB, %, class)."""
    eff = spec.effect(effect_name)
    for k in eff.knobs:
        if k.name == knob_name:
            return float(int(value)) if k.categorical else k.display.value(value)
    for f in eff.fixed:
        if f.name == knob_name:
            return f.display.value(value)
    raise KeyError(f"{effect_name} has no knob {knob_name!r}")


class _Stage:
    """One compiled Faust processor in an engine of its own.

    DawDreamer runs every processor an engine owns on each render, in the graph or not,
    so each stage gets its own engine and a chain costs only the effects it uses.
    """

    def __init__(self, name: str, settings: RenderSettings, *, synth: bool = False):
        self.name = name
        # DawDreamer's engine and processors come untyped from its extension module.
        self.engine: Any = daw().RenderEngine(settings.sample_rate, settings.block_size)
        self.proc: Any = self.engine.make_faust_processor(name)
        self.proc.compile_flags = ["-single"]
        self.proc.set_dsp_string(faust_source(name))
        try:
            self.proc.compile()
        except RuntimeError as e:  # pragma: no cover - only on a broken .dsp
            raise RenderError(f"Faust code {FAUST_DIR / (name + '.dsp')} does not compile: {e}") from e
        params = self.proc.get_parameters_description()
        self.address = {p["name"].rsplit("/", 1)[-1]: p["name"] for p in params}
        self.defaults = {p["name"].rsplit("/", 1)[-1]: p["value"] for p in params}
        self._last: dict[str, float] = {}
        self.player: Any | None = None  # the playback processor feeding an effect
        if synth:
            self.engine.load_graph([(self.proc, [])])
        else:
            self.player = self.engine.make_playback_processor(
                "player", np.zeros((1, settings.n_samples), np.float32)
            )
            self.engine.load_graph([(self.player, []), (self.proc, ["player"])])

    def set(self, name: str, value: float) -> None:
        if self._last.get(name) == value:
            return
        self.proc.set_parameter(self.address[name], float(value))
        self._last[name] = value

    def run(self, audio: np.ndarray | None, seconds: float, n: int) -> np.ndarray:
        if audio is not None:
            if self.player is None:
                raise ValueError(f"the {self.name} stage is a synth: it takes no input audio")
            self.player.set_data(audio[None, :])
        self.engine.render(seconds)
        out: np.ndarray = self.engine.get_audio()[0, :n].astype(np.float32)  # DawDreamer's is untyped
        return out


class OpenRack:
    """Render a preset through a chain of effects, like Serum's FX rack.

    >>> rack = OpenRack()
    >>> audio = rack.render([FX("distortion", mode="Tube", drive=0.7)], preset="saw")
    """

    #: What reports and replies call this renderer (``render.renderer_label``).
    label = OPEN_RACK_LABEL

    def __init__(self, settings: RenderSettings | None = None):
        self.settings = settings = settings or RenderSettings()
        self._synth = _Stage("synth", settings, synth=True)
        self._fx = {name: _Stage(name, settings) for name in spec.EFFECT_NAMES}
        self._dry: dict[tuple[str, int], np.ndarray] = {}
        self._prefixes = PrefixCache()
        for name, stage in self._fx.items():  # fixed knobs never change: set them once
            for f in spec.effect(name).fixed:
                if f.name in stage.address:
                    stage.set(f.name, faust_value(name, f.name, f.value))

    def extra_knobs(self, effect: str) -> tuple[str, ...]:
        """The effect's extra knobs (``spec.Fixed.extra``) this rack renders: all of them."""
        return tuple(f.name for f in spec.effect(effect).extra if f.name in self._fx[effect].address)

    def clear_caches(self, *, dry: bool = True) -> None:
        """Forget the partial renders and (``dry``) the cached dry synths, so a benchmark
        measures the work a new chain costs."""
        if dry:
            self._dry.clear()
        self._prefixes.clear()

    @property
    def presets(self) -> tuple[str, ...]:
        return tuple(P.PRESETS)

    def dry(self, preset: str, *, note: int | None = None) -> np.ndarray:
        """The preset with no effects (cached: a synth render is deterministic)."""
        note = self.settings.note if note is None else int(note)
        key = (preset, note)
        if key not in self._dry:
            values = P.preset(preset)
            if not 0 <= note <= 127:
                raise ValueError(f"MIDI note {note} is outside 0..127")
            synth = self._synth
            for k in synth.address:
                synth.set(k, values.get(k, synth.defaults[k]))
            # The synth runs as one monophonic voice driven by its freq/gain/gate sliders
            # (a gate automation curve is the note), which renders faster than
            # DawDreamer's polyphonic MIDI wrapper and gives the same sound.
            synth.set("freq", 440.0 * 2.0 ** ((note - 69) / 12))
            synth.set("gain", self.settings.velocity / 127)
            gate = np.zeros(self.settings.n_samples)
            gate[: int(round(self.settings.note_s * self.settings.sample_rate))] = 1.0
            synth.proc.set_automation(synth.address["gate"], gate)
            audio = synth.run(None, self.settings.render_s, self.settings.n_samples)
            peak = float(np.max(np.abs(audio)))
            if not np.isfinite(peak) or peak <= 0:
                raise RenderError(f"preset {preset!r} rendered silence at note {note}")
            self._dry[key] = audio * np.float32(DRY_PEAK / peak)
        return self._dry[key].copy()

    def render(
        self, chain: Chain | Sequence[FX] = (), preset: str | None = None, *, note: int | None = None
    ) -> np.ndarray:
        """Mono float32 audio of ``preset`` through ``chain``, processed in rack order."""
        if preset is None:
            raise ValueError(f"the open rack needs a preset; presets: {', '.join(P.PRESETS)}")
        note = self.settings.note if note is None else int(note)
        return self._process(self.dry(preset, note=note), chain, ("preset", preset, note))

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray:
        """Run any mono clip through the effects in rack order (captured or user audio)."""
        audio = np.asarray(audio, np.float32)
        return self._process(audio, chain, ("clip", hashlib.sha1(np.ascontiguousarray(audio).data).digest()))

    def _process(self, audio: np.ndarray, chain: Chain | Sequence[FX], source: Source) -> np.ndarray:
        """Effects in rack order, starting from the longest cached prefix of the same
        source (see :class:`PrefixCache`)."""
        chain = chain if isinstance(chain, Chain) else Chain(chain)
        chain = chain.in_rack_order(self.settings.rack_order)
        audio = np.asarray(audio, np.float32)
        if len(chain) == 0:
            return audio.copy()
        keys = [(source, chain.prefix(n).key()) for n in range(1, len(chain) + 1)]
        start = 0
        for n in range(len(chain), 0, -1):
            hit = self._prefixes.get(keys[n - 1])
            if hit is not None:
                audio, start = hit, n
                break
        seconds = len(audio) / self.settings.sample_rate
        for i in range(start, len(chain)):
            fx = chain[i]
            stage = self._fx[fx.name]
            for knob, value in fx.knobs.items():
                stage.set(knob, faust_value(fx.name, knob, value))
            for f in fx.effect.extra:  # a step's extra value, else back to the spec's
                if f.name in stage.address:
                    stage.set(f.name, faust_value(fx.name, f.name, fx.fixed_value(f)))
            audio = stage.run(audio, seconds, len(audio))
            if not np.isfinite(audio).all():
                raise RenderError(f"{fx.describe()} produced non-finite samples")
            self._prefixes.put(keys[i], audio)
        return audio.copy()


#: What a partial render came from: a preset's dry synth or a clip, named by a hashable
#: tuple ("synth", preset, note) or ("clip", shape, digest).
Source = tuple[object, ...]
#: A partial render's key: its source and the effects so far in rack order.
PrefixKey = tuple[Source, ChainKey]


class PrefixCache:
    """Recent partial renders: (source, effects so far in rack order) -> audio.

    Each effect is its own engine and a render plays a clip through them one after the
    other, so the sound after the first n effects of a chain is the same for every chain
    that starts with them in rack order. A search that tries several effects or knob
    settings on one chain then renders only from the changed effect on: the effects
    before it in the rack come from here. Bounded, least recently used first out.
    """

    def __init__(self, size: int = 48):
        self.size = size
        self._items: OrderedDict[PrefixKey, np.ndarray] = OrderedDict()

    def get(self, key: PrefixKey) -> np.ndarray | None:
        audio = self._items.get(key)
        if audio is not None:
            self._items.move_to_end(key)
        return audio

    def put(self, key: PrefixKey, audio: np.ndarray) -> None:
        self._items[key] = audio  # never handed out: render() returns copies
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
