"""Real plugins through profiles: the Debian test profile renders and every mapped knob is
heard; profiles are validated with errors that name the file and key; the Serum profile is
the spec written out.

These tests need the Debian plugins (zynaddsubfx-vst, lsp-plugins-vst, dragonfly-reverb-vst,
installed by the project's set-up script): without them they fail, they do not skip.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import band_energy, band_gain_db, crest

from serumrnn.server import spec
from serumrnn.server.rack import (
    FX,
    Chain,
    PluginLoadError,
    PluginRack,
    ProfileError,
    RenderError,
    RenderSettings,
    load_profile,
)
from serumrnn.server.rack import plugin_stage as PST
from serumrnn.server.rack import plugins as PL
from serumrnn.server.rack import profile as PF

SR = 44100
F0 = 440 * 2 ** ((48 - 69) / 12)


@pytest.fixture(scope="module")
def rack() -> PluginRack:
    return PluginRack("debian_test")


@pytest.fixture(scope="module")
def tail_rack() -> PluginRack:
    """Half-second note in a one-second render: room for a reverb tail."""
    return PluginRack("debian_test", RenderSettings(note_s=0.5, render_s=1.0))


def debian_raw() -> dict:
    return json.loads((PF.PROFILE_DIR / "debian_test.json").read_text())


def harmonic_ratio(audio: np.ndarray) -> float:
    """Energy above 1.5 x f0 over energy around f0: grows as a shaper adds harmonics."""
    return band_energy(audio, SR, 1.5 * F0, 20000) / band_energy(audio, SR, 0.5 * F0, 1.5 * F0)


def spectral_motion(audio: np.ndarray, n: int = 4096) -> float:
    """How much the normalized spectrum changes from frame to frame (a sweep moves it)."""
    frames = audio[: len(audio) // n * n].reshape(-1, n)
    s = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1))
    s /= s.sum(axis=1, keepdims=True) + 1e-12
    return float(np.abs(np.diff(s, axis=0)).sum(axis=1).mean())


# --------------------------------------------------------------------------- loading


def test_debian_profile_loads_every_effect(rack):
    p = load_profile("debian_test")
    assert set(p.effects) == set(spec.EFFECT_NAMES)
    assert not p.in_synth and rack.order_follows_chain
    assert rack.presets == ("init", "saw")
    times = rack.load_times()
    assert set(times) == {"synth", *spec.EFFECT_NAMES} and all(t > 0 for t in times.values())
    # a VST2-truncated name ("High-Pass Filte") still matches the profile's full name
    assert "High-Pass Filte" in rack.parameter_names("distortion")


def test_synth_renders_the_default_note(rack):
    a = rack.render([])
    assert a.shape == (rack.settings.n_samples,) and a.dtype == np.float32
    assert np.isfinite(a).all()
    assert np.max(np.abs(a)) == pytest.approx(0.5, abs=0.01)  # normalize_peak
    spec_ = np.abs(np.fft.rfft(a * np.hanning(len(a))))
    assert abs(np.argmax(spec_) * SR / len(a) - F0) < 3  # note 48, the fundamental
    assert harmonic_ratio(a) > 0.1  # the saw preset has harmonics
    assert harmonic_ratio(rack.render([], "init")) < 1e-6  # Zyn's init is a sine
    other = rack.render([], note=60)
    assert other.shape == a.shape and np.abs(other - a).mean() > 0.01
    with pytest.raises(RenderError, match="unknown preset 'nope'.*init, saw"):
        rack.render([], "nope")


# --------------------------------------------------------------------------- effects


def test_distortion_drive_adds_harmonics_and_modes_differ(rack):
    dry = harmonic_ratio(rack.render([], "init"))
    lo = harmonic_ratio(rack.render([FX("distortion", mode="Tube", drive=0.3)], "init"))
    hi = harmonic_ratio(rack.render([FX("distortion", mode="Tube", drive=1.0)], "init"))
    assert lo > 1e3 * dry and hi > 2 * lo
    outs = [rack.render([FX("distortion", mode=i, drive=0.7)]) for i in range(12)]
    for i in range(12):
        for j in range(i + 1, 12):
            assert np.abs(outs[i] - outs[j]).mean() > 0.01, (
                spec.DISTORTION_MODES[i],
                spec.DISTORTION_MODES[j],
            )


def test_hardclip_clips_and_neighbouring_drives_sound_alike(rack):
    """HardClip must clip on the plugins, as on the open rack: a rising ramp comes out
    never falling, and one Drive step (1/127) changes the sound little. Zyn's shaper
    named Clip wraps instead, and that mapping failed both."""
    ramp = np.linspace(-0.9, 0.9, SR).astype(np.float32)
    out = rack.process(ramp, [FX("distortion", mode="HardClip", drive=0.8)])
    body = out[SR // 20 : -SR // 20]  # away from the ramp's ends
    assert np.diff(body).min() > -1e-3
    assert np.abs(out - ramp).mean() > 0.05  # and it does distort
    saw = rack.render([])
    a, b, c = (rack.render([FX("distortion", mode="HardClip", drive=d)]) for d in (0.0, 0.83, 0.84))
    assert np.abs(b - c).mean() < 0.1 * np.abs(a - b).mean()
    assert np.abs(a - saw).mean() < np.abs(b - saw).mean()


def test_compressor_flattens_level_more_with_more_amount(rack):
    t = np.arange(SR) / SR  # a sine swelling 0.05 -> 0.5 twice a second
    x = np.sin(2 * np.pi * 220 * t) * (0.05 + 0.45 * (0.5 - 0.5 * np.cos(4 * np.pi * t)))
    x = x.astype(np.float32)
    skip = SR // 20  # the attack transient at the very start is not what we measure

    def c(a: np.ndarray) -> float:
        return crest(a[skip:])

    light = rack.process(x, [FX("compressor", low=0.2, mid=0.2, high=0.2)])
    heavy = rack.process(x, [FX("compressor", low=0.8, mid=0.8, high=0.8)])
    assert light.shape == x.shape and light.dtype == np.float32
    assert c(light) < c(x) - 0.1 and c(heavy) < c(light) - 0.1
    # each band amount acts on its own band on the rendered note
    dry = rack.render([])
    for band in ("low", "mid", "high"):
        k = {"low": 0.0, "mid": 0.0, "high": 0.0, band: 1.0}
        assert np.abs(rack.render([FX("compressor", **k)]) - dry).mean() > 0.01, band
    lo_only = rack.render([FX("compressor", low=1.0, mid=0.0, high=0.0)])
    hi_only = rack.render([FX("compressor", low=0.0, mid=0.0, high=1.0)])
    assert band_energy(hi_only, SR, 3000, 20000) < 0.5 * band_energy(lo_only, SR, 3000, 20000)


def test_eq_low_band_is_transparent_until_a_search_moves_it(rack):
    """debian_test's band 1 stands in for Serum's low band: off until a step sets the low
    band's gain, so a chain that leaves it alone renders as before; an extra value boosts
    around its frequency, and the next render without it is the plain one again."""
    dry = rack.render([])
    plain = FX("eq", freq=0.8, q=0.5, gain=0.5)  # the high band at 0 dB too
    assert np.abs(rack.render([plain]) - dry).max() < 1e-3
    boost = rack.render([FX("eq", freq=0.8, q=0.5, gain=0.5, extra={"gain_low": 1.0, "q_low": 0.2})])
    assert band_gain_db(boost, dry, SR, 150, 270) > 10  # 200 Hz
    assert band_gain_db(boost, dry, SR, 2000, 8000) < 3  # not the highs
    assert np.abs(rack.render([plain]) - dry).max() < 1e-3


def test_eq_gain_and_frequency_move_the_high_band(rack):
    dry = rack.render([])

    def db(a: np.ndarray, lo: float, hi: float) -> float:
        return band_gain_db(a, dry, SR, lo, hi)

    flat = rack.render([FX("eq", freq=0.6, q=0.5, gain=0.5)])  # 0 dB: transparent
    assert np.abs(flat - dry).max() < 1e-3
    cut = rack.render([FX("eq", freq=0.6, q=0.5, gain=0.0)])
    boost = rack.render([FX("eq", freq=0.6, q=0.5, gain=1.0)])
    assert db(cut, 1000, 2000) < -10 and db(boost, 1000, 2000) > 10  # 0.6 -> 1.26 kHz
    high = rack.render([FX("eq", freq=0.95, q=0.5, gain=1.0)])  # 14 kHz
    assert db(high, 8000, 16000) > 10 and db(high, 1000, 2000) < 3


def test_phaser_changes_the_sound_along_its_knobs(rack):
    dry = rack.render([])
    a = rack.render([FX("phaser", depth=0.0, freq=0.2, feedback=0.0)])
    assert np.abs(a - dry).mean() > 0.02
    # with depth 0 the LFO is out of the picture: freq and feedback move static notches
    b = rack.render([FX("phaser", depth=0.0, freq=0.8, feedback=0.0)])
    c = rack.render([FX("phaser", depth=0.0, freq=0.2, feedback=1.0)])
    assert np.abs(a - b).mean() > 0.01 and np.abs(a - c).mean() > 0.01
    # depth lets the LFO sweep the notches
    swept = rack.render([FX("phaser", depth=1.0, freq=0.5, feedback=0.8)])
    still = rack.render([FX("phaser", depth=0.0, freq=0.5, feedback=0.8)])
    assert spectral_motion(swept) > 5 * spectral_motion(still)


def _phaser_takes(rack: PluginRack, clip: np.ndarray) -> list[np.ndarray]:
    """The same phaser on the same clip three times, other phaser renders between, each
    take on a fresh clip copy so no kept prefix answers it."""
    ch = [FX("phaser", depth=0.9, freq=0.5, feedback=0.7)]
    takes = []
    for i in range(3):
        takes.append(rack.process(clip * np.float32(1.0 + 1e-6 * i), ch))
        rack.process(clip, [FX("phaser", depth=0.2 + 0.1 * i, freq=0.3, feedback=0.2)])
        if i == 1:
            while rack.refill():  # the next take starts on a spare loaded and warmed ahead
                pass
    return takes


def test_the_phaser_renders_a_clip_the_same_every_time_in_any_process(rack):
    """ZynPhaser's LFO runs on across renders and starts at a random depth: reloaded and
    warmed up at the profile's fixed values, every render starts from one state."""
    clip = rack.render([])
    takes = _phaser_takes(rack, clip)
    for t in takes[1:]:
        assert np.abs(t - takes[0]).max() < 1e-5
    fresh = PluginRack("debian_test")  # new instances, after Zyn's process-wide RNG moved on
    assert np.abs(_phaser_takes(fresh, clip)[0] - takes[0]).max() < 1e-5
    # the counter-case: flushed only, the LFO runs on and the same clip sounds different
    raw = debian_raw()
    raw["effects"]["phaser"]["plugin"]["reset"] = "flush"
    drifting = _phaser_takes(PluginRack(raw), clip)
    assert np.abs(drifting[1] - drifting[0]).max() > 0.01


