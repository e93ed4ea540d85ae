"""``serumrnn match --profile P``: every candidate rendered and judged on the profile's
plugins (in their worker process), and a report that says which renderer judged the steps;
without a profile the report says its steps were verified on the open rack only."""

from __future__ import annotations

import json

import pytest
from stub_models import StubModels

from serumrnn.server.audio_io import write_wav
from serumrnn.server.match import OPEN_RACK_ONLY, match, plugins_note
from serumrnn.server.rack import FX, Chain, load_profile
from serumrnn.server.rack.plugin_host import PluginHost

CHAIN = Chain([FX("distortion", mode="Tube", drive=0.7), FX("eq", freq=0.6, q=0.5, gain=0.8)])


def stub() -> StubModels:
    """Models that answer the chain's own knobs, ranked behind a reverb the target lacks."""
    return StubModels(
        ["reverb", "distortion", "eq", "phaser", "compressor"],
        {fx.name: dict(fx.knobs) for fx in CHAIN} | {"reverb": {"mix": 0.9, "low_cut": 0.1, "high_cut": 0.9}},
    )


@pytest.fixture(scope="module")
def clips(rack, tmp_path_factory):
    rack.dry("saw")  # the open rack is built before anything else in this process
    d = tmp_path_factory.mktemp("plugin_clips")
    host = PluginHost("debian_test")
    try:
        write_wav(d / "input.wav", host.dry())
        write_wav(d / "target.wav", host.render(CHAIN))
    finally:
        host.close()
    return d


def test_match_with_a_profile_judges_on_the_plugins(clips, tmp_path):
    out = tmp_path / "report"
    result, page = match(
        str(clips / "input.wav"),
        clips / "target.wav",
        "basic",
        out,
        models=stub(),
        k=2,
        profile="debian_test",
    )
    doc = json.loads((out / "steps.json").read_text())
    p = load_profile("debian_test")
    assert doc["meta"]["renderer"] == "plugins: debian_test"
    assert plugins_note(p.name, p.source) in doc["notes"] and OPEN_RACK_ONLY not in doc["notes"]
    assert [s["effect"] for s in doc["steps"]] == ["distortion", "eq"]  # the reverb was rendered and refused
    assert doc["best"]["mse"] < 0.05 * doc["initial"]["mse"]


def test_match_without_a_profile_says_open_rack_only(clips, tmp_path):
    out = tmp_path / "report"
    match(str(clips / "input.wav"), clips / "target.wav", "basic", out, models=stub(), k=2)
    doc = json.loads((out / "steps.json").read_text())
    assert doc["meta"]["renderer"] == "open rack" and OPEN_RACK_ONLY in doc["notes"]


def test_match_with_a_broken_profile_is_one_line(clips, tmp_path, capsys):
    from serumrnn.server.cli import main

    bad = tmp_path / "bad.json"
    raw = json.loads(open(load_profile("debian_test").source).read())
    raw["effects"]["eq"]["plugin"]["path"] = "/nowhere/eq.so"
    bad.write_text(json.dumps(raw))
    code = main(
        [
            "match",
            str(clips / "input.wav"),
            str(clips / "target.wav"),
            "--profile",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    # progress lines ("loading the ... models") come first; the error is one line, the last
    errors = [line for line in capsys.readouterr().err.strip().splitlines() if "error" in line]
    assert code == 2
    assert errors == [f"serumrnn: error: profile {bad}: effects.eq.plugin: plugin not found: /nowhere/eq.so"]
