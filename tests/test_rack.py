"""The open rack: presets render, and each effect audibly changes the sound along its knobs."""

import numpy as np
import pytest
from conftest import band_energy, band_gain_db, crest
from hostile_wav import saw

from serumrnn.server import spec
from serumrnn.server.rack import FX, Chain, OpenRack, RenderSettings
from serumrnn.server.rack import presets as P

SR = 44100


def test_twelve_presets_in_three_groups(rack):
    assert sum(len(v) for v in P.GROUPS.values()) == 12
    assert set(P.GROUPS) == {"basic_shapes", "advanced_shapes", "advanced_modulating_shapes"}
    clips = {name: rack.dry(name) for name in P.PRESETS}
    for name, a in clips.items():
        assert a.shape == (SR,) and a.dtype == np.float32
        assert np.isfinite(a).all() and np.max(np.abs(a)) == pytest.approx(0.5, abs=1e-3), name
    names = list(clips)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            assert np.abs(clips[names[i]] - clips[names[j]]).mean() > 1e-3, (names[i], names[j])


def test_unknown_group_and_preset_errors(rack):
    with pytest.raises(KeyError, match="unknown preset group 'pads'.*basic_shapes"):
        P.resolve_group("pads")
    with pytest.raises(KeyError, match="unknown preset 'nope'"):
        rack.render([], "nope")
    assert P.resolve_group("modulating") == "advanced_modulating_shapes"


