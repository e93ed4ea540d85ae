"""The step loop: one effect at a time from the producer's sound towards the target.

Three loops share this module (``Session(loop=...)``):

* ``"verified"`` (default): the selector ranks the effects not used yet; the top ``k``
  (default 3, at most every effect) each get knobs from their parameter model; each candidate is
  rendered from the input through the whole chain (the renderer processes in Serum's rack
  order); the judge (:mod:`serumrnn.server.judge`) picks the closest, and it is offered only when it
  beats the current sound by the judge's margin. When none of the top ``k`` does, the
  remaining effects are tried before the loop says it is done, so "no remaining effect
  brings it closer" is literally true. A step the render says is worse is never offered,
  so the current sound is always the best state reached.
* ``"refine"``: the same, with a short CMA-ES polish of the chosen effect's knobs
  (:mod:`serumrnn.server.refine`, ``refine_budget`` renders per step), kept only when it scores
  better.
* ``"paper"``: the paper's loop exactly (section 4.4): the most probable unused effect is
  applied blindly; a step that does not lower the Mel-MSE is bad, and the loop stops
  once more than ``tolerance`` bad steps have happened (the bad step is kept), or once
  every effect is on.

**In Live** (captured flow) the device sends what Serum really plays. The first capture
is the producer's dry sound; candidates are simulated from it through the open rack as a
stand-in for Serum. Each later capture judges the step applied before it: when it shows
the step made the sound worse, :meth:`Session.advance` returns a :class:`Verdict` that
says to take it back (the effect's enable parameter to 0) and offers the next candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import judge as J
from serumrnn.server import spec
from serumrnn.server.audio_io import check_signal
from serumrnn.server.judge import STOP_METRIC, Judge, Sound, Stop  # noqa: F401  (STOP_METRIC re-exported)
from serumrnn.server.models import (
    GroupModels,
    knobs_from_outputs,
    most_probable_unused,
    pair_inputs,
    param_model_name,
    rank_unused,
)
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.render import Renderer

LOOPS = ("verified", "refine", "paper")
DEFAULT_K = 3
#: Renders the refinement may spend per step (``loop="refine"``).
REFINE_BUDGET = 24
#: Only this much of any sound is used: the models were trained on 1 s clips.
CLIP_SECONDS = F.CLIP_SAMPLES / F.SAMPLE_RATE


def live_note_name(midi: int) -> str:
    """The note as Ableton Live names it (one home: :func:`serumrnn.server.pitch.note_name`)."""
    from serumrnn.server.pitch import note_name

    return note_name(midi)


def usage_notes(note: int) -> list[str]:
    """What a producer must know about any sound they give: one second, one note."""
    return [
        f"Only the first {CLIP_SECONDS:g} second of each sound is used.",
        f"The models know one note: play {live_note_name(note)} in Live (MIDI {note}); "
        "a target at another pitch is transposed to it.",
    ]


@dataclass
class KnobSetting:
    name: str
    label: str
    serum_name: str
    serum_index: int
    value: float  # Serum-normalized 0..1
    text: str  # in a musical unit, e.g. "3.2 kHz", "Tube"


@dataclass
class StepReport:
    step: int  # 1-based
    effect: str
    label: str
    enable: KnobSetting
    knobs: list[KnobSetting]
    fixed: list[KnobSetting]
    #: What the producer is shown as the step's confidence. Verified loops: the expected
    #: improvement, the share of the current distance this step removes on its render
    #: (0..1). The paper's loop: the selector's probability, as in the paper.
    confidence: float
    probabilities: dict[str, float]
    before: dict[str, float]
    after: dict[str, float] | None  # None until the new sound is known (captured flows)
    improved: bool | None
    instruction: str
    chain: list[dict[str, Any]] = field(default_factory=list)  # effects applied after this step
    loop: str = "paper"
    selector_probability: float = 0.0
    #: The six metrics the render of this step predicts (verified loops), and the share of
    #: the current distance it removes there.
    expected: dict[str, float] | None = None
    expected_improvement: float | None = None
    #: Every candidate rendered for this step: effect, selector probability, decision
    #: distance, Mel-MSE, MSSMAE, whether it beat the margin.
    candidates: list[dict[str, Any]] = field(default_factory=list)
    refine: dict[str, Any] | None = None  # what the knob refinement did (loop "refine")
    renders: int = 0  # renders this step needed
    take_back: dict[str, Any] | None = None  # the step this request took back first (Live)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    """A captured step judged on the real sound. ``take_back``: it made the sound worse
    (not closer by the judge's margin), so the device switches ``enable`` (value 0) off."""

    step: int
    effect: str
    label: str
    before: dict[str, float]
    after: dict[str, float]
    improved: bool
    take_back: bool
    enable: KnobSetting
    text: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Turn:
    """What one request to the loop produced: the judgement of the previous captured step
    (if this capture judged one), the next step (None when done) and the stop, if any."""

    judged: Verdict | None
    report: StepReport | None
    stop: Stop | None


@dataclass
class Candidate:
    effect: str
    probability: float
    fx: FX
    sound: Sound
    dist: dict[str, float]
    score: float
    refine: dict[str, Any] | None = None
    outputs: Any = None  # the parameter model's raw outputs

    @property
    def mode_probs(self) -> np.ndarray | None:
        """The distortion model's mode probabilities (for the refinement's mode tries)."""
        y = self.outputs
        return np.asarray(y["mode"])[0] if isinstance(y, dict) and "mode" in y else None

    def to_json(self, closer: bool) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "probability": self.probability,
            "score": self.score,
            "mse": self.dist["mse"],
            "mssmae": self.dist["mssmae"],
            "closer": closer,
            "refined": self.refine is not None and bool(self.refine.get("kept")),
        }


