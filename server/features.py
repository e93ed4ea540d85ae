"""The paper's input features (section 2.2): dB Mel spectrogram and 30 MFCCs.

Everything the models and the metrics see comes from here, so the numbers are
defined in exactly one place (the constants below) and computed by one fast,
batched path. It reproduces librosa (``melspectrogram`` -> ``power_to_db`` ->
``mfcc``) to float32 precision, but frames all clips at once with numpy
strides and does one real FFT call and one matrix product per chunk, instead
of librosa's per-clip Python overhead.

Conventions (those of the research code, see metrics-notes.md):

* audio is peak-normalised per clip first (a silent clip is left as is);
* STFT: periodic Hann window, ``center=True`` with *reflect* padding (the
  librosa default when the research code was written; librosa >= 0.10
  defaults to zero padding, so :func:`naive_features` asks for reflect);
* power spectrogram (``|X|**2``) -> Slaney Mel filter bank;
* dB with ``ref=1.0, amin=1e-10, top_db=80`` (the floor is 80 dB below each
  clip's own maximum), then divided by :data:`TOP_DB`. Values lie in roughly
  [-1, 0], but because ``ref`` is 1 and not the clip's maximum, loud bins of a
  peak-normalised clip can exceed 0 dB (a full-scale sine reaches about
  +20 dB, i.e. +0.25 after scaling). This is intended: it is what the models
  were trained on;
* MFCC: the first 30 coefficients of the orthonormal DCT-II along the Mel
  axis of the dB Mel in dB (i.e. the scaled matrix times 80).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import scipy.fft

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 512
N_MELS = 128
FMIN = 20.0
FMAX = 16000.0
TOP_DB = 80.0
AMIN = 1e-10
REF = 1.0
N_MFCC = 30
CLIP_SAMPLES = SAMPLE_RATE  # 1 s clips
N_FRAMES = 1 + CLIP_SAMPLES // HOP  # 87 with center=True


def settings() -> dict[str, float]:
    """The feature facts that data and models depend on: a data folder records them and
    a model manifest is checked against them (``models.feature_settings``)."""
    return {
        "sample_rate": SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop": HOP,
        "n_mels": N_MELS,
        "fmin": FMIN,
        "fmax": FMAX,
        "top_db": TOP_DB,
        "n_mfcc": N_MFCC,
    }


_CHUNK = 64  # clips per FFT call: bounds the framed copy to ~45 MB
#: Up to this many clips, the Mel GEMM runs on one BLAS thread. OpenBLAS's thread team
#: spin-waits for busy cores: with the other core busy (a server worker, training), a
#: one-clip Mel projection took 32 ms on 2 threads and 0.4 ms on one (``serumrnn bench``).
SINGLE_THREAD_CLIPS = 8


@functools.cache
def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann (scipy ``get_window('hann', n, fftbins=True)``), as librosa uses."""
    n = np.arange(n_fft, dtype=np.float64)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)
    w.setflags(write=False)
    return w


@functools.cache
def mel_basis(
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    fmin: float = FMIN,
    fmax: float = FMAX,
) -> np.ndarray:
    """The Slaney-normalised Mel filter bank, built once (librosa is imported lazily)."""
    import librosa

    fb = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float32
    )
    fb.setflags(write=False)
    return fb


