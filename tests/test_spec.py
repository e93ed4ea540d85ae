import dataclasses
import json
from pathlib import Path

import pytest
from spec_copies import replace_knob, use_effects

from serumrnn.server import spec
from serumrnn.server.cli import main


def test_five_effects_with_serum_names_and_indices():
    assert spec.EFFECT_NAMES == ("compressor", "distortion", "eq", "phaser", "reverb")
    names = [k.serum_name for e in spec.EFFECTS for k in e.knobs]
    indices = [k.serum_index for e in spec.EFFECTS for k in e.knobs]
    assert len(names) == 14 and len(set(indices)) == 14
    assert spec.effect("distortion").knob("drive").serum_index == 97
    assert spec.effect("reverb").enable.serum_name == "Rev Enable"


def test_table1_ranges_and_grid():
    gain = spec.effect("eq").knob("gain").grid()
    assert min(gain) == 0.0 and max(gain) == 1.0
    assert not any(0.40 < g < 0.60 for g in gain)  # the gap around 0 dB
    assert 0.40 in gain and 0.60 in gain
    drive = spec.effect("distortion").knob("drive").grid()
    assert drive[0] == 0.30 and drive[-1] == 1.0 and len(drive) == 71
    freq = spec.effect("eq").knob("freq").grid()
    assert (freq[0], freq[-1]) == (0.50, 0.95)


def test_twelve_distortion_modes_map_to_distinct_serum_slots():
    mode = spec.effect("distortion").knob("mode")
    assert len(mode.choices) == 12
    values = [mode.to_serum(i) for i in range(12)]
    assert len(set(values)) == 12
    assert values[-1] == pytest.approx(1.0)  # slot 13 of 0..13
    assert mode.text(0) == "Tube"


def test_subsets_are_the_32_combinations():
    subs = spec.subsets()
    assert len(subs) == 32 and len(set(subs)) == 32
    assert subs[0] == () and subs[-1] == spec.EFFECT_NAMES
    assert {spec.subset_id(s) for s in subs} == set(range(32))


def test_display_units():
    eq = spec.effect("eq")
    assert eq.knob("gain").text(0.5) == "0.0 dB"
    assert eq.knob("gain").text(1.0) == "24.0 dB"
    assert eq.knob("freq").text(0.0) == "20 Hz"
    assert eq.knob("freq").text(1.0) == "20.0 kHz"
    d = eq.knob("freq").display
    assert d.normalized(d.value(0.73)) == pytest.approx(0.73)


def test_validate_knobs_errors():
    with pytest.raises(KeyError, match="no knob"):
        spec.validate_knobs("eq", {"freq": 0.5, "q": 0.5, "gain": 0.5, "bogus": 1})
    with pytest.raises(KeyError, match="missing knob 'gain'"):
        spec.validate_knobs("eq", {"freq": 0.5, "q": 0.5})
    with pytest.raises(ValueError, match="outside 0..1"):
        spec.validate_knobs("eq", {"freq": 1.5, "q": 0.5, "gain": 0.5})
    with pytest.raises(KeyError, match="unknown effect"):
        spec.effect("chorus")
    assert spec.validate_knobs("distortion", {"mode": "Rectify", "drive": 0.5})["mode"] == 11.0


def test_exported_json_is_in_sync_with_spec():
    assert spec.EXPORT_PATH.read_text() == spec.export_json(), "run `serumrnn spec export`"
    data = json.loads(spec.EXPORT_PATH.read_text())
    assert data["spec_version"] == spec.SPEC_VERSION
    assert [e["name"] for e in data["effects"]] == list(spec.EFFECT_NAMES)