def describe(fx: FX) -> tuple[KnobSetting, list[KnobSetting], list[KnobSetting]]:
    """Enable, sampled and fixed knobs of an effect as Serum names, values and text."""
    eff = fx.effect
    en = KnobSetting("enable", "On", eff.enable.serum_name, eff.enable.serum_index, 1.0, "On")
    knobs = [
        KnobSetting(
            k.name,
            k.label,
            k.serum_name,
            k.serum_index,
            k.to_serum(fx.knobs[k.name]),
            k.text(fx.knobs[k.name]),
        )
        for k in eff.knobs
    ]
    fixed = [
        KnobSetting(f.name, f.label or f.name, f.serum_name, f.serum_index, f.value, f.text())
        for f in eff.fixed
    ]
    return en, knobs, fixed


def instruction(fx: FX) -> str:
    """'Turn on Distortion: Mode Tube, Drive 72 %'."""
    return f"Turn on {fx.describe()}"


def selector_batch(
    histories: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
    targets: Sequence[tuple[np.ndarray, np.ndarray]],
    applied: Sequence[Sequence[str]],
) -> dict[str, np.ndarray]:
    """Selector inputs for many examples, padded to ``spec.MAX_STEPS`` steps: step j of example r pairs the
    sound ``histories[r][j]`` (mel, mfcc) with ``targets[r]``, with the one-hot of
    ``applied[r][j]`` ("initial" for the first step). Training, evaluation and the step
    loop all build the selector's input here."""
    b = len(histories)
    n = spec.MAX_STEPS
    mel = np.zeros((b, n, F.N_MELS, F.N_FRAMES, 2), np.float32)
    mfcc = np.zeros((b, n, F.N_MFCC, F.N_FRAMES, 2), np.float32)
    app = np.zeros((b, n, len(spec.STEP_TOKENS)), np.float32)
    present = np.zeros((b, n, 1), np.float32)
    for r, (states, target, tokens) in enumerate(zip(histories, targets, applied)):
        for j, (sm, sc) in enumerate(states):
            mel[r, j, ..., 0], mel[r, j, ..., 1] = sm, target[0]
            mfcc[r, j, ..., 0], mfcc[r, j, ..., 1] = sc, target[1]
            app[r, j, spec.STEP_TOKENS.index(tokens[j])] = 1.0
            present[r, j] = 1.0
    return {"mel_seq": mel, "mfcc_seq": mfcc, "applied_seq": app, "step_present": present}


def selector_inputs(
    states: Sequence[tuple[np.ndarray, np.ndarray]],
    target: tuple[np.ndarray, np.ndarray],
    applied: Sequence[str],
) -> dict[str, np.ndarray]:
    """One selector example: the sounds so far (each paired with the target), padded."""
    return selector_batch([states], [target], [applied])


