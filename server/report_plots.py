"""The report's pictures: the Mel strip (input, each step, target) and what still differs,
with Hz and time axes and a colour scale in dB."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import features as F

#: Mel-axis tick marks, in Hz.
HZ_TICKS = (100, 300, 1000, 2000, 5000, 10000)
#: Pictures are saved sharp enough to open full size and zoom on a phone.
FIG_DPI = 160


def mel_axes(ax: Any, n_frames: int, label_y: bool) -> None:
    """Hz ticks on the Mel axis, seconds on the time axis."""
    import librosa

    centres = librosa.mel_frequencies(n_mels=F.N_MELS + 2, fmin=F.FMIN, fmax=F.FMAX)[1:-1]
    ticks = [t for t in HZ_TICKS if centres[0] <= t <= centres[-1]]
    ax.set_yticks([float(np.interp(t, centres, np.arange(F.N_MELS))) for t in ticks])
    ax.set_yticklabels([f"{t // 1000}k" if t >= 1000 else str(t) for t in ticks], fontsize=6)
    ax.tick_params(labelleft=label_y)
    secs = (0.0, 0.25, 0.5, 0.75, 1.0)
    ax.set_xticks([min(s * F.SAMPLE_RATE / F.HOP, n_frames - 1) for s in secs])
    ax.set_xticklabels([f"{s:g}" for s in secs], fontsize=6)
    ax.set_xlim(0, n_frames - 1)


def mel_strip(
    plt: Any,
    mels: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    width: float,
    height: float,
    title_size: float,
    time_size: float,
) -> tuple[Any, Any]:
    """Scaled dB Mel spectrograms side by side, ``width`` inches each, with Hz and time
    axes and one dB colour bar: the strip of the producer's report and of Figure 1.
    Returns matplotlib's (untyped) figure and colour bar for the caller to finish."""
    fig, axes = plt.subplots(
        1, len(mels), figsize=(width * len(mels) + 1.0, height), sharey=True, squeeze=False
    )
    im = None
    for i, (ax, m, title) in enumerate(zip(axes[0], mels, titles)):
        im = ax.imshow(m * F.TOP_DB, origin="lower", aspect="auto", vmin=-F.TOP_DB, vmax=20, cmap="magma")
        ax.set_title(title, fontsize=title_size)
        mel_axes(ax, m.shape[-1], label_y=i == 0)
        ax.set_xlabel("time (s)", fontsize=time_size)
    if im is None:
        raise ValueError("plot_progression needs at least one sound and its title")
    axes[0][0].set_ylabel("frequency (Hz)", fontsize=7)
    bar = fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.01)
    bar.set_label("level (dB)", fontsize=7)
    return fig, bar


def plot_progression(audios: Sequence[np.ndarray], titles: Sequence[str], path: Path) -> Path:
    """Input, each step and the target side by side as dB Mel spectrograms (Figure 1),
    with Hz and time axes and one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel, _ = F.features(np.stack([np.asarray(a, np.float32) for a in audios]))
    fig, bar = mel_strip(plt, list(mel), titles, width=1.9, height=2.7, title_size=8, time_size=6)
    bar.ax.tick_params(labelsize=6)
    fig.savefig(path, dpi=FIG_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_difference(now: np.ndarray, target: np.ndarray, path: Path, title: str) -> Path:
    """What remains: the dB Mel of the sound now minus the target's. Red where the sound
    now is louder than the target, blue where it is quieter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel, _ = F.features(np.stack([np.asarray(now, np.float32), np.asarray(target, np.float32)]))
    diff = (mel[0] - mel[1]) * F.TOP_DB
    lim = 30.0
    fig, ax = plt.subplots(figsize=(6.2, 2.8))
    im = ax.imshow(
        np.clip(diff, -lim, lim), origin="lower", aspect="auto", vmin=-lim, vmax=lim, cmap="RdBu_r"
    )
    mel_axes(ax, diff.shape[-1], label_y=True)
    ax.set_xlabel("time (s)", fontsize=7)
    ax.set_ylabel("frequency (Hz)", fontsize=7)
    ax.set_title(title, fontsize=8)
    bar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("now − target (dB)\nred: too loud, blue: too quiet", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    fig.savefig(path, dpi=FIG_DPI, bbox_inches="tight")
    plt.close(fig)
    return path
