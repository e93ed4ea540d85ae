"""Audio files built to lie: WAV headers claiming any rate or size, sparse files of any
length, and the plain saw the hostile cases start from. Shared by the hardening tests and
``scripts/attack_osc.py``."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SR = 44100


def saw(seconds: float = 1.0, midi: float = 48) -> np.ndarray:
    """A naive sawtooth at ``midi`` (default 48, the models' note), peak 0.4."""
    hz = 440.0 * 2 ** ((midi - 69) / 12)
    t = np.arange(int(SR * seconds)) / SR
    return (0.4 * (2.0 * ((hz * t) % 1.0) - 1.0)).astype(np.float32)


def wav_header(rate: int, data_bytes: int, channels: int = 1, bits: int = 16) -> bytes:
    """A PCM WAV header claiming whatever a test wants (the data need not follow)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block, bits)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_bytes & 0xFFFFFFFF)
    )
    return b"RIFF" + struct.pack("<I", (len(body) + data_bytes) & 0xFFFFFFFF) + body


def sparse_wav(path: Path, size: int, rate: int, channels: int = 1) -> Path:
    """A ``size``-byte WAV whose samples are a hole in the file system (costs no disk)."""
    with open(path, "wb") as f:
        f.write(wav_header(rate, size - 44, channels))
        f.truncate(size)
    return path