def test_the_compressors_first_render_after_loading_is_like_every_later_one():
    """LSP's first render set its bands up differently (0.13 peak difference) until the
    profile warmed it up; without the warm-up it differs again (the counter-case)."""
    knobs = [FX("compressor", low=0.45, mid=0.47, high=0.27)]
    other = [FX("compressor", low=0.95, mid=0.05, high=0.9)]

    def takes(rack: PluginRack) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for _ in range(3):  # a fresh clip each time, so no kept prefix answers
            out.append(rack.process(rack.render([]) * (1.0 + 1e-6 * len(out)), knobs))
            rack.render(other)
        return out

    first, *later = takes(PluginRack("debian_test"))
    assert all(np.abs(first - x).max() < 1e-3 for x in later)
    raw = debian_raw()
    del raw["effects"]["compressor"]["plugin"]["warmup_s"]
    first, *later = takes(PluginRack(raw))
    assert np.abs(first - later[-1]).max() > 0.01


def test_reverb_mix_raises_the_tail_and_cuts_shape_it(tail_rack):
    def tail(a: np.ndarray) -> np.ndarray:
        return a[int(0.6 * SR) :]  # the note ends at 0.5 s

    dry = float((tail(tail_rack.render([])) ** 2).sum())
    e = [
        float((tail(tail_rack.render([FX("reverb", mix=m, low_cut=0.2, high_cut=0.8)])) ** 2).sum())
        for m in (0.3, 0.7)
    ]
    assert e[0] > 100 * dry and e[1] > 2 * e[0]
    low = [tail(tail_rack.render([FX("reverb", mix=0.7, low_cut=lc, high_cut=0.8)])) for lc in (0.0, 1.0)]
    assert band_energy(low[1], SR, 20, 200) < 0.5 * band_energy(low[0], SR, 20, 200)
    high = [tail(tail_rack.render([FX("reverb", mix=0.7, low_cut=0.2, high_cut=hc)])) for hc in (0.2, 1.0)]
    assert band_energy(high[0], SR, 3000, 20000) < 0.2 * band_energy(high[1], SR, 3000, 20000)


