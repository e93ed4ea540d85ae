"""Loading and writing user audio files, robustly.

Users drop arbitrary files on the system: any rate, channel count, bit depth,
length, and sometimes things that are not audio at all. Everything that can go
wrong is reported as one exception type, :class:`AudioInputError`, whose
``code`` is a stable short string the UI can switch on and whose message names
the file, so a person can tell *which* file is wrong and *why*.

Files are opened by :func:`serumrnn.server.safe_open.open_regular` (regular files only, never a
blocking open) and handed to soundfile as file objects. That way ``bytes`` paths and
non-UTF-8 names (``os.fsdecode`` with surrogateescape) work, which soundfile's own path
handling does not support.

Memory is bounded whatever the header claims: the sample rate must lie in
:data:`MIN_RATE`..:data:`MAX_RATE`, only the clip's head is read, in blocks of at most
:data:`READ_BLOCK_BYTES`, and every temporary is float32. The worst case of one load is
about 9 MB (:func:`worst_case_bytes`).
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import tempfile
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np
import soundfile as sf

from serumrnn.server.safe_open import FileRefused, open_regular

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

SAMPLE_RATE = 44100
DURATION_S = 1.0
MAX_BYTES = 2 * 1024**3  # 2 GiB: beyond this a "sound" is surely a mistake
MAX_SECONDS = 3600.0  # longer than an hour is not plausibly one sound
SILENCE_PEAK = 1e-5  # -100 dBFS: below this nothing audible survives features
#: The loudest sample a real recording may hold: +60 dB over full scale. A float WAV may
#: go past 1.0, but a sample of 3e38 is a damaged file, and it would overflow the features.
MAX_PEAK = 1000.0
#: Sample rates a header may claim. Beyond 384 kHz no real recorder writes; a header that
#: claims 2**31 - 1 Hz would otherwise size the read by it (5 GB for one request).
MIN_RATE, MAX_RATE = 1000, 384_000
#: The largest block read at once (all channels, float32) before mixing to mono.
READ_BLOCK_BYTES = 4 << 20
#: Extra seconds read beyond the clip, so the resampler's filter sees real signal at the cut.
_RESAMPLE_MARGIN_S = 0.01

# Every value AudioInputError.code can take.
CODES = (
    "missing",
    "is_directory",
    "permission",
    "empty",
    "too_large",
    "not_audio",
    "corrupt",
    "too_short",
    "non_finite",
    "silent",
    "noise_only",
    "io_error",
    "not_regular",
    "bad_path",
    "bad_rate",
)

# File starts that mean "this claims to be audio"; a failure to decode one of
# these is reported as corrupt rather than not-audio.
_AUDIO_MAGIC = (
    b"RIFF",
    b"RIFX",
    b"RF64",
    b"FORM",
    b"fLaC",
    b"OggS",
    b"ID3",
    b"BW64",
    b".snd",
    b"caff",
    b"\xff\xfb",
    b"\xff\xf3",
    b"\xff\xf2",
)


class AudioInputError(ValueError):
    """A user-supplied file or array cannot be used as audio.

    ``code`` is one of :data:`CODES`; ``path`` is the file (as ``str``) or the
    array's name. The message always contains a printable form of the path.
    """

    def __init__(self, code: str, path: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown AudioInputError code {code!r}")
        self.code = code
        self.path = path
        self.reason = message  # the message without the path, for replies short of room
        super().__init__(f"{_printable(path)}: {message}")


def _printable(path: str) -> str:
    """A form of ``path`` that is safe to print (undecodable bytes escaped)."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _fs_path(path: PathLike) -> str:
    """Normalise str/bytes/PathLike to a str, keeping raw bytes via surrogateescape."""
    return os.fsdecode(os.fspath(path))


