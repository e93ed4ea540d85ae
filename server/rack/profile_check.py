"""The checks that turn a profile's JSON into a :class:`~.profile_data.Profile`: every key
known, every spec effect and knob mapped, values in range, with errors that name the file
and the key path (the format: ``serumrnn.server.rack.profile``)."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from serumrnn.server import spec
from serumrnn.server.rack.profile_data import (
    INIT_PRESET,
    MAPS,
    PROFILE_DIR,
    RESET_MODES,
    SHARED_HOSTS,
    EffectMap,
    Enable,
    ParamRef,
    PluginSpec,
    Profile,
    ProfileError,
    Setting,
    Target,
)


class _Checker:
    """Walks a profile's JSON, with errors that name the file and the key path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, msg: str) -> ProfileError:
        return ProfileError(f"profile {self.source}: {where}: {msg}", where or "(top level)")

    def keys(
        self, d: Any, where: str, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
    ) -> dict[str, Any]:
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

    def ref(self, d: dict[str, Any], where: str) -> ParamRef:
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
        kind = self.map_kind(d, knob, where)
        if kind == "table":
            return self.table_target(ref, d.get("values"), knob, where)
        if kind == "lin":
            return self.lin_target(ref, d.get("range"), where)
        if kind == "unit":
            return self.unit_target(ref, d.get("unit"), knob, where)
        return Target(ref)

    def map_kind(self, d: dict[str, Any], knob: spec.Knob, where: str) -> str:
        """The target's ``map``, checked against its other keys and the knob's kind."""
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
        return str(kind)

    def table_target(self, ref: ParamRef, vals: Any, knob: spec.Knob, where: str) -> Target:
        if not isinstance(vals, list) or len(vals) != len(knob.choices):
            raise self.fail(
                f"{where}.values",
                f"need {len(knob.choices)} values, one per choice ({', '.join(knob.choices)})",
            )
        return Target(
            ref,
            "table",
            values=tuple(self.unit_value(v, f"{where}.values[{i}]") for i, v in enumerate(vals)),
        )

    def lin_target(self, ref: ParamRef, r: Any, where: str) -> Target:
        if not isinstance(r, list) or len(r) != 2:
            raise self.fail(f"{where}.range", "need [lo, hi] (normalized plugin values)")
        return Target(
            ref,
            "lin",
            range=(
                self.unit_value(r[0], f"{where}.range[0]"),
                self.unit_value(r[1], f"{where}.range[1]"),
            ),
        )

    def unit_target(self, ref: ParamRef, unit: Any, knob: spec.Knob, where: str) -> Target:
        u = self.keys(unit, f"{where}.unit", {"unit", "lo", "hi", "curve"}, {"unit", "lo", "hi"})
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
        return Target(ref, "unit", unit=spec.Display(u["unit"], float(u["lo"]), float(u["hi"]), curve))

    def effect(self, name: str, d: Any, where: str) -> EffectMap:
        try:
            eff = spec.effect(name)
        except KeyError:
            raise self.fail(
                where, f"unknown effect {name!r}; spec effects: {', '.join(spec.EFFECT_NAMES)}"
            ) from None
        d = self.keys(
            d, where, {"plugin", "enable", "knobs", "fixed", "extra", "comment"}, {"plugin", "knobs"}
        )
        host = d["plugin"]
        shared = host if isinstance(host, str) and host in SHARED_HOSTS else None
        plugin = None if shared else self.plugin(host, f"{where}.plugin")
        enable = self.enable(d.get("enable"), where)
        if plugin is None and (enable is None or enable.off is None):
            raise self.fail(
                f"{where}.enable",
                f"an effect inside the {'synth' if shared == 'synth' else 'fx host'} needs an enable "
                "parameter with 'on' and 'off' values (it is switched off on "
                "every render that does not use it)",
            )
        knobs = self.knob_targets(eff, d["knobs"], where)
        fixed = d.get("fixed", [])
        if not isinstance(fixed, list):
            raise self.fail(f"{where}.fixed", "expected a list of {param, value}")
        settings = tuple(self.setting(s, f"{where}.fixed[{i}]") for i, s in enumerate(fixed))
        extra = self.extra_targets(eff, d.get("extra", {}), settings, where)
        return EffectMap(name, plugin, enable, knobs, settings, shared, extra)

    def extra_targets(
        self, eff: spec.Effect, extra_in: Any, fixed: tuple[Setting, ...], where: str
    ) -> dict[str, tuple[Target, ...]]:
        """Where the extra knobs the profile maps go (any of ``spec.Fixed.extra``, none
        required). Each parameter must be pinned in ``fixed`` too: that is its value when a
        chain leaves the knob alone, so a value a search tried never leaks into later renders."""
        if not isinstance(extra_in, dict):
            raise self.fail(f"{where}.extra", "expected an object of extra knob -> parameter")
        names = [f.name for f in eff.extra]
        pinned = {(s.ref.index, s.ref.name) for s in fixed}
        out: dict[str, tuple[Target, ...]] = {}
        for name, t in extra_in.items():
            if name not in names:
                raise self.fail(
                    f"{where}.extra.{name}",
                    f"{name!r} is not an extra knob of {eff.name!r}; its extra knobs: {', '.join(names) or 'none'}",
                )
            ts = t if isinstance(t, list) else [t]
            if not ts:
                raise self.fail(f"{where}.extra.{name}", "empty list of parameters")
            knob = next(f for f in eff.extra if f.name == name).as_knob()
            targets = tuple(
                self.target(x, knob, f"{where}.extra.{name}" + (f"[{i}]" if isinstance(t, list) else ""))
                for i, x in enumerate(ts)
            )
            for tg in targets:
                if (tg.ref.index, tg.ref.name) not in pinned:
                    raise self.fail(
                        tg.ref.where,
                        "an extra knob's parameter needs a value in the effect's 'fixed' list too "
                        "(its value whenever a chain leaves the knob alone)",
                    )
            out[name] = targets
        return out

    def enable(self, e: Any, where: str) -> Enable | None:
        """An effect's on/off parameter, None when the profile gives none."""
        if e is None:
            return None
        e = self.keys(e, f"{where}.enable", {"param", "index", "name", "on", "off", "comment"}, {"on"})
        return Enable(
            self.ref(e, f"{where}.enable"),
            self.unit_value(e["on"], f"{where}.enable.on"),
            None if e.get("off") is None else self.unit_value(e["off"], f"{where}.enable.off"),
        )

    def knob_targets(self, eff: spec.Effect, knobs_in: Any, where: str) -> dict[str, tuple[Target, ...]]:
        """Where each of the effect's knobs goes: every spec knob mapped, no other."""
        if not isinstance(knobs_in, dict):
            raise self.fail(f"{where}.knobs", "expected an object of knob -> parameter")
        names = [k.name for k in eff.knobs]
        for k in knobs_in:
            if k not in names:
                raise self.fail(
                    f"{where}.knobs.{k}",
                    f"unknown knob {k!r} for effect {eff.name!r}; knobs: {', '.join(names)}",
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
        return knobs


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
    name, notes, unverified = _header(c, d, source)
    fx_host = None if d.get("fx_host") is None else c.plugin(d["fx_host"], "fx_host")
    synth = _synth(c, d, base)
    effects = _effects(c, d["effects"], synth, fx_host)
    return Profile(
        name,
        source,
        tuple(notes),
        synth.plugin,
        synth.presets,
        synth.default,
        synth.peak,
        synth.fixed,
        effects,
        str(base),
        copy.deepcopy(dict(raw)),
        fx_host,
        unverified,
    )


def _header(c: _Checker, d: dict[str, Any], source: str) -> tuple[str, list[str], str | None]:
    """The profile's name, notes and ``unverified`` sentence (whitespace folded)."""
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
    return name, notes, None if unverified is None else " ".join(unverified.split())


class _Synth(NamedTuple):
    """The ``synth`` section, checked."""

    plugin: PluginSpec | None
    presets: dict[str, str]
    default: str | None
    peak: float | None
    fixed: tuple[Setting, ...]


def _synth(c: _Checker, d: dict[str, Any], base: Path | str) -> _Synth:
    plugin_keys = ("path", "path_env", "reset", "flush_max_s", "warmup_s")
    s = c.keys(
        d.get("synth", {}), "synth", {*plugin_keys, "presets", "preset", "normalize_peak", "fixed", "comment"}
    )
    synth = c.plugin({k: v for k, v in s.items() if k in plugin_keys}, "synth") if "synth" in d else None
    presets = _presets(c, s.get("presets", {}), base)
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
    return _Synth(synth, presets, default, None if peak is None else float(peak), synth_fixed)


def _presets(c: _Checker, presets_in: Any, base: Path | str) -> dict[str, str]:
    """Preset name -> file, resolved against ``base``; ``init`` is reserved."""
    if not isinstance(presets_in, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in presets_in.items()
    ):
        raise c.fail("synth.presets", "expected an object of preset name -> file")
    if INIT_PRESET in presets_in:
        raise c.fail(
            f"synth.presets.{INIT_PRESET}", f"{INIT_PRESET!r} is reserved (the plugin's state as loaded)"
        )
    return {k: resolve_file(v, base) for k, v in presets_in.items()}


def _effects(c: _Checker, effects_in: Any, synth: _Synth, fx_host: PluginSpec | None) -> dict[str, EffectMap]:
    """Every effect's mapping, each hosted where the profile has a host for it."""
    if not isinstance(effects_in, dict):
        raise c.fail("effects", "expected an object of effect -> mapping")
    effects = {n: c.effect(n, e, f"effects.{n}") for n, e in effects_in.items()}
    for n, e in effects.items():
        if e.in_synth and synth.plugin is None:
            raise c.fail(f"effects.{n}.plugin", "'synth', but the profile has no synth")
        if e.in_fx_host and fx_host is None:
            raise c.fail(f"effects.{n}.plugin", "'fx_host', but the profile has no fx_host")
        if fx_host is not None and not e.in_fx_host:
            raise c.fail(
                f"effects.{n}.plugin",
                "a profile with an fx_host hosts every effect there ('plugin': 'fx_host'): "
                "one plugin runs them in its own order",
            )
    if synth.peak is not None and any(e.in_synth for e in effects.values()):
        raise c.fail(
            "synth.normalize_peak",
            "the dry synth can only be normalized when no effect lives inside the synth",
        )
    return effects
