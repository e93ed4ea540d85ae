"""The evaluation's out-of-domain table: SerumRNN from a SoX sawtooth towards targets
that SoX's own effects made (``serumrnn eval``; the seeded, wider suite of the verified
loops is :mod:`serumrnn.training.ood_suite`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serumrnn.training.ood_suite import run_sox
from serumrnn.training.system_scores import TABLE_TOLERANCE, as_metric_dict, is_better, stops
from serumrnn.training.systems import make_cases, metrics_module, run_iterative

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.render import Renderer

#: Out-of-domain targets: SoX's own effects on a SoX sawtooth (arguments after the files).
OOD_TARGETS: dict[str, tuple[str, ...]] = {
    "overdrive 20": ("overdrive", "20"),
    "reverb 50": ("reverb", "50"),
    "phaser": ("phaser",),
    "equalizer 3000 1q +12": ("equalizer", "3000", "1q", "+12"),
    "compand": ("compand", "0.02,0.2", "6:-60,-40,-30,-10,0", "-6", "-60", "0.05"),
    "overdrive 20 + reverb 50": ("overdrive", "20", "reverb", "50"),
    "equalizer + phaser + reverb 30": ("equalizer", "3000", "1q", "+12", "phaser", "reverb", "30"),
}
OOD_SAW = ("synth", "1", "sawtooth", "130.81", "gain", "-n", "-6")  # MIDI 48 at -6 dBFS


def sox_sounds(folder: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The SoX sawtooth (MIDI 48) and each ``OOD_TARGETS`` effect applied to it by SoX."""
    from serumrnn.server.audio_io import load_clip

    need = "the out-of-domain evaluation (or pass --no-ood)"
    saw = folder / "saw.wav"
    run_sox(["-n", "-r", "44100", "-c", "1", str(saw), *OOD_SAW], need)
    targets = {}
    for k, (name, args) in enumerate(OOD_TARGETS.items()):
        out = folder / f"target{k}.wav"
        run_sox(["-G", str(saw), str(out), *args], need)
        targets[name] = load_clip(out)
    return load_clip(saw), targets


def evaluate_ood(models: GroupModels, renderer: Renderer, folder: Path) -> dict[str, Any]:
    """SerumRNN from the SoX sawtooth towards SoX-made targets (tolerance 1)."""
    M = metrics_module()
    saw, targets = sox_sounds(folder)
    cases = make_cases(
        list(targets), [saw] * len(targets), list(targets.values()), [()] * len(targets), range(len(targets))
    )
    trajs = run_iterative(cases, ["serumrnn"], models, renderer)[0]["serumrnn"]
    s = stops(trajs, TABLE_TOLERANCE)
    rows = {}
    for name, t, k in zip(targets, trajs, s):
        d, pct = M.delta(as_metric_dict(t.metrics[0]), as_metric_dict(t.metrics[k]))
        rows[name] = {
            "sox_args": list(OOD_TARGETS[name]),
            "effects": list(t.effects[:k]),
            "initial": as_metric_dict(t.metrics[0]),
            "final": as_metric_dict(t.metrics[k]),
            "delta": {m: float(v) for m, v in d.items()},
            "delta_pct": {m: float(v) for m, v in pct.items()},
            "improved": [
                m
                for m in M.METRICS
                if is_better(m, t.metrics[k][M.METRICS.index(m)], t.metrics[0][M.METRICS.index(m)])
            ],
            "trajectory_effects": list(t.effects),
        }
    return {"input": "sox -n -r 44100 -c 1 saw.wav " + " ".join(OOD_SAW), "targets": rows}
