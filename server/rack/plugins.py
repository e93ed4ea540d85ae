"""Real plugins behind the same renderer API: a JSON *profile* maps the spec onto plugins.

A profile says which plugin is the synth and, for each spec effect, which plugin hosts it
("synth" for the synth's own FX rack, as in Serum, or a separate effect plugin), which
parameter switches it on, which parameter each spec knob drives (and how a 0..1 spec value
becomes that parameter's 0..1 value), and which parameters are pinned to fixed values.
So one ``FX``/``Chain`` renders on the open rack, on Serum, or on free Debian plugins.

Rendering rules (see ``PluginRack``):

* Effects hosted by separate plugins run after the synth in rack order
  (``RenderSettings.rack_order``, Serum's FX rack by default), whatever order the chain
  lists them in, so a profile of separate plugins sounds like Serum's rack.
* Effects hosted inside the synth run in the synth's own order (Serum: its FX rack order,
  stored in the preset); pass the same order as ``rack_order`` so the open rack's
  simulation agrees with it. Every render sets every
  synth-hosted effect's enable parameter, off for those not in the chain, so nothing an
  earlier render switched on leaks into the next one.
* Each plugin sits in a DawDreamer engine of its own: an engine runs every processor it
  owns on each render, in the graph or not (measured: synth + distortion 3 ms, the same
  with four idle effect plugins owned by the engine 32 ms), so a chain costs only the
  plugins it uses.
* DawDreamer's per-render reset does not clear every plugin's DSP state (Dragonfly's
  reverb tail survives it; Zyn effects' LFOs keep running), so a plugin used by a render is
  reset before it is used again, as its ``"reset"`` says: ``"flush"`` renders silence until
  it is silent (cheap for short tails), ``"reload"`` loads a fresh instance (exact; the
  Dragonfly reverb: 49 ms per clip against 26 ms flushed, which still differed by 0.3),
  ``"none"``.

Profile format (``profiles/*.json``; relative paths resolve against the file's folder)::

    {"name": "...", "notes": ["..."],
     "synth": {"path": "/x/Synth.so" | null, "path_env": "VAR", "reset": "flush",
               "presets": {"saw": "saw.fxp"}, "preset": "saw", "normalize_peak": 0.5,
               "fixed": [{"param": ..., "value": 0.3}]},
     "effects": {"<spec effect>": {
        "plugin": "synth" | {"path": ..., "reset": "flush"|"reload"|"none",
                             "flush_max_s": 5, "warmup_s": 0},
        "enable": {"param": "bypass", "on": 0.0, "off": 1.0},
        "knobs": {"<spec knob>": {"param": "Drive"}                    # identity
                               | {"param": 3, "map": "lin", "range": [lo, hi]}
                               | {"index": 99, "name": "Dist_Mode", "map": "table",
                                  "values": [one per choice]}
                               | {"param": "f_0", "map": "unit",
                                  "unit": {"unit": "Hz", "lo": 10, "hi": 24000,
                                           "curve": "log"}}
                               | [several of these, all driven by the one knob]},
        "fixed": [{"param": ..., "value": ...}]}}}

A parameter is ``"param"`` (a name or an index) or ``"index"`` and/or ``"name"`` (both:
they must agree). Values are the plugin's normalized 0..1. ``"unit"`` converts through the
spec knob's display unit: spec 0..1 -> Hz/dB/Q (``server.spec``) -> the plugin's 0..1.
``load_profile`` validates a profile against the spec and names the file and key on any
error; parameter names are checked against the plugin when ``PluginRack`` loads it.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from serumrnn.server import spec
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.render import RenderError, RenderSettings

PROFILE_DIR = Path(__file__).with_name("profiles")

#: Where Serum lives is the user's business: this variable (or ``plugin_path=``) says.
SERUM_PATH_ENV = "SERUMRNN_SERUM_PATH"

#: The synth's state as the plugin loads it (no preset file applied).
INIT_PRESET = "init"

RESET_MODES = ("flush", "reload", "none")
MAPS = ("identity", "lin", "table", "unit")

#: Output below this peak counts as silence when flushing a plugin's tail.
SILENCE = 1e-6
FLUSH_CHUNK_S = 0.25


class ProfileError(RenderError, ValueError):
    """A profile is malformed or does not match the spec or the plugin it names.

    ``key_path`` is where in the profile's JSON the fault is (``effects.eq.knobs.gain``),
    when it is about one key; the message may quote the file's values, the key path alone
    (through :func:`redacted_key_path`) never does.
    """

    def __init__(self, message: str, key_path: str | None = None):
        super().__init__(message)
        self.key_path = key_path


class PluginLoadError(RenderError):
    """A plugin file is missing, is not a plugin, or DawDreamer cannot load it."""


def _daw():
    import dawdreamer  # lazily: heavy, and JSON-only work (profile checks) does not need it

    return dawdreamer


# --------------------------------------------------------------------------- profile data


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

    key: str  # "synth" or "effects.<name>.plugin"
    path: str | None
    path_env: str | None
    reset: str = "flush"
    flush_max_s: float = 5.0
    warmup_s: float = 0.0


@dataclass(frozen=True)
class EffectMap:
    effect: str
    plugin: PluginSpec | None  # None: hosted by the synth
    enable: Enable | None
    knobs: Mapping[str, tuple[Target, ...]]
    fixed: tuple[Setting, ...]

    @property
    def in_synth(self) -> bool:
        return self.plugin is None

    def settings(self, fx: FX) -> list[tuple[ParamRef, float]]:
        """Every (parameter, value) to set when ``fx`` is on: enable, fixed, then knobs."""
        out: list[tuple[ParamRef, float]] = []
        if self.enable is not None:
            out.append((self.enable.ref, self.enable.on))
        out.extend((s.ref, s.value) for s in self.fixed)
        eff = fx.effect
        for k in eff.knobs:
            for t in self.knobs[k.name]:
                out.append((t.ref, t.value(k, fx.knobs[k.name])))
        return out

    def refs(self) -> list[ParamRef]:
        out = [self.enable.ref] if self.enable is not None else []
        out += [s.ref for s in self.fixed]
        out += [t.ref for ts in self.knobs.values() for t in ts]
        return out


@dataclass(frozen=True)
class Profile:
    """A validated profile. ``raw`` is the JSON it came from (kept for equality checks)."""

    name: str
    source: str
    notes: tuple[str, ...]
    synth: PluginSpec
    presets: Mapping[str, str]  # name -> resolved file path
    default_preset: str | None
    normalize_peak: float | None
    synth_fixed: tuple[Setting, ...]
    effects: Mapping[str, EffectMap]
    base_dir: str  # relative plugin and preset paths resolve here
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def in_synth(self) -> tuple[str, ...]:
        return tuple(n for n, e in self.effects.items() if e.in_synth)

    def effect(self, name: str) -> EffectMap:
        """The mapping for one effect, with an error that names the profile."""
        spec.effect(name)
        try:
            return self.effects[name]
        except KeyError:
            raise RenderError(
                f"profile {self.name!r} ({self.source}) has no mapping for effect {name!r}; "
                f"it maps: {', '.join(self.effects) or 'no effects'}") from None


# --------------------------------------------------------------------------- validation


class _Checker:
    """Walks a profile's JSON, with errors that name the file and the key path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, msg: str) -> ProfileError:
        return ProfileError(f"profile {self.source}: {where}: {msg}", where or "(top level)")

    def keys(self, d: Any, where: str, allowed: set[str], required: set[str] = set()) -> dict:
        if not isinstance(d, dict):
            raise self.fail(where, f"expected an object, got {type(d).__name__}")
        extra = sorted(set(d) - allowed)
        if extra:
            raise self.fail(f"{where}.{extra[0]}" if where else extra[0],
                            f"unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}")
        missing = sorted(required - set(d))
        if missing:
            raise self.fail(where or "(top level)", f"missing key {missing[0]!r}")
        return d

    def unit_value(self, v: Any, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0 \
                or math.isnan(v):
            raise self.fail(where, f"{v!r} is not a normalized value in 0..1")
        return float(v)

    def ref(self, d: dict, where: str) -> ParamRef:
        p, index, name = d.get("param"), d.get("index"), d.get("name")
        if p is not None and (index is not None or name is not None):
            raise self.fail(where, "give 'param' or 'index'/'name', not both")
        if isinstance(p, bool):
            raise self.fail(f"{where}.param", f"{p!r} is not a parameter name or index")
        if isinstance(p, int):
            index = p
        elif isinstance(p, str):
            name = p
        elif p is not None:
            raise self.fail(f"{where}.param", f"{p!r} is not a parameter name or index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)
                                  or index < 0):
            raise self.fail(f"{where}.index", f"{index!r} is not a parameter index")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise self.fail(f"{where}.name", f"{name!r} is not a parameter name")
        if index is None and name is None:
            raise self.fail(where, "no parameter: give 'param', 'index' or 'name'")
        return ParamRef(index, name, where)

    def setting(self, d: Any, where: str) -> Setting:
        d = self.keys(d, where, {"param", "index", "name", "value", "comment"}, {"value"})
        return Setting(self.ref(d, where), self.unit_value(d["value"], f"{where}.value"))

    def plugin(self, d: Any, where: str) -> PluginSpec:
        d = self.keys(d, where, {"path", "path_env", "reset", "flush_max_s", "warmup_s",
                                 "comment"})
        path, env = d.get("path"), d.get("path_env")
        if path is not None and (not isinstance(path, str) or not path):
            raise self.fail(f"{where}.path", f"{path!r} is not a file path")
        if env is not None and (not isinstance(env, str) or not env):
            raise self.fail(f"{where}.path_env", f"{env!r} is not an environment variable name")
        if path is None and env is None:
            raise self.fail(where, "no plugin: give 'path' (or 'path_env')")
        reset = d.get("reset", "flush")
        if reset not in RESET_MODES:
            raise self.fail(f"{where}.reset", f"{reset!r} is not one of {', '.join(RESET_MODES)}")
        fmax = d.get("flush_max_s", 5.0)
        if isinstance(fmax, bool) or not isinstance(fmax, (int, float)) or not fmax > 0:
            raise self.fail(f"{where}.flush_max_s", f"{fmax!r} is not a positive duration")
        warm = d.get("warmup_s", 0.0)
        if isinstance(warm, bool) or not isinstance(warm, (int, float)) or not 0 <= warm <= 60:
            raise self.fail(f"{where}.warmup_s", f"{warm!r} is not a duration in 0..60 s")
        return PluginSpec(where, path, env, reset, float(fmax), float(warm))

    def target(self, d: Any, knob: spec.Knob, where: str) -> Target:
        d = self.keys(d, where, {"param", "index", "name", "map", "range", "values", "unit",
                                 "comment"})
        ref = self.ref(d, where)
        kind = d.get("map", "table" if "values" in d else "identity")
        if kind not in MAPS:
            raise self.fail(f"{where}.map", f"{kind!r} is not one of {', '.join(MAPS)}")
        for k, needs in (("range", "lin"), ("values", "table"), ("unit", "unit")):
            if k in d and kind != needs:
                raise self.fail(f"{where}.{k}", f"{k!r} goes with map {needs!r}, not {kind!r}")
        if knob.categorical != (kind == "table"):
            raise self.fail(f"{where}.map", (
                f"knob {knob.name!r} is a menu of {len(knob.choices)} choices: map it with "
                f"'map': 'table' and one value per choice ({', '.join(knob.choices)})")
                if knob.categorical else f"'table' is for menus; {knob.name!r} is continuous")
        if kind == "table":
            vals = d.get("values")
            if not isinstance(vals, list) or len(vals) != len(knob.choices):
                raise self.fail(f"{where}.values", f"need {len(knob.choices)} values, one per "
                                f"choice ({', '.join(knob.choices)})")
            return Target(ref, kind, values=tuple(self.unit_value(v, f"{where}.values[{i}]")
                                                  for i, v in enumerate(vals)))
        if kind == "lin":
            r = d.get("range")
            if not isinstance(r, list) or len(r) != 2:
                raise self.fail(f"{where}.range", "need [lo, hi] (normalized plugin values)")
            return Target(ref, kind, range=(self.unit_value(r[0], f"{where}.range[0]"),
                                            self.unit_value(r[1], f"{where}.range[1]")))
        if kind == "unit":
            u = self.keys(d.get("unit"), f"{where}.unit", {"unit", "lo", "hi", "curve"},
                          {"unit", "lo", "hi"})
            if u["unit"] != knob.display.unit:
                raise self.fail(f"{where}.unit.unit", f"{u['unit']!r} does not match the spec "
                                f"knob's unit {knob.display.unit!r}")
            curve = u.get("curve", "lin")
            ok = all(isinstance(u[k], (int, float)) and not isinstance(u[k], bool)
                     for k in ("lo", "hi")) and u["lo"] != u["hi"]
            if not ok or curve not in ("lin", "log") or (curve == "log" and min(u["lo"], u["hi"]) <= 0):
                raise self.fail(f"{where}.unit", "need numeric lo != hi (positive for 'log') "
                                "and curve 'lin' or 'log'")
            return Target(ref, kind, unit=spec.Display(u["unit"], float(u["lo"]),
                                                       float(u["hi"]), curve))
        return Target(ref)

    def effect(self, name: str, d: Any, where: str) -> EffectMap:
        try:
            eff = spec.effect(name)
        except KeyError:
            raise self.fail(where, f"unknown effect {name!r}; spec effects: "
                            f"{', '.join(spec.EFFECT_NAMES)}") from None
        d = self.keys(d, where, {"plugin", "enable", "knobs", "fixed", "comment"},
                      {"plugin", "knobs"})
        host = d["plugin"]
        plugin = None if host == "synth" else self.plugin(host, f"{where}.plugin")
        enable = None
        if d.get("enable") is not None:
            e = self.keys(d["enable"], f"{where}.enable",
                          {"param", "index", "name", "on", "off", "comment"}, {"on"})
            enable = Enable(self.ref(e, f"{where}.enable"),
                            self.unit_value(e["on"], f"{where}.enable.on"),
                            None if e.get("off") is None
                            else self.unit_value(e["off"], f"{where}.enable.off"))
        if plugin is None and (enable is None or enable.off is None):
            raise self.fail(f"{where}.enable", "an effect inside the synth needs an enable "
                            "parameter with 'on' and 'off' values (it is switched off on "
                            "every render that does not use it)")
        knobs_in = d["knobs"]
        if not isinstance(knobs_in, dict):
            raise self.fail(f"{where}.knobs", "expected an object of knob -> parameter")
        names = [k.name for k in eff.knobs]
        for k in knobs_in:
            if k not in names:
                raise self.fail(f"{where}.knobs.{k}", f"unknown knob {k!r} for effect "
                                f"{name!r}; knobs: {', '.join(names)}")
        knobs: dict[str, tuple[Target, ...]] = {}
        for k in eff.knobs:
            if k.name not in knobs_in:
                raise self.fail(f"{where}.knobs", f"knob {k.name!r} is not mapped (every spec "
                                f"knob of a mapped effect needs a parameter)")
            t = knobs_in[k.name]
            ts = t if isinstance(t, list) else [t]
            if not ts:
                raise self.fail(f"{where}.knobs.{k.name}", "empty list of parameters")
            knobs[k.name] = tuple(self.target(x, k, f"{where}.knobs.{k.name}"
                                              + (f"[{i}]" if isinstance(t, list) else ""))
                                  for i, x in enumerate(ts))
        fixed = d.get("fixed", [])
        if not isinstance(fixed, list):
            raise self.fail(f"{where}.fixed", "expected a list of {param, value}")
        return EffectMap(name, plugin, enable, knobs,
                         tuple(self.setting(s, f"{where}.fixed[{i}]") for i, s in enumerate(fixed)))


def _resolve_file(p: str, base: Path | str) -> str:
    q = Path(os.path.expanduser(p))
    return str(q if q.is_absolute() else Path(base) / q)


def parse_profile(raw: Mapping[str, Any], source: str = "<dict>",
                  base: Path | None = None) -> Profile:
    """Validate a profile's JSON (already parsed).

    Relative paths resolve against ``base``: the profile file's folder, or for a dict the
    shipped profiles folder (so an edited copy of a shipped profile keeps its presets).
    """
    base = PROFILE_DIR if base is None else base
    c = _Checker(source)
    if not isinstance(raw, Mapping):
        raise c.fail("", f"expected an object, got {type(raw).__name__}")
    d = c.keys(dict(raw), "", {"name", "notes", "synth", "effects", "comment"},
               {"synth", "effects"})
    name = d.get("name") or (Path(source).stem if source != "<dict>" else "unnamed")
    if not isinstance(name, str):
        raise c.fail("name", f"{name!r} is not a string")
    notes = d.get("notes", [])
    notes = [notes] if isinstance(notes, str) else notes
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise c.fail("notes", "expected a string or a list of strings")
    plugin_keys = ("path", "path_env", "reset", "flush_max_s", "warmup_s")
    s = c.keys(d["synth"], "synth", {*plugin_keys, "presets", "preset", "normalize_peak",
                                     "fixed", "comment"})
    synth = c.plugin({k: v for k, v in s.items() if k in plugin_keys}, "synth")
    presets_in = s.get("presets", {})
    if not isinstance(presets_in, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in presets_in.items()):
        raise c.fail("synth.presets", "expected an object of preset name -> file")
    if INIT_PRESET in presets_in:
        raise c.fail(f"synth.presets.{INIT_PRESET}",
                     f"{INIT_PRESET!r} is reserved (the plugin's state as loaded)")
    presets = {k: _resolve_file(v, base) for k, v in presets_in.items()}
    default = s.get("preset")
    if default is not None and default not in presets and default != INIT_PRESET:
        raise c.fail("synth.preset", f"{default!r} is not in synth.presets "
                     f"({', '.join(presets) or 'none'})")
    peak = s.get("normalize_peak")
    if peak is not None and (isinstance(peak, bool) or not isinstance(peak, (int, float))
                             or not 0 < peak <= 1):
        raise c.fail("synth.normalize_peak", f"{peak!r} is not a peak level in (0, 1]")
    fixed = s.get("fixed", [])
    if not isinstance(fixed, list):
        raise c.fail("synth.fixed", "expected a list of {param, value}")
    synth_fixed = tuple(c.setting(x, f"synth.fixed[{i}]") for i, x in enumerate(fixed))
    effects_in = d["effects"]
    if not isinstance(effects_in, dict):
        raise c.fail("effects", "expected an object of effect -> mapping")
    effects = {n: c.effect(n, e, f"effects.{n}") for n, e in effects_in.items()}
    if peak is not None and any(e.in_synth for e in effects.values()):
        raise c.fail("synth.normalize_peak", "the dry synth can only be normalized when no "
                     "effect lives inside the synth")
    return Profile(name, source, tuple(notes), synth, presets, default,
                   None if peak is None else float(peak), synth_fixed, effects, str(base),
                   copy.deepcopy(dict(raw)))


def shipped_profiles() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.json")))


#: Largest profile file read (the shipped ones are under 20 kB).
PROFILE_MAX_BYTES = 1 << 20

#: Key-path words that are the schema's or the spec's own, never the file's data.
_SCHEMA_WORDS = frozenset({
    "name", "notes", "synth", "effects", "comment", "path", "path_env", "reset",
    "flush_max_s", "warmup_s", "presets", "preset", "normalize_peak", "fixed", "plugin",
    "enable", "knobs", "param", "index", "value", "map", "range", "values", "unit", "lo",
    "hi", "curve", "on", "off", "(top level)"})


def redacted_key_path(key_path: str) -> str:
    """``key_path`` with every word that is not the schema's or the spec's (an unknown key
    or effect name from the file) shown as ``<key>``: safe to send to a client."""
    known = _SCHEMA_WORDS | set(spec.EFFECT_NAMES) | {k.name for e in spec.EFFECTS
                                                       for k in e.knobs}
    out = []
    for part in key_path.split("."):
        word, bracket, rest = part.partition("[")
        idx = bracket + rest if bracket and all(
            seg[:-1].isdigit() for seg in (bracket + rest).split("[")[1:]
            if seg.endswith("]")) else ""
        out.append((word if word in known else "<key>") + (idx if len(idx) <= 12 else ""))
    return ".".join(out)


def _read_profile_json(path: Path, shown: str) -> Any:
    """A profile file's JSON: a regular file of at most :data:`PROFILE_MAX_BYTES`, UTF-8,
    not nested past the parser's depth. Errors never quote the file's bytes."""
    from serumrnn.server.safe_open import FileRefused, open_regular

    try:
        f, _ = open_regular(str(path), PROFILE_MAX_BYTES)
    except FileRefused as e:
        raise ProfileError(f"profile {shown}: {e.reason}") from None
    try:
        with f:
            data = f.read(PROFILE_MAX_BYTES + 1)
    except OSError as e:
        raise ProfileError(f"profile {shown}: cannot be read ({e.strerror})") from None
    if len(data) > PROFILE_MAX_BYTES:
        raise ProfileError(f"profile {shown}: over the {PROFILE_MAX_BYTES >> 10} kB limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProfileError(f"profile {shown}: not UTF-8 text (byte {e.start}); a profile is "
                           "a JSON file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ProfileError(f"profile {shown}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise ProfileError(f"profile {shown}: JSON nested too deeply") from None


def load_profile(path_or_name: str | os.PathLike | Mapping[str, Any] | Profile) -> Profile:
    """A profile from a shipped name ("serum", "debian_test"), a JSON file, or a dict."""
    if isinstance(path_or_name, Profile):
        return path_or_name
    if isinstance(path_or_name, Mapping):
        return parse_profile(path_or_name)
    text = os.fspath(path_or_name)
    path = Path(os.path.expanduser(text))
    shipped = PROFILE_DIR / f"{text}.json"
    if not path.is_file() and os.sep not in text and not text.endswith(".json") \
            and shipped.is_file():
        path = shipped
    if not path.exists():
        raise ProfileError(f"profile {text}: no such file, and no shipped profile of that "
                           f"name (shipped: {', '.join(shipped_profiles())})")
    raw = _read_profile_json(path, str(path))
    try:
        return parse_profile(raw, str(path), path.parent)
    except RecursionError:
        raise ProfileError(f"profile {path}: JSON nested too deeply") from None


def find_profile(name: str, folders: Sequence[str | os.PathLike] = ()) -> Path:
    """The profile file a client may name: a bare name (``serum``, ``mine.json``) in the
    shipped folder or one of ``folders``, or an absolute path inside one of them.

    A server reads profiles only from folders its operator chose, so a client cannot make
    it read (and describe) any other file. Symbolic links are followed before the check.
    """
    roots = [os.path.realpath(d) for d in (PROFILE_DIR, *folders)]

    def inside(p: str) -> bool:
        real = os.path.realpath(p)
        return any(real != r and os.path.commonpath([real, r]) == r for r in roots)

    if os.path.isabs(name):
        if inside(name):
            return Path(os.path.realpath(name))
        raise ProfileError(f"profile {name}: outside the profile folders; a server reads "
                           "the shipped profiles and those in folders named by serve "
                           "--profiles DIR")
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        raise ProfileError(f"profile {name}: not a profile name (a name, or an absolute path "
                           "inside a profile folder)")
    file = name if name.endswith(".json") else f"{name}.json"
    for r in roots:
        p = os.path.join(r, file)
        if os.path.lexists(p) and inside(p):
            return Path(os.path.realpath(p))
    names = sorted({p.stem for r in roots for p in Path(r).glob("*.json")})
    raise ProfileError(f"profile {name}: no such profile (available: {', '.join(names)})")


def serum_profile() -> dict[str, Any]:
    """The Serum profile, generated from ``server.spec`` (the one source of Serum indices).

    ``profiles/serum.json`` is this, written out; a test checks they are equal.
    """
    effects: dict[str, Any] = {}
    for eff in spec.EFFECTS:
        knobs: dict[str, Any] = {}
        for k in eff.knobs:
            t: dict[str, Any] = {"index": k.serum_index, "name": k.serum_name}
            if k.categorical:
                t["map"] = "table"
                t["values"] = [k.to_serum(i) for i in range(len(k.choices))]
            knobs[k.name] = t
        effects[eff.name] = {
            "plugin": "synth",
            "enable": {"index": eff.enable.serum_index, "name": eff.enable.serum_name,
                       "on": eff.enable.value, "off": 0.0},
            "knobs": knobs,
            "fixed": [{"index": f.serum_index, "name": f.serum_name, "value": f.value}
                      for f in eff.fixed],
        }
    return {
        "name": "serum",
        "notes": [
            "Generated by server.rack.plugins.serum_profile() from server/spec.py; edit the "
            "spec, not this file.",
            f"The plugin's path is yours: PluginRack('serum', plugin_path=...) or "
            f"{SERUM_PATH_ENV}.",
            "All five effects live inside Serum, so they run in the FX rack order stored in "
            "the preset, whatever the chain's order; effects not in a chain are switched off "
            "on every render.",
            "Presets: pass preset='/path/to/preset.fxp' to render(); 'init' is Serum as it "
            "loads.",
            "Dist_Mode slot names are not verified on a machine with Serum (see spec.py).",
        ],
        "synth": {"path": None, "path_env": SERUM_PATH_ENV, "reset": "flush", "presets": {},
                  "preset": None},
        "effects": effects,
    }


def serum_profile_json() -> str:
    """Deterministic text of :func:`serum_profile` (what ``profiles/serum.json`` holds)."""
    return json.dumps(serum_profile(), indent=2) + "\n"


# --------------------------------------------------------------------------- plugin hosting


_MAGIC = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
          b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
_BUNDLES = (".vst3", ".vst", ".component")


def check_plugin_file(path: str) -> None:
    """Fail early, with the path, on what is certainly not a plugin.

    DawDreamer 0.9 answers a missing file, a text file, a directory and a non-plugin shared
    library alike with "Unable to load plugin." (no crash seen); this check says which.
    """
    p = Path(path)
    if not p.exists():
        raise PluginLoadError(f"plugin not found: {path}")
    if p.is_dir():
        if p.suffix.lower() not in _BUNDLES:
            raise PluginLoadError(f"{path} is a directory, not a plugin (bundles end in "
                                  f"{', '.join(_BUNDLES)})")
        return
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise PluginLoadError(f"plugin {path} cannot be read: {e.strerror}") from None
    if not any(head.startswith(m) for m in _MAGIC):
        raise PluginLoadError(f"{path} is not a plugin: not a shared library (starts with "
                              f"{head!r})")


@contextmanager
def _quiet(enabled: bool = True) -> Iterator[list[bytes]]:
    """Send C-level stdout/stderr to a file while a plugin loads (JUCE and Zyn chatter).

    Yields a list that holds the captured tail once the block ends, for error messages.
    """
    captured: list[bytes] = []
    if not enabled:
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(1), os.dup(2)
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            yield captured
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            captured.append(tmp.read()[-2000:])


def _match(want: str, have: str) -> bool:
    """Names equal up to case and spaces, or ``have`` is ``want`` cut short (VST2 truncates
    names, e.g. ZynDistortion's "High-Pass Filte")."""
    w, h = " ".join(want.split()).casefold(), " ".join(have.split()).casefold()
    return w == h or (len(h) >= 8 and w.startswith(h))


class _Stage:
    """One plugin in a DawDreamer engine of its own, with a player in front for effects."""

    def __init__(self, label: str, path: str, plugin: PluginSpec, settings: RenderSettings,
                 *, instrument: bool, quiet: bool = True):
        self.label = label
        self.path = path
        self.plugin = plugin
        self.settings = settings
        self.instrument = instrument
        self.quiet = quiet
        self.preset_file: str | None = None
        self.dirty = False
        self.load_s = 0.0
        self._load()
        self.param_names = [self.proc.get_parameter_name(i) for i in range(self.n_params)]

    def _load(self) -> None:
        check_plugin_file(self.path)
        daw = _daw()
        t = time.perf_counter()
        s = self.settings
        engine = daw.RenderEngine(s.sample_rate, s.block_size)
        with _quiet(self.quiet) as log:
            try:
                proc = engine.make_plugin_processor(self.label, self.path)
            except Exception as e:  # DawDreamer raises RuntimeError("Unable to load plugin.")
                err = e
            else:
                err = None
        if err is not None:
            said = log[0].decode(errors="replace").strip().splitlines()[-1:] if log else []
            raise PluginLoadError(f"DawDreamer could not load the plugin {self.path} "
                                  f"({self.plugin.key}): {err}"
                                  + (f" [{said[0]}]" if said else "")) from None
        self.engine, self.proc = engine, proc
        self.cold = self.plugin.warmup_s > 0
        self.n_params = proc.get_plugin_parameter_size()
        self.n_in = proc.get_num_input_channels()
        self.n_out = proc.get_num_output_channels()
        self.latency = max(0, int(proc.get_latency_samples()))
        if self.instrument:
            self.player = None
            engine.load_graph([(proc, [])])
        else:
            if self.n_in < 1:
                raise PluginLoadError(f"{self.path} ({self.plugin.key}) has no audio input: "
                                      f"it cannot be an effect")
            self.player = engine.make_playback_processor(
                "player", np.zeros((self.n_in, 1), np.float32))
            engine.load_graph([(self.player, []), (proc, ["player"])])
        if self.preset_file is not None:
            self._load_preset_file(self.preset_file)
        self.load_s = time.perf_counter() - t

    # -- parameters

    def resolve(self, ref: ParamRef, profile: Profile, strict: bool = True) -> int:
        """The parameter index ``ref`` means on this plugin, checked against its names.

        With ``strict=False`` an index whose name differs only warns (an escape hatch for
        a plugin version that renamed a parameter the profile names by index too)."""
        def fail(msg: str) -> ProfileError:
            return ProfileError(f"profile {profile.source}: {ref.where}: {msg} "
                                f"(plugin {self.path}, {self.n_params} parameters)")

        if ref.index is not None:
            if ref.index >= self.n_params:
                raise fail(f"parameter index {ref.index} is out of range")
            have = self.param_names[ref.index]
            if ref.name is not None and not _match(ref.name, have):
                if strict:
                    raise fail(f"parameter #{ref.index} is {have!r}, not {ref.name!r}; if "
                               f"the index is right, PluginRack(..., strict_names=False)")
                warnings.warn(f"profile {profile.source}: {ref.where}: parameter "
                              f"#{ref.index} is {have!r}, not {ref.name!r}; using the index")
            return ref.index
        assert ref.name is not None
        hits = [i for i, n in enumerate(self.param_names)
                if " ".join(n.split()).casefold() == " ".join(ref.name.split()).casefold()]
        if not hits:
            hits = [i for i, n in enumerate(self.param_names) if _match(ref.name, n)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise fail(f"parameter name {ref.name!r} is ambiguous (indices {hits}); "
                       f"give 'index'")
        close = difflib.get_close_matches(ref.name, self.param_names, n=3)
        raise fail(f"parameter {ref.name!r} not found"
                   + (f"; close: {', '.join(map(repr, close))}" if close else ""))

    def set(self, index: int, value: float) -> None:
        self.proc.set_parameter(int(index), float(value))

    def get(self, index: int) -> float:
        return float(self.proc.get_parameter(int(index)))

    # -- presets

    def _load_preset_file(self, path: str) -> None:
        if not Path(path).is_file():
            raise RenderError(f"preset file not found: {path}")
        loader = (self.proc.load_vst3_preset if path.lower().endswith(".vstpreset")
                  else self.proc.load_preset)
        with _quiet(self.quiet):
            ok = loader(path)
        if not ok:
            raise RenderError(f"the plugin {self.path} refused the preset {path}")

    def use_preset(self, path: str | None) -> None:
        """Load a preset file, or go back to the plugin's own state (``None``: reload)."""
        if path == self.preset_file:
            return
        if path is None:
            self.preset_file = None
            self._load()
        else:
            self._load_preset_file(path)
            self.preset_file = path
        self.dirty = False

    # -- audio

    def prepare(self) -> None:
        """Clear what the last render left in the plugin (tails, LFO phases) if needed."""
        if not self.dirty:
            return
        if self.plugin.reset == "reload":
            self._load()
        elif self.plugin.reset == "flush":
            self._flush()
        self.dirty = False

    def _flush(self) -> None:
        sr = self.settings.sample_rate
        n = int(round(FLUSH_CHUNK_S * sr))
        if self.instrument:
            self.proc.clear_midi()
        else:
            self.player.set_data(np.zeros((self.n_in, n), np.float32))
        done = 0.0
        while done < self.plugin.flush_max_s:
            self.engine.render((n + 0.5) / sr)
            done += FLUSH_CHUNK_S
            out = self.engine.get_audio()
            if out.size == 0 or float(np.max(np.abs(out))) < SILENCE:
                break

    def warm_up(self) -> None:
        """Run silence through a freshly loaded plugin, with the parameters of its first
        render, so start-up randomness settles (ZynPhaser's LFO starts at a random depth
        and needs two cycles to reach its set depth). Instruments: call before adding
        the note."""
        if not self.cold:
            return
        self.cold = False
        n = int(round(self.plugin.warmup_s * self.settings.sample_rate))
        if self.instrument:
            self.proc.clear_midi()
        else:
            self.player.set_data(np.zeros((self.n_in, n), np.float32))
        self.engine.render((n + 0.5) / self.settings.sample_rate)

    def run(self, audio: np.ndarray | None, n: int) -> np.ndarray:
        """Render ``n`` samples: the instrument's MIDI, or ``audio`` (channels, n) through
        the effect. Returns (channels, n) float32."""
        sr = self.settings.sample_rate
        lat = self.latency
        if not self.instrument:
            self.warm_up()
        if audio is not None:
            x = _channels(audio, self.n_in)
            if lat:
                x = np.concatenate([x, np.zeros((x.shape[0], lat), np.float32)], axis=1)
            self.player.set_data(np.ascontiguousarray(x, np.float32))
        self.engine.render((n + lat + 0.5) / sr)
        self.dirty = True
        out = np.asarray(self.engine.get_audio(), np.float32)[:, lat:lat + n]
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1])))
        if not np.isfinite(out).all():
            raise RenderError(f"the plugin {self.path} ({self.plugin.key}) produced NaN or "
                              f"infinite samples")
        return out


