"""Plugin profiles: the JSON format that maps the spec onto real plugins, and its checks.

A profile names the synth plugin and, per spec effect, the plugin that hosts it, the
parameter that switches it on, how each spec knob drives a plugin parameter and what is
pinned. :class:`serumrnn.server.rack.plugins.PluginRack` hosts the plugins it names.
This module is JSON only (no DawDreamer), so checks and the device tooling stay light.

Profile format (``profiles/*.json``; relative paths resolve against the file's folder)::

    {"name": "...", "notes": ["..."], "unverified": "why (optional)",
     "fx_host": {"path": ..., "path_env": "VAR", "reset": "flush"},   # optional
     "synth": {"path": "/x/Synth.so" | null, "path_env": "VAR", "reset": "flush",
               "presets": {"saw": "saw.fxp"}, "preset": "saw", "normalize_peak": 0.5,
               "fixed": [{"param": ..., "value": 0.3}]},
     "effects": {"<spec effect>": {
        "plugin": "synth" | "fx_host" | {"path": ..., "reset": "flush"|"reload"|"none",
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

Where an effect lives: ``"synth"`` (inside the synth plugin, as in Serum), ``"fx_host"`` (one
effect plugin hosting several effects, as SerumFX hosts Serum's whole FX rack: then every
effect lives there), or a plugin of its own. ``synth`` is optional: a profile without one
processes audio (captures, files) and renders no presets. ``unverified`` says the
profile was never checked against its plugin (written from documentation, not a machine).

A parameter is ``"param"`` (a name or an index) or ``"index"`` and/or ``"name"`` (both:
they must agree). Values are the plugin's normalized 0..1. ``"unit"`` converts through the
spec knob's display unit: spec 0..1 -> Hz/dB/Q (``serumrnn.server.spec``) -> the plugin's 0..1.
``load_profile`` validates a profile against the spec and names the file and key on any
error; parameter names are checked against the plugin when ``PluginRack`` loads it.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Mapping, Sequence
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

    @property
    def in_synth(self) -> bool:
        return self.shared == "synth"

    @property
    def in_fx_host(self) -> bool:
        return self.shared == "fx_host"

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


# --------------------------------------------------------------------------- validation


class _Checker:
    """Walks a profile's JSON, with errors that name the file and the key path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, msg: str) -> ProfileError:
        return ProfileError(f"profile {self.source}: {where}: {msg}", where or "(top level)")

    def keys(
        self, d: Any, where: str, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
    ) -> dict:
        if not isinstance(d, dict):
            raise self.fail(where, f"expected an object, got {type(d).__name__}")
        extra = sorted(set(d) - allowed)
        if extra:
            raise self.fail(
                f"{where}.{extra[0]}" if where else extra[0],
                f"unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}",
            )
        missing = sorted(required - set(d))
        if missing:
            raise self.fail(where or "(top level)", f"missing key {missing[0]!r}")
        return d

    def unit_value(self, v: Any, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0 or math.isnan(v):
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
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
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
        d = self.keys(d, where, {"path", "path_env", "reset", "flush_max_s", "warmup_s", "comment"})
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
        d = self.keys(d, where, {"param", "index", "name", "map", "range", "values", "unit", "comment"})
        ref = self.ref(d, where)
        kind = d.get("map", "table" if "values" in d else "identity")
        if kind not in MAPS:
            raise self.fail(f"{where}.map", f"{kind!r} is not one of {', '.join(MAPS)}")
        for k, needs in (("range", "lin"), ("values", "table"), ("unit", "unit")):
            if k in d and kind != needs:
                raise self.fail(f"{where}.{k}", f"{k!r} goes with map {needs!r}, not {kind!r}")
        if knob.categorical != (kind == "table"):
            raise self.fail(
                f"{where}.map",
                (
                    f"knob {knob.name!r} is a menu of {len(knob.choices)} choices: map it with "
                    f"'map': 'table' and one value per choice ({', '.join(knob.choices)})"
                )
                if knob.categorical
                else f"'table' is for menus; {knob.name!r} is continuous",
            )
        if kind == "table":
            vals = d.get("values")
            if not isinstance(vals, list) or len(vals) != len(knob.choices):
                raise self.fail(
                    f"{where}.values",
                    f"need {len(knob.choices)} values, one per choice ({', '.join(knob.choices)})",
                )
            return Target(
                ref,
                kind,
                values=tuple(self.unit_value(v, f"{where}.values[{i}]") for i, v in enumerate(vals)),
            )
        if kind == "lin":
            r = d.get("range")
            if not isinstance(r, list) or len(r) != 2:
                raise self.fail(f"{where}.range", "need [lo, hi] (normalized plugin values)")
            return Target(
                ref,
                kind,
                range=(
                    self.unit_value(r[0], f"{where}.range[0]"),
                    self.unit_value(r[1], f"{where}.range[1]"),
                ),
            )
        if kind == "unit":
            u = self.keys(d.get("unit"), f"{where}.unit", {"unit", "lo", "hi", "curve"}, {"unit", "lo", "hi"})
            if u["unit"] != knob.display.unit:
                raise self.fail(
                    f"{where}.unit.unit",
                    f"{u['unit']!r} does not match the spec knob's unit {knob.display.unit!r}",
                )
            curve = u.get("curve", "lin")
            ok = (
                all(isinstance(u[k], (int, float)) and not isinstance(u[k], bool) for k in ("lo", "hi"))
                and u["lo"] != u["hi"]
            )
            if not ok or curve not in ("lin", "log") or (curve == "log" and min(u["lo"], u["hi"]) <= 0):
                raise self.fail(
                    f"{where}.unit", "need numeric lo != hi (positive for 'log') and curve 'lin' or 'log'"
                )
            return Target(ref, kind, unit=spec.Display(u["unit"], float(u["lo"]), float(u["hi"]), curve))
        return Target(ref)

    def effect(self, name: str, d: Any, where: str) -> EffectMap:
        try:
            eff = spec.effect(name)
        except KeyError:
            raise self.fail(
                where, f"unknown effect {name!r}; spec effects: {', '.join(spec.EFFECT_NAMES)}"
            ) from None
        d = self.keys(d, where, {"plugin", "enable", "knobs", "fixed", "comment"}, {"plugin", "knobs"})
        host = d["plugin"]
        shared = host if isinstance(host, str) and host in SHARED_HOSTS else None
        plugin = None if shared else self.plugin(host, f"{where}.plugin")
        enable = None
        if d.get("enable") is not None:
            e = self.keys(
                d["enable"], f"{where}.enable", {"param", "index", "name", "on", "off", "comment"}, {"on"}
            )
            enable = Enable(
                self.ref(e, f"{where}.enable"),
                self.unit_value(e["on"], f"{where}.enable.on"),
                None if e.get("off") is None else self.unit_value(e["off"], f"{where}.enable.off"),
            )
        if plugin is None and (enable is None or enable.off is None):
            raise self.fail(
                f"{where}.enable",
                f"an effect inside the {'synth' if shared == 'synth' else 'fx host'} needs an enable "
                "parameter with 'on' and 'off' values (it is switched off on "
                "every render that does not use it)",
            )
        knobs_in = d["knobs"]
        if not isinstance(knobs_in, dict):
            raise self.fail(f"{where}.knobs", "expected an object of knob -> parameter")
        names = [k.name for k in eff.knobs]
        for k in knobs_in:
            if k not in names:
                raise self.fail(
                    f"{where}.knobs.{k}", f"unknown knob {k!r} for effect {name!r}; knobs: {', '.join(names)}"
                )
        knobs: dict[str, tuple[Target, ...]] = {}
        for k in eff.knobs:
            if k.name not in knobs_in:
                raise self.fail(
                    f"{where}.knobs",
                    f"knob {k.name!r} is not mapped (every spec knob of a mapped effect needs a parameter)",
                )
            t = knobs_in[k.name]
            ts = t if isinstance(t, list) else [t]
            if not ts:
                raise self.fail(f"{where}.knobs.{k.name}", "empty list of parameters")
            knobs[k.name] = tuple(
                self.target(x, k, f"{where}.knobs.{k.name}" + (f"[{i}]" if isinstance(t, list) else ""))
                for i, x in enumerate(ts)
            )
        fixed = d.get("fixed", [])
        if not isinstance(fixed, list):
            raise self.fail(f"{where}.fixed", "expected a list of {param, value}")
        return EffectMap(
            name,
            plugin,
            enable,
            knobs,
            tuple(self.setting(s, f"{where}.fixed[{i}]") for i, s in enumerate(fixed)),
            shared,
        )


def resolve_file(p: str, base: Path | str) -> str:
    """A profile path: ``~`` expanded, relative ones against the profile's folder."""
    q = Path(os.path.expanduser(p))
    return str(q if q.is_absolute() else Path(base) / q)


def parse_profile(raw: Mapping[str, Any], source: str = "<dict>", base: Path | None = None) -> Profile:
    """Validate a profile's JSON (already parsed).

    Relative paths resolve against ``base``: the profile file's folder, or for a dict the
    shipped profiles folder (so an edited copy of a shipped profile keeps its presets).
    """
    base = PROFILE_DIR if base is None else base
    c = _Checker(source)
    if not isinstance(raw, Mapping):
        raise c.fail("", f"expected an object, got {type(raw).__name__}")
    d = c.keys(
        dict(raw), "", {"name", "notes", "synth", "fx_host", "effects", "unverified", "comment"}, {"effects"}
    )
    name = d.get("name") or (Path(source).stem if source != "<dict>" else "unnamed")
    if not isinstance(name, str):
        raise c.fail("name", f"{name!r} is not a string")
    notes = d.get("notes", [])
    notes = [notes] if isinstance(notes, str) else notes
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise c.fail("notes", "expected a string or a list of strings")
    unverified = d.get("unverified")
    if unverified is not None and (not isinstance(unverified, str) or not unverified.strip()):
        raise c.fail("unverified", "expected a sentence saying what was not checked")
    fx_host = None if d.get("fx_host") is None else c.plugin(d["fx_host"], "fx_host")
    plugin_keys = ("path", "path_env", "reset", "flush_max_s", "warmup_s")
    s = c.keys(
        d.get("synth", {}), "synth", {*plugin_keys, "presets", "preset", "normalize_peak", "fixed", "comment"}
    )
    synth = c.plugin({k: v for k, v in s.items() if k in plugin_keys}, "synth") if "synth" in d else None
    presets_in = s.get("presets", {})
    if not isinstance(presets_in, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in presets_in.items()
    ):
        raise c.fail("synth.presets", "expected an object of preset name -> file")
    if INIT_PRESET in presets_in:
        raise c.fail(
            f"synth.presets.{INIT_PRESET}", f"{INIT_PRESET!r} is reserved (the plugin's state as loaded)"
        )
    presets = {k: resolve_file(v, base) for k, v in presets_in.items()}
    default = s.get("preset")
    if default is not None and default not in presets and default != INIT_PRESET:
        raise c.fail("synth.preset", f"{default!r} is not in synth.presets ({', '.join(presets) or 'none'})")
    peak = s.get("normalize_peak")
    if peak is not None and (
        isinstance(peak, bool) or not isinstance(peak, (int, float)) or not 0 < peak <= 1
    ):
        raise c.fail("synth.normalize_peak", f"{peak!r} is not a peak level in (0, 1]")
    fixed = s.get("fixed", [])
    if not isinstance(fixed, list):
        raise c.fail("synth.fixed", "expected a list of {param, value}")
    synth_fixed = tuple(c.setting(x, f"synth.fixed[{i}]") for i, x in enumerate(fixed))
    effects_in = d["effects"]
    if not isinstance(effects_in, dict):
        raise c.fail("effects", "expected an object of effect -> mapping")
    effects = {n: c.effect(n, e, f"effects.{n}") for n, e in effects_in.items()}
    for n, e in effects.items():
        if e.in_synth and synth is None:
            raise c.fail(f"effects.{n}.plugin", "'synth', but the profile has no synth")
        if e.in_fx_host and fx_host is None:
            raise c.fail(f"effects.{n}.plugin", "'fx_host', but the profile has no fx_host")
        if fx_host is not None and not e.in_fx_host:
            raise c.fail(
                f"effects.{n}.plugin",
                "a profile with an fx_host hosts every effect there ('plugin': 'fx_host'): "
                "one plugin runs them in its own order",
            )
    if peak is not None and any(e.in_synth for e in effects.values()):
        raise c.fail(
            "synth.normalize_peak",
            "the dry synth can only be normalized when no effect lives inside the synth",
        )
    return Profile(
        name,
        source,
        tuple(notes),
        synth,
        presets,
        default,
        None if peak is None else float(peak),
        synth_fixed,
        effects,
        str(base),
        copy.deepcopy(dict(raw)),
        fx_host,
        None if unverified is None else " ".join(unverified.split()),
    )


def shipped_profiles() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.json")))


#: Largest profile file read (the shipped ones are under 20 kB).
PROFILE_MAX_BYTES = 1 << 20

#: Key-path words that are the schema's or the spec's own, never the file's data.
_SCHEMA_WORDS = frozenset(
    {
        "name",
        "notes",
        "synth",
        "fx_host",
        "unverified",
        "effects",
        "comment",
        "path",
        "path_env",
        "reset",
        "flush_max_s",
        "warmup_s",
        "presets",
        "preset",
        "normalize_peak",
        "fixed",
        "plugin",
        "enable",
        "knobs",
        "param",
        "index",
        "value",
        "map",
        "range",
        "values",
        "unit",
        "lo",
        "hi",
        "curve",
        "on",
        "off",
        "(top level)",
    }
)


def redacted_key_path(key_path: str) -> str:
    """``key_path`` with every word that is not the schema's or the spec's (an unknown key
    or effect name from the file) shown as ``<key>``: safe to send to a client."""
    known = _SCHEMA_WORDS | set(spec.EFFECT_NAMES) | {k.name for e in spec.EFFECTS for k in e.knobs}
    out = []
    for part in key_path.split("."):
        word, bracket, rest = part.partition("[")
        idx = (
            bracket + rest
            if bracket
            and all(seg[:-1].isdigit() for seg in (bracket + rest).split("[")[1:] if seg.endswith("]"))
            else ""
        )
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
        raise ProfileError(
            f"profile {shown}: not UTF-8 text (byte {e.start}); a profile is a JSON file"
        ) from None
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
    if not path.is_file() and os.sep not in text and not text.endswith(".json") and shipped.is_file():
        path = shipped
    if not path.exists():
        raise ProfileError(
            f"profile {text}: no such file, and no shipped profile of that "
            f"name (shipped: {', '.join(shipped_profiles())})"
        )
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
        raise ProfileError(
            f"profile {name}: outside the profile folders; a server reads "
            "the shipped profiles and those in folders named by serve "
            "--profiles DIR"
        )
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        raise ProfileError(
            f"profile {name}: not a profile name (a name, or an absolute path inside a profile folder)"
        )
    file = name if name.endswith(".json") else f"{name}.json"
    for r in roots:
        p = os.path.join(r, file)
        if os.path.lexists(p) and inside(p):
            return Path(os.path.realpath(p))
    names = sorted({p.stem for r in roots for p in Path(r).glob("*.json")})
    raise ProfileError(f"profile {name}: no such profile (available: {', '.join(names)})")


def _serum_effects(host: str, *, indices: bool) -> dict[str, Any]:
    """Every spec effect mapped onto Serum's FX parameters (by name, and by index when the
    indices are known: Serum's own; SerumFX's are not recorded), hosted by ``host``."""

    def ref(name: str, index: int) -> dict[str, Any]:
        return {"index": index, "name": name} if indices else {"name": name}

    effects: dict[str, Any] = {}
    for eff in spec.EFFECTS:
        knobs: dict[str, Any] = {}
        for k in eff.knobs:
            t: dict[str, Any] = ref(k.serum_name, k.serum_index)
            if k.categorical:
                t["map"] = "table"
                t["values"] = [k.to_serum(i) for i in range(len(k.choices))]
            knobs[k.name] = t
        effects[eff.name] = {
            "plugin": host,
            "enable": {
                **ref(eff.enable.serum_name, eff.enable.serum_index),
                "on": eff.enable.value,
                "off": 0.0,
            },
            "knobs": knobs,
            "fixed": [{**ref(f.serum_name, f.serum_index), "value": f.value} for f in eff.fixed],
        }
    return effects


def serum_profile() -> dict[str, Any]:
    """The Serum profile, generated from ``serumrnn.server.spec`` (the one source of Serum indices).

    ``profiles/serum.json`` is this, written out; a test checks they are equal.
    """
    effects = _serum_effects("synth", indices=True)
    return {
        "name": "serum",
        "notes": [
            "Generated by serumrnn.server.rack.profile.serum_profile() from server/spec.py; edit the "
            "spec, not this file.",
            f"The plugin's path is yours: PluginRack('serum', plugin_path=...) or {SERUM_PATH_ENV}.",
            "Every effect lives inside Serum, so they run in the FX rack order stored in "
            "the preset, whatever the chain's order; effects not in a chain are switched off "
            "on every render.",
            "Presets: pass preset='/path/to/preset.fxp' to render(); 'init' is Serum as it loads.",
            "Dist_Mode slot names are not verified on a machine with Serum (see spec.py).",
        ],
        "synth": {"path": None, "path_env": SERUM_PATH_ENV, "reset": "flush", "presets": {}, "preset": None},
        "effects": effects,
    }


def serum_profile_json() -> str:
    """Deterministic text of :func:`serum_profile` (what ``profiles/serum.json`` holds)."""
    return json.dumps(serum_profile(), indent=2) + "\n"


#: Where SerumFX (Serum 1's effects-only plugin) lives: this variable (or ``plugin_path=``).
SERUMFX_PATH_ENV = "SERUMRNN_SERUMFX_PATH"


def serumfx_profile() -> dict[str, Any]:
    """The SerumFX profile: Serum's FX rack as one effect plugin hosting all five effects,
    generated from the spec like :func:`serum_profile` (``profiles/serumfx.json``).

    SerumFX exposes the FX rack's parameters under Serum's names; its indices differ from
    Serum's (no oscillators) and are not recorded, so parameters are found by name. Never
    loaded on a machine with SerumFX: marked ``unverified``.
    """
    return {
        "name": "serumfx",
        "unverified": "Written from the spec's Serum parameter names; never loaded with SerumFX. "
        "Load it once (serumrnn profile draft PATH lists the plugin's names) and remove this key.",
        "notes": [
            "Generated by serumrnn.server.rack.profile.serumfx_profile() from server/spec.py; edit the "
            "spec, not this file.",
            f"The plugin's path is yours: PluginRack('serumfx', plugin_path=...) or {SERUMFX_PATH_ENV}.",
            "SerumFX hosts all five effects (fx_host): it processes audio (the captured dry sound), "
            "renders no presets, and runs the effects in the FX rack order stored in its state; "
            "effects not in a chain are switched off on every render.",
            "Parameters are matched by Serum's names; SerumFX's indices are not recorded.",
        ],
        "fx_host": {"path": None, "path_env": SERUMFX_PATH_ENV, "reset": "flush"},
        "effects": _serum_effects("fx_host", indices=False),
    }


def serumfx_profile_json() -> str:
    """Deterministic text of :func:`serumfx_profile` (what ``profiles/serumfx.json`` holds)."""
    return json.dumps(serumfx_profile(), indent=2) + "\n"