def test_separate_plugins_follow_the_rack_order_not_the_list(rack):
    """Separate effect plugins run in rack order (Serum's by default) whatever order the
    chain lists them in; another rack order is another sound."""
    from serumrnn.server.rack.plugins import PluginRack
    from serumrnn.server.rack.render import RenderSettings

    dist = FX("distortion", mode="Tube", drive=0.9)
    verb = FX("reverb", mix=0.6, low_cut=0.2, high_cut=0.8)
    a, b = rack.render([dist, verb]), rack.render(Chain([verb, dist]))
    assert np.abs(a - b).max() < 1e-3  # the same rack order: the same sound
    flipped = PluginRack(
        rack.profile, RenderSettings(rack_order=("reverb", "phaser", "compressor", "distortion", "eq"))
    )
    assert np.abs(a - flipped.render([dist, verb])).mean() > 0.05


def test_renders_do_not_leak_into_each_other(rack):
    """Tails and envelopes from one render must not reach the next (flush / reload)."""
    chains = [
        [FX("reverb", mix=0.7, low_cut=0.0, high_cut=1.0)],
        [FX("compressor", low=0.8, mid=0.8, high=0.8)],
        [FX("distortion", mode="HardClip", drive=1.0), FX("eq", freq=0.7, q=0.3, gain=0.9)],
    ]
    first = [rack.render(c) for c in chains]
    rack.render([FX("distortion", mode="Rectify", drive=1.0)])
    again = [rack.render(c) for c in chains[::-1]][::-1]
    for c, a, b in zip(chains, first, again):
        assert np.abs(a - b).max() < 1e-3, c


