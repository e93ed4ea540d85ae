"""The retry rule for a step a capture took back: intensity knobs scaled, the capture's
difference from the simulation carried over, the nearest corrected setting offered."""

from __future__ import annotations

import numpy as np
import pytest

from serumrnn.server import capture_retry as R
from serumrnn.server import spec
from serumrnn.server.rack import FX


def test_every_spec_knob_is_intensity_or_kept_and_scaling_moves_only_intensity():
    for eff in spec.EFFECTS:
        assert set(R.INTENSITY[eff.name]) <= {k.name for k in eff.knobs}, eff.name
    fx = FX("eq", freq=0.7, q=0.4, gain=0.9)
    half = R.scaled(fx, 0.5)
    assert half.knobs["gain"] == pytest.approx(0.7) and half.knobs["freq"] == 0.7 and half.knobs["q"] == 0.4
    assert R.scaled(FX("reverb", mix=0.6, low_cut=0.1, high_cut=0.8), 0.25).knobs["mix"] == pytest.approx(
        0.15
    )
    loud = R.scaled(FX("distortion", mode="Tube", drive=0.9), 1.3)  # clipped to 0..1
    assert loud.knobs["drive"] == 1.0 and loud.knobs["mode"] == 0.0


def test_the_capture_residual_decides_the_scale():
    """Simulated mels grow with intensity; the real plugin adds 2 more units at full scale.
    The target is the real sound at half intensity: the corrected prediction finds 0.5."""
    shape = (128, 87)
    target = np.full(shape, 0.5 * 4 + 0.5 * 2.0) / 100
    sims = [np.full(shape, a * 4) / 100 for a in (0.15, 0.35, 0.5, 0.8, 1.3)]
    tried, captured = np.full(shape, 4.0) / 100, np.full(shape, 6.0) / 100
    fx = FX("distortion", mode="Tube", drive=0.8)
    before = 1.0
    r = R.choose(fx, sims, tried, captured, target, before, scales=(0.15, 0.35, 0.5, 0.8, 1.3))
    assert r is not None and r.scale == 0.5 and r.fx.knobs["drive"] == pytest.approx(0.4)
    assert r.predicted_mse == pytest.approx(0.0, abs=1e-12)
    # without the capture's correction the plain simulation would pick another scale
    plain = R.predict_mse(sims, (0.15, 0.35, 0.5, 0.8, 1.3), tried, tried, target)
    assert int(np.argmin(plain)) != 2
    # nothing predicted nearer than before: no retry
    assert R.choose(fx, sims, tried, captured, target, 0.0, scales=(0.15, 0.35, 0.5, 0.8, 1.3)) is None
