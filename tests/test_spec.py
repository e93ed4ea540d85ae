import json

import pytest

from serumrnn.server import spec
from serumrnn.server.cli import SPEC_JSON, main


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
    assert SPEC_JSON.read_text() == spec.export_json(), "run `serumrnn spec export`"
    data = json.loads(SPEC_JSON.read_text())
    assert data["spec_version"] == spec.SPEC_VERSION
    assert [e["name"] for e in data["effects"]] == list(spec.EFFECT_NAMES)


def test_spec_check_command_fails_when_out_of_sync(tmp_path, capsys):
    out = tmp_path / "spec.json"
    assert main(["spec", "export", "--out", str(out)]) == 0
    assert main(["spec", "export", "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("Dist_Drv", "Dist_Drive"))
    assert main(["spec", "export", "--out", str(out), "--check"]) == 1
    assert "out of sync" in capsys.readouterr().err