def test_a_profile_sets_the_extra_knobs_it_maps_and_refuses_the_others(rack):
    """debian_test maps the compressor's threshold and gain (LSP's attack levels and
    makeups) and the reverb's size and decay: a search may move those on these plugins, a
    moved value changes the render and never leaks into the next one; a knob it does not map
    (the ratio: LSP's band amounts set the ratios) is a clear error, never a render that
    ignores it."""
    from serumrnn.server.rack.render import extra_knobs

    assert extra_knobs(rack, "compressor") == ("threshold", "gain")
    assert extra_knobs(rack, "reverb") == ("size", "decay") and extra_knobs(rack, "phaser") == ()
    assert extra_knobs(rack, "eq") == ("freq_low", "q_low", "gain_low")  # LSP's band 1
    plain = FX("compressor", low=0.9, mid=0.9, high=0.9)
    before = rack.render([plain])
    low = rack.render([FX("compressor", low=0.9, mid=0.9, high=0.9, extra={"threshold": 0.05})])
    assert np.abs(low - before).max() > 1e-2  # a lower threshold compresses more
    assert np.array_equal(rack.render([plain]), before)  # the fixed value is back
    with pytest.raises(RenderError, match="maps no parameter for the compressor's extra knob ratio"):
        rack.render([FX("compressor", low=0.5, mid=0.5, high=0.5, extra={"ratio": 0.2})])
    assert np.isfinite(rack.render([plain])).all()


def test_an_extra_knob_needs_a_fixed_value_on_the_profile():
    """A mapped extra knob whose parameter has no fixed value would keep the last search's
    setting in every later render: the profile is refused, naming the key."""
    raw = debian_raw()
    raw["effects"]["reverb"]["fixed"] = [f for f in raw["effects"]["reverb"]["fixed"] if f["param"] != "Size"]
    with pytest.raises(ProfileError, match=r"effects\.reverb\.extra\.size.*'fixed' list too"):
        PF.parse_profile(raw)
    raw = debian_raw()
    raw["effects"]["reverb"]["extra"]["spin_rate"] = {"param": "Spin"}
    with pytest.raises(ProfileError, match="'spin_rate' is not an extra knob of 'reverb'"):
        PF.parse_profile(raw)


