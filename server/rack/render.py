"""What every renderer shares: the render settings and the ``Renderer`` protocol."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from serumrnn.server import spec
from serumrnn.server.rack.chain import FX, Chain

#: MIDI note the shipped models are trained on: 48 (C3; Live calls it C2), as in the
#: paper's research code. The paper's text says "C4"; change it here, not elsewhere.
DEFAULT_NOTE = 48


def daw() -> ModuleType:
    """DawDreamer, the engine both racks render in, imported lazily: it is heavy, and
    JSON-only work (profile checks, ``--help``) does not need it."""
    return importlib.import_module("dawdreamer")


@dataclass(frozen=True)
class RenderSettings:
    """The paper's render facts: 44.1 kHz, mono, 1.0 s note, 1.0 s render, velocity 127,
    and the order the rack processes effects in (Serum's FX rack by default)."""

    sample_rate: int = 44100
    note: int = DEFAULT_NOTE
    velocity: int = 127
    note_s: float = 1.0
    render_s: float = 1.0
    block_size: int = 512
    #: By default the spec's ``SERUM_RACK_ORDER``, read when the settings are made.
    rack_order: tuple[str, ...] = field(default_factory=spec.rack_order)

    def __post_init__(self) -> None:
        # Checked against the spec; a manifest's list (or None, Serum's order) becomes the
        # tuple the type promises.
        object.__setattr__(self, "rack_order", spec.rack_order(self.rack_order))

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.render_s))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["rack_order"] = list(self.rack_order)
        return d


class Renderer(Protocol):
    """Anything that turns (preset, chain) into mono audio: the open rack or a real plugin.

    The step loop needs all three calls: ``render`` for a preset through a chain, ``dry``
    for the preset alone (the input sound, cached), and ``process`` for audio that no
    preset made (a capture from Live, a producer's file) through a chain, in rack order.
    """

    settings: RenderSettings

    @property
    def presets(self) -> tuple[str, ...]: ...

    def render(
        self, chain: Chain | Sequence[FX] = (), preset: str | None = None, *, note: int | None = None
    ) -> np.ndarray: ...

    def dry(self, preset: str, *, note: int | None = None) -> np.ndarray: ...

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray: ...


def _and_wrapped(renderer: object) -> tuple[object, object]:
    """The renderer and the one it wraps, if any: what a question about the renderer asks
    of both (the server's locked renderer wraps its rack as ``rack``)."""
    return renderer, getattr(renderer, "rack", None)


#: What reports and replies call the open rack (``OpenRack.label``).
OPEN_RACK_LABEL = "open rack"


def stands_in(renderer: object) -> bool:
    """Whether ``renderer`` stands in for the producer's Serum (the open rack) rather than
    being their own plugins (a profile's): what the judge asks before it offers a step that
    only pays where the renderer sounds as Serum does (``judge.offers_tune``)."""
    return renderer_label(renderer) == OPEN_RACK_LABEL


def renderer_label(renderer: object) -> str:
    """Which renderer judged a step, for reports and replies: ``"open rack"`` or
    ``"plugins: <profile>"`` (a wrapper such as the server's locked renderer is looked through)."""
    for r in _and_wrapped(renderer):
        label = getattr(r, "label", None)
        if isinstance(label, str):
            return label
    return type(renderer).__name__


def extra_knobs(renderer: object, effect: str) -> tuple[str, ...]:
    """The extra knobs of ``effect`` (``spec.Fixed.extra``) that ``renderer`` can set, so a
    search moves only those: the open rack sets all of them; a plugin rack those its
    profile maps (``extra`` in the profile: all of them for Serum); any other renderer none
    (a wrapper such as the server's locked renderer is looked through)."""
    for r in _and_wrapped(renderer):
        names = getattr(r, "extra_knobs", None)
        if callable(names):
            return tuple(names(effect))
    return ()


class RenderError(RuntimeError):
    """A renderer could not produce audio (bad plugin, bad preset, DSP compile failure)."""