def test_spec_check_command_fails_when_out_of_sync(tmp_path, capsys):
    out = tmp_path / "spec.json"
    assert main(["spec", "export", "--out", str(out)]) == 0
    assert main(["spec", "export", "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("Dist_Drv", "Dist_Drive"))
    assert main(["spec", "export", "--out", str(out), "--check"]) == 1
    assert "out of sync" in capsys.readouterr().err


# -- the spec's fingerprint: what data and models are checked against -------------------

MODELS = Path(__file__).resolve().parent.parent / "models"
#: The preset groups' shipped models (models/naming_head is a head beside them, not a group).
SHIPPED = sorted(
    p.name for p in MODELS.iterdir() if (p / "manifest.json").is_file() and p.name != "naming_head"
)


def test_the_fingerprint_follows_what_changes_a_model_not_its_wording(monkeypatch):
    fp = spec.fingerprint()
    assert len(fp) == 64 and int(fp, 16) and spec.fingerprint() == fp
    with monkeypatch.context() as m:
        use_effects(m, replace_knob("eq", "gain", label="Top gain"))
        assert spec.effect("eq").knob("gain").label == "Top gain"
        assert spec.fingerprint() == fp  # a label is wording: same models, same data
    changes = [
        ("a knob range", replace_knob("eq", "gain", ranges=((0.0, 0.45), (0.55, 1.0))), None),
        ("a Serum index", replace_knob("phaser", "depth", serum_index=199), None),
        ("a display curve", replace_knob("reverb", "low_cut", display=spec.PERCENT), None),
        ("the rack order", spec.EFFECTS, tuple(reversed(spec.SERUM_RACK_ORDER))),
    ]
    seen = {fp}
    for what, effects, rack in changes:
        with monkeypatch.context() as m:
            use_effects(m, effects, rack)
            assert spec.fingerprint() not in seen, what
            seen.add(spec.fingerprint())
    assert spec.fingerprint() == fp  # the copies are gone


def test_labels_without_a_fingerprint_stand_for_the_content_they_had():
    assert spec.KNOWN_SPEC_FINGERPRINTS[spec.SPEC_VERSION] == spec.fingerprint()
    assert spec.recorded_fingerprint({"spec_version": "2.0"}) == spec.fingerprint()
    assert spec.recorded_fingerprint({"spec_version": "0.1"}) is None
    assert spec.recorded_fingerprint({"spec_version": "2.0", "spec_fingerprint": "ab"}) == "ab"
    assert "label this code does not know" in spec.fingerprint_problem({"spec_version": "0.1"})


@pytest.mark.parametrize("group", SHIPPED)
def test_the_shipped_models_were_made_with_this_spec(group):
    """Spec 2.0 (basic) and spec 1.0 (advanced, modulating, same knobs and outputs) load
    without a recorded fingerprint: their labels stand for today's content."""
    from serumrnn.server.models import ALL_MODELS, read_manifest

    m = read_manifest(MODELS / group)
    assert spec.fingerprint_problem(m) is None
    assert set(m["files"]) == set(ALL_MODELS)


def test_the_shipped_naming_head_was_made_with_this_spec():
    import json

    m = json.loads((MODELS / "naming_head" / "manifest.json").read_text())
    assert spec.fingerprint_problem(m) is None


def test_models_of_another_spec_content_are_refused_naming_both(tmp_path, monkeypatch):
    from serumrnn.server.models import ModelError, read_manifest

    assert SHIPPED, "no shipped models to copy"
    shipped = json.loads((MODELS / SHIPPED[0] / "manifest.json").read_text())
    folder = tmp_path / SHIPPED[0]
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(shipped))
    assert read_manifest(folder)["files"] == shipped["files"]
    old = spec.fingerprint()
    with monkeypatch.context() as m:
        use_effects(m, replace_knob("distortion", "drive", ranges=((0.2, 1.0),)))
        new = spec.fingerprint()
        with pytest.raises(ModelError, match=f"made for spec .* {old[:12]}.* {new[:12]}") as e:
            read_manifest(folder)
        assert e.value.code == "incompatible"
        # a manifest that records the new content's fingerprint is this spec's, whatever its label
        (folder / "manifest.json").write_text(json.dumps({**shipped, "spec_fingerprint": new}))
        assert read_manifest(folder)
    with pytest.raises(ModelError, match=f"{new[:12]}.* {old[:12]}"):
        read_manifest(folder)  # ... and is refused by today's


def test_export_lists_no_models_of_another_spec_beside_new_ones(tmp_path):
    """A partial retrain merges into the group's manifest only when the manifest is of this
    spec's content; otherwise the old entries would pass for this spec's models."""
    from serumrnn.training import recipes
    from serumrnn.training.export import export_group

    folder = tmp_path / "basic_shapes"
    folder.mkdir()
    entry = {"file": "param_eq.keras", "sha256": "0" * 64, "bytes": 1}
    for recorded, kept in (
        ({"spec_version": "2.0"}, True),
        ({"spec_version": "2.0", "spec_fingerprint": "0" * 64}, False),
    ):
        (folder / "manifest.json").write_text(json.dumps({**recorded, "files": {"param_eq": entry}}))
        path = export_group("basic", recipes.get("tiny"), {}, tmp_path)
        m = json.loads(path.read_text())
        assert m["spec_fingerprint"] == spec.fingerprint()
        assert m["files"] == ({"param_eq": entry} if kept else {})


def test_a_categorical_knob_carries_its_own_serum_values():
    """Serum's distortion menu skips slots; any categorical knob says its own values, so a
    new categorical knob needs no code beside the spec."""
    from dataclasses import replace

    mode = spec.effect("distortion").knobs[0]
    assert [mode.to_serum(i) for i in range(len(mode.choices))] == list(mode.serum_values)
    menu = replace(mode, name="shape", choices=("a", "b", "c"), serum_values=(0.0, 0.25, 1.0))
    assert menu.to_serum(1) == 0.25
    with pytest.raises(ValueError, match="3 choices but 2 Serum values"):
        replace(mode, choices=("a", "b", "c"), serum_values=(0.0, 1.0))


# -- relations between knobs -----------------------------------------


def _names(eff: spec.Effect) -> set[str]:
    return {k.name for k in eff.knobs} | {f.name for f in eff.fixed}


def test_relations_name_real_settings_and_table1_can_keep_them():
    declared = [(e, r) for e in spec.EFFECTS for r in e.relations]
    assert {e.name for e, _ in declared} >= {"reverb", "eq"}
    for e, r in declared:
        assert {r.low, r.high} <= _names(e), (e.name, r)
        assert r.ratio >= 1.0 and r.why
    # The eq's high band is always above its fixed low band within Table 1's range.
    eq = spec.effect("eq")
    for f in eq.knob("freq").grid():
        assert spec.relation_problems("eq", {"freq": f, "q": 0.5, "gain": 0.8}) == []


def test_the_issues_crossing_reverb_is_found_and_repaired():
    rev = spec.effect("reverb")
    lo = rev.knob("low_cut").display.normalized(2000.0)
    hi = rev.knob("high_cut").display.normalized(998.0)
    bad = {"mix": 0.4, "low_cut": lo, "high_cut": hi}
    problems = spec.relation_problems("reverb", bad)
    assert problems == ["Low cut 2.0 kHz is not an octave below High cut 998 Hz"]
    fixed = spec.repair_knobs("reverb", bad)
    assert spec.relation_problems("reverb", fixed) == []
    assert fixed["mix"] == 0.4
    low_hz = rev.knob("low_cut").display.value(fixed["low_cut"])
    high_hz = rev.knob("high_cut").display.value(fixed["high_cut"])
    assert high_hz == pytest.approx(2 * low_hz, rel=1e-6)  # moved just far enough
    assert 998.0 < high_hz and low_hz < 2000.0  # both moved, towards each other's side


def test_repair_keeps_sensible_settings_and_fixes_every_crossing():
    import numpy as np

    rng = np.random.default_rng(0)
    sane = {"mix": 0.5, "low_cut": 0.2, "high_cut": 0.9}
    assert spec.repair_knobs("reverb", sane) == sane
    crossed = 0
    for _ in range(300):
        k = {"mix": 0.5, "low_cut": float(rng.uniform()), "high_cut": float(rng.uniform())}
        crossed += bool(spec.relation_problems("reverb", k))
        r = spec.repair_knobs("reverb", k)
        assert spec.relation_problems("reverb", r) == []
        for name in ("low_cut", "high_cut"):
            lo, hi = spec.effect("reverb").knob(name).span
            assert lo <= r[name] <= hi
    assert crossed > 20  # the draw did test crossings


def test_repair_never_moves_a_fixed_side(monkeypatch):
    # A copy of the spec where the eq's high band could go below its fixed low band.
    effects = replace_knob("eq", "freq", ranges=((0.0, 0.95),))
    use_effects(monkeypatch, effects)
    k = {"freq": 0.1, "q": 0.5, "gain": 0.8}
    assert spec.relation_problems("eq", k)
    r = spec.repair_knobs("eq", k)
    assert spec.relation_problems("eq", r) == []
    low = spec.effect("eq").fixed[1]
    assert low.name == "freq_low" and r["freq"] == pytest.approx(low.value)  # the same 200 Hz scale


def test_an_extra_knob_a_setting_moved_keeps_the_relation_and_moves_with_the_repair():
    """The EQ's low band is a fixed knob a search may move (an extra knob): once a setting
    moves it, the relation reads the moved value (not the spec's 200 Hz), a crossing is
    named in words, and the repair moves both bands apart, each within its own range."""
    high = {"freq": 0.55, "q": 0.5, "gain": 0.8}  # about 900 Hz
    assert spec.relation_problems("eq", high) == []  # the low band at its fixed 200 Hz
    crossed = {"freq_low": 0.7, "gain_low": 0.9}  # about 2.5 kHz: above the high band
    problems = spec.relation_problems("eq", high, crossed)
    assert len(problems) == 1 and problems[0].startswith("Low band frequency 2")
    knobs, extra = spec.repair_setting("eq", high, crossed)
    assert spec.relation_problems("eq", knobs, extra) == []
    assert knobs["freq"] > high["freq"] and extra["freq_low"] < crossed["freq_low"]  # both moved
    assert extra["gain_low"] == crossed["gain_low"] and knobs["q"] == high["q"]  # nothing else
    assert spec.repair_setting("eq", high, {"freq_low": 0.2}) == (high, {"freq_low": 0.2})  # sane: as is
    assert spec.repair_knobs("eq", high) == high


def test_relations_are_exported_but_change_no_fingerprint():
    doc = spec.to_json()
    rev = next(e for e in doc["effects"] if e["name"] == "reverb")
    assert rev["relations"] == [
        {"low": "low_cut", "high": "high_cut", "ratio": 2.0, "why": rev["relations"][0]["why"]}
    ]
    assert spec.fingerprint() == spec.KNOWN_SPEC_FINGERPRINTS[spec.SPEC_VERSION]
    assert "relations" not in json.dumps(spec.meaning())


def test_extra_knobs_are_fixed_knobs_a_search_may_move_and_change_no_fingerprint(monkeypatch):
    comp = spec.effect("compressor")
    assert [f.name for f in comp.extra] == ["multiband", "threshold", "ratio", "attack", "release", "gain"]
    assert all(f in comp.fixed for f in comp.extra)
    assert [f.name for f in spec.effect("distortion").extra] == [
        "wet",
        "filter_mode",
        "filter_freq",
        "filter_bw",
        "prepost",
    ]
    assert [f.name for f in spec.effect("phaser").extra] == ["wet", "rate"]
    # Serum's second EQ band, which a relation keeps below the high band (see the relation test)
    assert [f.name for f in spec.effect("eq").extra] == ["freq_low", "q_low", "gain_low"]
    assert spec.validate_extra("compressor", {"ratio": 0.25}) == {"ratio": 0.25}
    with pytest.raises(KeyError, match="no extra knob.*'wet'.*extra knobs: multiband, threshold"):
        spec.validate_extra("compressor", {"wet": 0.5})  # fixed, but not extra
    assert spec.extra_text("compressor", {"multiband": 0.0, "ratio": 0.25}) == [
        "Multiband Off",
        "Ratio 2.1:1",
    ]
    with pytest.raises(ValueError, match="compressor.threshold: 1.5 is outside 0..1"):
        spec.validate_extra("compressor", {"threshold": 1.5})
    before = spec.fingerprint()
    table = tuple(
        dataclasses.replace(e, fixed=tuple(dataclasses.replace(f, extra=not f.extra) for f in e.fixed))
        for e in spec.EFFECTS
    )
    use_effects(monkeypatch, table)
    assert [f.name for f in spec.effect("eq").extra] == [
        "type_high",
        "type_low",
    ] and spec.fingerprint() == before  # what a search may move is not what a model means


def test_a_knob_that_imitates_another_effect_is_an_extra_knob_naming_another_effect():
    """``Fixed.imitates`` says whose job a knob can do (the search leaves it to a refused
    favourite): it names a real effect other than its own, on a knob a search may move."""
    marked = [(e.name, f) for e in spec.EFFECTS for f in e.fixed if f.imitates]
    assert [(e, f.name, f.imitates) for e, f in marked] == [
        ("distortion", "filter_mode", "eq"),
        ("distortion", "filter_freq", "eq"),
        ("distortion", "filter_bw", "eq"),
        ("distortion", "prepost", "eq"),
    ]
    for name, f in marked:
        assert f.extra and f.imitates in spec.EFFECT_NAMES and f.imitates != name


def test_an_effects_extra_values_travel_with_it_and_reach_serum():
    from serumrnn.server.rack.chain import FX, Chain
    from serumrnn.server.steps import describe

    plain = FX("compressor", low=0.5, mid=0.2, high=0.1)
    fx = FX("compressor", low=0.5, mid=0.2, high=0.1, extra={"threshold": 0.25})
    assert fx != plain and fx.key() != plain.key()
    assert plain.key() == ("compressor", (("high", 0.1), ("low", 0.5), ("mid", 0.2)))  # unchanged
    assert fx.serum_values()["Cmp_Thr"] == 0.25 and plain.serum_values()["Cmp_Thr"] == 0.5
    assert fx.describe().endswith("Threshold -36.0 dB") and "Threshold" not in plain.describe()
    assert fx.with_knobs({"low": 0.9}).extra == {"threshold": 0.25}
    assert Chain.from_json(Chain([fx]).to_json())[0] == fx
    assert "extra" not in plain.to_json()
    fixed = {k.name: (k.value, k.text) for k in describe(fx)[2]}
    assert fixed["threshold"] == (0.25, "-36.0 dB") and fixed["ratio"][0] == 0.75


# -- gates: knobs a switch leaves doing nothing ----------------------------------------


def test_gates_name_a_switch_position_and_knobs_of_their_own_effect():
    declared = [(e, g) for e in spec.EFFECTS for g in e.gates]
    assert [(e.name, g.switch, g.off, g.knobs) for e, g in declared] == [
        ("compressor", "multiband", 0.0, ("low", "mid", "high")),
        ("distortion", "prepost", 0.0, ("filter_mode", "filter_freq", "filter_bw")),
    ]
    for e, g in declared:
        switch = e.fixed_knob(g.switch)
        assert g.off in dict(switch.words), (e.name, g)
        names = {k.name for k in e.knobs} | {f.name for f in e.fixed}
        assert set(g.knobs) <= names and g.switch not in g.knobs
        assert 0.0 <= g.rest <= 1.0


def test_a_setting_settles_the_knobs_its_switch_leaves_idle():
    from serumrnn.server.rack.chain import FX

    filt = {"filter_mode": 1.0, "filter_freq": 0.1, "filter_bw": 0.03}
    off = FX("distortion", mode="Tube", drive=0.5, extra={**filt, "prepost": 0.0, "wet": 0.8})
    assert off.extra == {"prepost": 0.0, "wet": 0.8}
    assert off.idle == {"filter_mode", "filter_freq", "filter_bw"}
    # Settings that differ only in idle knobs are one setting (one cache entry, no move).
    other = FX("distortion", mode="Tube", drive=0.5, extra={"filter_freq": 0.9, "prepost": 0.0, "wet": 0.8})
    assert other.key() == off.key()
    # The filter is off by the spec's own value too (no switch in ``extra``).
    assert FX("distortion", mode="Tube", drive=0.5, extra=filt).extra == {}
    pre = FX("distortion", mode="Tube", drive=0.5, extra={**filt, "prepost": 0.5})
    assert pre.extra == {**filt, "prepost": 0.5} and pre.idle == frozenset()
    assert "Filter frequency" in pre.describe()
    described = off.describe()
    assert "Filter frequency" not in described and "Filter (Off/Pre/Post) Off" in described

    plain = FX("compressor", low=0.9, mid=0.2, high=0.6, extra={"multiband": 0.0, "threshold": 0.3})
    assert plain.knobs == {"low": 0.0, "mid": 0.0, "high": 0.0}
    assert plain.describe() == "Multiband Compressor: Multiband Off, Threshold -33.6 dB"
    bands = FX("compressor", low=0.9, mid=0.2, high=0.6, extra={"multiband": 1.0})
    assert bands.knobs == {"low": 0.9, "mid": 0.2, "high": 0.6} and bands.idle == frozenset()
    assert spec.gated_off("compressor", {"multiband": 0.2}) == {"low", "mid", "high"}
    assert spec.gated_off("compressor", {}) == frozenset()  # the spec's MULTIBAND is on
