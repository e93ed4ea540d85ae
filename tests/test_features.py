"""server.features: shapes, equality with librosa, batching, and the scaling conventions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from serumrnn.server import features as F

SR = F.SAMPLE_RATE
T = np.arange(SR) / SR


def _clips() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "sine": 0.5 * np.sin(2 * np.pi * 261.63 * T),
        "saw": 0.3 * (2 * ((T * 130.81) % 1.0) - 1),
        "noise": 0.1 * rng.standard_normal(SR),
        "chirp": np.sin(2 * np.pi * (50 + 4000 * T) * T) * np.exp(-3 * T),
        "quiet_pluck": 1e-3 * np.sin(2 * np.pi * 880 * T) * np.exp(-8 * T),
        "silence": np.zeros(SR),
    }


CLIPS = {k: v.astype(np.float32) for k, v in _clips().items()}
BATCH = np.stack(list(CLIPS.values()))


def test_constants_match_the_paper():
    assert (F.SAMPLE_RATE, F.N_FFT, F.HOP, F.N_MELS) == (44100, 2048, 512, 128)
    assert (F.FMIN, F.FMAX, F.TOP_DB, F.N_MFCC) == (20, 16000, 80, 30)
    assert F.N_FRAMES == 87


def test_single_clip_shapes_and_dtype():
    mel, mfcc = F.features(CLIPS["sine"])
    assert mel.shape == (128, 87) and mfcc.shape == (30, 87)
    assert mel.dtype == np.float32 and mfcc.dtype == np.float32


def test_batch_shapes():
    mel, mfcc = F.features(BATCH)
    assert mel.shape == (len(BATCH), 128, 87) and mfcc.shape == (len(BATCH), 30, 87)


def test_rejects_3d_input():
    with pytest.raises(ValueError):
        F.features(np.zeros((2, 2, SR), np.float32))


@pytest.mark.parametrize("name", list(CLIPS))
def test_equals_librosa(name):
    mel, mfcc = F.features(CLIPS[name])
    ref_mel, ref_mfcc = F.naive_features(CLIPS[name])
    assert ref_mel.shape == (128, 87)
    np.testing.assert_allclose(mel, ref_mel, atol=1e-4, rtol=0)
    # MFCCs are in dB (up to a few hundred); compare on the same /80 scale.
    np.testing.assert_allclose(mfcc / 80, ref_mfcc / 80, atol=1e-4, rtol=0)


def test_naive_features_batches_too():
    mel, mfcc = F.naive_features(BATCH[:2])
    assert mel.shape == (2, 128, 87) and mfcc.shape == (2, 30, 87)


def test_batch_equals_per_clip():
    mel, mfcc = F.features(BATCH)
    for i, clip in enumerate(BATCH):
        m, c = F.features(clip)
        np.testing.assert_allclose(mel[i], m, atol=1e-6, rtol=0)
        np.testing.assert_allclose(mfcc[i], c, atol=1e-4, rtol=0)


def test_batches_larger_than_one_chunk():
    rng = np.random.default_rng(3)
    n = F._CHUNK + 5
    short = (rng.standard_normal((n, 4096)) * rng.uniform(0.01, 1, (n, 1))).astype(np.float32)
    mel = F.mel_db(short)
    assert mel.shape == (n, 128, 1 + 4096 // F.HOP)
    for i in (0, F._CHUNK - 1, F._CHUNK, n - 1):
        np.testing.assert_allclose(mel[i], F.mel_db(short[i]), atol=1e-6, rtol=0)


def test_empty_batch():
    assert F.mel_db(np.zeros((0, SR), np.float32)).shape == (0, 128, 87)


def test_peak_normalisation_makes_features_gain_invariant():
    x = CLIPS["chirp"]
    np.testing.assert_allclose(F.mel_db(x), F.mel_db(0.01 * x), atol=1e-5, rtol=0)


def test_peak_normalize_guards_zero_peak():
    out = F.peak_normalize(np.zeros((2, 8), np.float32))
    assert np.all(out == 0) and np.all(np.isfinite(out))
    np.testing.assert_allclose(np.max(np.abs(F.peak_normalize(BATCH[:4])), axis=1), 1.0, rtol=1e-6)


def test_db_scale_and_top_db_floor():
    mel = F.mel_db(BATCH)
    span = mel.max(axis=(1, 2)) - mel.min(axis=(1, 2))
    assert np.all(span <= 1.0 + 1e-6)  # floor is top_db (80 dB = 1.0) below each clip's max
    # ref = 1.0, not the clip max: a full-scale sine rises above 0 dB (documented).
    assert F.mel_db(CLIPS["sine"]).max() > 0
    # digital silence sits at amin = 1e-10 -> -100 dB -> -1.25
    np.testing.assert_allclose(F.mel_db(CLIPS["silence"]), -100 / 80)


def test_mfcc_is_ortho_dct_of_db_mel():
    mel = F.mel_db(BATCH)
    expected = scipy.fft.dct(mel.astype(np.float64) * 80, type=2, norm="ortho", axis=1)[:, :30]
    np.testing.assert_allclose(F.mfcc(mel), expected, atol=1e-3, rtol=1e-5)


def test_mel_basis_is_built_once():
    assert F.mel_basis() is F.mel_basis()
    assert F.mel_basis().shape == (128, 1025)


def test_bare_stft_equals_librosa_magnitude():
    import librosa

    x = CLIPS["saw"]
    mag = F.bare_stft(x)
    ref = np.abs(librosa.stft(x, n_fft=2048, hop_length=512, center=True, pad_mode="reflect"))
    assert mag.shape == (1025, 87)
    np.testing.assert_allclose(mag, ref, atol=1e-3 * ref.max(), rtol=0)
