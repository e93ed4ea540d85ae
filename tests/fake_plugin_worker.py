"""Scripted renderers for the plugin host's tests: built in the worker process by name
(``PluginHost(..., factory="fake_plugin_worker:scripted")``), so a hang, a crash or a load
failure happens on cue without a real plugin misbehaving."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

#: Exit code of a scripted crash (the host's error reports it).
CRASH_CODE = 3
#: Seconds a render of preset ``slow`` takes.
SLOW_S = 0.6


class ScriptedRack:
    """Renders a constant clip; preset ``hang`` never returns, ``crash`` ends the process,
    ``slow`` takes :data:`SLOW_S` per render."""

    presets = ("init", "hang", "crash", "slow")

    def __init__(self, profile: Any, settings: Any, **options: Any):
        self.settings = settings

    def _script(self, preset: str | None) -> None:
        if preset == "hang":
            time.sleep(3600)
        if preset == "crash":
            os._exit(CRASH_CODE)
        if preset == "slow":
            time.sleep(SLOW_S)

    def render(self, chain: Any = (), preset: str | None = None, *, note: int | None = None) -> np.ndarray:
        self._script(preset)
        return np.full(self.settings.n_samples, 0.25 + 0.01 * len(chain), np.float32)

    def dry(self, preset: str | None = None, *, note: int | None = None) -> np.ndarray:
        return self.render((), preset, note=note)

    def process(self, audio: np.ndarray, chain: Any) -> np.ndarray:
        return np.asarray(audio, np.float32) * 0.5


def scripted(profile: Any, settings: Any, **options: Any) -> ScriptedRack:
    return ScriptedRack(profile, settings, **options)


def hang_on_load(profile: Any, settings: Any, **options: Any) -> ScriptedRack:
    time.sleep(3600)
    raise AssertionError("unreachable")


def crash_on_load(profile: Any, settings: Any, **options: Any) -> ScriptedRack:
    os._exit(CRASH_CODE)
