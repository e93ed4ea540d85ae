"""``serumrnn profile draft PLUGIN_PATH``: a first profile for any VST2/VST3 plugin.

It loads the plugin with DawDreamer (in a worker process, so the caller's floating-point
mode is untouched and a hanging plugin costs a timeout), lists its parameters, and maps the
spec's knobs onto them by name:

* an exact Serum name (``Dist_Drv``; Serum, SerumFX) maps with Serum's own values;
* a knob's label, name or a synonym equal to a parameter's name ("Drive", "Mix");
* else one of those words inside a parameter's name ("LFO Frequency" for a frequency):
  the weakest match, shown as such.

Which effects the plugin hosts: those whose Serum enable switch it has, else those named
in its file name ("ZynPhaser.so"), else those with most of their knobs matched. Knobs it
cannot match are listed; the draft then does not load until they are filled in. A menu
(distortion mode) matched to a parameter gets evenly spaced values, a guess to check.
Every draft is marked ``unverified``: names are not sounds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serumrnn.server import spec

#: Starting a worker and loading one plugin.
DESCRIBE_TIMEOUT_S = 60.0

#: Words (besides a knob's label and name) that mean the knob, per effect.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "compressor": {
        "low": ("low band", "low amount"),
        "mid": ("mid band", "mid amount"),
        "high": ("high band",),
    },
    "distortion": {"mode": ("type", "shape", "mode"), "drive": ("drive", "gain", "amount")},
    "eq": {"freq": ("frequency", "freq", "cutoff"), "q": ("q", "resonance", "bandwidth"), "gain": ("gain",)},
    "phaser": {
        "depth": ("depth", "amount"),
        "freq": ("frequency", "freq", "center"),
        "feedback": ("feedback",),
    },
    "reverb": {
        "mix": ("mix", "dry wet", "wet"),
        "low_cut": ("low cut", "lowcut"),
        "high_cut": ("high cut", "highcut"),
    },
}

#: Words in a plugin's file name that say which effect it is.
FILE_WORDS: dict[str, tuple[str, ...]] = {
    "compressor": ("compressor", "comp", "multiband", "ott"),
    "distortion": ("distortion", "dist", "saturat", "drive"),
    "eq": ("equalizer", "equaliser", "eq"),
    "phaser": ("phaser",),
    "reverb": ("reverb", "verb", "hall", "room", "plate"),
}

EXACT, EQUAL, WORD = "Serum name", "same name", "word in name"

#: Serum 2's host parameters for its FX racks, as public reports describe them: numbered proxy
#: slots ("FX Main Param 1..16", "FX Bus 1 Param 1..16") that drive whatever unit knob the
#: user assigns inside Serum 2 (not confirmed on a machine; see docs/plugins.md).
PROXY_SLOT = re.compile(r"^fx\s*(main|bus\s*\d)\s*param\s*(\d+)$", re.IGNORECASE)
_RANK = {EXACT: 3, EQUAL: 2, WORD: 1}


def _norm(text: str) -> str:
    """Lower case, words split on anything that is not a letter or digit (and camelCase)."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return " ".join(re.split(r"[^0-9a-z]+", text.casefold())).strip()


@dataclass
class Match:
    effect: str
    knob: str
    index: int
    name: str
    how: str

    def line(self) -> str:
        return f"{self.effect}.{self.knob} -> #{self.index} {self.name!r} ({self.how})"


@dataclass
class Draft:
    """What ``draft`` found: the plugin's facts, the matches, what is missing, the profile."""

    path: str
    names: list[str]
    n_in: int
    n_out: int
    matches: list[Match] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    loads: str = ""  # "" when the draft validates, else why not
    proxy_slots: list[str] = field(default_factory=list)  # Serum 2's numbered FX slots

    @property
    def instrument(self) -> bool:
        return self.n_in == 0


def _describe(path: str) -> tuple[list[str], int, int]:
    """Runs in the worker: the plugin's parameter names and its audio inputs/outputs."""
    import dawdreamer

    from serumrnn.server.rack.plugin_files import check_plugin_file, quiet_output

    check_plugin_file(path)
    engine = dawdreamer.RenderEngine(44100, 512)
    with quiet_output():
        proc = engine.make_plugin_processor("draft", path)
    n = proc.get_plugin_parameter_size()
    names = [proc.get_parameter_name(i) for i in range(n)]
    return names, int(proc.get_num_input_channels()), int(proc.get_num_output_channels())


