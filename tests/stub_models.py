"""Scripted stand-ins for a group's trained models: tests that must exercise a code path
every time (a bad candidate, a take-back) cannot rely on what a trained model happens to
predict, so these answer exactly what the test scripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from serumrnn.server import spec
from serumrnn.server.models import effect_of_model
from serumrnn.server.rack.render import RenderSettings


class StubModels:
    """Looks like ``server.models.GroupModels`` to ``Session``.

    ``ranking``: effects from most to least probable for the selector (every call).
    ``knobs``: per effect, the knob values its parameter model returns (Serum-normalized;
    the distortion mode as a class index). ``mode_probs``: the distortion model's mode
    distribution (default: one-hot on the scripted mode).
    """

    def __init__(self, ranking: Sequence[str], knobs: Mapping[str, Mapping[str, float]],
                 mode_probs: Sequence[float] | None = None, group: str = "basic_shapes"):
        self.ranking, self.knobs = list(ranking), {e: dict(k) for e, k in knobs.items()}
        self.mode_probs = mode_probs
        self.group, self.folder, self.manifest = group, Path("stub"), {"created": "stub"}
        self.calls: list[str] = []

    @property
    def render_settings(self) -> RenderSettings:
        return RenderSettings()

    def predict(self, name: str, inputs: Mapping[str, np.ndarray]):
        self.calls.append(name)
        rows = len(next(iter(inputs.values())))
        if name in ("selector", "selector_ni"):
            p = np.array([2.0 ** -(self.ranking.index(e) if e in self.ranking else 9)
                          for e in spec.EFFECT_NAMES])
            return np.tile(p / p.sum(), (rows, 1)).astype(np.float32)
        effect = effect_of_model(name)
        eff = spec.effect(effect)
        values = self.knobs[effect]
        out = {"continuous": np.tile([values[k.name] for k in eff.continuous], (rows, 1))
               .astype(np.float32)}
        for k in eff.categorical:
            probs = (np.asarray(self.mode_probs, np.float32) if self.mode_probs is not None
                     else np.eye(len(k.choices), dtype=np.float32)[int(values[k.name])])
            out[k.name] = np.tile(probs, (rows, 1))
        return out
