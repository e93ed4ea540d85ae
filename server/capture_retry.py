"""Retrying an effect a capture took back, with knobs corrected by what the capture showed.

In the device's flow the server simulates candidates on the open rack, but the producer's
plugins are not the open rack: a step the simulation liked can make the real sound worse.
The capture of that step shows by how much. Its Mel spectrogram minus the simulation's
Mel spectrogram of the same chain is the plugins' difference from the simulator for this
effect at these knobs. For a retry, the effect's *intensity* knobs (the ones that say how
much of it there is: drive, mix, depth, gains) are scaled towards the effect's neutral
setting (or past the tried value), each scaled chain is simulated, the observed difference
is added to its simulation (scaled with the intensity, at most in full), and the setting
whose corrected Mel spectrogram is nearest the target is offered, when that is nearer
than the sound before the step. The next capture judges it like any step.

Besides the scaled settings, the effect's knobs are searched (the knob search of
:mod:`serumrnn.server.knob_search`, a wide one: the tried knobs were refused) on the same
corrected prediction, within :data:`RETRY_SEARCH_BUDGET` simulations (renders, not
captures): the capture's difference is added in proportion to each setting's intensity
against the tried one's (in full at the tried intensity or more). The setting predicted
nearest the target, scaled or searched, is offered.

The capture budget: :data:`RETRY_CAPTURES` retries per step, so at most ``1 +
RETRY_CAPTURES`` captures judge one step before the next effect is offered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from serumrnn.server import knob_search, spec
from serumrnn.server import metrics as M
from serumrnn.server.rack.chain import FX, Chain

if TYPE_CHECKING:
    from serumrnn.server.judge import Sound
    from serumrnn.server.verified_loop import VerifiedLoop

#: Retries of a taken-back effect per step (each costs one capture).
RETRY_CAPTURES = 2

#: Simulations the knob search of one retry may spend (the scaled settings are extra).
RETRY_SEARCH_BUDGET = 24

#: Intensities tried, relative to the last tried knobs (1 is the knobs the capture judged).
SCALES = (0.15, 0.35, 0.6, 0.8, 1.3)

#: Per effect, the knobs that set how much of the effect there is, and the value at which
#: there is none (or least). The other knobs (where: a frequency, a Q, a mode) are kept.
INTENSITY: Mapping[str, Mapping[str, float]] = {
    "compressor": {"low": 0.0, "mid": 0.0, "high": 0.0},
    "distortion": {"drive": 0.0},
    "eq": {"gain": 0.5},
    "phaser": {"depth": 0.0, "feedback": 0.0},
    "reverb": {"mix": 0.0},
}


def scaled(fx: FX, scale: float) -> FX:
    """``fx`` with its intensity knobs moved to ``neutral + scale * (knob - neutral)``, in
    0..1: a retry may leave Table 1's sampled span (a real plugin may need less of an
    effect than the models ever saw)."""
    eff = spec.effect(fx.name)
    knobs = dict(fx.knobs)
    for k in eff.knobs:
        neutral = INTENSITY[fx.name].get(k.name)
        if neutral is None:
            continue
        v = neutral + scale * (knobs[k.name] - neutral)
        knobs[k.name] = float(np.clip(round(v, 2), 0.0, 1.0))
    return fx.with_knobs(knobs)


def intensity(fx: FX) -> float:
    """How much of the effect there is: the intensity knobs' summed distance from neutral."""
    return float(sum(abs(fx.knobs[k] - v) for k, v in INTENSITY[fx.name].items()))


def residual_weight(fx: FX, tried: FX) -> float:
    """How much of the capture's difference (observed at ``tried``) to add to ``fx``'s
    simulation: its intensity against the tried one's, at most 1."""
    t = intensity(tried)
    return 1.0 if t <= 0 else min(1.0, intensity(fx) / t)


@dataclass(frozen=True)
class Retry:
    """The knobs to try next and why: the scale, the corrected Mel-MSE it predicts."""

    fx: FX
    scale: float
    predicted_mse: float

    def to_json(self) -> dict[str, float | dict[str, float]]:
        return {"scale": self.scale, "predicted_mse": self.predicted_mse, "knobs": dict(self.fx.knobs)}


def predict_mse(
    sim_mels: Sequence[np.ndarray],
    scales: Sequence[float],
    sim_mel_tried: np.ndarray,
    captured_mel: np.ndarray,
    target_mel: np.ndarray,
) -> np.ndarray:
    """Mel-MSE (the judge's ``mse``) to the target of each scaled simulation corrected by
    the capture's difference from the simulation of the tried knobs (in full at scale >= 1)."""
    residual = np.asarray(captured_mel, np.float64) - np.asarray(sim_mel_tried, np.float64)
    corrected = [
        np.asarray(mel, np.float64) + min(1.0, float(a)) * residual for mel, a in zip(sim_mels, scales)
    ]
    return np.array([float(M.mse(c, target_mel)) for c in corrected])


def choose(
    fx: FX,
    sim_mels: Sequence[np.ndarray],
    sim_mel_tried: np.ndarray,
    captured_mel: np.ndarray,
    target_mel: np.ndarray,
    before_mse: float,
    scales: Sequence[float] = SCALES,
) -> Retry | None:
    """The retry to offer, or None when no scaled setting is predicted nearer than the
    sound before the step (then the effect stays taken back)."""
    pred = predict_mse(sim_mels, scales, sim_mel_tried, captured_mel, target_mel)
    i = int(np.argmin(pred))
    if not pred[i] < before_mse:
        return None
    return Retry(scaled(fx, scales[i]), float(scales[i]), float(pred[i]))


def _searched(
    loop: VerifiedLoop, base: Chain, fx: FX, residual: np.ndarray, start_mse: float, seed: int
) -> Retry:
    """The knob search's best setting for ``fx`` on the corrected prediction."""
    target_mel = loop.target.mel

    def scores(fxs: Sequence[FX]) -> list[float]:
        sims = loop.simulator.sounds([base.then(f) for f in fxs])
        return [
            float(M.mse(s.mel + residual_weight(f, fx) * residual, target_mel)) for f, s in zip(fxs, sims)
        ]

    found = knob_search.search(fx, scores, start_mse, refused=True, budget=RETRY_SEARCH_BUDGET, seed=seed)
    return Retry(found.fx, residual_weight(found.fx, fx), float(found.score))


def plan_retry(
    loop: VerifiedLoop, tried: Chain, captured: Sound, before: Mapping[str, float]
) -> Retry | None:
    """After a capture took back the last effect of ``tried``: the retry to offer next
    (counted against the step's budget), or None (budget spent, or nothing predicted to
    help). The scaled and searched settings are simulated like candidates (they count as
    renders)."""
    position = len(tried) - 1
    used = loop.retries.get(position, 0)
    if used >= loop.retry_budget or not tried:
        return None
    fx, base = tried[-1], tried.prefix(position)
    sims = loop.simulator.sounds([tried] + [base.then(scaled(fx, a)) for a in SCALES])
    retry = choose(fx, [s.mel for s in sims[1:]], sims[0].mel, captured.mel, loop.target.mel, before["mse"])
    residual = np.asarray(captured.mel, np.float64) - np.asarray(sims[0].mel, np.float64)
    start = float(M.mse(captured.mel, loop.target.mel))
    searched = _searched(loop, base, fx, residual, start, seed=position + 7 * used)
    if searched.predicted_mse < min(before["mse"], np.inf if retry is None else retry.predicted_mse):
        retry = searched
    if retry is not None:
        loop.retries[position] = used + 1
    return retry
