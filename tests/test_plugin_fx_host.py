"""One plugin hosting several effects (SerumFX's case), the generated SerumFX profile, and
``serumrnn profile draft`` on the Debian plugins.

Needs the Debian plugins (scripts/setup-system.sh); without them these fail.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import band_energy
from fresh_process import in_fresh_process

from serumrnn.server import spec
from serumrnn.server.rack import FX, PluginLoadError, PluginRack, ProfileError, RenderError, load_profile
from serumrnn.server.rack import profile as PF
from serumrnn.server.rack.draft import EXACT, describe, draft_profile
from serumrnn.server.rack.profile import parse_profile

SR = 44100
LSP_EQ = "/usr/lib/vst/lsp-plugins/para-equalizer-x16-mono.so"
DB = {"unit": "dB", "lo": -36, "hi": 36}


def band(n: int, enable_on: float = 0.125) -> dict:
    """An LSP equalizer band as a stand-in effect, switched by its filter type (0: off)."""
    return {
        "plugin": "fx_host",
        "enable": {"param": f"ft_{n}", "on": enable_on, "off": 0.0},
        "fixed": [{"param": "bypass", "value": 0.0}, {"param": f"fm_{n}", "value": 0.0}],
    }


#: Two spec effects hosted by one plugin: eq on band 0, a "phaser" stand-in on band 1.
TWO_IN_ONE = {
    "name": "two_in_one",
    "fx_host": {"path": LSP_EQ},
    "effects": {
        "eq": dict(
            band(0),
            knobs={
                "freq": {
                    "param": "f_0",
                    "map": "unit",
                    "unit": {"unit": "Hz", "lo": 10, "hi": 24000, "curve": "log"},
                },
                "q": {"param": "q_0", "map": "unit", "unit": {"unit": "Q", "lo": 0, "hi": 100}},
                "gain": {"param": "g_0", "map": "unit", "unit": DB},
            },
        ),
        "phaser": dict(
            band(1),
            knobs={
                "depth": {"param": "g_1", "map": "lin", "range": [0.5, 0.8]},
                "freq": {"param": "f_1"},
                "feedback": {"param": "q_1", "map": "lin", "range": [0.0, 0.3]},
            },
        ),
    },
}

EQ = FX("eq", freq=0.6, q=0.5, gain=1.0)  # +36 dB at 1.26 kHz
PH = FX("phaser", depth=1.0, freq=0.3, feedback=0.5)


def noise() -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)


def test_one_plugin_hosts_two_effects_switched_per_render():
    in_fresh_process(_two_effects_in_one_plugin)


def _two_effects_in_one_plugin() -> None:
    host_rack = PluginRack(TWO_IN_ONE)
    assert host_rack.presets == () and not host_rack.order_follows_chain
    assert set(host_rack.load_times()) == {"fx_host"}
    x = noise()
    eq = host_rack.process(x, [EQ])
    both = host_rack.process(x, [EQ, PH])
    assert band_energy(eq, SR, 1000, 1600) > 100 * band_energy(x, SR, 1000, 1600)
    assert np.abs(both - eq).mean() > 0.01
    assert host_rack.parameter("ft_1", "phaser") == pytest.approx(0.125)
    host_rack.process(x, [PH])
    assert host_rack.parameter("ft_0", "eq") == 0.0  # eq switched off when not in the chain
    again = host_rack.process(x, [EQ])
    assert np.abs(again - eq).max() < 1e-4 and host_rack.parameter("ft_1", "phaser") == 0.0
    off = host_rack.process(x, [])
    assert np.abs(off - x).max() < 1e-4  # every band off: the plugin passes the clip through
    with pytest.raises(
        RenderError, match=r"profile 'two_in_one' \(<dict>\) has no synth: it processes audio"
    ):
        host_rack.render([EQ])


def test_fx_host_profiles_are_checked():
    raw = json.loads(json.dumps(TWO_IN_ONE))
    raw["effects"]["phaser"]["plugin"] = {"path": LSP_EQ}
    with pytest.raises(
        ProfileError, match=r"effects\.phaser\.plugin: a profile with an fx_host hosts every effect"
    ):
        parse_profile(raw)
    raw = json.loads(json.dumps(TWO_IN_ONE))
    del raw["fx_host"]
    with pytest.raises(ProfileError, match=r"effects\.eq\.plugin: 'fx_host', but the profile has no fx_host"):
        parse_profile(raw)
    raw = json.loads(json.dumps(TWO_IN_ONE))
    del raw["effects"]["eq"]["enable"]["off"]
    with pytest.raises(
        ProfileError, match=r"effects\.eq\.enable: an effect inside the fx host needs an enable"
    ):
        parse_profile(raw)
    with pytest.raises(ProfileError, match=r"unverified: expected a sentence"):
        parse_profile(dict(TWO_IN_ONE, unverified=True))


def test_serumfx_profile_is_the_spec_written_out(monkeypatch):
    shipped = (PF.PROFILE_DIR / "serumfx.json").read_text()
    assert shipped == PF.serumfx_profile_json()
    p = load_profile("serumfx")
    assert p.synth is None and p.fx_host is not None and p.unverified
    assert set(p.in_fx_host) == set(spec.EFFECT_NAMES)
    fx = FX("distortion", mode="Rectify", drive=0.4)
    got = {ref.name: v for ref, v in p.effect("distortion").settings(fx)}
    assert got == pytest.approx(fx.serum_values())
    assert all(ref.index is None for e in p.effects.values() for ref in e.refs())  # names only
    monkeypatch.delenv(PF.SERUMFX_PATH_ENV, raising=False)
    with pytest.raises(PluginLoadError, match=r"no path for fx_host: .*\$SERUMRNN_SERUMFX_PATH"):
        PluginRack("serumfx")
    with pytest.raises(PluginLoadError, match=r"fx_host: plugin not found: /nowhere/SerumFX\.so"):
        PluginRack("serumfx", plugin_path="/nowhere/SerumFX.so")


def test_draft_of_a_serumfx_like_plugin_is_the_serumfx_profile():
    """A plugin whose parameters carry Serum's FX names drafts to the SerumFX mapping."""
    names = ["Master Vol"]
    for eff in spec.EFFECTS:
        names += (
            [eff.enable.serum_name] + [k.serum_name for k in eff.knobs] + [f.serum_name for f in eff.fixed]
        )
    d = draft_profile("/x/SerumFX.so", names, 2, 2)
    assert not d.missing and not d.loads and all(m.how == EXACT for m in d.matches)
    drafted, shipped = parse_profile(d.profile), load_profile("serumfx")
    assert drafted.fx_host is not None and set(drafted.in_fx_host) == set(spec.EFFECT_NAMES)
    for eff in spec.EFFECTS:
        fx = FX(eff.name, {k.name: (1.0 if k.categorical else 0.3) for k in eff.knobs})
        a = {r.name: v for r, v in drafted.effect(eff.name).settings(fx)}
        b = {r.name: v for r, v in shipped.effect(eff.name).settings(fx)}
        assert a == pytest.approx(b), eff.name