def test_process_runs_user_audio_in_chain_order(rack):
    x = rack.render([])
    fx = [FX("eq", freq=0.7, q=0.5, gain=0.9)]
    assert np.array_equal(rack.process(x, fx), rack.render(fx))
    stereo = np.stack([x, x])
    assert np.abs(rack.process(stereo, fx) - rack.render(fx)).max() < 1e-4
    assert np.array_equal(rack.process(x, []), x)


# --------------------------------------------------------------------------- errors


def test_missing_plugin_names_the_path():
    raw = debian_raw()
    raw["effects"]["reverb"]["plugin"]["path"] = "/nonexistent/NoSuchReverb.so"
    with pytest.raises(PluginLoadError, match="/nonexistent/NoSuchReverb.so"):
        PluginRack(raw)


def test_text_file_pretending_to_be_a_plugin(tmp_path, monkeypatch):
    fake = tmp_path / "x.so"
    fake.write_text("this is not a plugin\n")
    profile = {"synth": {"path": str(fake)}, "effects": {}}
    with pytest.raises(PluginLoadError, match=rf"{fake}.*not a plugin"):
        PluginRack(profile)
    # and without the file check DawDreamer itself refuses it cleanly (no crash)
    monkeypatch.setattr(PST, "check_plugin_file", lambda path: None)
    with pytest.raises(PluginLoadError, match=rf"could not load the plugin {fake}"):
        PluginRack(profile)


def test_directory_and_non_plugin_library_are_refused(tmp_path):
    with pytest.raises(PluginLoadError, match=rf"{tmp_path} is a directory"):
        PL.check_plugin_file(str(tmp_path))
    # a real shared library that is no plugin passes the file check; DawDreamer says no
    libm = "/lib/x86_64-linux-gnu/libm.so.6"
    with pytest.raises(PluginLoadError, match=rf"could not load the plugin {libm}"):
        PluginRack({"synth": {"path": libm}, "effects": {}})


def test_unknown_knob_error_names_file_and_key(tmp_path):
    raw = debian_raw()
    raw["effects"]["eq"]["knobs"]["bogus"] = {"param": "f_1"}
    f = tmp_path / "mine.json"
    f.write_text(json.dumps(raw))
    with pytest.raises(
        ProfileError,
        match=rf"profile {f}: effects\.eq\.knobs\.bogus: unknown "
        r"knob 'bogus'.*freq, q, gain",
    ):
        load_profile(f)
    with pytest.raises(ProfileError, match=rf"profile {f}"):
        PluginRack(f)


def test_parameter_name_is_checked_against_the_plugin(tmp_path):
    raw = debian_raw()
    raw["effects"]["distortion"]["knobs"]["drive"] = {"param": "Drvie"}
    f = tmp_path / "typo.json"
    f.write_text(json.dumps(raw))
    load_profile(f)  # the JSON alone is fine
    with pytest.raises(
        ProfileError,
        match=rf"profile {f}: effects\.distortion\.knobs\.drive: "
        r"parameter 'Drvie' not found; close: 'Drive'.*"
        r"ZynDistortion\.so",
    ):
        PluginRack(f)
    raw["effects"]["distortion"]["knobs"]["drive"] = {"index": 1, "name": "Level"}
    with pytest.raises(ProfileError, match=r"parameter #1 is 'Drive', not 'Level'"):
        PluginRack(raw)
    with pytest.warns(UserWarning, match=r"parameter #1 is 'Drive', not 'Level'; using"):
        PluginRack(raw, strict_names=False)


