"""Target checks and pitch: the models know one note, so a target at another pitch is
moved to it first (and the step result says so)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from server.audio_io import AudioInputError

#: A note needs at least this much sound above the noise floor to be matched.
MIN_ACTIVE_S = 0.2
#: Spectral flatness above this (0..1) with no detected pitch is "noise only".
NOISE_FLATNESS = 0.3


@dataclass(frozen=True)
class PitchInfo:
    f0_hz: float | None        # median voiced f0, None when unpitched
    voiced_fraction: float
    midi: float | None         # fractional MIDI note of f0

    def semitones_to(self, note: int) -> float:
        return 0.0 if self.midi is None else note - self.midi


def detect_pitch(audio: np.ndarray, sr: int = 44100) -> PitchInfo:
    """Median f0 over voiced frames with librosa's pYIN (C1..C7)."""
    import librosa

    x = np.asarray(audio, np.float32)
    f0, voiced, _ = librosa.pyin(x, fmin=32.7, fmax=2093.0, sr=sr, frame_length=4096,
                                 hop_length=512, fill_na=np.nan)
    frac = float(np.mean(voiced)) if len(voiced) else 0.0
    good = f0[voiced & np.isfinite(f0)]
    if len(good) == 0:
        return PitchInfo(None, frac, None)
    hz = float(np.median(good))
    return PitchInfo(hz, frac, 69 + 12 * math.log2(hz / 440.0))


def check_target(audio: np.ndarray, name: str, sr: int = 44100) -> None:
    """A clear error for a target that is too short or noise only (silence is refused by
    ``audio_io.check_signal``)."""
    x = np.asarray(audio, np.float64)
    frame = sr // 100
    rms = np.sqrt(np.mean(x[: len(x) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    active = np.sum(rms > 10 ** (-50 / 20) * max(rms.max(), 1e-12)) / 100.0
    if active < MIN_ACTIVE_S:
        raise AudioInputError("too_short", name, f"only {active:.2f} s of sound; a target "
                              f"needs at least {MIN_ACTIVE_S} s of a held note")
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) + 1e-12
    flatness = float(np.exp(np.mean(np.log(spec))) / np.mean(spec))
    # pYIN finds a spurious low "pitch" in some noise frames, so ask for a mostly voiced
    # clip (every open-rack preset is voiced in at least two thirds of its frames).
    pitch = detect_pitch(audio, sr) if flatness > NOISE_FLATNESS else None
    if pitch is not None and (pitch.f0_hz is None or pitch.voiced_fraction < 0.5):
        raise AudioInputError("noise_only", name, f"sounds like noise (spectral flatness "
                              f"{flatness:.2f}, no steady pitch); a target must be a played note")


def transpose(audio: np.ndarray, semitones: float, sr: int = 44100) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping duration (librosa's phase vocoder)."""
    import librosa

    if abs(semitones) < 0.05:
        return np.asarray(audio, np.float32)
    y = librosa.effects.pitch_shift(np.asarray(audio, np.float32), sr=sr, n_steps=float(semitones))
    return y.astype(np.float32)
