"""Sounds as the judge reads them: a clip's features once, its multi-scale spectra and
their logs once, and its distances to the target (exact, or a search's fast estimate).

Kept apart from the judge (:mod:`serumrnn.server.judge`) because how a sound is measured
changes with the metrics and features, and what counts as closer changes with the judge's
rules; the judge re-exports these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import metrics as M


@dataclass(frozen=True)
class Sound:
    """A 1 s clip with what the models read and, once judged, its distance to the target.

    A target keeps its multi-scale spectra and their logs, in float64 and float32 (every
    sound is compared with it); a judged sound keeps only its six metrics (``dist``).
    ``exact`` is False for a search's fast estimate (MSSMAE from float32 spectra with a
    quarter of the frames, within about 2 %); what a step reports and every final decision
    use exact values.
    """

    audio: np.ndarray  # (44100,) float32
    mel: np.ndarray  # (128, 87) scaled dB Mel
    mfcc: np.ndarray  # (30, 87)
    specs: tuple[np.ndarray, ...] = ()  # float64 multi-scale magnitude spectra (targets)
    logs: tuple[np.ndarray, ...] = ()  # their log terms (MSSMAE)
    specs32: tuple[np.ndarray, ...] = ()  # the fast estimate's spectra (targets, searches)
    logs32: tuple[np.ndarray, ...] = ()
    dist: dict[str, float] | None = None  # the six metrics against the target
    exact: bool = True

    @property
    def features(self) -> tuple[np.ndarray, np.ndarray]:
        """(mel, mfcc): what the models read of this sound."""
        return self.mel, self.mfcc

    @property
    def distances(self) -> dict[str, float]:
        """``dist`` of a judged sound. A target is never judged, so asking it is a bug."""
        if self.dist is None:
            raise ValueError("this sound was not judged against a target: it has no distances")
        return self.dist


class SpectraSettings(TypedDict):
    """How ``metrics.multiscale_spectra`` computes a sound's spectra."""

    dtype: type
    overlap: int


#: The fast estimate's spectra: float32, hop n (a quarter of the frames; see
#: metrics.multiscale_spectra).
FAST: SpectraSettings = {"dtype": np.float32, "overlap": 1}
EXACT: SpectraSettings = {"dtype": np.float64, "overlap": 4}


def _spectra(
    a: np.ndarray, how: SpectraSettings
) -> list[tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]]:
    """Per clip: (spectra, logs) at every MSSMAE scale."""
    per_scale = M.multiscale_spectra(a, **how)
    out = []
    for r in range(len(a)):
        specs = tuple(s[r] for s in per_scale)
        out.append((specs, M.log_spectra(specs)))
    return out


def measure(
    audios: Sequence[np.ndarray] | np.ndarray, target: Sound | None = None, *, exact: bool = True
) -> list[Sound]:
    """Sounds of many clips (features and spectra batched). With ``target``: judged against
    it (``dist``); without: kept whole, to serve as a target. ``exact=False`` is a search's
    fast estimate: only the two distances the judge scores (Mel-MSE exact, MSSMAE from the
    fast spectra); :func:`exactly` completes it."""
    if len(audios) == 0:
        return []
    a = np.asarray(audios, np.float32)
    if a.ndim == 1:
        a = a[None]
    mel, mfcc = F.features(a)
    if target is None:
        s64, s32 = _spectra(a, EXACT), _spectra(a, FAST)
        return [Sound(a[r], mel[r], mfcc[r], *s64[r], *s32[r]) for r in range(len(a))]
    if not exact:  # the search's estimate, batched: Mel-MSE and MSSMAE only
        mse = np.atleast_1d(M.mse(mel, target.mel[None]))
        per_scale = M.multiscale_spectra(a, **FAST)
        mss = np.atleast_1d(
            M.mssmae_from_logs(
                per_scale,
                M.log_spectra(per_scale),
                [s[None] for s in target.specs32],
                [s[None] for s in target.logs32],
            )
        )
        return [
            Sound(a[r], mel[r], mfcc[r], dist={"mse": float(mse[r]), "mssmae": float(mss[r])}, exact=False)
            for r in range(len(a))
        ]
    d = M.distances_from_features(mel, target.mel[None], a_mfcc=mfcc, b_mfcc=target.mfcc[None])
    out = []
    for r, (specs, logs) in enumerate(_spectra(a, EXACT)):
        row = {k: float(np.asarray(v).reshape(-1)[r]) for k, v in d.items()}
        row["mssmae"] = float(M.mssmae_from_logs(specs, logs, target.specs, target.logs))
        out.append(Sound(a[r], mel[r], mfcc[r], dist=row, exact=True))
    return out


def judged(audio: np.ndarray, target: Sound) -> Sound:
    """One clip judged exactly against the target."""
    return measure([audio], target)[0]


def exactly(sound: Sound, target: Sound) -> Sound:
    """A fast estimate made exact: the six metrics, MSSMAE from the exact spectra."""
    if sound.exact:
        return sound
    raw = M.distances_from_features(sound.mel, target.mel, a_mfcc=sound.mfcc, b_mfcc=target.mfcc)
    specs, logs = _spectra(sound.audio[None], EXACT)[0]
    d = {k: float(v) for k, v in raw.items()}
    d["mssmae"] = float(M.mssmae_from_logs(specs, logs, target.specs, target.logs))
    return Sound(sound.audio, sound.mel, sound.mfcc, dist=d, exact=True)
