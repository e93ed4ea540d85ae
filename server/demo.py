"""A look at the rack without any model: every preset through a random effect chain.

Writes a dry and a processed WAV per preset, a JSON of the chains (so a producer can
dial the same settings in Serum) and one PNG of all Mel spectrograms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import progress, spec
from serumrnn.server.audio_io import write_wav
from serumrnn.server.rack import OpenRack
from serumrnn.server.rack import presets as P
from serumrnn.server.rack.chain import Chain
from serumrnn.server.sampling import random_effects, sample_chain

#: One preset of the demo: its name, the chain drawn for it, the dry and the wet clip.
MelRow = tuple[str, Chain, np.ndarray, np.ndarray]


def render_demo(out: Path, *, seed: int = 0) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rack = OpenRack()
    rows: list[MelRow] = []
    written: list[Path] = []
    chains: dict[str, dict[str, object]] = {}
    every = [(g, n) for g, names in P.GROUPS.items() for n in names]
    for group, name in progress.bar(every, desc="rendering presets"):
        k = int(rng.integers(1, len(spec.EFFECT_NAMES) + 1))
        subset = random_effects(rng, k)
        chain = sample_chain(subset, rng)
        dry, wet = rack.dry(name), rack.render(chain, name)
        for tag, audio in (("dry", dry), ("fx", wet)):
            path = out / f"{name}-{tag}.wav"
            write_wav(path, audio, rack.settings.sample_rate)
            written.append(path)
        chains[name] = {
            "group": group,
            "chain": chain.to_json(),
            "instructions": [fx.describe() for fx in chain],
        }
        rows.append((name, chain, dry, wet))
    meta = out / "chains.json"
    meta.write_text(json.dumps(chains, indent=2) + "\n")
    written.append(meta)
    progress.say("drawing the spectrograms")
    written.append(plot_mels(rows, out / "mel_spectrograms.png"))
    return written


def plot_mels(rows: Sequence[MelRow], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    audio = np.stack([a for r in rows for a in (r[2], r[3])])
    mel, _ = F.features(audio)
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 1.6 * len(rows)), sharex=True)
    for i, (name, chain, _, _) in enumerate(rows):
        for j, title in enumerate(("dry", " -> ".join(chain.order) or "dry")):
            ax = axes[i, j]
            ax.imshow(
                mel[2 * i + j] * F.TOP_DB,
                origin="lower",
                aspect="auto",
                vmin=-F.TOP_DB,
                vmax=20,
                cmap="magma",
            )
            ax.set_title(f"{name}: {title}", fontsize=7)
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
    fig.suptitle("Open rack presets: dry and through a random effect chain (dB Mel)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
