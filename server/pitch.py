"""Target checks and pitch: the models know one note, so a target at another pitch is
moved to it first (and the step result says so)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from serumrnn.server.audio_io import AudioInputError

#: A note needs at least this much sound above the noise floor to be matched.
MIN_ACTIVE_S = 0.2
#: Spectral flatness above this (0..1) with no detected pitch is "noise only".
NOISE_FLATNESS = 0.3
#: The models' note is matched within this many semitones; further, the sound is moved.
MAX_DETUNE_SEMITONES = 0.5
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(midi: float) -> str:
    """A note's name as Ableton Live shows it: MIDI 60 = C3, so the models' MIDI 48 is C2.

    The one convention for note names everywhere (report, terminal, device, docs); the MIDI
    number printed next to a name removes any doubt for other hosts (which may call 60 C4).
    """
    n = int(round(midi))
    return f"{NOTE_NAMES[n % 12]}{n // 12 - 2}"


@dataclass(frozen=True)
class PitchInfo:
    f0_hz: float | None  # median voiced f0, None when unpitched
    voiced_fraction: float
    midi: float | None  # fractional MIDI note of f0

    def semitones_to(self, note: int) -> float:
        return 0.0 if self.midi is None else note - self.midi


def detect_pitch(audio: np.ndarray, sr: int = 44100) -> PitchInfo:
    """Median f0 over voiced frames with librosa's pYIN (C1..C7)."""
    import librosa

    x = np.asarray(audio, np.float32)
    f0, voiced, _ = librosa.pyin(
        x, fmin=32.7, fmax=2093.0, sr=sr, frame_length=4096, hop_length=512, fill_na=np.nan
    )
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
        raise AudioInputError(
            "too_short",
            name,
            f"only {active:.2f} s of sound; a target needs at least {MIN_ACTIVE_S} s of a held note",
        )
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) + 1e-12
    flatness = float(np.exp(np.mean(np.log(spec))) / np.mean(spec))
    # pYIN finds a spurious low "pitch" in some noise frames, so ask for a mostly voiced
    # clip (every open-rack preset is voiced in at least two thirds of its frames).
    pitch = detect_pitch(audio, sr) if flatness > NOISE_FLATNESS else None
    if pitch is not None and (pitch.f0_hz is None or pitch.voiced_fraction < 0.5):
        raise AudioInputError(
            "noise_only",
            name,
            f"sounds like noise (spectral flatness "
            f"{flatness:.2f}, no steady pitch); a target must be a played note",
        )


def transpose(audio: np.ndarray, semitones: float, sr: int = 44100) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping duration (librosa's phase vocoder)."""
    import librosa

    if abs(semitones) < 0.05:
        return np.asarray(audio, np.float32)
    y = librosa.effects.pitch_shift(np.asarray(audio, np.float32), sr=sr, n_steps=float(semitones))
    return y.astype(np.float32)


@dataclass(frozen=True)
class NoteMatch:
    """A sound moved (or not) to the models' note, and what was done, in words."""

    audio: np.ndarray
    message: str | None  # None when nothing needed saying
    midi: float | None  # the detected pitch, None when unpitched
    shift: float  # semitones actually applied (0 when left as it is)


def to_model_note(audio: np.ndarray, name: str, what: str, note: int, sample_rate: int = 44100) -> NoteMatch:
    """Check a sound is a played note and move it to the models' note; say what was done.

    The models only know one note, so a sound at another pitch would be compared with
    the wrong harmonics. ``match`` and the OSC server's ``/target`` both use this.
    """
    check_target(audio, name, sample_rate)
    pitch = detect_pitch(audio, sample_rate)
    if pitch.midi is None:
        return NoteMatch(audio, f"{what} {name}: no clear pitch found, used as it is", None, 0.0)
    shift = pitch.semitones_to(note)
    if abs(shift) <= MAX_DETUNE_SEMITONES:
        return NoteMatch(audio, None, pitch.midi, 0.0)
    if _sub_octave(shift):
        return NoteMatch(
            audio,
            (
                f"{what} {name}: lowest pitch {note_name(pitch.midi)} (MIDI {pitch.midi:.1f}) is "
                f"whole octaves below {note_name(note)} (MIDI {note}); used as it is, since a sub "
                "oscillator reads this way (if the note is played in another octave, play it at "
                f"{note_name(note)})"
            ),
            pitch.midi,
            0.0,
        )
    moved = transpose(audio, shift, sample_rate)
    return NoteMatch(
        moved,
        (
            f"{what} transposed by {shift:+.1f} semitones from "
            f"{note_name(pitch.midi)} (MIDI {pitch.midi:.1f}) to "
            f"{note_name(note)} (MIDI {note})"
        ),
        pitch.midi,
        shift,
    )


def _sub_octave(shift: float) -> bool:
    """A pitch whole octaves *below* the note: a sub oscillator (as in several presets
    played at the models' note) reads the same as a lower octave, so it is not moved."""
    octaves = round(shift / 12)
    return octaves > 0 and abs(shift - 12 * octaves) <= MAX_DETUNE_SEMITONES


def _quick_midi(audio: np.ndarray, sample_rate: int) -> float | None:
    """A fast f0 estimate (librosa's YIN, median over frames 46 ms apart) as a fractional
    MIDI note, None when it finds nothing steady. About 2 ms for a second of audio against
    pYIN's hundreds; used only to skip the full check when it agrees that a sound is
    already at the note."""
    import librosa

    x = np.asarray(audio, np.float32)
    f0 = librosa.yin(x, fmin=32.7, fmax=2093.0, sr=sample_rate, frame_length=4096, hop_length=2048)
    f0 = f0[np.isfinite(f0)]
    if len(f0) == 0:
        return None
    hz = float(np.median(f0))
    spread = float(np.median(np.abs(12 * np.log2(f0 / hz))))
    return 69 + 12 * math.log2(hz / 440.0) if spread < 0.25 else None


def capture_to_model_note(audio: np.ndarray, name: str, note: int, sample_rate: int = 44100) -> NoteMatch:
    """A capture of the producer's current sound, moved to the models' note by the same
    rule as ``match``'s input (:func:`to_model_note`).

    A capture is played again at every step, nearly always at the note the device asks
    for, so a fast YIN estimate that puts it there (or whole octaves below: a sub
    oscillator) returns it unchanged; anything else goes through :func:`to_model_note`."""
    quick = _quick_midi(audio, sample_rate)
    if quick is not None:
        shift = note - quick
        if abs(shift) <= MAX_DETUNE_SEMITONES or _sub_octave(shift):
            return NoteMatch(np.asarray(audio, np.float32), None, quick, 0.0)
    return to_model_note(audio, name, "capture", note, sample_rate)