def _draft_changes_the_sound(profile: dict) -> float:
    x = noise()
    return float(
        np.abs(PluginRack(profile).process(x, [FX("distortion", mode="HardClip", drive=0.9)]) - x).mean()
    )


def test_draft_names_serum2_proxy_slots():
    """Serum 2 as public reports describe it: FX knobs only as numbered proxy slots."""
    from serumrnn.server.rack.draft import report

    names = ["Main Vol", "A Level", "Filter 1 Freq"] + [f"FX Main Param {i}" for i in range(1, 17)]
    names += [f"FX Bus 1 Param {i}" for i in range(1, 17)]
    d = draft_profile("/x/Serum2.vst3", names, 0, 2)
    assert len(d.proxy_slots) == 32 and d.instrument
    assert "32 numbered FX proxy slots (FX Main Param 1 ...)" in report(d)


def test_draft_on_debian_plugins():
    names, n_in, n_out = describe("/usr/lib/vst/ZynDistortion.so")
    assert (n_in, n_out) == (2, 2) and "Drive" in names and "Type" in names
    d = draft_profile("/usr/lib/vst/ZynDistortion.so", names, n_in, n_out)
    assert [(m.knob, m.name) for m in d.matches] == [("mode", "Type"), ("drive", "Drive")]
    assert not d.missing and not d.loads
    assert list(d.profile["effects"]) == ["distortion"] and d.profile["unverified"]
    assert in_fresh_process(_draft_changes_the_sound, d.profile) > 0.01  # the draft loads and renders

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "serumrnn.server.cli",
            "profile",
            "draft",
            "/usr/lib/lxvst/DragonflyHallReverb-vst.so",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "reverb.low_cut -> #7 'Low Cut' (same name)" in out.stderr
    assert "could not match: reverb.mix" in out.stderr
    assert "the draft does not load yet" in out.stderr and "knob 'mix' is not mapped" in out.stderr
    assert json.loads(out.stdout)["effects"]["reverb"]["knobs"]["high_cut"]["name"] == "High Cut"

    with pytest.raises(PluginLoadError, match="plugin not found: /nope/x.so"):
        describe("/nope/x.so")
