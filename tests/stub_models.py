"""Scripted stand-ins for a group's trained models: tests that must exercise a code path
every time (a bad candidate, a take-back, a stuck request) cannot rely on what a trained
model happens to predict, so these answer exactly what the test scripts, in milliseconds
and without TensorFlow."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.server.models import StepModels, effect_of_model
from serumrnn.server.rack.render import RenderSettings

GROUP = "basic_shapes"


def mid_knobs(effect: str) -> dict[str, float]:
    """Every continuous knob at the middle of its Table 1 span, categorical ones on class 0."""
    eff = spec.effect(effect)
    out = {k.name: (k.span[0] + k.span[1]) / 2 for k in eff.continuous}
    out.update({k.name: 0.0 for k in eff.categorical})
    return out


class StubModels:
    """Implements ``serumrnn.server.models.StepModels``, what the assistant and the OSC
    server need of a group's models (mypy checks it: :func:`as_step_models`).

    ``ranking``: effects from most to least probable for the selector (every call; default
    the spec's order). ``knobs``: per effect, the knob values its parameter model returns
    (Serum-normalized; a categorical knob as a class index; default :func:`mid_knobs`).
    ``mode_probs``: the distortion model's mode distribution (default: one-hot on the
    scripted mode). ``gate``: while cleared, every prediction waits on it (a stuck
    request). ``calls`` counts predictions per model name (thread-safe).
    """

    def __init__(
        self,
        ranking: Sequence[str] | None = None,
        knobs: Mapping[str, Mapping[str, float]] | None = None,
        mode_probs: Sequence[float] | None = None,
        group: str = GROUP,
        gate: threading.Event | None = None,
    ):
        self.ranking = list(spec.EFFECT_NAMES if ranking is None else ranking)
        self.knobs = {e: dict(k) for e, k in (knobs or {}).items()}
        self.mode_probs = mode_probs
        self.group, self.folder = group, Path("stub")
        self.manifest: dict[str, Any] = {"created": "stub", "render": {}}
        self.models: dict[str, Any] = {}
        self.gate = gate
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def render_settings(self) -> RenderSettings:
        return RenderSettings()

    def predict(self, name: str, inputs: Mapping[str, np.ndarray]) -> Any:
        with self._lock:
            self.calls[name] += 1
        if self.gate is not None:
            self.gate.wait()
        rows = len(next(iter(inputs.values())))
        if name in ("selector", "selector_ni"):
            p = np.array(
                [2.0 ** -(self.ranking.index(e) if e in self.ranking else 9) for e in spec.EFFECT_NAMES]
            )
            return np.tile(p / p.sum(), (rows, 1)).astype(np.float32)
        effect = effect_of_model(name)
        if effect is None:
            raise KeyError(f"the stub has no model {name!r}")
        eff = spec.effect(effect)
        values = self.knobs.get(effect) or mid_knobs(effect)
        out = {"continuous": np.tile([values[k.name] for k in eff.continuous], (rows, 1)).astype(np.float32)}
        for k in eff.categorical:
            probs = (
                np.asarray(self.mode_probs, np.float32)
                if self.mode_probs is not None
                else np.eye(len(k.choices), dtype=np.float32)[int(values[k.name])]
            )
            out[k.name] = np.tile(probs, (rows, 1))
        return out


def as_step_models(models: StubModels) -> StepModels:
    """The stub as the protocol the assistant takes (a type error here if it drifts)."""
    return models


def stub_models(gate: threading.Event | None = None) -> dict[str, StubModels]:
    """The OSC server's ``models`` argument: one stub group, spec-order ranking, mid knobs."""
    return {GROUP: StubModels(gate=gate)}