BAD = [
    (lambda r: r.update(extra=1), r"extra: unknown key 'extra'"),
    (lambda r: r["effects"].update(chorus=r["effects"]["eq"]), r"effects\.chorus: unknown effect"),
    (lambda r: r["effects"]["eq"]["knobs"].pop("q"), r"effects\.eq\.knobs: knob 'q' is not mapped"),
    (
        lambda r: r["effects"]["distortion"]["knobs"]["mode"]["values"].pop(),
        r"effects\.distortion\.knobs\.mode\.values: need 12 values",
    ),
    (
        lambda r: r["effects"]["distortion"]["knobs"].update(mode={"param": "Type"}),
        r"effects\.distortion\.knobs\.mode\.map: knob 'mode' is a menu of 12 choices",
    ),
    (
        lambda r: r["effects"]["eq"]["knobs"]["gain"]["unit"].update(unit="Hz"),
        r"effects\.eq\.knobs\.gain\.unit\.unit: 'Hz' does not match the spec knob's unit 'dB'",
    ),
    (
        lambda r: r["effects"]["reverb"]["fixed"][0].update(value=1.5),
        r"effects\.reverb\.fixed\[0\]\.value: 1\.5 is not a normalized value",
    ),
    (
        lambda r: r["effects"]["reverb"]["knobs"]["mix"][1].update(range=[0.0, 2.0]),
        r"effects\.reverb\.knobs\.mix\[1\]\.range\[1\]",
    ),
    (
        lambda r: r["effects"]["phaser"].update(plugin="synth"),
        r"effects\.phaser\.enable: an effect inside the synth needs an enable",
    ),
    (
        lambda r: r["effects"]["eq"]["plugin"].update(reset="sometimes"),
        r"effects\.eq\.plugin\.reset: 'sometimes' is not one of",
    ),
    (lambda r: r["synth"].update(preset="lead"), r"synth\.preset: 'lead' is not in synth\.presets"),
]


@pytest.mark.parametrize("edit,message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_profile_validation_names_the_key(tmp_path, edit, message):
    raw = debian_raw()
    edit(raw)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(raw))
    with pytest.raises(ProfileError, match=rf"profile {f}: {message}"):
        load_profile(f)


