"""The paper's six audio-similarity metrics (section 4.1), scaled as in its tables.

Inputs follow the research code (``metrics-notes.md``) so our numbers are
comparable with the paper's:

* ``mel`` arguments are scaled dB Mel spectrograms from :mod:`serumrnn.server.features`
  (dB / 80, shape (..., 128, T)); ``mfcc`` arguments are (..., 30, T) in dB
  units, from :func:`serumrnn.server.features.mfcc`.
* MSE, MAE: mean (squared / absolute) difference of the scaled dB Mel, x100.
* LSD: on dB (scaled x80): RMS over Mel bands per frame, mean over frames.
* MFCCD: Euclidean distance of the 30 MFCCs per frame, mean over frames.
* PCC: Pearson correlation of the flattened dB Mel matrices, x100.
* MSSMAE: see :func:`mssmae` (the paper's definition, not the research code's).

Every metric accepts leading batch axes and returns a ``float`` for a single
pair or an array for a batch; arrays broadcast (many outputs vs one target).
Lower is better for all but PCC (:data:`LOWER_IS_BETTER`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from . import features as F

METRICS = ("mse", "mae", "lsd", "mfccd", "pcc", "mssmae")
LOWER_IS_BETTER = frozenset({"mse", "mae", "lsd", "mfccd", "mssmae"})
SCALE = 100.0  # the paper multiplies MSE, MAE, PCC and MSSMAE by 100 for its tables

MSS_FFT_SIZES = (64, 128, 256, 512, 1024, 2048)
MSS_ALPHA = 0.1
MSS_LOG_EPS = 1e-10

Value = float | np.ndarray


def _out(x: np.ndarray | float) -> Value:
    """0-d results as plain floats, batches as float64 arrays."""
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)


def mse(a_mel: np.ndarray, b_mel: np.ndarray) -> Value:
    """Mean squared difference of scaled dB Mels, x100 (units of 80 dB, squared)."""
    a, b = _pair(a_mel, b_mel)
    return _out(SCALE * np.mean((a - b) ** 2, axis=(-2, -1)))


def mae(a_mel: np.ndarray, b_mel: np.ndarray) -> Value:
    """Mean absolute difference of scaled dB Mels, x100."""
    a, b = _pair(a_mel, b_mel)
    return _out(SCALE * np.mean(np.abs(a - b), axis=(-2, -1)))


def lsd(a_mel: np.ndarray, b_mel: np.ndarray) -> Value:
    """Log-spectral distance in dB: per-frame RMS over Mel bands, mean over frames."""
    a, b = _pair(a_mel, b_mel)
    d = (a - b) * F.TOP_DB
    return _out(np.mean(np.sqrt(np.mean(d * d, axis=-2)), axis=-1))


def mfccd(a_mfcc: np.ndarray, b_mfcc: np.ndarray) -> Value:
    """Mean over frames of the Euclidean distance between per-frame MFCC vectors."""
    a, b = _pair(a_mfcc, b_mfcc)
    return _out(np.mean(np.linalg.norm(a - b, axis=-2), axis=-1))


def pcc(a_mel: np.ndarray, b_mel: np.ndarray) -> Value:
    """Pearson correlation of the flattened dB Mels, x100 (higher is better).

    Undefined (NaN) when either matrix is constant, e.g. digital silence;
    :func:`serumrnn.server.audio_io.check_signal` keeps such clips out of the system.
    """
    a, b = _pair(a_mel, b_mel)
    a, b = np.broadcast_arrays(a, b)
    a = a.reshape(*a.shape[:-2], -1)
    b = b.reshape(*b.shape[:-2], -1)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt(np.sum(a * a, axis=-1) * np.sum(b * b, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, np.sum(a * b, axis=-1) / np.where(den > 0, den, 1.0), np.nan)
    return _out(SCALE * np.clip(r, -1.0, 1.0))


def multiscale_spectra(
    audio: np.ndarray,
    *,
    normalize: bool = True,
    fft_sizes: Sequence[int] = MSS_FFT_SIZES,
    dtype: type = np.float64,
    overlap: int = 4,
) -> tuple[np.ndarray, ...]:
    """Magnitude STFTs (B, T_i, n_i//2+1) at each FFT size, hop n//4 (75 % overlap).

    Same STFT conventions as the features (periodic Hann, centred, reflect
    padding), computed in float64 because the log term magnifies rounding
    noise in near-empty bins. Precompute these for a target that is compared
    against many outputs. ``dtype=np.float32, overlap=1`` (hop n) is the fast estimate
    a search uses: over 28 open-rack pairs of 7 presets it was 0.5 % above the MSSMAE on
    average and 2.0 % at most (hop n//2: 0.2 % and 0.8 %), for a fraction of the work;
    every reported value is the float64, hop n//4 one.
    """
    x, _ = F.as_batch(audio)
    x = (F.peak_normalize(x) if normalize else x).astype(dtype)
    return tuple(np.abs(F.stft(x, n, n // overlap)) for n in fft_sizes)


def log_spectra(specs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The log terms of MSSMAE, ``log(S + 1e-10)`` per scale: compute them once per sound
    that is compared many times (a target, the current sound of a search)."""
    return tuple(np.log(s + MSS_LOG_EPS) for s in specs)


def mssmae_from_logs(
    a_specs: Sequence[np.ndarray],
    a_logs: Sequence[np.ndarray],
    b_specs: Sequence[np.ndarray],
    b_logs: Sequence[np.ndarray],
    *,
    alpha: float = MSS_ALPHA,
) -> Value:
    """MSSMAE from spectra and their :func:`log_spectra` (the same value as
    :func:`mssmae_from_spectra`, without recomputing the logs)."""
    total = 0.0
    for sa, la, sb, lb in zip(a_specs, a_logs, b_specs, b_logs, strict=True):
        lin = np.mean(np.abs(sa - sb), axis=(-2, -1))
        log = np.mean(np.abs(la - lb), axis=(-2, -1))
        total = total + lin + alpha * log
    return _out(SCALE * total / len(a_specs))


def mssmae_from_spectra(
    a_specs: Sequence[np.ndarray], b_specs: Sequence[np.ndarray], *, alpha: float = MSS_ALPHA
) -> Value:
    """MSSMAE from :func:`multiscale_spectra` outputs (per clip, batched)."""
    return mssmae_from_logs(a_specs, log_spectra(a_specs), b_specs, log_spectra(b_specs), alpha=alpha)


def mssmae(
    a_audio: np.ndarray, b_audio: np.ndarray, *, normalize: bool = True, alpha: float = MSS_ALPHA
) -> Value:
    """Multi-scale spectral MAE, x100, following the *paper's* equation (6).

    ``mean over FFT sizes of [MAE(S, S') + alpha * MAE(log(S+1e-10), log(S'+1e-10))]``
    with alpha = 0.1 and MAE a mean over bins and frames. The research code
    instead summed L1 norms with alpha = 1; we follow the paper, so absolute
    values are not comparable with numbers produced by that code.

    Audio is peak-normalised first (``normalize=True``), like the features:
    all six metrics then measure timbre, not playback gain, and a render that
    differs from the target only in level scores 0 on every metric.
    """
    squeeze = np.ndim(a_audio) == 1 and np.ndim(b_audio) == 1
    out = mssmae_from_spectra(
        multiscale_spectra(a_audio, normalize=normalize),
        multiscale_spectra(b_audio, normalize=normalize),
        alpha=alpha,
    )
    return float(out[0]) if squeeze and isinstance(out, np.ndarray) else out


def distances_from_features(
    a_mel: np.ndarray,
    b_mel: np.ndarray,
    *,
    a_mfcc: np.ndarray | None = None,
    b_mfcc: np.ndarray | None = None,
    a_audio: np.ndarray | None = None,
    b_audio: np.ndarray | None = None,
) -> dict[str, Value]:
    """All six metrics from precomputed features (MFCCs derived if not given).

    MSSMAE needs the audio; without ``a_audio`` and ``b_audio`` it is NaN, so
    the dict always has every key of :data:`METRICS`.
    """
    a_mfcc = F.mfcc(a_mel) if a_mfcc is None else a_mfcc
    b_mfcc = F.mfcc(b_mel) if b_mfcc is None else b_mfcc
    if a_audio is not None and b_audio is not None:
        mss = mssmae(a_audio, b_audio)
    else:
        shape = np.broadcast_shapes(np.shape(a_mel)[:-2], np.shape(b_mel)[:-2])
        mss = _out(np.full(shape, np.nan))
    return {
        "mse": mse(a_mel, b_mel),
        "mae": mae(a_mel, b_mel),
        "lsd": lsd(a_mel, b_mel),
        "mfccd": mfccd(a_mfcc, b_mfcc),
        "pcc": pcc(a_mel, b_mel),
        "mssmae": mss,
    }


def distances(a_audio: np.ndarray, b_audio: np.ndarray) -> dict[str, Value]:
    """All six metrics between audio clips (1-D pair, or batches that broadcast).

    Features are computed once per clip and shared by the five feature metrics.
    Conventionally ``a`` is the input or output and ``b`` the target.
    """
    a_mel, a_mfcc = F.features(a_audio)
    b_mel, b_mfcc = F.features(b_audio)
    return distances_from_features(
        a_mel, b_mel, a_mfcc=a_mfcc, b_mfcc=b_mfcc, a_audio=a_audio, b_audio=b_audio
    )


def delta_value(input_d: Value, output_d: Value) -> tuple[Value, Value]:
    """(Δ, Δ%) for one metric: Δ = output - input, Δ% = 100·Δ/|input| (NaN if input is 0).

    Dividing by |input| keeps the sign of Δ% equal to the sign of Δ; it is
    identical to Δ/input for the five distances (never negative) and for
    positive PCC, which covers every value in the paper's tables.
    """
    i, o = np.asarray(input_d, dtype=np.float64), np.asarray(output_d, dtype=np.float64)
    d = o - i
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(i != 0, 100.0 * d / np.where(i != 0, np.abs(i), 1.0), np.nan)
    return _out(d), _out(pct)


def delta(
    input_d: Mapping[str, Value], output_d: Mapping[str, Value]
) -> tuple[dict[str, Value], dict[str, Value]]:
    """(Δ, Δ%) dicts for every metric present in both; both measured against the target.

    For PCC a positive Δ is an improvement; for the others a negative one
    (see :data:`LOWER_IS_BETTER`).
    """
    keys = [k for k in input_d if k in output_d]
    pairs = {k: delta_value(input_d[k], output_d[k]) for k in keys}
    return {k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}
