"""A capture made by real plugins: what Live would record after the device set Serum's knobs.

The device (Max for Live) speaks Serum: it sets normalized parameter values by Serum name
or index (an effect's enable, its knobs) and captures the result. To test that flow
without Live and Serum ("Live twin"), :func:`plugin_capture` turns such values into the
spec's chain and runs the *dry* input through a profile's effect plugins (the Debian test
plugins by default), as the capture would sound. ``serumrnn plugin-capture`` is the same
from the command line: one clip, or a JSON-lines loop on stdin that keeps the plugins loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.render import Renderer, extra_knobs

#: The profile a capture is rendered on unless told otherwise (free plugins ``make`` installs).
CAPTURE_PROFILE = "debian_test"


#: An extra knob counts as moved when its value is this far from the spec's fixed value.
EXTRA_MOVED = 1e-6


def _serum_keys() -> dict[str, tuple[str, str]]:
    """Serum name and index (as text) -> (effect, knob name, extra knob name or "enable")."""
    out: dict[str, tuple[str, str]] = {}
    for eff in spec.EFFECTS:
        for name, index, what in (
            [(eff.enable.serum_name, eff.enable.serum_index, "enable")]
            + [(k.serum_name, k.serum_index, k.name) for k in eff.knobs]
            + [(f.serum_name, f.serum_index, f.name) for f in eff.extra]
        ):
            out[name] = out[str(index)] = (eff.name, what)
    return out


def chain_from_serum(values: Mapping[str | int, float]) -> Chain:
    """The chain that Serum parameter values describe (keys: Serum names or indices).

    An effect is on when its enable is at least half way; an effect that is on needs
    every knob. A menu's value is read as its nearest choice. An extra knob
    (``spec.Fixed.extra``) the search moved away from its fixed value goes into the FX's
    ``extra``; the device sends every fixed knob each step, so one at its fixed value says
    nothing. Other parameters (the other fixed knobs, the rest of Serum) are ignored: the
    profile pins what the rack needs.
    """
    keys = _serum_keys()
    per: dict[str, dict[str, float]] = {}
    for key, value in values.items():
        v = float(value)
        if not np.isfinite(v) or not 0.0 <= v <= 1.0:
            raise ValueError(f"Serum parameter {key}: {value!r} is not a normalized value in 0..1")
        hit = keys.get(str(key))
        if hit is not None:
            per.setdefault(hit[0], {})[hit[1]] = v
    fxs = []
    for eff in spec.EFFECTS:
        got = per.get(eff.name, {})
        if got.get("enable", 0.0) < 0.5:
            continue
        knobs: dict[str, float] = {}
        for k in eff.knobs:
            if k.name not in got:
                raise ValueError(
                    f"{eff.label} is on but {k.serum_name} (#{k.serum_index}) has no value; "
                    f"an effect that is on needs {', '.join(x.serum_name for x in eff.knobs)}"
                )
            x = got[k.name]
            knobs[k.name] = (
                float(np.argmin([abs(x - k.to_serum(i)) for i in range(len(k.choices))]))
                if k.categorical
                else x
            )
        extra = {
            f.name: got[f.name]
            for f in eff.extra
            if f.name in got and abs(got[f.name] - f.value) > EXTRA_MOVED
        }
        fxs.append(FX(eff.name, knobs, extra=extra))
    return Chain(fxs)


def playable(chain: Chain, renderer: Renderer) -> tuple[Chain, list[str]]:
    """``chain`` without the extra knobs ``renderer``'s plugins do not map, and those
    dropped ("compressor.attack"). Why: Serum sets every extra knob, but a profile maps only
    some; the twin renders what its plugins can and says what it could not, rather than
    refusing the whole capture."""
    kept, dropped = [], []
    for fx in chain:
        mapped = set(extra_knobs(renderer, fx.name))
        dropped += [f"{fx.name}.{n}" for n in fx.extra if n not in mapped]
        kept.append(FX(fx.name, fx.knobs, extra={n: v for n, v in fx.extra.items() if n in mapped}))
    return Chain(kept), dropped


def plugin_capture(
    dry: np.ndarray,
    values: Mapping[str | int, float],
    *,
    renderer: Renderer | None = None,
    profile: str = CAPTURE_PROFILE,
) -> np.ndarray:
    """The capture of ``dry`` after the device set ``values``: mono float32, same length.

    ``renderer``: a plugin host to reuse (one per test run); else one is started for
    ``profile`` and stopped after (about a second of start-up).
    """
    chain = chain_from_serum(values)

    def through(r: Renderer) -> np.ndarray:
        return r.process(np.asarray(dry, np.float32), playable(chain, r)[0])

    if renderer is not None:
        return through(renderer)
    from serumrnn.server.rack.plugin_host import PluginHost

    host = PluginHost(profile)
    try:
        return through(host)
    finally:
        host.close()


def _one(host: Renderer, req: Mapping[str, Any]) -> dict[str, Any]:
    from serumrnn.server.audio_io import load_clip, write_wav

    sr = host.settings.sample_rate
    dry = load_clip(req["input"], sample_rate=sr, duration_s=host.settings.render_s)
    chain, dropped = playable(chain_from_serum(req.get("params", {})), host)
    out = host.process(dry, chain)
    write_wav(req["out"], out, sr)
    return {"ok": True, "out": req["out"], "chain": chain.to_json(), "extra_not_mapped": dropped}


def _cmd(a: argparse.Namespace) -> int:
    from serumrnn.server.rack.plugin_host import PluginHost

    try:
        host = PluginHost(a.profile)
    except Exception as e:  # noqa: BLE001 - one line, the reason
        print(f"plugin-capture: {e}", file=sys.stderr)
        return 2
    try:
        if not a.serve:
            if not (a.input and a.out):
                print("plugin-capture: give --input and --out (or --serve)", file=sys.stderr)
                return 2
            try:
                params = json.loads(a.params)
                res = _one(host, {"input": a.input, "out": a.out, "params": params})
            except Exception as e:  # noqa: BLE001
                print(f"plugin-capture: {e}", file=sys.stderr)
                return 1
            print(json.dumps(res))
            return 0
        print(json.dumps({"ready": True, "profile": host.profile.name}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                res = _one(host, json.loads(line))
            except Exception as e:  # noqa: BLE001 - a bad request is one error line, not the end
                res = {"ok": False, "error": " ".join(str(e).split())}
            print(json.dumps(res), flush=True)
        return 0
    finally:
        host.close()


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "plugin-capture",
        help="render what a capture would sound like: a dry clip through the profile's plugins, "
        "with Serum parameter values",
    )
    p.add_argument("--profile", default=CAPTURE_PROFILE, help=f"plugin profile (default {CAPTURE_PROFILE})")
    p.add_argument("--input", help="the dry clip (WAV)")
    p.add_argument("--out", help="where to write the capture (WAV, float)")
    p.add_argument(
        "--params",
        default="{}",
        help='Serum parameter values as JSON, by name or index: {"Dist Enable": 1, "Dist_Drv": 0.7, ...}',
    )
    p.add_argument(
        "--serve",
        action="store_true",
        help="read one JSON request per stdin line ({input, out, params}); answer one JSON line each",
    )
    p.set_defaults(func=_cmd)
