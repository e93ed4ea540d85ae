"""The plugin-backed capture ("Live twin"): Serum parameter values -> the chain they
describe -> the dry clip through the Debian plugins, from Python and from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from serumrnn.server import spec
from serumrnn.server.rack import FX, Chain
from serumrnn.server.rack.capture import chain_from_serum, playable, plugin_capture
from serumrnn.server.sampling import sample_chain

CHAIN = Chain([FX("distortion", mode="HardClip", drive=0.8), FX("eq", freq=0.7, q=0.4, gain=0.85)])


def serum_values(chain: Chain, *, by_index: bool = False) -> dict:
    """What the device sets: every effect's enable (off for those not in the chain), and
    the knobs of those that are on."""
    out: dict = {}
    for eff in spec.EFFECTS:
        out[eff.enable.serum_index if by_index else eff.enable.serum_name] = 0.0
    for fx in chain:
        for k in fx.effect.knobs:
            out[k.serum_index if by_index else k.serum_name] = k.to_serum(fx.knobs[k.name])
        e = fx.effect.enable
        out[e.serum_index if by_index else e.serum_name] = e.value
    return out


def test_serum_values_give_back_the_chain():
    rng = np.random.default_rng(5)
    for n in range(1, len(spec.EFFECT_NAMES) + 1):
        chain = sample_chain(spec.EFFECT_NAMES[:n], rng)
        got = chain_from_serum(serum_values(chain))
        assert got.same_effects(chain) and {f.name: dict(f.knobs) for f in got} == {
            f.name: dict(f.knobs) for f in chain
        }
        assert chain_from_serum(serum_values(chain, by_index=True)).same_effects(chain)
    assert len(chain_from_serum(serum_values(Chain()))) == 0


def test_bad_serum_values_are_one_line_errors():
    v = serum_values(CHAIN)
    del v["Dist_Drv"]
    with pytest.raises(ValueError, match=r"Distortion is on but Dist_Drv \(#97\) has no value"):
        chain_from_serum(v)
    with pytest.raises(ValueError, match=r"Serum parameter Dist_Drv: 1\.5 is not a normalized value"):
        chain_from_serum({**serum_values(CHAIN), "Dist_Drv": 1.5})


def test_capture_is_the_dry_clip_through_the_plugins(host):
    dry = host.dry()
    cap = plugin_capture(dry, serum_values(CHAIN), renderer=host)
    assert cap.shape == dry.shape and cap.dtype == np.float32
    assert np.abs(cap - host.render(CHAIN)).max() < 1e-5
    assert np.abs(cap - dry).mean() > 0.01
    assert np.array_equal(plugin_capture(dry, serum_values(Chain()), renderer=host), dry)


def test_command_line_serves_captures(host, tmp_path):
    dry = host.dry()
    sf.write(tmp_path / "dry.wav", dry, 44100, subtype="FLOAT")
    proc = subprocess.Popen(
        [sys.executable, "-m", "serumrnn.server.cli", "plugin-capture", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert json.loads(proc.stdout.readline()) == {"ready": True, "profile": "debian_test"}
    good = {
        "input": str(tmp_path / "dry.wav"),
        "out": str(tmp_path / "cap.wav"),
        "params": serum_values(CHAIN),
    }
    bad = dict(good, params={"Dist Enable": 1.0})
    for req in (bad, good):
        proc.stdin.write(json.dumps(req) + "\n")
        proc.stdin.flush()
    first, second = (json.loads(proc.stdout.readline()) for _ in range(2))
    proc.stdin.close()
    assert proc.wait(60) == 0
    assert first["ok"] is False and "Distortion is on but Dist_Mode" in first["error"]
    assert second["ok"] is True and [f["effect"] for f in second["chain"]] == ["distortion", "eq"]
    cap, sr = sf.read(tmp_path / "cap.wav", dtype="float32")
    assert sr == 44100 and np.abs(cap - host.render(CHAIN)).max() < 1e-5


def test_extra_knobs_moved_by_the_search_reach_the_capture(host):
    """The device sends every fixed knob; those at the spec's value say nothing, a moved
    extra knob the profile maps is rendered, one it does not map is dropped and named."""
    comp = spec.effect("compressor")
    fixed = {f.serum_name: f.value for f in comp.fixed}
    base = {**serum_values(Chain([FX("compressor", low=0.5, mid=0.5, high=0.5)])), **fixed}
    assert chain_from_serum(base)[0].extra == {}
    moved = {**base, "Cmp_Thr": 0.1, "Cmp_Att": 0.9}
    chain, dropped = playable(chain_from_serum(moved), host)
    assert dict(chain[0].extra) == {"threshold": 0.1} and dropped == ["compressor.attack"]
    dry = host.dry()
    a, b = plugin_capture(dry, base, renderer=host), plugin_capture(dry, moved, renderer=host)
    assert float(np.max(np.abs(a - b))) > 1e-3  # the threshold reached the plugin