def check_signal(audio: np.ndarray, name: str) -> np.ndarray:
    """Reject arrays that would give meaningless features; return ``audio``.

    Checks, in order: no samples (too_short), NaN/inf (non_finite), a peak over
    :data:`MAX_PEAK` (corrupt), peak below -100 dBFS (silent), and constant value i.e.
    DC only (silent, because peak normalisation would turn a DC offset into a
    "full-scale" sound with no spectrum above 0 Hz).
    """
    x = np.asarray(audio)
    if x.size == 0:
        raise AudioInputError("too_short", name, "contains no audio samples")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise AudioInputError("non_finite", name, f"contains {bad} NaN or infinite samples")
    peak = float(np.max(np.abs(x)))
    if peak > MAX_PEAK:
        raise AudioInputError(
            "corrupt",
            name,
            f"has samples up to {peak:.3g}, over {MAX_PEAK:.0f} times full scale: the file is "
            "damaged or not a recording",
        )
    if peak < SILENCE_PEAK:
        raise AudioInputError("silent", name, f"is silent (peak {_dbfs(peak)} dBFS, below -100 dBFS)")
    ac_peak = float(np.max(np.abs(x - np.mean(x, dtype=np.float64))))
    if ac_peak < SILENCE_PEAK:
        raise AudioInputError(
            "silent",
            name,
            f"has no signal: it is a constant DC offset of {float(np.mean(x)):.4g} with no sound",
        )
    return audio


def _dbfs(peak: float) -> str:
    return "-inf" if peak <= 0 else f"{20 * math.log10(peak):.1f}"


def _open_checked(path: str, max_bytes: int) -> tuple[io.BufferedReader, int]:
    """Open a regular, non-empty file of at most ``max_bytes``; return (file, size)."""
    try:
        f, size = open_regular(path, max_bytes)
    except FileRefused as e:
        raise AudioInputError(e.code, path, e.reason) from None
    if size == 0:
        f.close()
        raise AudioInputError("empty", path, "file is empty (0 bytes)")
    return f, size


def worst_case_bytes(sample_rate: int = SAMPLE_RATE, duration_s: float = DURATION_S) -> int:
    """An upper bound of the memory one :func:`load_clip` allocates for samples (float32
    throughout): one read block, and up to three copies of the mono head at the highest
    rate (the head, and the signal checks' temporaries), and the resampled clip twice."""
    head = int(math.ceil((duration_s + _RESAMPLE_MARGIN_S) * MAX_RATE))
    return READ_BLOCK_BYTES + 3 * 4 * head + 2 * 4 * int(round(sample_rate * duration_s))


class _VirtualFile:
    """The file interface soundfile's virtual I/O needs, minus exceptions in seek.

    libsndfile probing a damaged header may seek to a negative offset; a raw
    file object would raise inside a C callback (printed as an ignored
    exception). Here a failed seek simply leaves the position unchanged, which
    libsndfile then reports as a normal open error.
    """

    def __init__(self, f: io.BufferedReader) -> None:
        self._f = f

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self._f.seek(offset, whence)
        except (OSError, ValueError):
            return self._f.tell()

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buffer: WriteableBuffer) -> int:
        return self._f.readinto(buffer)


def _check_riff_truncation(f: BinaryIO, path: str, size: int) -> None:
    """Detect a WAV whose data chunk is cut short (e.g. an interrupted download).

    libsndfile silently reads whatever is present, so without this a truncated
    file would load as a shorter, zero-padded clip with no warning.
    """
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        f.seek(0)
        return
    pos = 12
    for _ in range(256):  # real files have a handful of chunks before "data"
        if pos + 8 > size:
            break
        f.seek(pos)
        chunk = f.read(8)
        if len(chunk) < 8:
            break
        cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"data":
            available = size - (pos + 8)
            # 0 and 0xFFFFFFFF are placeholders written by streaming recorders.
            if csize not in (0, 0xFFFFFFFF) and csize > available:
                f.seek(0)
                raise AudioInputError(
                    "corrupt",
                    path,
                    f"is truncated: header declares {csize} bytes of audio but only {available} are present",
                )
            break
        pos += 8 + csize + (csize & 1)
    f.seek(0)


