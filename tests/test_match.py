"""`serumrnn match`: the report folder a producer follows, pitch handling, clear errors."""

import html
import json
import re

import numpy as np
import pytest

from server.audio_io import load_clip, write_wav
from server.rack import FX, Chain
from training.cli import main
from server.pitch import note_name, to_model_note
from training.match import match

TARGET_CHAIN = [FX("distortion", mode=2, drive=0.8),
                FX("reverb", mix=0.5, low_cut=0.2, high_cut=0.7)]


@pytest.fixture(scope="module")
def wavs(rack, tmp_path_factory):
    """A target at the models' note, one at MIDI 55, the dry saw as an input file, noise."""
    d = tmp_path_factory.mktemp("clips")
    clips = {"target.wav": rack.render(TARGET_CHAIN, "saw"),
             "target_g3.wav": rack.render(TARGET_CHAIN, "saw", note=55),
             "input.wav": rack.dry("saw"),
             "noise.wav": np.random.default_rng(0).normal(size=44100).astype(np.float32) * 0.3}
    for name, audio in clips.items():
        write_wav(d / name, audio)
    return d


@pytest.fixture(scope="module")
def preset_report(tiny_models, wavs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result, page = match("preset:saw", wavs / "target.wav", "basic", out, tolerance=10,
                         models=tiny_models)
    return result, page, json.loads((out / "steps.json").read_text())


def test_report_folder_holds_steps_audio_and_figure(preset_report, rack):
    result, page, doc = preset_report
    out = page.parent
    assert page.name == "index.html" and len(doc["steps"]) == len(result.steps) == 5
    assert doc["files"]["steps"][0] == "step0-input.wav"
    assert doc["files"]["steps"][1:] == [f"step{s['step']}-{s['effect']}.wav" for s in doc["steps"]]
    sounds = [load_clip(out / name) for name in doc["files"]["steps"]]
    assert np.abs(sounds[-1] - sounds[0]).max() > 1e-3
    for s, audio in zip(doc["steps"], sounds[1:]):  # each WAV is the chain after that step
        assert np.allclose(audio, rack.render(Chain.from_json(s["chain"]), "saw"), atol=1e-6)
    assert np.allclose(load_clip(out / "target.wav"), rack.render(TARGET_CHAIN, "saw"), atol=1e-6)
    png = (out / doc["files"]["mel_png"]).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    meta = doc["meta"]
    assert meta["group"] == "basic_shapes" and meta["render_note"] == 48
    assert meta["models_id"] and meta["models_created"] and doc["notes"] == []


def test_html_says_what_steps_json_says(preset_report):
    _, page, doc = preset_report
    text = page.read_text()
    for s in doc["steps"]:
        for piece in [s["instruction"], s["enable"]["serum_name"], f"{s['confidence']:.0%}",
                      f"{s['before']['mse']:.4g}", f"{s['after']['mssmae']:.4g}"]:
            assert html.escape(piece) in text, piece
        for k in s["knobs"] + s["fixed"]:
            assert html.escape(k["serum_name"]) in text
            assert f"<td>{html.escape(k['text'].strip())}</td>" in text
            assert f"{k['value']:.3f}" in text
        verdict = "closer to the target" if s["improved"] else "further from the target"
        assert verdict in text.split(f'id="step{s["step"]}"')[1].split("</section>")[0]
    best = doc["best_step"]
    if best:
        assert f'class="step best" id="step{best}"' in text
    # self-contained: every referenced file is in the folder, nothing is fetched
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
    assert refs and all((page.parent / r).is_file() for r in refs)
    assert "<link" not in text and "http" not in text.split("</head>")[0]


def test_cli_input_file_and_target_at_another_pitch(tiny_run, wavs, tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["match", str(wavs / "input.wav"), str(wavs / "target_g3.wav"), "--out", str(out),
               "--models", str(tiny_run[0] / "models"), "--tolerance", "0"])
    printed = capsys.readouterr().out
    assert rc == 0
    doc = json.loads((out / "steps.json").read_text())
    note = [n for n in doc["notes"] if n.startswith("target transposed")]
    assert note == ["target transposed by -7.0 semitones from G3 (MIDI 55.0) to C3 (MIDI 48)"]
    assert not any(n.startswith("input") for n in doc["notes"])  # the input is at C3 already
    assert note[0] in printed and html.escape(note[0]) in (out / "index.html").read_text()
    for s in doc["steps"]:
        assert all(k["serum_name"] in printed for k in s["knobs"])
    assert f"report: {out / 'index.html'}" in printed


@pytest.mark.parametrize("case", ["missing", "noise", "no_models", "bad_preset"])
def test_cli_errors_are_clear(case, wavs, tmp_path, capsys):
    target, inp, named = wavs / "target.wav", "preset:saw", None
    if case == "missing":
        target = named = tmp_path / "nowhere.wav"
    elif case == "noise":
        target = named = wavs / "noise.wav"
    elif case == "bad_preset":
        inp, named = "preset:kazoo", "kazoo"
    rc = main(["match", inp, str(target), "--models", str(tmp_path / "empty"),
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("serumrnn: error:") and "Traceback" not in err
    assert str(named or tmp_path / "empty") in err
    assert not (tmp_path / "o").exists()


def test_note_names_follow_live():
    assert [note_name(m) for m in (48, 55, 60.4, 36)] == ["C3", "G3", "C4", "C2"]


def test_a_sub_oscillator_is_not_mistaken_for_a_lower_octave(rack):
    """power_fifths_lead at C3 has a sub an octave down: pYIN hears C2; it must stay as is."""
    dry = rack.dry("power_fifths_lead")
    moved = to_model_note(dry, "lead.wav", "target", 48)
    assert moved.audio is dry and moved.shift == 0.0 and "octaves below C3" in moved.message