def as_batch(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return (2-D float32 batch, whether the input was a single 1-D clip)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        return x[None, :], True
    if x.ndim == 2:
        return x, False
    raise ValueError(f"audio must be 1-D (samples) or 2-D (clips, samples), got {x.shape}")


def peak_normalize(audio_batch: np.ndarray) -> np.ndarray:
    """Scale each clip to peak 1 so features ignore playback gain; zeros stay zeros."""
    x, _ = as_batch(audio_batch)
    peak = np.max(np.abs(x), axis=-1, keepdims=True)
    scale = np.divide(1.0, peak, out=np.ones_like(peak), where=peak > 0)
    out: np.ndarray = (x * scale).astype(np.float32, copy=False)
    return out


def _frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centered, reflect-padded frames as a strided view: (B, T, n_fft)."""
    pad = n_fft // 2
    padded = np.pad(x, ((0, 0), (pad, pad)), mode="reflect")
    frames: np.ndarray = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
    return frames


def stft(audio_batch: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Complex STFT, (B, T, n_fft//2+1) - note time before frequency.

    Keeping frequency last lets the Mel projection be one GEMM over B*T rows.
    The dtype follows the input (float32 -> complex64, float64 -> complex128).
    """
    x = np.asarray(audio_batch)
    if x.ndim != 2:
        raise ValueError(f"expected (clips, samples), got {x.shape}")
    window = hann_window(n_fft).astype(x.dtype, copy=False)
    windowed = _frames(x, n_fft, hop) * window
    spec: np.ndarray = scipy.fft.rfft(windowed, axis=-1, workers=-1)  # scipy is untyped
    return spec


def _power(spec: np.ndarray) -> np.ndarray:
    power: np.ndarray = spec.real * spec.real + spec.imag * spec.imag
    return power


def power_to_db_scaled(mel_power: np.ndarray) -> np.ndarray:
    """librosa.power_to_db(ref=1, amin=1e-10, top_db=80) per clip, divided by 80.

    The top_db floor is relative to each clip's own maximum over (mel, time),
    exactly as librosa does for one clip at a time.
    """
    db = 10.0 * np.log10(np.maximum(mel_power, AMIN))
    db -= 10.0 * np.log10(max(AMIN, REF))
    floor = db.max(axis=(-2, -1), keepdims=True) - TOP_DB
    np.maximum(db, floor, out=db)
    scaled: np.ndarray = db / np.float32(TOP_DB)
    return scaled


@functools.cache
def _blas() -> ThreadpoolController:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _mel_db_chunk(x: np.ndarray) -> np.ndarray:
    power = _power(stft(peak_normalize(x)))  # (B, T, F)
    b, t, f = power.shape
    if b <= SINGLE_THREAD_CLIPS:
        with _blas().limit(limits=1, user_api="blas"):
            mel = power.reshape(b * t, f) @ mel_basis().T
    else:
        mel = power.reshape(b * t, f) @ mel_basis().T  # (B*T, M): one GEMM
    mel = mel.reshape(b, t, N_MELS).transpose(0, 2, 1)  # (B, M, T)
    return power_to_db_scaled(mel).astype(np.float32, copy=False)


def mel_db(audio: np.ndarray) -> np.ndarray:
    """Scaled dB Mel spectrogram: (B, 128, T), or (128, T) for a 1-D clip."""
    x, single = as_batch(audio)
    out = np.empty((len(x), N_MELS, 1 + x.shape[-1] // HOP), dtype=np.float32)
    for i in range(0, len(x), _CHUNK):
        out[i : i + _CHUNK] = _mel_db_chunk(x[i : i + _CHUNK])
    return out[0] if single else out


def mfcc(mel_db_batch: np.ndarray) -> np.ndarray:
    """First 30 MFCCs of a scaled dB Mel: DCT-II (ortho) along the Mel axis of dB (x80).

    Works on (..., 128, T); equals ``librosa.feature.mfcc(S=mel*80, n_mfcc=30)``.
    """
    s = np.asarray(mel_db_batch, dtype=np.float32) * np.float32(TOP_DB)
    c = scipy.fft.dct(s, type=2, norm="ortho", axis=-2, workers=-1)
    return np.ascontiguousarray(c[..., :N_MFCC, :], dtype=np.float32)


def features(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scaled dB Mel, MFCC) as float32: (B,128,T), (B,30,T); no batch axis for 1-D input."""
    mel = mel_db(audio)
    return mel, mfcc(mel)


def bare_stft(audio: np.ndarray) -> np.ndarray:
    """Magnitude STFT only, (B, 1025, T): the floor any feature pipeline pays.

    A benchmark baseline: how much of :func:`features` is the FFT itself.
    """
    x, single = as_batch(audio)
    mag = np.abs(stft(x)).transpose(0, 2, 1)
    out: np.ndarray = mag[0] if single else mag
    return out


def naive_features(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same features through librosa, one clip per call: reference and baseline.

    Used by tests to pin the fast path to librosa and by benchmarks as the
    "what we would have written without thinking" speed.
    """
    import librosa

    x, single = as_batch(audio)
    mels, mfccs = [], []
    for clip in peak_normalize(x):
        s = librosa.feature.melspectrogram(
            y=clip,
            sr=SAMPLE_RATE,
            n_fft=N_FFT,
            hop_length=HOP,
            n_mels=N_MELS,
            fmin=FMIN,
            fmax=FMAX,
            power=2.0,
            center=True,
            pad_mode="reflect",
        )
        db = librosa.power_to_db(s, ref=REF, amin=AMIN, top_db=TOP_DB)
        mels.append(db / TOP_DB)
        mfccs.append(librosa.feature.mfcc(S=db, n_mfcc=N_MFCC))
    mel, mf = np.stack(mels).astype(np.float32), np.stack(mfccs).astype(np.float32)
    return (mel[0], mf[0]) if single else (mel, mf)
