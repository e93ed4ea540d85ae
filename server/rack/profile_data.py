"""A validated plugin profile as data: which plugin hosts each spec effect, the parameter
that switches it on, where each knob goes (:class:`Target`) and what is pinned.

The JSON format and its checks are described in ``serumrnn.server.rack.profile``, which
re-exports these names; ``profile_check`` builds these objects from the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serumrnn.server import spec
from serumrnn.server.rack.chain import FX
from serumrnn.server.rack.render import RenderError

PROFILE_DIR = Path(__file__).with_name("profiles")

#: Where Serum lives is the user's business: this variable (or ``plugin_path=``) says.
SERUM_PATH_ENV = "SERUMRNN_SERUM_PATH"

#: The synth's state as the plugin loads it (no preset file applied).
INIT_PRESET = "init"

RESET_MODES = ("flush", "reload", "none")
MAPS = ("identity", "lin", "table", "unit")


class ProfileError(RenderError, ValueError):
    """A profile is malformed or does not match the spec or the plugin it names.

    ``key_path`` is where in the profile's JSON the fault is (``effects.eq.knobs.gain``),
    when it is about one key; the message may quote the file's values, the key path alone
    (through :func:`redacted_key_path`) never does.
    """

    def __init__(self, message: str, key_path: str | None = None):
        super().__init__(message)
        self.key_path = key_path


@dataclass(frozen=True)
class ParamRef:
    """A plugin parameter by index, by name, or both (then they must agree)."""

    index: int | None
    name: str | None
    where: str  # the profile key, for error messages


@dataclass(frozen=True)
class Setting:
    """A parameter pinned to one normalized value (enable switches, fixed knobs)."""

    ref: ParamRef
    value: float


@dataclass(frozen=True)
class Enable:
    ref: ParamRef
    on: float
    off: float | None


@dataclass(frozen=True)
class Target:
    """Where one spec knob goes on the plugin, and how its 0..1 value is converted."""

    ref: ParamRef
    map: str = "identity"
    range: tuple[float, float] = (0.0, 1.0)
    values: tuple[float, ...] = ()
    unit: spec.Display | None = None

    def value(self, knob: spec.Knob, x: float) -> float:
        """The plugin's normalized 0..1 value for spec value ``x`` (a class for a menu)."""
        if self.map == "table":
            v = self.values[int(x)]
        elif self.map == "lin":
            lo, hi = self.range
            v = lo + (hi - lo) * float(x)
        elif self.map == "unit":
            assert self.unit is not None
            v = self.unit.normalized(knob.display.value(x))
        else:
            v = float(x)
        return min(1.0, max(0.0, float(v)))


@dataclass(frozen=True)
class PluginSpec:
    """One plugin file and how to treat it between renders."""

    key: str  # "synth", "fx_host" or "effects.<name>.plugin"
    path: str | None
    path_env: str | None
    reset: str = "flush"
    flush_max_s: float = 5.0
    warmup_s: float = 0.0


#: Hosts an effect can share with others instead of a plugin of its own.
SHARED_HOSTS = ("synth", "fx_host")


@dataclass(frozen=True)
class EffectMap:
    effect: str
    plugin: PluginSpec | None  # None: hosted by the synth or the fx host (``shared``)
    enable: Enable | None
    knobs: Mapping[str, tuple[Target, ...]]
    fixed: tuple[Setting, ...]
    shared: str | None = None  # "synth" or "fx_host" when ``plugin`` is None
    #: Where each extra knob the profile maps goes (``spec.Fixed.extra``; none: the search
    #: never moves that knob on these plugins). Each one's parameter is in ``fixed`` too,
    #: with the value it has whenever a chain leaves the knob alone.
    extra: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)

    @property
    def in_synth(self) -> bool:
        return self.shared == "synth"

    @property
    def in_fx_host(self) -> bool:
        return self.shared == "fx_host"

    def settings_fixed(self) -> list[tuple[ParamRef, float]]:
        """The (parameter, value) pairs that do not depend on the knobs: enable, fixed."""
        out: list[tuple[ParamRef, float]] = []
        if self.enable is not None:
            out.append((self.enable.ref, self.enable.on))
        out.extend((s.ref, s.value) for s in self.fixed)
        return out

    def settings(self, fx: FX) -> list[tuple[ParamRef, float]]:
        """Every (parameter, value) to set when ``fx`` is on: enable, fixed, knobs, then the
        extra knobs ``fx`` sets (over their fixed values, so none leaks into a later render)."""
        out = self.settings_fixed()
        eff = fx.effect
        for k in eff.knobs:
            for t in self.knobs[k.name]:
                out.append((t.ref, t.value(k, fx.knobs[k.name])))
        for f in eff.extra:
            if f.name in fx.extra:
                knob = f.as_knob()
                out.extend((t.ref, t.value(knob, fx.extra[f.name])) for t in self.extra[f.name])
        return out

    def refs(self) -> list[ParamRef]:
        out = [self.enable.ref] if self.enable is not None else []
        out += [s.ref for s in self.fixed]
        out += [t.ref for ts in self.knobs.values() for t in ts]
        out += [t.ref for ts in self.extra.values() for t in ts]
        return out


@dataclass(frozen=True)
class Profile:
    """A validated profile. ``raw`` is the JSON it came from (kept for equality checks)."""

    name: str
    source: str
    notes: tuple[str, ...]
    synth: PluginSpec | None  # None: a profile that only processes audio (an fx host)
    presets: Mapping[str, str]  # name -> resolved file path
    default_preset: str | None
    normalize_peak: float | None
    synth_fixed: tuple[Setting, ...]
    effects: Mapping[str, EffectMap]
    base_dir: str  # relative plugin and preset paths resolve here
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    fx_host: PluginSpec | None = None
    unverified: str | None = None

    @property
    def in_synth(self) -> tuple[str, ...]:
        return tuple(n for n, e in self.effects.items() if e.in_synth)

    @property
    def in_fx_host(self) -> tuple[str, ...]:
        return tuple(n for n, e in self.effects.items() if e.in_fx_host)

    def effect(self, name: str) -> EffectMap:
        """The mapping for one effect, with an error that names the profile."""
        spec.effect(name)
        try:
            return self.effects[name]
        except KeyError:
            raise RenderError(
                f"profile {self.name!r} ({self.source}) has no mapping for effect {name!r}; "
                f"it maps: {', '.join(self.effects) or 'no effects'}"
            ) from None