def describe(path: str, timeout_s: float = DESCRIBE_TIMEOUT_S) -> tuple[list[str], int, int]:
    """Load ``path`` in a fresh worker process: (parameter names, inputs, outputs)."""
    from serumrnn.server.rack.plugin_files import PluginLoadError

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        job = pool.apply_async(_describe, (str(path),))
        try:
            return job.get(timeout_s)
        except mp.TimeoutError:
            raise PluginLoadError(f"{path}: the plugin did not load within {timeout_s:g} s") from None
        except PluginLoadError:
            raise
        except Exception as e:  # DawDreamer: "Unable to load plugin."
            raise PluginLoadError(f"DawDreamer could not load the plugin {path}: {e}") from None


def _knob_terms(eff: spec.Effect, k: spec.Knob) -> list[str]:
    return [
        _norm(t) for t in (k.label, k.name.replace("_", " "), *SYNONYMS.get(eff.name, {}).get(k.name, ()))
    ]


def match_knob(eff: spec.Effect, k: spec.Knob, names: list[str], taken: set[int]) -> Match | None:
    """The best parameter for one knob, by the rules of the module docstring."""
    best: Match | None = None
    terms = _knob_terms(eff, k)
    for i, n in enumerate(names):
        if i in taken:
            continue
        norm = _norm(n)
        if n.strip().casefold() == k.serum_name.casefold():
            how = EXACT
        elif norm in terms:
            how = EQUAL
        elif any(t and re.search(rf"\b{re.escape(t)}\b", norm) for t in terms):
            how = WORD
        else:
            continue
        if best is None or _RANK[how] > _RANK[best.how]:
            best = Match(eff.name, k.name, i, n, how)
    return best


def _find(names: list[str], serum_name: str) -> int | None:
    hits = [i for i, n in enumerate(names) if n.strip().casefold() == serum_name.casefold()]
    return hits[0] if len(hits) == 1 else None


def _bypass(names: list[str]) -> int | None:
    hits = [i for i, n in enumerate(names) if _norm(n) in ("bypass", "bypassed")]
    return hits[0] if len(hits) == 1 else None


def _knob_matches(names: list[str]) -> dict[str, list[Match]]:
    """Per spec effect, its knobs matched to distinct parameters (unmatched left out)."""
    per: dict[str, list[Match]] = {}
    for eff in spec.EFFECTS:
        taken: set[int] = set()
        per[eff.name] = []
        for k in eff.knobs:
            m = match_knob(eff, k, names, taken)
            if m is not None:
                taken.add(m.index)
                per[eff.name].append(m)
    return per


def _hosted(path: str, names: list[str], per: dict[str, list[Match]]) -> list[str]:
    """Which effects the plugin hosts (the rule in the module docstring)."""
    with_enable = [e.name for e in spec.EFFECTS if _find(names, e.enable.serum_name) is not None]
    file = _norm(Path(path).stem)
    named = [e for e, words in FILE_WORDS.items() if any(w in file for w in words)]
    return with_enable or named or [e.name for e in spec.EFFECTS if 2 * len(per[e.name]) > len(e.knobs)]


def _enable(eff: spec.Effect, names: list[str], shared: str | None) -> dict[str, Any] | None:
    """The effect's switch: Serum's enable by name, else (a plugin of its own) its bypass."""
    i = _find(names, eff.enable.serum_name)
    if i is not None:
        return {"index": i, "name": names[i], "on": eff.enable.value, "off": 0.0}
    b = _bypass(names) if shared is None else None
    return None if b is None else {"index": b, "name": names[b], "on": 0.0, "off": 1.0}


def _target(k: spec.Knob, m: Match) -> dict[str, Any]:
    """One knob's profile entry; a menu matched by another name gets evenly spaced values."""
    t: dict[str, Any] = {"index": m.index, "name": m.name}
    if k.categorical:
        n, exact = len(k.choices), m.how == EXACT
        t["map"] = "table"
        t["values"] = [k.to_serum(i) if exact else round(i / (n - 1), 6) for i in range(n)]
        if not exact:
            t["comment"] = "evenly spaced guess: check the plugin's menu"
    return t