def test_bad_json_and_unknown_names(tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('{"synth": ')
    with pytest.raises(ProfileError, match=rf"profile {f}: not valid JSON \(line 1"):
        load_profile(f)
    with pytest.raises(ProfileError, match="no shipped profile.*debian_test, serum"):
        load_profile("no_such_profile")


def test_effect_missing_from_profile_errors_clearly():
    raw = debian_raw()
    for name in ("compressor", "eq", "phaser", "reverb"):
        del raw["effects"][name]
    raw["name"] = "dist_only"
    rack = PluginRack(raw)
    assert rack.render([FX("distortion", mode="Tube", drive=0.5)]).shape == (SR,)
    with pytest.raises(
        RenderError,
        match=r"profile 'dist_only' \(<dict>\) has no mapping for "
        r"effect 'eq'; it maps: distortion",
    ):
        rack.render([FX("distortion", mode="Tube", drive=0.5), FX("eq", freq=0.6, q=0.5, gain=0.7)])


def test_effects_inside_the_synth_are_switched_per_render():
    """Serum's case, played on Zyn's automation slots: the enable is set on every render."""
    profile = {
        "name": "slots",
        "synth": {"path": "/usr/lib/vst/ZynAddSubFX.so"},
        "effects": {
            "reverb": {
                "plugin": "synth",
                "enable": {"param": "Slot 1", "on": 1.0, "off": 0.0},
                "knobs": {
                    "mix": {"param": "Slot 2"},
                    "low_cut": {"index": 2, "name": "Slot 3"},
                    "high_cut": {"param": "Slot 4", "map": "lin", "range": [0.2, 0.4]},
                },
                "fixed": [{"param": "Slot 5", "value": 0.25}],
            }
        },
    }
    rack = PluginRack(profile)
    assert not rack.order_follows_chain
    rack.render([FX("reverb", mix=0.6, low_cut=0.1, high_cut=0.5)])
    got = [rack.parameter(f"Slot {i}") for i in range(1, 6)]
    assert got == pytest.approx([1.0, 0.6, 0.1, 0.3, 0.25], abs=1e-6)
    rack.render([])
    assert rack.parameter("Slot 1") == 0.0
    with pytest.raises(RenderError, match="reverb live.*inside the synth.*use render"):
        rack.process(np.zeros(100, np.float32), [FX("reverb", mix=0.5, low_cut=0, high_cut=1)])


# --------------------------------------------------------------------------- Serum


def test_serum_json_is_the_spec_written_out():
    shipped = (PF.PROFILE_DIR / "serum.json").read_text()
    assert json.loads(shipped) == PF.serum_profile()
    assert shipped == PF.serum_profile_json()
    p = load_profile("serum")
    assert set(p.in_synth) == set(spec.EFFECT_NAMES)
    examples = [
        FX("compressor", low=0.1, mid=0.5, high=0.9),
        FX("distortion", mode="Rectify", drive=0.4),
        FX("eq", freq=0.6, q=0.3, gain=0.8),
        FX("phaser", depth=0.2, freq=0.4, feedback=0.6),
        FX("reverb", mix=0.5, low_cut=0.1, high_cut=0.9),
        # the extra knobs are Serum's own parameters too: a search may move every one
        FX("compressor", low=0.1, mid=0.5, high=0.9, extra={"threshold": 0.2, "ratio": 0.9}),
        FX("reverb", mix=0.5, low_cut=0.1, high_cut=0.9, extra={"decay": 0.8}),
    ]
    assert {e: tuple(m.extra) for e, m in p.effects.items()} == {
        e.name: tuple(f.name for f in e.extra) for e in spec.EFFECTS
    }
    for fx in examples:
        m = p.effect(fx.name)
        by_name = {ref.name: v for ref, v in m.settings(fx)}
        assert by_name == pytest.approx(fx.serum_values()), fx.name
        idx = {k.serum_name: k.serum_index for k in fx.effect.knobs}
        assert all(ref.index == idx[ref.name] for ref, _ in m.settings(fx) if ref.name in idx)


def test_serum_needs_a_path(monkeypatch):
    monkeypatch.delenv(PF.SERUM_PATH_ENV, raising=False)
    with pytest.raises(
        PluginLoadError,
        match=r"no path for synth: pass plugin_path=\.\.\. or "
        r"set \$SERUMRNN_SERUM_PATH",
    ):
        PluginRack("serum")
    monkeypatch.setenv(PF.SERUM_PATH_ENV, "/opt/nowhere/Serum.so")
    with pytest.raises(PluginLoadError, match="plugin not found: /opt/nowhere/Serum.so"):
        PluginRack("serum")
    with pytest.raises(PluginLoadError, match="plugin not found: /elsewhere/Serum_x64.so"):
        PluginRack("serum", plugin_path="/elsewhere/Serum_x64.so")


def test_a_search_re_renders_only_from_the_changed_effect(rack, monkeypatch):
    """Kept rack-order prefixes: candidates that share the effects before them reuse them."""
    calls: list[str] = []
    real = PL.PluginStage.run

    def run(self, audio, n):
        calls.append(self.label)
        return real(self, audio, n)

    monkeypatch.setattr(PL.PluginStage, "run", run)
    dist = FX("distortion", mode="Tube", drive=0.61)
    first = rack.render([dist, FX("eq", freq=0.3, q=0.5, gain=0.8)])
    assert calls == ["distortion", "eq"]
    calls.clear()
    other = rack.render([FX("eq", freq=0.8, q=0.5, gain=0.8), dist])
    assert calls == ["eq"] and np.abs(other - first).mean() > 1e-3
    x = rack.dry() * 0.9
    rack.process(x, [dist])
    calls.clear()
    rack.process(x, [dist, FX("reverb", mix=0.4, low_cut=0.2, high_cut=0.7)])
    assert calls == ["reverb"]


def test_idle_work_clears_plugins_and_loads_fresh_reverbs_ahead(rack):
    """``refill`` (the worker's idle work) flushes used plugins and loads spare reverbs; a
    render after it sounds like one on a fresh instance, which was a spare, not a load."""
    verb = [FX("compressor", low=0.6, mid=0.6, high=0.6), FX("reverb", mix=0.6, low_cut=0.1, high_cut=0.9)]
    rack.render(verb[:1])  # the compressor's first render after its load differs (LSP's start-up)
    rack._prefixes.clear()
    first = rack.render(verb)
    stages = rack._fx
    assert stages["reverb"].dirty and stages["compressor"].dirty
    loads = 0
    while rack.refill():
        loads += 1
    assert not stages["reverb"].dirty and not stages["compressor"].dirty
    assert len(stages["reverb"]._spares) == PST.SPARES and stages["distortion"]._spares == []
    assert not rack.refill()
    rack._prefixes.clear()
    again = rack.render(verb)  # on the instance swapped in while idle: no load on the way
    assert np.abs(again - first).max() < 1e-3  # as fresh as a load
    assert stages["reverb"].dirty and len(stages["reverb"]._spares) == PST.SPARES
    used = stages["reverb"].inst.engine
    while rack.refill():
        pass
    assert not stages["reverb"].dirty and stages["reverb"].inst.engine is not used  # a spare took its place
    assert len(stages["reverb"]._spares) == PST.SPARES  # and another was loaded