def _classify_open_failure(f: BinaryIO, path: str, err: Exception) -> AudioInputError:
    """Tell 'not audio at all' from 'audio container that is broken'."""
    try:
        f.seek(0)
        magic = f.read(4)
    except OSError:
        magic = b""
    reason = str(err).split(": ", 1)[-1] if ": " in str(err) else str(err)
    if any(magic[: len(m)] == m for m in _AUDIO_MAGIC):
        return AudioInputError("corrupt", path, f"audio file is damaged or truncated ({reason})")
    return AudioInputError(
        "not_audio", path, f"is not a readable audio file ({reason}); use WAV, AIFF, FLAC or OGG"
    )


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling: soxr (librosa's default engine) when present."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    try:
        import soxr

        out: np.ndarray = soxr.resample(x.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ")
        return out.astype(np.float32, copy=False)
    except ImportError:
        from scipy.signal import resample_poly

        g = math.gcd(int(sr_in), int(sr_out))
        poly: np.ndarray = resample_poly(x, sr_out // g, sr_in // g)  # scipy is untyped
        return poly.astype(np.float32)


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return np.ascontiguousarray(x[:n], dtype=np.float32)
    out = np.zeros(n, dtype=np.float32)
    out[: len(x)] = x
    return out


def load_clip(
    path: PathLike,
    *,
    sample_rate: int = SAMPLE_RATE,
    duration_s: float = DURATION_S,
    max_bytes: int = MAX_BYTES,
    max_seconds: float = MAX_SECONDS,
) -> np.ndarray:
    """Load the first ``duration_s`` of a file as mono float32 at ``sample_rate``.

    Returns exactly ``round(sample_rate * duration_s)`` samples (trimmed or
    zero-padded). Only the needed head of the file is read, so a ten-minute
    file costs no more memory than a one-second one. The signal checks of
    :func:`check_signal` run on that head at the file's own rate, before
    resampling or padding (padding would hide a DC-only signal).

    Raises :class:`AudioInputError` for every failure.
    """
    p = _fs_path(path)
    if sample_rate <= 0 or not duration_s > 0:
        raise ValueError(f"sample_rate and duration_s must be positive, got {sample_rate}, {duration_s}")
    n_out = int(round(sample_rate * duration_s))
    f, size = _open_checked(p, max_bytes)
    with f:
        _check_riff_truncation(f, p, size)
        try:
            snd = sf.SoundFile(_VirtualFile(f))
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            raise _classify_open_failure(f, p, e) from None
        with snd:
            sr_in = int(snd.samplerate)
            if not MIN_RATE <= sr_in <= MAX_RATE:
                raise AudioInputError(
                    "bad_rate",
                    p,
                    f"header claims a sample rate of {sr_in} Hz, outside "
                    f"{MIN_RATE} Hz to {MAX_RATE // 1000} kHz (damaged or not a real recording)",
                )
            frames = int(snd.frames)
            if frames <= 0:
                raise AudioInputError("too_short", p, "contains no audio frames")
            if frames / sr_in > max_seconds:
                raise AudioInputError(
                    "too_large", p, f"is {frames / sr_in:.0f} s long, over the {max_seconds:.0f} s limit"
                )
            need = int(math.ceil(duration_s * sr_in)) + int(math.ceil(_RESAMPLE_MARGIN_S * sr_in))
            mono = _read_mono(snd, min(need, frames), p)
    if mono.size == 0:
        raise AudioInputError("too_short", p, "contains no audio frames")
    # exactly the samples used: the head and the margin the resampler reads past it
    check_signal(mono, p)
    return _fit_length(resample(mono, sr_in, sample_rate), n_out)


def _read_mono(snd: sf.SoundFile, frames: int, path: str) -> np.ndarray:
    """The first ``frames`` frames mixed to mono, read in blocks of at most
    :data:`READ_BLOCK_BYTES`, so the channel count claimed by a header cannot size an
    allocation."""
    channels = max(1, int(snd.channels))
    block = max(1, READ_BLOCK_BYTES // (4 * channels))
    out = np.empty(frames, np.float32)
    got = 0
    while got < frames:
        try:
            x = snd.read(min(block, frames - got), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioInputError("corrupt", path, f"audio data is damaged ({e})") from None
        if len(x) == 0:
            break
        n = len(x)
        out[got : got + n] = x[:, 0] if channels == 1 else x.mean(axis=1, dtype=np.float32)
        got += n
        del x  # else the last block stays alive while the next one is read
    return out[:got]


def write_wav(
    path: PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, *, subtype: str = "FLOAT"
) -> None:
    """Write a WAV atomically: a reader never sees a half-written file.

    The data goes to a temporary file in the same directory, is fsynced, then
    renamed over ``path`` with ``os.replace`` (atomic on POSIX and Windows).
    ``audio`` is (frames,) or (frames, channels).
    """
    p = _fs_path(path)
    x = np.asarray(audio)
    if x.ndim not in (1, 2):
        raise ValueError(f"{_printable(p)}: audio must be 1-D or (frames, channels), got {x.shape}")
    directory = os.path.dirname(os.path.abspath(p))
    try:
        mode = stat.S_IMODE(os.stat(p).st_mode)
    except OSError:
        mode = 0o644  # mkstemp's 0600 would make new renders private to us
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".wav")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w+b") as f:
            sf.write(f, x, int(sample_rate), format="WAV", subtype=subtype)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