def _entry(d: Draft, eff: spec.Effect, matches: list[Match], shared: str | None) -> dict[str, Any]:
    """One effect's profile entry; what it lacks goes to ``d.missing``."""
    names = d.names
    entry: dict[str, Any] = {"plugin": shared if shared else {"path": d.path}}
    enable = _enable(eff, names, shared)
    if enable is not None:
        entry["enable"] = enable
    elif shared is not None:
        d.missing.append(f"{eff.name}.enable")
    knobs = {m.knob: _target(next(x for x in eff.knobs if x.name == m.knob), m) for m in matches}
    d.matches += matches
    d.missing += [f"{eff.name}.{k.name}" for k in eff.knobs if k.name not in knobs]
    fixed = [
        {"index": i, "name": names[i], "value": f.value}
        for f in eff.fixed
        if (i := _find(names, f.serum_name)) is not None
    ]
    if fixed:
        entry["fixed"] = fixed
    entry["knobs"] = knobs
    return entry


def draft_profile(path: str, names: list[str], n_in: int, n_out: int) -> Draft:
    """Map the spec onto a plugin's parameter names (no plugin needed: testable on lists)."""
    from serumrnn.server.rack.profile import ProfileError, parse_profile

    d = Draft(str(path), list(names), n_in, n_out)
    d.proxy_slots = [n for n in names if PROXY_SLOT.match(n.strip())]
    per = _knob_matches(d.names)
    effects = _hosted(d.path, d.names, per)
    shared = "synth" if d.instrument else ("fx_host" if len(effects) > 1 else None)
    out = {name: _entry(d, spec.effect(name), per[name], shared) for name in effects}
    prof: dict[str, Any] = {
        "name": Path(path).stem,
        "unverified": "Drafted by serumrnn profile draft from parameter names; listen before trusting it.",
        "notes": [f"Matched: {m.line()}" for m in d.matches]
        + ([f"Not matched (fill in): {', '.join(d.missing)}"] if d.missing else []),
    }
    if d.instrument:
        prof["synth"] = {"path": d.path}
    elif shared == "fx_host":
        prof["fx_host"] = {"path": d.path}
    prof["effects"] = out
    d.profile = prof
    if not out:
        d.loads = "no spec effect recognised"
        return d
    try:
        parse_profile(prof, f"draft of {path}")
    except ProfileError as e:
        d.loads = str(e)
    return d


def report(d: Draft) -> str:
    kind = "instrument" if d.instrument else "effect"
    lines = [f"{d.path}: {kind} plugin, {d.n_in} in / {d.n_out} out, {len(d.names)} parameters"]
    lines += [f"  #{i:<4} {n}" for i, n in enumerate(d.names)]
    lines.append("matched:" if d.matches else "matched: nothing")
    lines += [f"  {m.line()}" for m in d.matches]
    lines.append(f"could not match: {', '.join(d.missing)}" if d.missing else "could not match: nothing")
    if d.proxy_slots:
        lines.append(
            f"{len(d.proxy_slots)} numbered FX proxy slots ({d.proxy_slots[0]} ...): Serum 2's FX knobs reach a "
            "host only through these, once assigned inside Serum 2; map them by hand (docs/plugins.md, Serum 2)"
        )
    lines.append("the draft loads as a profile" if not d.loads else f"the draft does not load yet: {d.loads}")
    return "\n".join(lines)


def _cmd_draft(a: argparse.Namespace) -> int:
    try:
        names, n_in, n_out = describe(a.plugin)
    except Exception as e:  # noqa: BLE001 - one line, the reason
        print(f"profile draft: {e}", file=sys.stderr)
        return 2
    d = draft_profile(a.plugin, names, n_in, n_out)
    print(report(d), file=sys.stderr)
    text = json.dumps(d.profile, indent=2) + "\n"
    if a.out:
        Path(a.out).write_text(text)
        print(f"draft written to {a.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("profile", help="plugin profiles: draft one for a plugin")
    sub = p.add_subparsers(dest="profile_cmd", required=True)
    dr = sub.add_parser(
        "draft",
        help="load a VST2/VST3 plugin, list its parameters and draft a profile from their names",
    )
    dr.add_argument("plugin", metavar="PLUGIN_PATH", help="the plugin file (.so/.dll/.vst3 ...)")
    dr.add_argument("--out", default=None, help="write the draft profile here (default: stdout)")
    dr.set_defaults(func=_cmd_draft)