def _channels(audio: np.ndarray, n: int) -> np.ndarray:
    """Fit (channels, samples) audio to a plugin's ``n`` inputs: mix down or copy up."""
    c = audio.shape[0]
    if c == n:
        return audio
    if n == 1:
        return audio.mean(axis=0, keepdims=True)
    if c == 1:
        return np.repeat(audio, n, axis=0)
    return np.concatenate([audio, np.zeros((n - c, audio.shape[1]), audio.dtype)])[:n] \
        if c < n else audio[:n]


class PluginRack:
    """Render a chain on real plugins through a profile, with the open rack's API.

    >>> rack = PluginRack("debian_test")
    >>> audio = rack.render([FX("distortion", mode="Tube", drive=0.7)])

    Every plugin of the profile loads once, here (so a bad path or parameter name fails
    now, not mid-dataset). Separate effect plugins run in rack order after the synth;
    effects inside the synth run in the synth's own order (see the module docstring).
    ``plugin_path`` overrides the synth's path (Serum: else ``$SERUMRNN_SERUM_PATH``).
    ``quiet`` hides what plugins print while loading; ``strict_names=False`` lets a
    parameter given by index and name load when the plugin calls it something else.
    """

    def __init__(self, profile: str | os.PathLike | Mapping[str, Any] | Profile,
                 settings: RenderSettings = RenderSettings(), *,
                 plugin_path: str | os.PathLike | None = None, quiet: bool = True,
                 strict_names: bool = True):
        self.profile = load_profile(profile)
        self.settings = settings
        p = self.profile
        path = self._plugin_path(p.synth, None if plugin_path is None
                                 else os.fspath(plugin_path))
        self._synth = _Stage("synth", path, p.synth, settings, instrument=True, quiet=quiet)
        self._fx: dict[str, _Stage] = {}
        for name, m in p.effects.items():
            if m.plugin is not None:
                self._fx[name] = _Stage(name, self._plugin_path(m.plugin), m.plugin, settings,
                                        instrument=False, quiet=quiet)
        self._index: dict[ParamRef, int] = {}
        for s in p.synth_fixed:
            self._index[s.ref] = self._synth.resolve(s.ref, p, strict_names)
        for name, m in p.effects.items():
            stage = self._synth if m.in_synth else self._fx[name]
            for ref in m.refs():
                self._index[ref] = stage.resolve(ref, p, strict_names)
        self._dry: dict[tuple[str | None, int], np.ndarray] = {}
        self._use_dry_cache = not p.in_synth

    def _plugin_path(self, plugin: PluginSpec, override: str | None = None) -> str:
        if override:
            return override
        if plugin.path_env and os.environ.get(plugin.path_env):
            return os.environ[plugin.path_env]
        if plugin.path:
            return _resolve_file(plugin.path, self.profile.base_dir)
        raise PluginLoadError(
            f"profile {self.profile.name!r} ({self.profile.source}) gives no path for "
            f"{plugin.key}: pass plugin_path=... or set ${plugin.path_env}")

    # -- facts

    @property
    def presets(self) -> tuple[str, ...]:
        return (INIT_PRESET,) + tuple(self.profile.presets)

    @property
    def order_follows_chain(self) -> bool:
        """False when some effects live inside the synth (they keep the synth's order)."""
        return not self.profile.in_synth

    def load_times(self) -> dict[str, float]:
        """Seconds each plugin took to load (the last time it loaded)."""
        out = {"synth": self._synth.load_s}
        out.update({k: s.load_s for k, s in self._fx.items()})
        return out

    def parameter_names(self, effect: str | None = None) -> list[str]:
        """The synth's parameter names, or those of the plugin hosting ``effect``."""
        stage = self._synth if effect is None or self.profile.effect(effect).in_synth \
            else self._fx[effect]
        return list(stage.param_names)

    def parameter(self, param: str | int, effect: str | None = None) -> float:
        """A parameter's current normalized value on the synth, or on ``effect``'s plugin
        (what the last render set: for checking a profile by hand)."""
        stage = self._synth if effect is None or self.profile.effect(effect).in_synth \
            else self._fx[effect]
        ref = ParamRef(param if isinstance(param, int) else None,
                       param if isinstance(param, str) else None, "parameter()")
        return stage.get(stage.resolve(ref, self.profile))

    # -- rendering

    def _preset_file(self, preset: str | None) -> str | None:
        p = self.profile
        name = p.default_preset if preset is None else preset
        if name is None or name == INIT_PRESET:
            return None
        if name in p.presets:
            return p.presets[name]
        if Path(os.path.expanduser(name)).is_file():
            return str(Path(os.path.expanduser(name)).resolve())
        raise RenderError(f"unknown preset {name!r} for profile {p.name!r}; presets: "
                          f"{', '.join(self.presets)} (or a preset file path)")

    def _check(self, chain: Chain) -> None:
        for fx in chain:
            self.profile.effect(fx.name)

    def _apply(self, stage: _Stage, pairs: Sequence[tuple[ParamRef, float]]) -> None:
        for ref, value in pairs:
            stage.set(self._index[ref], value)

    def _synth_audio(self, chain: Chain, preset_file: str | None, note: int) -> np.ndarray:
        s, p = self.settings, self.profile
        key = (preset_file, note)
        if self._use_dry_cache and key in self._dry:
            return self._dry[key]
        st = self._synth
        st.prepare()
        st.use_preset(preset_file)
        self._apply(st, [(x.ref, x.value) for x in p.synth_fixed])
        on = {fx.name: fx for fx in chain}
        for name in p.in_synth:
            m = p.effects[name]
            if name in on:
                self._apply(st, m.settings(on[name]))
            else:
                assert m.enable is not None and m.enable.off is not None
                st.set(self._index[m.enable.ref], m.enable.off)
        st.warm_up()
        st.proc.clear_midi()
        st.proc.add_midi_note(note, s.velocity, 0.0, s.note_s)
        audio = st.run(None, s.n_samples)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak <= 0:
            raise RenderError(f"the synth {st.path} rendered silence at note {note} "
                              f"(preset {preset_file or INIT_PRESET})")
        if p.normalize_peak is not None:
            audio = audio * np.float32(p.normalize_peak / peak)
        if self._use_dry_cache:
            self._dry[key] = audio
        return audio

    def _effects(self, audio: np.ndarray, chain: Sequence[FX]) -> np.ndarray:
        n = audio.shape[1]
        for fx in Chain(chain).in_rack_order(self.settings.rack_order):
            st = self._fx[fx.name]
            st.prepare()
            self._apply(st, self.profile.effects[fx.name].settings(fx))
            audio = st.run(audio, n)
        return audio

    def dry(self, preset: str | None = None, *, note: int | None = None) -> np.ndarray:
        """The synth alone: every effect inside it switched off."""
        return self.render((), preset, note=note)

    def render(self, chain: Chain | Sequence[FX] = (), preset: str | None = None,
               *, note: int | None = None) -> np.ndarray:
        """Mono float32 audio (mean of the channels), exactly ``settings.n_samples`` long.

        ``preset``: a name from the profile, ``"init"``, or a preset file; None: the
        profile's default preset.
        """
        chain = chain if isinstance(chain, Chain) else Chain(chain)
        note = self.settings.note if note is None else int(note)
        if not 0 <= note <= 127:
            raise ValueError(f"MIDI note {note} is outside 0..127")
        self._check(chain)
        audio = self._synth_audio(chain, self._preset_file(preset), note)
        audio = self._effects(audio, [fx for fx in chain if fx.name in self._fx])
        return _mono(audio, self.settings.n_samples)

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray:
        """Run any clip (mono, or channels x samples) through effects that are separate
        plugins, in rack order. Returns mono float32 of the same length."""
        chain = chain if isinstance(chain, Chain) else Chain(chain)
        self._check(chain)
        inside = [fx.name for fx in chain if self.profile.effects[fx.name].in_synth]
        if inside:
            raise RenderError(f"profile {self.profile.name!r}: {', '.join(inside)} live(s) "
                              f"inside the synth plugin, so process() cannot run them on "
                              f"audio; use render()")
        x = np.asarray(audio, np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError(f"audio must be (samples,) or (channels, samples), got {x.shape}")
        n = x.shape[1]
        return _mono(self._effects(x, list(chain)), n)


def _mono(audio: np.ndarray, n: int) -> np.ndarray:
    out = np.asarray(audio, np.float32).mean(axis=0)[:n]
    if len(out) < n:
        out = np.pad(out, (0, n - len(out)))
    return out.astype(np.float32, copy=False)
