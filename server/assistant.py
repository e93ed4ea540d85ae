"""The step loop (paper section 4.4): one effect at a time towards the target.

One step: features of the current sound and the target; the selector picks the next
effect (never one already applied: the most probable unused one); that effect's
parameter model sets its knobs; the new current sound is rendered (or, in Live, captured
after the producer applies the step). The CLI, the evaluation and the OSC server all use
this module.

Stopping follows the paper: a step that makes the distance to the target grow is a bad
step; the loop stops once more than ``tolerance`` bad steps (default 1) have happened, or
after all five effects. The result names the best step so a producer can roll back to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from server import features as F
from server import metrics as M
from server import spec
from server.audio_io import check_signal
from server.models import GroupModels, knobs_from_outputs
from server.rack.chain import FX, Chain

#: The distance the stopping rule watches (Mel MSE, the paper's headline metric).
STOP_METRIC = "mse"
MAX_STEPS = len(spec.EFFECT_NAMES)


@dataclass
class KnobSetting:
    name: str
    label: str
    serum_name: str
    serum_index: int
    value: float        # Serum-normalized 0..1
    text: str           # in a musical unit, e.g. "3.2 kHz", "Tube"


@dataclass
class StepReport:
    step: int                          # 1-based
    effect: str
    label: str
    enable: KnobSetting
    knobs: list[KnobSetting]
    fixed: list[KnobSetting]
    confidence: float                  # the selector's probability of this effect
    probabilities: dict[str, float]
    before: dict[str, float]
    after: dict[str, float] | None     # None until the new sound is known (captured flows)
    improved: bool | None
    instruction: str
    chain: list[dict[str, Any]] = field(default_factory=list)  # effects applied after this step

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def describe(fx: FX) -> tuple[KnobSetting, list[KnobSetting], list[KnobSetting]]:
    """Enable, sampled and fixed knobs of an effect as Serum names, values and text."""
    eff = fx.effect
    en = KnobSetting("enable", "On", eff.enable.serum_name, eff.enable.serum_index, 1.0, "On")
    knobs = [KnobSetting(k.name, k.label, k.serum_name, k.serum_index,
                         k.to_serum(fx.knobs[k.name]), k.text(fx.knobs[k.name])) for k in eff.knobs]
    fixed = [KnobSetting(f.name, f.name, f.serum_name, f.serum_index, f.value,
                         f.display.text(f.value)) for f in eff.fixed]
    return en, knobs, fixed


def instruction(fx: FX) -> str:
    """'Turn on Distortion: Mode Tube, Drive 72 %'."""
    return f"Turn on {fx.describe()}"


#: One sound as the loop keeps it: (Mel, MFCC, audio, multi-scale spectra). The spectra
#: are computed once per sound, so the target's are not redone at every step (they are
#: half of MSSMAE's cost: 7.6 of 17 ms on this CPU).
Sound = tuple


def _dist(a: Sound, b: Sound) -> dict[str, float]:
    d = M.distances_from_features(a[0], b[0], a_mfcc=a[1], b_mfcc=b[1])
    d["mssmae"] = M.mssmae_from_spectra(a[3], b[3])
    return {k: float(np.squeeze(v)) for k, v in d.items()}


def selector_batch(histories: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
                   targets: Sequence[tuple[np.ndarray, np.ndarray]],
                   applied: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
    """Selector inputs for many examples, padded to 5 steps: step j of example r pairs the
    sound ``histories[r][j]`` (mel, mfcc) with ``targets[r]``, with the one-hot of
    ``applied[r][j]`` ("initial" for the first step). Training, evaluation and the step
    loop all build the selector's input here."""
    b = len(histories)
    mel = np.zeros((b, MAX_STEPS, F.N_MELS, F.N_FRAMES, 2), np.float32)
    mfcc = np.zeros((b, MAX_STEPS, F.N_MFCC, F.N_FRAMES, 2), np.float32)
    app = np.zeros((b, MAX_STEPS, len(spec.STEP_TOKENS)), np.float32)
    present = np.zeros((b, MAX_STEPS, 1), np.float32)
    for r, (states, target, tokens) in enumerate(zip(histories, targets, applied)):
        for j, (sm, sc) in enumerate(states):
            mel[r, j, ..., 0], mel[r, j, ..., 1] = sm, target[0]
            mfcc[r, j, ..., 0], mfcc[r, j, ..., 1] = sc, target[1]
            app[r, j, spec.STEP_TOKENS.index(tokens[j])] = 1.0
            present[r, j] = 1.0
    return {"mel_seq": mel, "mfcc_seq": mfcc, "applied_seq": app, "step_present": present}


def selector_inputs(states: Sequence[tuple[np.ndarray, np.ndarray]],
                    target: tuple[np.ndarray, np.ndarray], applied: Sequence[str]
                    ) -> dict[str, np.ndarray]:
    """One selector example: the sounds so far (each paired with the target), padded to 5."""
    return selector_batch([states], [target], [applied])