def test_modulating_presets_change_over_time(rack):
    for name in P.GROUPS["advanced_modulating_shapes"]:
        a = rack.dry(name)
        frames = a[: SR // 2048 * 2048].reshape(-1, 2048)
        spectra = np.abs(np.fft.rfft(frames * np.hanning(2048), axis=1))
        spectra /= spectra.sum(axis=1, keepdims=True) + 1e-12
        assert np.abs(np.diff(spectra, axis=0)).sum(axis=1).mean() > 0.05, name


def _harmonic_ratio(audio, f0):
    """Energy above 1.5 x f0 over energy around f0: grows as a shaper adds harmonics."""
    return band_energy(audio, SR, 1.5 * f0, 20000) / band_energy(audio, SR, 0.5 * f0, 1.5 * f0)


def test_drive_adds_harmonics(rack):
    f0 = 440 * 2 ** ((48 - 69) / 12)
    dry = _harmonic_ratio(rack.dry("sine"), f0)
    lo = _harmonic_ratio(rack.render([FX("distortion", mode="Tube", drive=0.3)], "sine"), f0)
    hi = _harmonic_ratio(rack.render([FX("distortion", mode="Tube", drive=1.0)], "sine"), f0)
    assert dry < 1e-3
    assert lo > 10 * dry and hi > 2 * lo


def test_twelve_distortion_modes_give_twelve_distinct_outputs(rack):
    outs = [rack.render([FX("distortion", mode=i, drive=0.7)], "saw") for i in range(12)]
    for i in range(12):
        for j in range(i + 1, 12):
            d = np.sqrt(np.mean((outs[i] - outs[j]) ** 2))
            assert d > 0.01, (spec.DISTORTION_MODES[i], spec.DISTORTION_MODES[j], d)


def test_eq_gain_moves_high_band_energy_in_the_right_direction(rack):
    def high(gain):
        a = rack.render([FX("eq", freq=0.85, q=0.5, gain=gain)], "saw")
        return band_energy(a, SR, 5000, 10000)

    dry = band_energy(rack.dry("saw"), SR, 5000, 10000)
    cut, flat, boost = high(0.0), high(0.5), high(1.0)
    assert cut < 0.25 * dry and boost > 4 * dry
    assert flat == pytest.approx(dry, rel=0.05)
    low_dry = band_energy(rack.dry("saw"), SR, 50, 500)
    low_boost = band_energy(rack.render([FX("eq", freq=0.85, q=0.5, gain=1.0)], "saw"), SR, 50, 500)
    assert low_boost == pytest.approx(low_dry, rel=0.1)  # the high band leaves the lows alone


def test_reverb_mix_lengthens_the_tail():
    short = OpenRack(RenderSettings(note_s=0.5, render_s=1.0))

    def tail(mix):
        chain = [] if mix is None else [FX("reverb", mix=mix, low_cut=0.0, high_cut=1.0)]
        a = short.render(chain, "saw")
        return float(np.sum(a[int(0.65 * SR) :] ** 2))

    dry, lo, hi = tail(None), tail(0.3), tail(0.7)
    assert dry < 1e-6 and lo > 1e-3 and hi > 2 * lo


def test_reverb_cuts_shape_the_wet_spectrum():
    short = OpenRack(RenderSettings(note_s=0.3, render_s=1.0))

    def tail_hf(high_cut):
        a = short.render([FX("reverb", mix=0.7, low_cut=0.0, high_cut=high_cut)], "saw")
        return band_energy(a[int(0.5 * SR) :], SR, 4000, 16000)

    assert tail_hf(0.2) < 0.1 * tail_hf(1.0)


def test_compressor_reduces_crest_factor(rack):
    for preset in ("bells", "laser_pluck", "dirty_stab", "wobble_bass"):
        dry = crest(rack.dry(preset))
        half = crest(rack.render([FX("compressor", low=0.5, mid=0.5, high=0.5)], preset))
        full = crest(rack.render([FX("compressor", low=1.0, mid=1.0, high=1.0)], preset))
        assert full < half < dry, (preset, dry, half, full)
        assert full < 0.8 * dry


def test_compressor_bands_act_on_their_own_range(rack):
    dry = rack.dry("saw_stack")
    low_only = rack.render([FX("compressor", low=1.0, mid=0.0, high=0.0)], "saw_stack")
    high_only = rack.render([FX("compressor", low=0.0, mid=0.0, high=1.0)], "saw_stack")

    def ratio(a):
        return band_energy(a, SR, 4000, 16000) / band_energy(a, SR, 20, 100)

    assert ratio(low_only) != pytest.approx(ratio(dry), rel=0.05)
    assert ratio(high_only) != pytest.approx(ratio(low_only), rel=0.05)


def test_phaser_settings_change_the_spectrum(rack):
    def spectrum(**kw):
        a = rack.render([FX("phaser", **kw)], "saw")
        s = np.abs(np.fft.rfft(a * np.hanning(len(a))))
        return np.log(s[:5000] + 1e-6)

    dry = np.log(np.abs(np.fft.rfft(rack.dry("saw") * np.hanning(SR)))[:5000] + 1e-6)
    base = spectrum(depth=0.5, freq=0.3, feedback=0.5)
    assert np.mean(np.abs(base - dry)) > 0.1
    for other in (
        dict(depth=0.5, freq=0.8, feedback=0.5),
        dict(depth=0.5, freq=0.3, feedback=1.0),
        dict(depth=1.0, freq=0.3, feedback=0.5),
    ):
        assert np.mean(np.abs(spectrum(**other) - base)) > 0.05, other


def test_phaser_mix_blends_the_dry_sound_back(rack):
    """Serum's phaser Mix (an extra knob): 0 is the dry sound, and half way the notches are
    shallower than at full, as in a phaser that mixes half dry (ZynPhaser, SoX's)."""
    knobs = dict(depth=0.6, freq=0.4, feedback=0.5)
    dry = rack.dry("saw")
    full = rack.render([FX("phaser", **knobs)], "saw")
    half = rack.render([FX("phaser", **knobs, extra={"wet": 0.5})], "saw")
    none = rack.render([FX("phaser", **knobs, extra={"wet": 0.0})], "saw")
    assert np.max(np.abs(none - dry)) < 1e-4
    assert np.max(np.abs(full - dry)) > 0.05
    assert 0.05 * np.mean((full - dry) ** 2) < np.mean((half - dry) ** 2) < 0.9 * np.mean((full - dry) ** 2)


def test_two_orderings_of_the_same_effects_render_identically(rack):
    """The open rack processes in rack order whatever order the effects were switched on."""
    d = FX("distortion", mode="HardClip", drive=0.8)
    e = FX("eq", freq=0.8, q=0.6, gain=0.0)
    v = FX("reverb", mix=0.6, low_cut=0.2, high_cut=0.7)
    a = rack.render([v, e, d], "saw")
    np.testing.assert_array_equal(a, rack.render([d, v, e], "saw"))
    np.testing.assert_array_equal(a, rack.process(rack.dry("saw"), [e, d, v]))
    assert Chain([v, e, d]).same_effects(Chain([d, v, e]))


def test_rack_order_is_a_render_setting(rack):
    """Serum's order by default (distortion before reverb); another order sounds different,
    and it is the order, not the list, that decides."""
    assert rack.settings.rack_order == spec.SERUM_RACK_ORDER
    assert spec.SERUM_RACK_ORDER == ("distortion", "phaser", "compressor", "reverb", "eq")
    d = FX("distortion", mode="HardClip", drive=0.9)
    v = FX("reverb", mix=0.7, low_cut=0.1, high_cut=0.9)
    serum = rack.render([v, d], "saw")
    by_hand = rack.process(rack.process(rack.dry("saw"), [d]), [v])  # distortion, then reverb
    np.testing.assert_allclose(serum, by_hand, atol=1e-6)
    flipped = OpenRack(RenderSettings(rack_order=("reverb", "phaser", "compressor", "distortion", "eq")))
    other = flipped.render([d, v], "saw")
    assert np.sqrt(np.mean((serum - other) ** 2)) > 0.01
    with pytest.raises(ValueError, match="exactly once"):
        RenderSettings(rack_order=("eq", "eq", "reverb", "phaser", "distortion"))
    assert spec.rack_order("eq, reverb,compressor,phaser,distortion")[0] == "eq"


def test_renders_are_deterministic_and_stateless(rack):
    chain = Chain(
        [FX("reverb", mix=0.7, low_cut=0.1, high_cut=0.9), FX("phaser", depth=0.7, freq=0.4, feedback=0.6)]
    )
    a = rack.render(chain, "bells")
    rack.render([FX("distortion", mode=3, drive=1.0)], "saw")  # something loud in between
    b = rack.render(chain, "bells")
    np.testing.assert_array_equal(a, b)
    c = OpenRack().render(chain, "bells")
    np.testing.assert_allclose(a, c, atol=1e-6)


def test_note_is_a_setting(rack):
    a = rack.dry("sine", note=48)
    b = rack.dry("sine", note=60)
    f = np.fft.rfftfreq(SR, 1 / SR)

    def peak(x):
        return f[np.argmax(np.abs(np.fft.rfft(x)))]

    assert peak(a) == pytest.approx(130.8, abs=1.5)
    assert peak(b) == pytest.approx(261.6, abs=1.5)
    with pytest.raises(ValueError, match="outside 0..127"):
        rack.dry("sine", note=200)


def test_chain_api_errors():
    with pytest.raises(KeyError, match="unknown effect 'chorus'"):
        FX("chorus")
    with pytest.raises(ValueError, match="appears twice"):
        Chain([FX("eq", freq=0.5, q=0.5, gain=0.5), FX("eq", freq=0.6, q=0.5, gain=0.5)])
    fx = FX("distortion", mode="Tube", drive=0.72)
    assert fx.describe() == "Distortion: Mode Tube, Drive 72 %"
    sv = fx.serum_values()
    assert sv["Dist Enable"] == 1.0 and sv["Dist_Drv"] == 0.72 and sv["Dist_Mode"] == 0.0
    assert Chain.from_json(Chain([fx]).to_json()) == Chain([fx])


def test_distortion_stays_finite_on_very_loud_input(rack):
    loud = (np.sin(np.arange(SR) * 2 * np.pi * 130 / SR) * 200).astype(np.float32)
    for mode in range(12):
        out = rack.process(loud, [FX("distortion", mode=mode, drive=1.0)])
        assert np.isfinite(out).all(), spec.DISTORTION_MODES[mode]


def test_no_distortion_mode_spikes_on_a_saw(rack):
    """Every shaper is bounded (by about 1) before the DC blocker, so a saw comes out within
    twice that whatever the drive. aanl.lib's cubic1 broke this for SoftClip: its
    antiderivative jumps at +-1, and each crossing became a spike (a peak of 31 on this saw
    at the lowest drive), which peak normalization then turned into a quiet sound."""
    for mode in spec.DISTORTION_MODES:
        for drive in (0.3, 0.6, 1.0):
            out = rack.process(saw(), [FX("distortion", mode=mode, drive=drive)])
            assert np.abs(out).max() <= 2.0, (mode, drive, float(np.abs(out).max()))


def _without_gates(monkeypatch) -> None:
    """The spec with no ``Gate``: an FX keeps the knobs a switch leaves idle as given, so a
    render shows whether they really do nothing (what each gate claims)."""
    import dataclasses

    from spec_copies import use_effects

    use_effects(monkeypatch, [dataclasses.replace(e, gates=()) for e in spec.EFFECTS])


def test_compressor_with_multiband_off_is_a_plain_downward_compressor(rack, monkeypatch):
    """Serum's MULTIBAND off: one band, downward only, so a threshold above the sound leaves
    it alone (the multiband mode lifts what is below its threshold), the band knobs do
    nothing (the spec's gate says so, rendered here without it), and a low threshold takes
    gain off."""
    _without_gates(monkeypatch)
    dry = rack.dry("laser_pluck")
    off = {"multiband": 0.0, "threshold": 1.0}  # 0 dB: above every sample
    a = rack.render([FX("compressor", low=0.9, mid=0.2, high=0.6, extra=off)], "laser_pluck")
    b = rack.render([FX("compressor", low=0.1, mid=0.8, high=0.3, extra=off)], "laser_pluck")
    np.testing.assert_allclose(a, dry, atol=1e-6)
    np.testing.assert_array_equal(a, b)
    on = rack.render([FX("compressor", low=0.9, mid=0.2, high=0.6, extra={"threshold": 1.0})], "laser_pluck")
    assert np.max(np.abs(on - dry)) > 0.05
    low = rack.render(
        [FX("compressor", low=0.5, mid=0.5, high=0.5, extra={**off, "threshold": 0.3})], "laser_pluck"
    )
    assert np.all(np.abs(low) <= np.abs(dry) + 1e-7)  # downward only: no sample is lifted
    assert np.sqrt(np.mean(low**2)) < 0.8 * np.sqrt(np.mean(dry**2))


def test_distortion_filter_is_off_by_default_and_shapes_the_drive_when_switched_on(rack, monkeypatch):
    """Serum's distortion filter: off (the paper's setting) its knobs change nothing (the
    spec's gate says so, rendered here without it); a low-pass after the drive takes the
    highs off, and before it the drive makes new ones."""
    _without_gates(monkeypatch)
    drive = {"mode": "Tube", "drive": 0.7}
    plain = rack.render([FX("distortion", drive)], "saw")
    off = rack.render([FX("distortion", drive, extra={"filter_freq": 0.1, "filter_mode": 1.0})], "saw")
    np.testing.assert_array_equal(plain, off)
    lp = {"filter_mode": 0.0, "filter_freq": 0.4}  # low-pass near 330 Hz
    post = rack.render([FX("distortion", drive, extra={**lp, "prepost": 1.0})], "saw")
    pre = rack.render([FX("distortion", drive, extra={**lp, "prepost": 0.5})], "saw")

    def highs(a):
        return band_energy(a, SR, 3000, 12000) / band_energy(a, SR, 50, 12000)

    assert highs(post) < 0.1 * highs(plain)
    assert highs(pre) > 3 * highs(post)  # the drive after the filter adds harmonics again


def test_extra_knobs_render_and_never_leak_into_the_next_render(rack):
    """A step's extra values (a compressor's threshold, a reverb's decay) change the sound,
    and a render without them is back at the spec's fixed values, cache or not."""
    from serumrnn.server.rack.render import extra_knobs

    assert extra_knobs(rack, "compressor") == tuple(f.name for f in spec.effect("compressor").extra)
    assert extra_knobs(object(), "compressor") == ()  # a renderer that says nothing sets none
    plain = FX("compressor", low=0.6, mid=0.6, high=0.6)
    deep = FX("compressor", low=0.6, mid=0.6, high=0.6, extra={"threshold": 0.1, "ratio": 0.9})
    a = rack.render([plain], "saw")
    b = rack.render([deep], "saw")
    rack.clear_caches(dry=False)
    np.testing.assert_array_equal(rack.render([plain], "saw"), a)
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    assert rms(b) < 0.7 * rms(a)  # a lower threshold and a higher ratio take more gain off
    long = rack.render(
        [FX("reverb", mix=0.6, low_cut=0.1, high_cut=0.9, extra={"decay": 0.9})], "laser_pluck"
    )
    short = rack.render([FX("reverb", mix=0.6, low_cut=0.1, high_cut=0.9)], "laser_pluck")
    tail = slice(int(0.8 * SR), None)
    assert np.sqrt(np.mean(long[tail] ** 2)) > 1.25 * np.sqrt(np.mean(short[tail] ** 2))


def test_the_eqs_low_band_is_an_extra_knob_the_open_rack_renders(rack):
    """Serum's EQ low band (an extra knob): at the spec's values it changes nothing; an extra
    gain boosts around its frequency and leaves the highs alone."""
    from serumrnn.server.rack.render import extra_knobs

    assert extra_knobs(rack, "eq") == ("freq_low", "q_low", "gain_low")
    flat = rack.render([FX("eq", freq=0.8, q=0.5, gain=0.5)], "saw")
    np.testing.assert_allclose(flat, rack.render([], "saw"), atol=1e-4)
    boost = rack.render([FX("eq", freq=0.8, q=0.5, gain=0.5, extra={"gain_low": 1.0, "q_low": 0.2})], "saw")
    assert band_gain_db(boost, flat, SR, 150, 270) > 10 and abs(band_gain_db(boost, flat, SR, 2000, 8000)) < 3
