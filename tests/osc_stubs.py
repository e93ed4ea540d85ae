"""Scripted stand-ins for trained models, so the OSC server's hardening tests run every
code path in seconds without TensorFlow, and a test can make a request hang on purpose."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.server.models import effect_of_model
from serumrnn.server.rack.render import RenderSettings

GROUP = "basic_shapes"


class StubModels:
    """``GroupModels``' interface with fixed outputs: the selector ranks the effects in
    spec order, every parameter model asks for mid-range knobs and the first mode.

    ``gate``: while cleared, every prediction waits on it (a stuck request); ``calls``
    counts predictions per model (a step runs the selector once).
    """

    def __init__(self, gate: threading.Event | None = None):
        self.group, self.folder = GROUP, Path("<stub>")
        self.manifest: dict[str, Any] = {"render": {}}
        self.models: dict[str, Any] = {}
        self.gate = gate
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def render_settings(self) -> RenderSettings:
        return RenderSettings()

    def predict(self, name: str, inputs: Mapping[str, np.ndarray]) -> Any:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
        if self.gate is not None:
            self.gate.wait()
        if name == "selector":
            n = len(spec.EFFECT_NAMES)
            return np.linspace(0.9, 0.1, n, dtype=np.float32)[None]
        eff = spec.effect(effect_of_model(name))
        out: dict[str, np.ndarray] = {}
        n_cont = sum(not k.categorical for k in eff.knobs)
        if n_cont:
            mids = [(min(r[0] for r in k.ranges) + max(r[1] for r in k.ranges)) / 2
                    for k in eff.knobs if not k.categorical]
            out["continuous"] = np.asarray(mids, np.float32)[None]
        for k in eff.knobs:
            if k.categorical:
                one = np.zeros((1, len(k.choices)), np.float32)
                one[0, 0] = 1.0
                out[k.name] = one
        return out


def stub_models(gate: threading.Event | None = None) -> dict[str, StubModels]:
    return {GROUP: StubModels(gate)}
