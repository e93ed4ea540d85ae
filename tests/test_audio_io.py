"""server.audio_io: every way a user file can be wrong, and every format that should load."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serumrnn.server import safe_open
from serumrnn.server.audio_io import AudioInputError, check_signal, load_clip, write_wav

SR = 44100


def sine(sr: int, seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def expect_error(path, code: str, **kwargs) -> AudioInputError:
    with pytest.raises(AudioInputError) as info:
        load_clip(path, **kwargs)
    err = info.value
    assert err.code == code, str(err)
    assert os.fsdecode(path).encode("utf-8", "backslashreplace").decode() in str(err)
    assert isinstance(err, ValueError)
    return err


# --- formats that must load -------------------------------------------------


@pytest.mark.parametrize(
    "name, sr, subtype, fmt",
    [
        ("pcm16.wav", 44100, "PCM_16", "WAV"),
        ("rate8k.wav", 8000, "PCM_16", "WAV"),
        ("rate192k.wav", 192000, "PCM_24", "WAV"),
        ("bits24.wav", 48000, "PCM_24", "WAV"),
        ("bits32.wav", 44100, "PCM_32", "WAV"),
        ("u8.wav", 22050, "PCM_U8", "WAV"),
        ("float.wav", 44100, "FLOAT", "WAV"),
        ("double.wav", 96000, "DOUBLE", "WAV"),
        ("clip.aiff", 44100, "PCM_16", "AIFF"),
        ("clip.flac", 48000, "PCM_24", "FLAC"),
    ],
)
def test_formats_load_to_one_second_at_44k1(tmp_path, name, sr, subtype, fmt):
    path = tmp_path / name
    sf.write(path, sine(sr, 1.5), sr, subtype=subtype, format=fmt)
    x = load_clip(path)
    assert x.shape == (SR,) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    assert abs(dominant_freq(x) - 440.0) < 2.0  # resampling kept the pitch
    assert 0.45 < np.max(np.abs(x)) < 0.55  # and the level


def test_stereo_is_mixed_to_mean(tmp_path):
    left, right = sine(SR, 1.0, 440, 0.6), sine(SR, 1.0, 660, 0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    np.testing.assert_allclose(load_clip(path), (left + right) / 2, atol=1e-7)


def test_short_file_is_zero_padded(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, sine(SR, 0.25), SR, subtype="FLOAT")
    x = load_clip(path)
    assert x.shape == (SR,)
    assert np.max(np.abs(x[: SR // 4])) > 0.4
    assert not np.any(x[SR // 4 :])


def test_duration_and_rate_arguments(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, sine(48000, 3.0), 48000)
    assert load_clip(path, sample_rate=16000, duration_s=2.0).shape == (32000,)


def _write_long_wav(path, seconds: int, sr: int = SR) -> None:
    block = np.zeros(10 * sr, dtype=np.float32)
    block[: sr * 2] = sine(sr, 2.0)
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for _ in range(seconds // 10):
            f.write(block)


def test_ten_minute_file_reads_only_the_head(tmp_path):
    path = tmp_path / "long.wav"
    _write_long_wav(path, 600)
    assert sf.info(path).duration == pytest.approx(600.0)
    tracemalloc.start()
    try:
        x = load_clip(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert x.shape == (SR,)
    assert abs(dominant_freq(x) - 440.0) < 2.0
    assert peak < 8 * 1024**2  # the whole file as float32 would be ~106 MB


def test_max_seconds_and_max_bytes_limits(tmp_path):
    path = tmp_path / "long.wav"
    _write_long_wav(path, 120)
    assert "limit" in str(expect_error(path, "too_large", max_seconds=60))
    expect_error(path, "too_large", max_bytes=1000)


# --- every error kind ---------------------------------------------------------


def test_missing(tmp_path):
    expect_error(tmp_path / "nope.wav", "missing")
    expect_error(tmp_path / "no_dir" / "nope.wav", "missing")


def test_directory(tmp_path):
    d = tmp_path / "folder.wav"
    d.mkdir()
    expect_error(d, "is_directory")


def test_empty(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    expect_error(path, "empty")


def test_text_with_wav_name_is_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is a shopping list, not a sound\n" * 20)
    expect_error(path, "not_audio")


def test_random_bytes_are_not_audio(tmp_path):
    path = tmp_path / "noise.flac"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    expect_error(path, "not_audio")


@pytest.mark.parametrize("fmt, suffix", [("WAV", "wav"), ("FLAC", "flac"), ("AIFF", "aiff")])
def test_header_truncated_is_corrupt(tmp_path, fmt, suffix):
    full = tmp_path / f"full.{suffix}"
    sf.write(full, sine(SR, 1.0), SR, format=fmt)
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(full.read_bytes()[:30])
    expect_error(cut, "corrupt")


def test_wav_with_cut_data_chunk_is_corrupt(tmp_path):
    full = tmp_path / "full.wav"
    sf.write(full, sine(SR, 1.0), SR)
    cut = tmp_path / "download.wav"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated" in str(expect_error(cut, "corrupt"))


def test_flac_damaged_in_the_needed_head_is_corrupt(tmp_path):
    full = tmp_path / "full.flac"
    sf.write(full, np.random.default_rng(1).standard_normal(SR).astype(np.float32) * 0.1, SR)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(full.read_bytes()[:200])
    expect_error(cut, "corrupt")


def test_zero_frames_is_too_short(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SR)
    assert os.path.getsize(path) > 0
    expect_error(path, "too_short")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    x = sine(SR, 1.0)
    x[1000] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    expect_error(path, "non_finite")


@pytest.mark.parametrize(
    "x", [np.zeros(SR, np.float32), sine(SR, 1.0, amp=5e-6)], ids=["digital_zero", "minus_106_dBFS"]
)
def test_silent(tmp_path, x):
    path = tmp_path / "quiet.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    assert "silent" in str(expect_error(path, "silent"))


def test_dc_only_is_no_signal(tmp_path):
    path = tmp_path / "dc.wav"
    sf.write(path, np.full(SR, 0.3, np.float32), SR, subtype="FLOAT")
    assert "DC" in str(expect_error(path, "silent"))


def test_silent_head_of_a_longer_file(tmp_path):
    x = np.zeros(3 * SR, np.float32)
    x[2 * SR :] = sine(SR, 1.0)  # sound starts after the clip we read
    path = tmp_path / "late.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    expect_error(path, "silent")


def test_permission_denied_via_open(tmp_path, monkeypatch):
    path = tmp_path / "locked.wav"
    sf.write(path, sine(SR, 1.0), SR)

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(safe_open, "open", deny, raising=False)
    expect_error(path, "permission")


def test_permission_denied_real():
    """A real mode-0 file. Root ignores file modes, so as root the load runs in a child
    process that drops to the 'nobody' user after its imports."""
    import shutil
    import subprocess
    import sys
    import tempfile

    d = tempfile.mkdtemp(prefix="serumrnn-perm-")
    try:
        os.chmod(d, 0o755)
        path = Path(d) / "locked.wav"
        sf.write(path, sine(SR, 1.0), SR)
        path.chmod(0)
        if os.geteuid() != 0:
            expect_error(path, "permission")
            return
        code = (
            "import os, sys; from serumrnn.server.audio_io import load_clip, AudioInputError\n"
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "try:\n    load_clip(sys.argv[1])\nexcept AudioInputError as e:\n"
            "    print(e.code); print(e)\n"
        )
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)], cwd=root, capture_output=True, text=True, timeout=60
        )
        assert out.stdout.splitlines()[:1] == ["permission"], out.stdout + out.stderr
        assert str(path) in out.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- paths --------------------------------------------------------------------


def _non_utf8_path(tmp_path) -> bytes:
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff.wav"
    try:
        with open(raw, "wb"):
            pass
        os.remove(raw)
    except OSError:
        pytest.skip("filesystem rejects non-UTF-8 names")
    return raw


def test_non_utf8_paths_as_bytes_and_fsdecoded(tmp_path):
    raw = _non_utf8_path(tmp_path)
    write_wav(raw, sine(SR, 1.0), SR)
    assert load_clip(raw).shape == (SR,)
    assert load_clip(os.fsdecode(raw)).shape == (SR,)


def test_error_message_for_non_utf8_path_is_printable(tmp_path):
    raw = _non_utf8_path(tmp_path)
    err = expect_error(raw, "missing")
    str(err).encode("utf-8")  # must not raise on lone surrogates
    assert "caf\\udce9" in str(err)
    assert err.path == os.fsdecode(raw)


# --- check_signal ---------------------------------------------------------------


def test_check_signal_accepts_and_returns_audio():
    x = sine(SR, 0.1)
    assert check_signal(x, "x") is x


@pytest.mark.parametrize(
    "x, code",
    [
        (np.zeros(0, np.float32), "too_short"),
        (np.array([0.1, np.nan], np.float32), "non_finite"),
        (np.zeros(100, np.float32), "silent"),
        (np.full(100, -0.7, np.float32), "silent"),
    ],
)
def test_check_signal_rejects(x, code):
    with pytest.raises(AudioInputError) as info:
        check_signal(x, "my array")
    assert info.value.code == code and "my array" in str(info.value)


def test_codes_are_enumerated():
    with pytest.raises(ValueError):
        AudioInputError("whatever", "p", "m")


# --- write_wav -------------------------------------------------------------------


def test_write_wav_roundtrip_and_no_temp_left(tmp_path):
    path = tmp_path / "out.wav"
    x = sine(SR, 1.0)
    write_wav(path, x, SR)
    write_wav(str(path), x * 0.5, SR)  # overwrite in place
    y, sr = sf.read(path, dtype="float32")
    assert sr == SR
    np.testing.assert_array_equal(y, x * 0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    assert (path.stat().st_mode & 0o777) == 0o644


def test_write_wav_failure_keeps_old_file(tmp_path):
    path = tmp_path / "out.wav"
    write_wav(path, sine(SR, 1.0), SR)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_wav(path, sine(SR, 1.0), SR, subtype="NOT_A_SUBTYPE")
    with pytest.raises(ValueError):
        write_wav(path, np.zeros((2, 2, 2)), SR)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
