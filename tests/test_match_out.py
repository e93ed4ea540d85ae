"""``serumrnn match --out DIR`` never overwrites a user's files and leaves no stale report
files behind. No models needed: the folder is checked first."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from serumrnn.server.cli import main
from serumrnn.server.match import OutDirError, check_out_dir, write_swapped


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


def _new_report(d):
    """What the report writer leaves in a fresh folder: a one-step report."""
    for name in ("step0-input.wav", "step1-eq.wav", "index.html"):
        (d / name).write_bytes(b"new")
    return d / "index.html"


def test_earlier_report_is_listed_as_ours(tmp_path):
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
    page = write_swapped(d, _new_report)
    assert page == d / "index.html" and page.read_bytes() == b"new"
    # the two-step report left nothing behind (no step2), and no temporary folder remains
    assert sorted(p.name for p in d.iterdir()) == ["index.html", "step0-input.wav", "step1-eq.wav"]
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_a_report_that_fails_to_write_leaves_the_earlier_one_whole(tmp_path):
    """The reported case: a full disk used to delete the earlier report, then fail."""
    d = _report(tmp_path / "rep")
    before = {p.name: p.read_bytes() for p in d.iterdir()}

    def disk_full(tmp):
        (tmp / "step0-input.wav").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_swapped(d, disk_full)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no half folder beside it


@pytest.mark.parametrize("where", ["under_a_file", "proc", "dev"])
def test_an_out_path_that_cannot_hold_a_folder_is_refused_before_any_work(tmp_path, where):
    (tmp_path / "song.wav").write_bytes(b"x")
    out = {"under_a_file": tmp_path / "song.wav" / "report", "proc": "/proc/self/report", "dev": "/dev/shm/r"}
    with pytest.raises(OutDirError) as e:
        check_out_dir(out[where])
    assert str(out[where]) in str(e.value) and "\n" not in str(e.value)


def test_a_folder_this_user_cannot_write_in_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("os.access", lambda p, mode: False)  # as for a read-only folder
    with pytest.raises(OutDirError, match="may not write in"):
        check_out_dir(tmp_path / "report")


def test_cli_fails_with_one_line_for_an_out_under_a_file(tmp_path, capsys, monkeypatch):
    from serumrnn.server import progress

    # Progress off: the command's "starting ..." line is said once per process, so whether it
    # came here depended on which test ran first (this one alone failed on it).
    monkeypatch.setattr(progress, "_enabled", False)
    target = _saw(tmp_path / "target.wav")
    rc = main(
        ["match", "preset:saw", str(target), "--out", str(target / "r"), "--models", str(tmp_path / "none")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "is a file, not a folder" in err[0], err


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