def _chain_key(chain: Chain) -> tuple:
    return tuple((f.name, tuple(sorted(f.knobs.items()))) for f in chain)


class Session:
    """One producer's way from an input sound to a target, step by step.

    The source of the current sound is one of: an open-rack or plugin preset
    (``renderer`` + ``preset``), an input clip run through the rack (``renderer`` +
    ``input_audio``), or, in Live, whatever the device captures (pass ``current`` to
    :meth:`advance` / :meth:`step`; the first capture is the input). The verified loops
    need a ``renderer`` to simulate candidates (the open rack, or a plugin profile).
    """

    def __init__(
        self,
        models: GroupModels,
        target: np.ndarray,
        *,
        renderer: Renderer | None = None,
        preset: str | None = None,
        input_audio: np.ndarray | None = None,
        tolerance: int = 1,
        selector: str = "selector",
        loop: str = "verified",
        k: int = DEFAULT_K,
        refine_budget: int = REFINE_BUDGET,
        decision: str = J.DECISION,
        margin: float = J.MARGIN,
        seed: int = 0,
    ):
        if loop not in LOOPS:
            raise ValueError(f"unknown loop {loop!r}; loops: {', '.join(LOOPS)}")
        if not 1 <= k <= spec.MAX_STEPS:
            raise ValueError(f"k must be 1..{spec.MAX_STEPS} (the number of effects), got {k}")
        if refine_budget < 0:
            raise ValueError(f"refine_budget must be 0 or more, got {refine_budget}")
        if loop != "paper" and renderer is None:
            raise ValueError(
                f"the {loop} loop renders candidates before it offers one: pass a "
                "renderer (the open rack or a plugin rack), or use loop='paper'"
            )
        self.models, self.renderer, self.preset = models, renderer, preset
        self.loop, self.k, self.refine_budget, self.seed = loop, k, refine_budget, seed
        self.decision, self.margin = decision, margin
        self.input_audio = (
            None if input_audio is None else check_signal(np.asarray(input_audio, np.float32), "input")
        )
        self.tolerance, self.selector = tolerance, selector
        self.target_audio = check_signal(np.asarray(target, np.float32), "target")
        self.target = J.measure([self.target_audio])[0]
        self.chain = Chain()
        self.states: list[Sound] = []
        self.steps: list[StepReport] = []
        self.taken_back: list[Verdict] = []
        self.rejected: set[str] = set()
        self.bad_steps = 0
        self.renders = 0
        self.stop: Stop | None = None
        self.judge: Judge | None = None
        self.warnings: list[str] = []
        self._sim_base: np.ndarray | None = None
        self._sims: dict[tuple, Sound] = {}
        if renderer is not None and self._rendered_flow:
            self._sim_base = (
                self.input_audio if self.input_audio is not None else renderer.render(Chain(), preset)
            )
            self._start(J.judged(self._sim_base, self.target))

    @property
    def _judge(self) -> Judge:
        """The judge, which exists once the input sound is known (rendered or captured)."""
        if self.judge is None:
            raise RuntimeError(
                "no input sound yet: give a preset or an input clip, or pass the captured sound"
            )
        return self.judge

    @property
    def _rack(self) -> Renderer:
        """The renderer, which every rendered flow and verified loop has (see ``__init__``)."""
        if self.renderer is None:
            raise RuntimeError("this session has no renderer to render candidates with")
        return self.renderer

    # -- sounds ------------------------------------------------------------------------
    def _start(self, sound: Sound) -> None:
        """The input is known: the judge's start, the simulation of the empty chain."""
        self.states = [sound]
        self._sims = {_chain_key(Chain()): sound}
        self.judge = Judge(self.distance(0), decision=self.decision, margin=self.margin)
        warn = J.out_of_domain(self.judge.start, getattr(self.models, "group", None))
        self.warnings = [warn] if warn else []

    @property
    def _rendered_flow(self) -> bool:
        """The current sound comes from the renderer (a preset or an input clip), not
        from captures."""
        return self.input_audio is not None or self.preset is not None

    def _render(self, chain: Chain) -> np.ndarray:
        """The simulated sound of ``chain`` from the input (rack order is the renderer's)."""
        self.renders += 1
        if self.preset is not None and self.input_audio is None:
            return self._rack.render(chain, self.preset)
        if self._sim_base is None:
            raise RuntimeError("no input sound to simulate from yet: pass the first capture")
        return self._rack.process(self._sim_base, chain)

    def _sims_of(self, chains: Sequence[Chain], *, exact: bool = False) -> list[Sound]:
        """Simulated sounds of several chains, judged (cached per chain, features batched).
        ``exact=False``: the search's fast estimate (see ``judge.Sound``)."""
        keys = [_chain_key(c) for c in chains]
        todo = [i for i, k in enumerate(keys) if k not in self._sims]
        if todo:
            made = J.measure([self._render(chains[i]) for i in todo], self.target, exact=exact)
            for i, s in zip(todo, made):
                self._sims[keys[i]] = s
        if exact:
            for k in keys:
                self._sims[k] = J.exactly(self._sims[k], self.target)
        return [self._sims[k] for k in keys]

    def _exact(self, cand: Candidate) -> Candidate:
        """The candidate with its exact distance and score (what is offered and reported)."""
        s = self._sims_of([self.chain.then(cand.fx)], exact=True)[0]
        return Candidate(
            cand.effect,
            cand.probability,
            cand.fx,
            s,
            s.distances,
            self._judge.score(s.distances),
            cand.refine,
            cand.outputs,
        )

    def _prune_sims(self) -> None:
        """Forget simulated sounds that are not on the current chain's path."""
        keep = {_chain_key(self.chain.prefix(n)) for n in range(len(self.chain) + 1)}
        self._sims = {k: v for k, v in self._sims.items() if k in keep}

    def distance(self, which: int = -1) -> dict[str, float]:
        return self.states[which].distances

    @property
    def done(self) -> bool:
        if self.loop == "paper":
            return len(self.chain) >= spec.MAX_STEPS or self.bad_steps > self.tolerance
        return self.stop is not None

    @property
    def stop_reason(self) -> str:
        """Why the session is done ("" while it is not): a key of ``judge.STOP_REASONS``."""
        if self.loop == "paper":
            if not self.done:
                return ""
            return "worse" if self.bad_steps > self.tolerance else "all_effects"
        return "" if self.stop is None else self.stop.reason  # done means stopped

    @property
    def best_step(self) -> int:
        """The step to keep (0 = the input): the verified loops keep every step; the
        paper's loop may have kept bad ones, so it is the lowest Mel-MSE."""
        if self.loop != "paper":
            return len(self.steps)
        return self.result().best_step

    def _selector_probs(self) -> np.ndarray:
        """The selector's probabilities for the next effect, from every sound so far."""
        applied = ["initial"] + list(self.chain.order)
        return np.asarray(
            self.models.predict(
                self.selector,
                selector_inputs([s.features for s in self.states], self.target.features, applied),
            )
        )[0]

    # -- one step ----------------------------------------------------------------------
    def step(self, current: np.ndarray | None = None) -> StepReport | None:
        """The next step (None when the verified loop is done: see ``self.stop``).
        ``current``: the sound as it is now (captured)."""
        return self.advance(current).report

    def advance(self, current: np.ndarray | None = None) -> Turn:
        """Judge the capture (if any), then choose the next step or stop."""
        if self.done:
            raise RuntimeError(
                "the session is done: " + (self.stop.text if self.stop else J.STOP_REASONS[self.stop_reason])
            )
        if self.loop == "paper":
            return Turn(None, self._paper_step(current), None)
        # A take-back puts its effect in ``rejected``: the search below offers the next one.
        judged = None if current is None else self._capture(current)
        if not self.states:
            raise RuntimeError("no current sound: give a preset or an input clip, or pass the captured sound")
        if len(self.states) != len(self.chain) + 1:
            raise RuntimeError(
                f"step {len(self.chain)} is not judged yet: pass the capture of the sound with it applied"
            )
        if self.stop is None:
            report = self._verified_step()
            if report is not None and judged is not None and judged.take_back:
                report.take_back = judged.to_json()
            return Turn(judged, report, self.stop)
        return Turn(judged, None, self.stop)

    def _capture(self, current: np.ndarray) -> Verdict | None:
        """A captured sound: the input (first), the result of the pending step (judged
        now) or a fresh take of the current state (replaces it)."""
        sound = J.judged(check_signal(np.asarray(current, np.float32), "current"), self.target)
        if not self.states:
            self._sim_base = sound.audio
            self._start(sound)
            return None
        if len(self.states) == len(self.chain) + 1:
            self.states[-1] = sound
            return None
        last = self.steps[-1]
        after = sound.distances
        closer = self._judge.closer(after, last.before)
        last.after, last.improved = after, closer
        eff = spec.effect(last.effect)
        off = KnobSetting("enable", "Off", eff.enable.serum_name, eff.enable.serum_index, 0.0, "Off")
        if closer:
            self.states.append(sound)
            if self._judge.reached(after):
                self.stop = J.stop("reached", len(self.steps))
            elif len(self.chain) >= spec.MAX_STEPS:
                self.stop = J.stop("all_effects", len(self.steps))
            text = f"Step {last.step} brought the sound closer."
        else:
            self.steps.pop()
            self.chain = self.chain.prefix(len(self.chain) - 1)
            self.rejected.add(last.effect)
            text = (
                f"Step {last.step} did not bring Serum's sound closer: turn "
                f"{eff.label} off again ({eff.enable.serum_name} = 0)."
            )
        verdict = Verdict(
            last.step, last.effect, last.label, last.before, after, closer, not closer, off, text
        )
        if not closer:
            self.taken_back.append(verdict)
        return verdict

    def _candidates(self, effects: Sequence[str], probs: np.ndarray) -> list[Candidate]:
        """Each effect with knobs from its model on (current, target), rendered from the
        input through the whole chain and judged."""
        x = pair_inputs(self.states[-1].features, self.target.features)
        ys = [self.models.predict(param_model_name(e), x) for e in effects]
        fxs = [knobs_from_outputs(e, y) for e, y in zip(effects, ys)]
        sounds = self._sims_of([self.chain.then(fx) for fx in fxs])
        return [
            Candidate(
                e,
                float(probs[spec.EFFECT_NAMES.index(e)]),
                fx,
                s,
                s.distances,
                self._judge.score(s.distances),
                outputs=y,
            )
            for e, fx, s, y in zip(effects, fxs, sounds, ys)
        ]

    def _refine(self, cand: Candidate, cur: dict[str, float]) -> Candidate:
        """A short CMA-ES polish of an (exact) candidate's knobs towards the judge's rule
        (its ``objective`` against the current sound), searched on the fast estimate; the
        polished knobs are kept only when their exact objective is better too."""
        from serumrnn.server.refine import refine

        def scores(fxs: Sequence[FX]) -> list[float]:
            sounds = self._sims_of([self.chain.then(fx) for fx in fxs])
            return [self._judge.objective(s.distances, cur) for s in sounds]

        start = scores([cand.fx])[0]  # the exact candidate, scored like the tries
        r = refine(
            cand.fx,
            scores,
            start,
            budget=self.refine_budget,
            seed=self.seed + len(self.steps),
            mode_probs=cand.mode_probs,
        )
        before = self._judge.objective(cand.dist, cur)
        info = {
            "renders": r.renders,
            "score_model": cand.score,
            "score_refined": cand.score,
            "objective_model": before,
            "objective_refined": before,
            "kept": False,
        }
        if r.kept:
            polished = self._exact(
                Candidate(
                    cand.effect, cand.probability, r.fx, cand.sound, cand.dist, r.score, None, cand.outputs
                )
            )
            after = self._judge.objective(polished.dist, cur)
            if after < before:
                info.update(score_refined=polished.score, objective_refined=after, kept=True)
                polished.refine = info
                return polished
        cand.refine = info
        return cand

    def _choose(self, cands: Sequence[Candidate], cur: dict[str, float]) -> Candidate | None:
        """The closest candidate the judge accepts, checked on its exact distance (the
        search's estimate only orders them)."""
        for c in sorted(cands, key=lambda c: c.score):
            if self._judge.closer(c.dist, cur):
                exact = self._exact(c)
                if self._judge.closer(exact.dist, cur):
                    return exact
        return None

    def _verified_step(self) -> StepReport | None:
        before = self.distance()
        if self._judge.reached(before):
            self.stop = J.stop("reached" if self.steps else "already_matches", len(self.steps))
            return None
        unused = [e for e in spec.EFFECT_NAMES if e not in self.chain.order]
        if not unused:
            self.stop = J.stop("all_effects", len(self.steps))
            return None
        left = [e for e in unused if e not in self.rejected]
        if not left:
            self.stop = J.stop("no_closer", len(self.steps))
            return None
        renders0 = self.renders
        probs = self._selector_probs()
        ranked = rank_unused(probs, list(self.chain.order) + sorted(self.rejected))
        self._prune_sims()
        cur = self._sims_of([self.chain], exact=True)[0].distances  # the simulated current sound
        tried: list[Candidate] = []
        best: Candidate | None = None
        for group in (ranked[: self.k], ranked[self.k :]):
            if not group:
                continue
            cands = self._candidates(group, probs)
            tried += cands
            best = self._choose(cands, cur)
            if self.loop == "refine" and self.refine_budget > 0:
                # Polish the closest candidate, accepted or not: the veto may refuse the
                # model's knobs of the strongest effect where polished ones pass. Keep the
                # polish when the judge accepts it and it beats what was accepted.
                strongest = min(cands, key=lambda c: c.score)
                base = (
                    best if best is not None and best.effect == strongest.effect else self._exact(strongest)
                )
                polished = self._refine(base, cur)
                if self._judge.closer(polished.dist, cur) and (best is None or polished.score < best.score):
                    best = polished
                tried = [polished if c.effect == polished.effect else c for c in tried]
            if best is not None:
                break
        tried = [best if best is not None and c.effect == best.effect else c for c in tried]
        cand_json = [c.to_json(self._judge.closer(c.dist, cur)) for c in tried]
        if best is None:
            self.stop = J.stop("no_closer", len(self.steps))
            return None
        return self._apply(best, probs, before, cur, cand_json, self.renders - renders0)

    def _apply(
        self,
        best: Candidate,
        probs: np.ndarray,
        before: dict[str, float],
        cur: dict[str, float],
        cand_json: list[dict[str, Any]],
        renders: int,
    ) -> StepReport:
        self.chain = self.chain.then(best.fx)
        captured = not self._rendered_flow
        gain = self._judge.improvement(best.dist, cur)
        after = None if captured else best.dist
        if not captured:
            self.states.append(best.sound)
        en, knobs, fixed = describe(best.fx)
        report = StepReport(
            step=len(self.chain),
            effect=best.effect,
            label=best.fx.effect.label,
            enable=en,
            knobs=knobs,
            fixed=fixed,
            confidence=gain,
            probabilities={e: float(p) for e, p in zip(spec.EFFECT_NAMES, probs)},
            before=before,
            after=after,
            improved=None if captured else True,
            instruction=instruction(best.fx),
            chain=self.chain.to_json(),
            loop=self.loop,
            selector_probability=best.probability,
            expected=best.dist,
            expected_improvement=gain,
            candidates=cand_json,
            refine=best.refine,
            renders=renders,
        )
        self.steps.append(report)
        if not captured:
            if self._judge.reached(best.dist):
                self.stop = J.stop("reached", len(self.steps))
            elif len(self.chain) >= spec.MAX_STEPS:
                self.stop = J.stop("all_effects", len(self.steps))
        return report

    # -- the paper's loop --------------------------------------------------------------
    def _paper_step(self, current: np.ndarray | None) -> StepReport:
        """The paper's step: the most probable unused effect, applied blindly."""
        if current is not None:
            sound = J.judged(check_signal(np.asarray(current, np.float32), "current"), self.target)
            if not self.states:
                self._start(sound)
            elif len(self.states) == len(self.chain) + 1:
                self.states[-1] = sound
            else:
                self.states.append(sound)
            self._paper_judge_last()
        if len(self.states) != len(self.chain) + 1:
            raise RuntimeError(
                "no current sound: give a renderer and preset/input, or pass the captured sound"
            )
        before = self.distance()
        probs = self._selector_probs()
        effect = most_probable_unused(probs, self.chain.order)
        fx = knobs_from_outputs(
            effect,
            self.models.predict(
                param_model_name(effect), pair_inputs(self.states[-1].features, self.target.features)
            ),
        )
        self.chain = self.chain.then(fx)
        after, improved = None, None
        if self.renderer is not None and self._rendered_flow:
            self.renders += 1
            self.states.append(J.judged(self._paper_render(self.chain), self.target))
            after = self.distance()
            improved = not J.paper_bad_step(before, after)
            if not improved:
                self.bad_steps += 1
        en, knobs, fixed = describe(fx)
        p = float(probs[spec.EFFECT_NAMES.index(effect)])
        report = StepReport(
            step=len(self.chain),
            effect=effect,
            label=fx.effect.label,
            enable=en,
            knobs=knobs,
            fixed=fixed,
            confidence=p,
            probabilities={e: float(q) for e, q in zip(spec.EFFECT_NAMES, probs)},
            before=before,
            after=after,
            improved=improved,
            instruction=instruction(fx),
            chain=self.chain.to_json(),
            loop="paper",
            selector_probability=p,
            renders=0 if after is None else 1,
        )
        self.steps.append(report)
        return report

    def _paper_render(self, chain: Chain) -> np.ndarray:
        if self.input_audio is not None:
            return self._rack.process(self.input_audio, chain)
        return self._rack.render(chain, self.preset)

    def _paper_judge_last(self) -> None:
        """With captured sound, the previous step is judged when its result arrives."""
        if self.steps and self.steps[-1].after is None and len(self.states) == len(self.chain) + 1:
            last = self.steps[-1]
            last.after = self.distance()
            last.improved = not J.paper_bad_step(last.before, last.after)
            if not last.improved:
                self.bad_steps += 1

    # -- undo, run, result -------------------------------------------------------------
    def undo(self) -> Chain:
        """Take the last step back (its effect switched off again)."""
        if not self.steps:
            raise RuntimeError("nothing to undo")
        last = self.steps.pop()
        if self.loop == "paper" and last.improved is False:
            self.bad_steps -= 1
        self.chain = self.chain.prefix(len(self.chain) - 1)
        del self.states[len(self.chain) + 1 :]
        self.stop = None
        return self.chain

    def run(self) -> Result:
        if self.loop == "paper":
            while not self.done:
                self.step()
        else:
            while not self.done and self.step() is not None:
                pass
        return self.result()

    def result(self) -> Result:
        initial = self.distance(0) if self.states else None
        best = len(self.steps)
        if self.loop == "paper" and initial is not None:
            d = [initial[STOP_METRIC]] + [s.after[STOP_METRIC] if s.after else np.inf for s in self.steps]
            best = int(np.argmin(d))
        final = self.steps[-1].after if self.steps else initial
        best_d = initial if best == 0 else self.steps[best - 1].after
        closeness = None if self.judge is None or best_d is None else self.judge.closeness(best_d)
        stop = (
            self.stop.to_json()
            if self.stop
            else (
                {"reason": self.stop_reason, "text": J.STOP_REASONS[self.stop_reason], "best_step": best}
                if self.done
                else None
            )
        )
        return Result(
            steps=self.steps,
            initial=initial,
            best_step=best,
            best_chain=self.chain.prefix(best).to_json(),
            final=final,
            notes=list(self.warnings),
            loop=self.loop,
            stop=stop,
            best=best_d,
            closeness=closeness,
            renders=self.renders,
            taken_back=[v.to_json() for v in self.taken_back],
        )


@dataclass
class Result:
    steps: list[StepReport]
    initial: dict[str, float] | None
    best_step: int  # 0 = the input itself; roll back to this many steps
    best_chain: list[dict[str, Any]]
    final: dict[str, float] | None
    notes: list[str] = field(default_factory=list)
    loop: str = "paper"
    stop: dict[str, Any] | None = None  # reason, text, best_step
    best: dict[str, float] | None = None  # the six metrics of the best state
    closeness: float | None = None  # judge.closeness of the best state, 0..1
    renders: int = 0
    taken_back: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [s.to_json() for s in self.steps],
            "initial": self.initial,
            "best_step": self.best_step,
            "best_chain": self.best_chain,
            "final": self.final,
            "notes": self.notes,
            "loop": self.loop,
            "stop": self.stop,
            "best": self.best,
            "closeness": self.closeness,
            "renders": self.renders,
            "taken_back": self.taken_back,
        }
