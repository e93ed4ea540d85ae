"""`serumrnn match`: the report folder a producer follows, pitch handling, clear errors."""

import html
import json
import re

import numpy as np
import pytest

from serumrnn.server.audio_io import load_clip, write_wav
from serumrnn.server.cli import main
from serumrnn.server.match import match
from serumrnn.server.pitch import note_name, to_model_note
from serumrnn.server.rack import FX, Chain

TARGET_CHAIN = [FX("distortion", mode=2, drive=0.8), FX("reverb", mix=0.5, low_cut=0.2, high_cut=0.7)]


@pytest.fixture(scope="module")
def wavs(rack, tmp_path_factory):
    """A target at the models' note, one at MIDI 55, the dry saw as an input file, noise."""
    d = tmp_path_factory.mktemp("clips")
    clips = {
        "target.wav": rack.render(TARGET_CHAIN, "saw"),
        "target_g3.wav": rack.render(TARGET_CHAIN, "saw", note=55),
        "input.wav": rack.dry("saw"),
        "noise.wav": np.random.default_rng(0).normal(size=44100).astype(np.float32) * 0.3,
    }
    for name, audio in clips.items():
        write_wav(d / name, audio)
    return d


@pytest.fixture(scope="module")
def preset_report(tiny_models, wavs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result, page = match(
        "preset:saw", wavs / "target.wav", "basic", out, tolerance=10, models=tiny_models, loop="paper"
    )  # the paper's loop: all 5 steps
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
    from serumrnn.server.outcome import unmatched_warning
    from serumrnn.server.steps import usage_notes

    assert meta["models_id"] and meta["models_created"]
    # the tiny models' paper loop ends no closer: the outcome warning follows the usage notes
    assert doc["closeness"] < 0.6
    assert doc["notes"] == [*usage_notes(48), unmatched_warning(doc["closeness"], False)]


def test_html_says_what_steps_json_says(preset_report):
    from serumrnn.server.report import value_html

    _, page, doc = preset_report
    text = page.read_text()
    for s in doc["steps"]:
        for piece in [
            s["instruction"],
            s["enable"]["serum_name"],
            f"{s['confidence']:.0%}",
            f"{s['before']['mse']:.4g}",
            f"{s['after']['mssmae']:.4g}",
        ]:
            assert html.escape(piece) in text, piece
        for k in s["knobs"] + s["fixed"]:
            assert html.escape(k["serum_name"]) in text
            assert f'<td data-label="set to">{value_html(k["text"].strip())}</td>' in text
            assert f"{k['value']:.3f}" in text
        verdict = "closer to the target" if s["improved"] else "further from the target"
        assert verdict in text.split(f'id="step{s["step"]}"')[1].split("</section>")[0]
    best = doc["best_step"]
    if best:  # the paper's loop marks the step to roll back to
        assert f'class="card result" id="step{best}"' in text
    # self-contained: every referenced file is in the folder, nothing is fetched
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
    assert refs and all((page.parent / r).is_file() for r in refs)
    assert "<link" not in text and "http" not in text.split("</head>")[0]


def test_cli_input_file_and_target_at_another_pitch(tiny_run, wavs, tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(
        [
            "match",
            str(wavs / "input.wav"),
            str(wavs / "target_g3.wav"),
            "--out",
            str(out),
            "--models",
            str(tiny_run[0] / "models"),
            "--tolerance",
            "0",
            "--no-extra-knobs",
        ]
    )
    cap = capsys.readouterr()
    printed = cap.out
    assert rc == 0
    # progress, on stderr as each stage starts: models, then the steps, then the report
    said = cap.err.splitlines()
    order = [
        next(i for i, l in enumerate(said) if l.startswith(p))
        for p in ("loading the basic_shapes models ...", "step 1 of up to 5:", "writing the report to")
    ]
    assert order == sorted(order), said
    doc = json.loads((out / "steps.json").read_text())
    assert doc["meta"]["extra_knobs"] is False  # --no-extra-knobs reached the session
    note = [n for n in doc["notes"] if n.startswith("target transposed")]
    assert note == ["target transposed by -7.0 semitones from G2 (MIDI 55.0) to C2 (MIDI 48)"]
    assert not any(n.startswith("input") for n in doc["notes"])  # the input is at C2 already
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
    rc = main(["match", inp, str(target), "--models", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    *stages, last = err.strip().splitlines()
    assert rc == 2 and last.startswith("serumrnn: error:") and "Traceback" not in err
    assert all(s.endswith(" ...") for s in stages), stages  # only "loading ... ..." progress before it
    assert str(named or tmp_path / "empty") in last
    assert not (tmp_path / "o").exists()


def test_note_names_follow_live():
    # Live's names: MIDI 60 = C3, so the models' note (MIDI 48) is C2
    assert [note_name(m) for m in (48, 55, 60.4, 36)] == ["C2", "G2", "C3", "C1"]


def test_a_sub_oscillator_is_not_mistaken_for_a_lower_octave(rack):
    """power_fifths_lead at MIDI 48 (C2 in Live) has a sub an octave down: pYIN hears C1;
    it must stay as is."""
    dry = rack.dry("power_fifths_lead")
    moved = to_model_note(dry, "lead.wav", "target", 48)
    assert moved.audio is dry and moved.shift == 0.0 and "octaves below C2 (MIDI 48)" in moved.message


# -- the verified report, on scripted models ------------------------------------------


@pytest.fixture(scope="module")
def verified_report(wavs, tmp_path_factory):
    """Stub models that answer the target's own knobs, ranked behind a harmful EQ."""
    from stub_models import StubModels

    models = StubModels(
        ["eq", "distortion", "reverb", "phaser", "compressor"],
        {
            "eq": {"freq": 0.5, "q": 0.0, "gain": 1.0},
            "distortion": {"mode": 2, "drive": 0.8},
            "reverb": {"mix": 0.5, "low_cut": 0.2, "high_cut": 0.7},
            "phaser": {"depth": 1.0, "freq": 0.05, "feedback": 1.0},
            "compressor": {"low": 1.0, "mid": 1.0, "high": 1.0},
        },
    )
    out = tmp_path_factory.mktemp("verified")
    result, page = match("preset:saw", wavs / "target.wav", "basic", out, models=models, k=2, loop="verified")
    return result, page, json.loads((out / "steps.json").read_text())


def test_verified_report_shows_the_result_first_in_serums_words(verified_report, rack):
    from serumrnn.server import spec

    result, page, doc = verified_report
    out, text = page.parent, page.read_text()
    assert doc["loop"] == "verified" and doc["stop"]["reason"] == "reached"
    assert [s["effect"] for s in doc["steps"]] == ["distortion", "reverb"]
    assert doc["best_step"] == 2 and doc["closeness"] > 0.99
    # the A/B pair plays the best state and the target
    assert np.allclose(load_clip(out / doc["files"]["best"]), rack.render(TARGET_CHAIN, "saw"), atol=1e-6)
    assert f'id="ab-now" controls loop preload="auto" src="{doc["files"]["best"]}"' in text
    assert f'id="ab-target" controls loop preload="auto" src="{doc["files"]["target"]}"' in text
    assert "Closeness 100%" in text and "Matched: the target is reached after 2 steps." in text
    assert "Only the first 1 second of each sound is used." in text
    assert "C2 in Live (MIDI 48)" in text
    for name in (doc["files"]["mel_png"], doc["files"]["difference_png"]):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    # fixed knobs: the panel's words, never the code's names or a bare number
    for s in doc["steps"]:
        assert f"expected {s['confidence']:.0%} closer" in text
        assert f"{s['selector_probability']:.0%}" in text
        for f in spec.effect(s["effect"]).fixed:
            assert f">{f.name}<" not in text
            assert f"<td>{html.escape(f.label)}</td>" in text
    set_to = re.findall(r"<td>([^<]*)</td><td><code>[^<]*</code> #\d+</td><td[^>]*>([^<]*)</td>", text)
    assert len(set_to) == sum(len(s["knobs"]) + len(s["fixed"]) for s in doc["steps"])
    # a unit or a word, said once: a Q reads "High Q 2.70", never "2.70 Q"
    assert all(re.search(r"[A-Za-z%]", t) or label.endswith(" Q") for label, t in set_to), set_to
    assert not any(t.endswith("Q") for _, t in set_to), set_to


def test_the_report_in_a_real_browser(verified_report, tmp_path):
    """Headless Chromium (Debian's) runs the page: its A/B script labels the player, and
    the screenshot is a picture, not a blank page."""
    import shutil
    import subprocess

    _, page, _ = verified_report
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: scripts/setup-system.sh installs it"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert '<span id="ab-label" class="muted">now playing: NOW</span>' in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            *flags,
            "--hide-scrollbars",
            "--window-size=1100,1800",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"), np.float32)
    assert img.shape == (1800, 1100) and img.std() > 20
