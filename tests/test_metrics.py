"""server.metrics: known answers for the six metrics, batching, and Δ / Δ%."""

from __future__ import annotations

import math

import numpy as np
import pytest

from serumrnn.server import features as F
from serumrnn.server import metrics as M

SR = F.SAMPLE_RATE
T = np.arange(SR) / SR
SAW = (0.4 * (2 * ((T * 130.81) % 1.0) - 1)).astype(np.float32)
SINE = (0.5 * np.sin(2 * np.pi * 261.63 * T) * np.exp(-2 * T)).astype(np.float32)
NOISE = (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
#: "Zero" for a clip against itself, per metric. The features are float32 (24-bit
#: mantissa) and a batched FFT may sum in another order than a single one, with SIMD
#: paths that differ between CPUs (one gave 3.6e-9 where this one gives 0.0): each
#: feature value may differ by a few ulps. A millionth of the distance between two
#: different sounds (saw and sine) is far above that rounding and far below anything
#: audible, in each metric's own units.
SAME = {name: 1e-6 * abs(float(v)) for name, v in M.distances(SAW, SINE).items()}


def test_metric_names():
    assert M.METRICS == ("mse", "mae", "lsd", "mfccd", "pcc", "mssmae")
    assert M.LOWER_IS_BETTER == set(M.METRICS) - {"pcc"}


def test_identical_clips_are_at_distance_zero():
    d = M.distances(SAW, SAW)
    assert set(d) == set(M.METRICS)
    for name in M.LOWER_IS_BETTER:
        assert d[name] == pytest.approx(0.0, abs=SAME[name]), name
    assert d["pcc"] == pytest.approx(100.0, abs=SAME["pcc"])
    assert all(isinstance(v, float) for v in d.values())


def test_different_clips_are_apart():
    d = M.distances(SAW, NOISE)
    for name in M.LOWER_IS_BETTER:
        assert d[name] > 0, name
    assert -100 <= d["pcc"] < 100


def test_constant_offset_known_answers():
    c = 0.1  # 8 dB everywhere
    a = np.full((128, 87), -0.5)
    b = a + c
    assert M.mse(a, b) == pytest.approx(100 * c**2)
    assert M.mae(a, b) == pytest.approx(100 * c)
    assert M.lsd(a, b) == pytest.approx(80 * c)
    # An ortho DCT-II of a constant k over N bins is k*sqrt(N) in c0, 0 elsewhere.
    d = M.distances_from_features(a, b)
    assert d["mfccd"] == pytest.approx(80 * c * math.sqrt(128), rel=1e-5)
    assert math.isnan(d["mssmae"])  # no audio given


def test_lsd_and_mse_with_one_differing_frame():
    a = np.zeros((4, 2))
    b = a.copy()
    b[:, 0] = 1.0  # 80 dB in every band of frame 0, frame 1 equal
    assert M.lsd(a, b) == pytest.approx((80 + 0) / 2)
    assert M.mse(a, b) == pytest.approx(100 * 0.5)
    b[:2, 1] = 0.5  # frame 1: RMS over bands of (40, 40, 0, 0) = sqrt(800)
    assert M.lsd(a, b) == pytest.approx((80 + math.sqrt(800)) / 2)


def test_mfccd_is_mean_per_frame_euclidean():
    a = np.zeros((30, 2))
    b = a.copy()
    b[0, 0], b[1, 0] = 3.0, 4.0  # frame 0 distance 5, frame 1 distance 0
    assert M.mfccd(a, b) == pytest.approx(2.5)


def test_pcc_known_answers():
    a = F.mel_db(SAW)
    assert M.pcc(a, a) == pytest.approx(100)
    assert M.pcc(a, -a) == pytest.approx(-100)
    assert M.pcc(a, 2 * a - 0.3) == pytest.approx(100)
    assert math.isnan(M.pcc(a, np.zeros_like(a)))  # constant: undefined


def test_pcc_is_pearson_of_flattened():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 16, 5))
    assert M.pcc(a, b) == pytest.approx(100 * np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_mssmae_zero_for_identical_positive_otherwise():
    assert M.mssmae(SAW, SAW) == 0.0
    assert M.mssmae(SAW, SINE) > 0
    assert M.mssmae(SAW, SINE) == pytest.approx(M.mssmae(SINE, SAW))


def test_mssmae_uses_peak_normalised_audio():
    assert M.mssmae(SAW, 0.25 * SAW) == pytest.approx(0.0, abs=1e-9)
    assert M.mssmae(SAW, 0.25 * SAW, normalize=False) > 0


def test_multiscale_spectra_match_librosa_stft():
    import librosa

    specs = M.multiscale_spectra(SAW)
    assert len(specs) == 6
    x = F.peak_normalize(SAW)[0].astype(np.float64)
    for n, s in zip(M.MSS_FFT_SIZES, specs):
        ref = np.abs(librosa.stft(x, n_fft=n, hop_length=n // 4, center=True, pad_mode="reflect"))
        np.testing.assert_allclose(s[0].T, ref, atol=1e-9 * ref.max(), rtol=0)


def test_mssmae_formula_paper_definition():
    a_specs, b_specs = M.multiscale_spectra(SAW), M.multiscale_spectra(SINE)
    terms = [
        np.mean(np.abs(sa - sb)) + 0.1 * np.mean(np.abs(np.log(sa + 1e-10) - np.log(sb + 1e-10)))
        for sa, sb in zip(a_specs, b_specs)
    ]
    assert M.mssmae(SAW, SINE) == pytest.approx(100 * np.mean(terms))
    assert M.mssmae(SAW, SINE, alpha=0.0) < M.mssmae(SAW, SINE)


def test_batched_distances_broadcast_against_one_target():
    batch = np.stack([SAW, SINE, NOISE])
    d = M.distances(batch, SINE)
    for name in M.METRICS:
        assert d[name].shape == (3,), name
        single = M.distances(batch[0], SINE)[name]
        # batched and single float32 features differ by rounding: 1e-5 is ~80 float32 ulps
        assert d[name][0] == pytest.approx(single, rel=1e-5, abs=SAME[name]), name
    for name in M.LOWER_IS_BETTER:
        assert d[name][1] == pytest.approx(0.0, abs=SAME[name]), name
    assert d["pcc"][1] == pytest.approx(100.0, abs=SAME["pcc"])


def test_distances_from_features_equals_distances():
    mel_a, mfcc_a = F.features(SAW)
    mel_b, mfcc_b = F.features(SINE)
    direct = M.distances(SAW, SINE)
    pre = M.distances_from_features(mel_a, mel_b, a_mfcc=mfcc_a, b_mfcc=mfcc_b, a_audio=SAW, b_audio=SINE)
    derived = M.distances_from_features(mel_a, mel_b, a_audio=SAW, b_audio=SINE)
    for name in M.METRICS:
        assert pre[name] == pytest.approx(direct[name]), name
        assert derived[name] == pytest.approx(direct[name], rel=1e-5), name


def test_delta_and_delta_percent():
    before = {"mse": 4.0, "pcc": 50.0, "lsd": 0.0, "mae": 10.0}
    after = {"mse": 1.0, "pcc": 75.0, "lsd": 2.0, "mssmae": 3.0}
    d, pct = M.delta(before, after)
    assert set(d) == set(pct) == {"mse", "pcc", "lsd"}  # only metrics in both
    assert d["mse"] == -3.0 and pct["mse"] == pytest.approx(-75.0)
    assert d["pcc"] == 25.0 and pct["pcc"] == pytest.approx(50.0)
    assert d["lsd"] == 2.0 and math.isnan(pct["lsd"])  # division by zero -> nan


def test_delta_paper_example_and_negative_pcc():
    # Table row "MSSMAE 83.38 -> 50.85": Δ -32.53, Δ% -39.01.
    d, pct = M.delta_value(83.38, 50.85)
    assert d == pytest.approx(-32.53) and pct == pytest.approx(-39.01, abs=0.01)
    d, pct = M.delta_value(-20.0, 10.0)  # anti-correlated input improved
    assert d == 30.0 and pct == pytest.approx(150.0)


def test_delta_on_batches():
    d, pct = M.delta({"mse": np.array([2.0, 0.0])}, {"mse": np.array([1.0, 1.0])})
    np.testing.assert_allclose(d["mse"], [-1.0, 1.0])
    assert pct["mse"][0] == pytest.approx(-50.0) and math.isnan(pct["mse"][1])
