"""The capture retry's knob search: a taken-back effect is retried with searched knobs when
the capture-corrected prediction says they come nearer than every scaled setting."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from serumrnn.server import capture_retry as R
from serumrnn.server.rack.chain import FX, Chain

SHAPE = (128, 87)


class FakeSimulator:
    """Simulated Mel: 10 x the reverb's mix, everywhere (the open rack's stand-in)."""

    def __init__(self) -> None:
        self.renders = 0

    def sounds(self, chains):
        self.renders += len(chains)
        return [SimpleNamespace(mel=np.full(SHAPE, 10.0 * c[-1].knobs["mix"])) for c in chains]


def test_residual_weight_follows_intensity():
    tried = FX("reverb", mix=0.8, low_cut=0.2, high_cut=0.7)
    assert R.residual_weight(R.scaled(tried, 0.25), tried) == pytest.approx(0.25, abs=0.02)
    assert R.residual_weight(R.scaled(tried, 1.2), tried) == 1.0
    assert R.residual_weight(tried, FX("reverb", mix=0.0, low_cut=0.2, high_cut=0.7)) == 1.0


def test_a_searched_retry_beats_the_scaled_settings():
    """The plugin adds 2 units at the tried mix 0.9 (sim 9, captured 11), in proportion to
    the mix; the target is 3, reached at mix 0.245: no scale lands there (0.35 predicts
    3.85), the search comes nearer."""
    tried = FX("reverb", mix=0.9, low_cut=0.2, high_cut=0.7)
    loop = SimpleNamespace(
        retries={}, retry_budget=2, simulator=FakeSimulator(), target=SimpleNamespace(mel=np.full(SHAPE, 3.0))
    )
    captured = SimpleNamespace(mel=np.full(SHAPE, 11.0))
    sims = [np.full(SHAPE, 9.0 * a) for a in R.SCALES]
    scaled_only = R.choose(tried, sims, np.full(SHAPE, 9.0), captured.mel, loop.target.mel, 1e9)
    retry = R.plan_retry(loop, Chain([tried]), captured, {"mse": 1e9})
    assert retry is not None and scaled_only is not None
    assert retry.predicted_mse < scaled_only.predicted_mse * 0.8
    assert 0.2 < retry.fx.knobs["mix"] < 0.31
    assert loop.retries == {0: 1}
    assert loop.simulator.renders <= 1 + len(R.SCALES) + R.RETRY_SEARCH_BUDGET
