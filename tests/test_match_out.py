"""``serumrnn match --out DIR`` never overwrites a user's files and leaves no stale report
files behind (issue 13, defect 9). No models needed: the folder is checked first."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from serumrnn.server.cli import main
from serumrnn.server.match import OutDirError, _remove, check_out_dir


def _report(d, steps=("step0-input.wav", "step1-eq.wav", "step2-reverb.wav")):
    """An earlier report of ours, as the report writer leaves it."""
    d.mkdir(parents=True, exist_ok=True)
    for name in [*steps, "target.wav", "mel_progression.png", "index.html"]:
        (d / name).write_bytes(b"old")
    files = {
        "steps": list(steps),
        "target": "target.wav",
        "mel_png": "mel_progression.png",
        "html": "index.html",
    }
    (d / "steps.json").write_text(json.dumps({"steps": [], "meta": {}, "files": files}))
    return d


def _saw(path):
    t = np.arange(44100) / 44100
    sf.write(path, (0.4 * (2 * ((130.81 * t) % 1) - 1)).astype(np.float32), 44100)
    return path


def test_missing_or_empty_folder_is_fine(tmp_path):
    assert check_out_dir(tmp_path / "new" / "deeper") == []
    assert not (tmp_path / "new").exists()  # checking changes nothing
    (tmp_path / "empty").mkdir()
    assert check_out_dir(tmp_path / "empty") == []


def test_earlier_report_is_replaced_without_stale_steps(tmp_path):
    d = _report(tmp_path / "rep")
    stale = check_out_dir(d)
    assert sorted(p.name for p in stale) == sorted(
        [
            "step0-input.wav",
            "step1-eq.wav",
            "step2-reverb.wav",
            "target.wav",
            "mel_progression.png",
            "index.html",
            "steps.json",
        ]
    )
    _remove(stale)
    assert list(d.iterdir()) == []  # a two-step report next will not leave step2 behind


@pytest.mark.parametrize("extra", ["my_song.als", "target_backup.wav", "sub/"])
def test_folder_with_anything_else_is_refused_and_untouched(tmp_path, extra):
    d = tmp_path / "music"
    d.mkdir()
    if extra.endswith("/"):
        (d / extra).mkdir()
    else:
        (d / extra).write_bytes(b"mine")
    before = sorted(p.name for p in d.iterdir())
    with pytest.raises(OutDirError, match="holds no earlier report of ours"):
        check_out_dir(d)
    _report(d)  # also next to a report of ours
    with pytest.raises(OutDirError, match="holds an earlier report and other files"):
        check_out_dir(d)
    assert set(before) <= {p.name for p in d.iterdir()}
    if extra.endswith("/"):
        assert (d / extra).is_dir()
    else:
        assert (d / extra).read_bytes() == b"mine"


def test_a_report_folder_holding_an_input_is_refused(tmp_path):
    d = _report(tmp_path / "rep")
    with pytest.raises(OutDirError, match=r"holds an input file \(target\.wav\)"):
        check_out_dir(d, [d / "target.wav"])
    assert (d / "target.wav").read_bytes() == b"old"


def test_a_file_or_broken_link_is_refused(tmp_path):
    f = tmp_path / "report.html"
    f.write_text("x")
    with pytest.raises(OutDirError, match="is a file, not a folder"):
        check_out_dir(f)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutDirError, match="broken symbolic link"):
        check_out_dir(tmp_path / "dangling")


def test_cli_refuses_the_users_folder_before_loading_models(tmp_path, capsys):
    """The reported case: the user's own target.wav sits in the folder given as --out."""
    d = tmp_path / "session"
    d.mkdir()
    target = _saw(d / "target.wav")
    (d / "notes.txt").write_text("keep me")
    before = target.read_bytes()
    rc = main(
        ["match", "preset:saw", str(target), "--out", str(d), "--models", str(tmp_path / "no_models_here")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "holds no earlier report of ours" in err, err
    assert target.read_bytes() == before and (d / "notes.txt").read_text() == "keep me"