class Session:
    """One producer's way from an input sound to a target, step by step.

    The source of the current sound is one of: an open-rack or plugin preset
    (``renderer`` + ``preset``), an input clip run through the rack (``renderer`` +
    ``input_audio``), or, in Live, whatever the device captures (pass ``current`` to
    :meth:`step`; without a renderer the "after" distance waits for the next capture).
    """

    def __init__(self, models: GroupModels, target: np.ndarray, *, renderer=None,
                 preset: str | None = None, input_audio: np.ndarray | None = None,
                 tolerance: int = 1, selector: str = "selector"):
        self.models, self.renderer, self.preset = models, renderer, preset
        self.input_audio = None if input_audio is None else check_signal(
            np.asarray(input_audio, np.float32), "input")
        self.tolerance, self.selector = tolerance, selector
        self.target_audio = check_signal(np.asarray(target, np.float32), "target")
        self.target = self._feats(self.target_audio)
        self.chain = Chain()
        self.states: list[Sound] = []
        self.steps: list[StepReport] = []
        self.bad_steps = 0
        if renderer is not None and (preset is not None or input_audio is not None):
            self.states.append(self._feats(self._render(self.chain)))

    # -- sound of a chain -------------------------------------------------------------
    @staticmethod
    def _feats(audio: np.ndarray) -> Sound:
        mel, mfcc = F.features(audio)
        return mel, mfcc, np.asarray(audio, np.float32), M.multiscale_spectra(audio)

    def _render(self, chain: Chain) -> np.ndarray:
        if self.input_audio is not None:
            return self.renderer.process(self.input_audio, chain)
        return self.renderer.render(chain, self.preset)

    @property
    def done(self) -> bool:
        return (len(self.chain) >= MAX_STEPS or self.bad_steps > self.tolerance)

    def distance(self, which: int = -1) -> dict[str, float]:
        return _dist(self.states[which], self.target)

    def _last_distance(self) -> dict[str, float]:
        """Distance of the newest state, computed once per state (judging a captured step
        and starting the next one both need it)."""
        state = self.states[-1]
        if getattr(self, "_cached", (None,))[0] is not state:
            self._cached = (state, self.distance())
        return self._cached[1]

    # -- one step --------------------------------------------------------------------
    def step(self, current: np.ndarray | None = None) -> StepReport:
        """Choose and set the next effect. ``current``: the sound as it is now (captured)."""
        if self.done:
            raise RuntimeError("the session is done: no effect is left or the stopping rule fired")
        if current is not None:
            feats = self._feats(check_signal(np.asarray(current, np.float32), "current"))
            if len(self.states) == len(self.chain) + 1:
                self.states[-1] = feats
            else:
                self.states.append(feats)
            self._judge_last()
        if len(self.states) != len(self.chain) + 1:
            raise RuntimeError("no current sound: give a renderer and preset/input, or pass "
                               "the captured sound")
        before = self._last_distance()
        applied = ["initial"] + list(self.chain.order)
        probs = np.asarray(self.models.predict(
            self.selector, selector_inputs([s[:2] for s in self.states], self.target[:2],
                                           applied)))[0]
        masked = probs.copy()
        for e in self.chain.order:
            masked[spec.EFFECT_NAMES.index(e)] = -1.0
        effect = spec.EFFECT_NAMES[int(np.argmax(masked))]
        cur, tgt = self.states[-1], self.target
        x = {"mel": np.stack([cur[0], tgt[0]], -1)[None], "mfcc": np.stack([cur[1], tgt[1]], -1)[None]}
        fx = knobs_from_outputs(effect, self.models.predict(f"param_{effect}", x))
        self.chain = self.chain.then(fx)
        after, improved = None, None
        if self.renderer is not None and (self.preset is not None or self.input_audio is not None):
            self.states.append(self._feats(self._render(self.chain)))
            after = self.distance()
            improved = after[STOP_METRIC] < before[STOP_METRIC]
            if not improved:
                self.bad_steps += 1
        en, knobs, fixed = describe(fx)
        report = StepReport(
            step=len(self.chain), effect=effect, label=fx.effect.label, enable=en, knobs=knobs,
            fixed=fixed, confidence=float(probs[spec.EFFECT_NAMES.index(effect)]),
            probabilities={e: float(p) for e, p in zip(spec.EFFECT_NAMES, probs)},
            before=before, after=after, improved=improved, instruction=instruction(fx),
            chain=self.chain.to_json())
        self.steps.append(report)
        return report

    def _judge_last(self) -> None:
        """With captured sound, the previous step is judged when its result arrives."""
        if self.steps and self.steps[-1].after is None and len(self.states) == len(self.chain) + 1:
            last = self.steps[-1]
            last.after = self._last_distance()
            last.improved = last.after[STOP_METRIC] < last.before[STOP_METRIC]
            if not last.improved:
                self.bad_steps += 1

    def undo(self) -> Chain:
        """Take the last step back (its effect switched off again)."""
        if not self.steps:
            raise RuntimeError("nothing to undo")
        last = self.steps.pop()
        if last.improved is False:
            self.bad_steps -= 1
        self.chain = self.chain.prefix(len(self.chain) - 1)
        del self.states[len(self.chain) + 1:]
        return self.chain

    def run(self) -> "Result":
        while not self.done:
            self.step()
        return self.result()

    def result(self) -> "Result":
        initial = self.distance(0) if self.states else None
        best = 0
        if initial is not None:
            d = [initial[STOP_METRIC]] + [s.after[STOP_METRIC] if s.after else np.inf for s in self.steps]
            best = int(np.argmin(d))
        return Result(steps=self.steps, initial=initial, best_step=best,
                      best_chain=self.chain.prefix(best).to_json(),
                      final=self.steps[-1].after if self.steps else initial)


@dataclass
class Result:
    steps: list[StepReport]
    initial: dict[str, float] | None
    best_step: int                 # 0 = the input itself; roll back to this many steps
    best_chain: list[dict[str, Any]]
    final: dict[str, float] | None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"steps": [s.to_json() for s in self.steps], "initial": self.initial,
                "best_step": self.best_step, "best_chain": self.best_chain, "final": self.final,
                "notes": self.notes}
