"""What the assistant hands out, and the words it uses: one step, the verdict on a captured
step, one turn (what a request produced), the whole result, and how a loop runs
(:class:`LoopSettings`; the names and defaults are in :mod:`serumrnn.server.loop_settings`).

Kept free of TensorFlow and rendering because the report, the OSC encoder and the
command-line options read these types without running a loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from serumrnn.server import features as F
from serumrnn.server import judge as J
from serumrnn.server import spec
from serumrnn.server.loop_settings import DEFAULT_K, FINE_TUNE_ROUNDS, REFINE_BUDGET

if TYPE_CHECKING:
    from serumrnn.server.fine_tune import KnobChange
    from serumrnn.server.rack.chain import FX, Chain

#: Only this much of any sound is used: the models were trained on 1 s clips.
CLIP_SECONDS = F.CLIP_SAMPLES / F.SAMPLE_RATE


@dataclass(frozen=True)
class LoopSettings:
    """How a loop runs. The defaults are what ``serumrnn match`` and the server use."""

    tolerance: int = 1  # the paper's loop: bad steps it allows before it stops
    k: int = DEFAULT_K  # verified loops: candidates rendered before looking further
    refine_budget: int = REFINE_BUDGET  # loop "refine": renders of the polish per step
    seed: int = 0  # loop "refine": the polish's seed (plus the step's index)
    selector: str = "selector"  # the model that ranks the effects
    decision: str = J.DECISION  # the judge's decision distance
    margin: float = J.MARGIN  # the judge's margin
    fine_tune: int = 0  # verified loops: renders of the whole chain's fine-tune at the end
    #: The search loop may move an effect's extra knobs (``spec.Fixed.extra``) where its
    #: renderer sets them. Off where the sound is made elsewhere by something that cannot
    #: set them all (captures from a plugin profile that maps fewer extra knobs).
    extra: bool = True
    #: Verified loops: fine-tune rounds at most (each from the last kept round's knobs).
    fine_tune_rounds: int = FINE_TUNE_ROUNDS


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


def switch_off(effect: str) -> KnobSetting:
    """The setting that takes an effect back: its enable parameter to 0."""
    eff = spec.effect(effect)
    return KnobSetting("enable", "Off", eff.enable.serum_name, eff.enable.serum_index, 0.0, "Off")


#: What a fine-tune step names where an effect step names its effect (the OSC replies, undo).
TUNE = "fine_tune"
TUNE_LABEL = "Fine-tune"


def no_switch() -> KnobSetting:
    """A fine-tune switches nothing on or off: its take-back and undo set knobs back."""
    return KnobSetting("enable", "", "", -1, 0.0, "")


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
        KnobSetting(
            f.name,
            f.label or f.name,
            f.serum_name,
            f.serum_index,
            fx.fixed_value(f),
            f.text(fx.fixed_value(f)),
        )
        for f in eff.fixed
    ]
    return en, knobs, fixed


def instruction(fx: FX) -> str:
    """'Turn on Distortion: Mode Tube, Drive 72 %'."""
    return f"Turn on {fx.describe()}"


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
    #: Live: this step retries an effect a capture took back, with its knobs corrected by
    #: that capture (``serumrnn.server.capture_retry``): the scale and the predicted Mel-MSE.
    retry: dict[str, Any] | None = None
    #: The search loop with a naming head: both rankings that chose which effects to
    #: render and which accepted one to offer (``head``, ``pooled`` probabilities, the
    #: head's ``weight``, ``selector_ranking``, ``head_ranking``, the pooled ``ranking``).
    naming: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TuneStep:
    """The fine-tune offered as a step (``serve``): every knob it moves, on effects that are
    already on. Why a step: in Live each change must reach Serum where the next capture
    judges it and Undo can take it back, like an effect's."""

    step: int  # 1-based: the effects on, plus this
    changes: list[KnobChange]
    before: dict[str, float]  # the current sound's distances
    expected: dict[str, float]  # the tuned chain's, on the renderer that searched it
    improvement: float  # the share of the current distance it removes there, 0..1
    instruction: str
    chain: Chain  # the chain with the tune's knobs: what Serum holds once it is applied
    after: dict[str, float] | None = None  # None until the new sound is known (Live)

    def set_back(self) -> str:
        """'Reverb Mix back to 42 %, EQ Gain back to +3.1 dB'."""
        return ", ".join(f"{c.effect_label} {c.label} back to {c.before_text}" for c in self.changes)

    @property
    def effect(self) -> str:
        """What the step names where an effect step names its effect."""
        return TUNE


@dataclass
class Verdict:
    """A captured step judged on the real sound. ``take_back``: it made the sound worse
    (not closer by the judge's margin), so the device switches ``enable`` (value 0) off.
    The paper's loop never takes a step back (its bad steps are kept and counted)."""

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
    """What one request to the assistant produced, all the OSC reply encodes: the verdict
    on the previous captured step (if this capture judged one), the next step (None when
    none is offered), the effects on now, the stop (None while it goes on) and the step
    to keep."""

    judged: Verdict | None
    report: StepReport | None
    stop: J.Stop | None
    step: int = 0
    best_step: int = 0
    #: Once the loop is done: what was reached, graded (``outcome.done_sentence``), the
    #: sentence the device shows as its done text.
    done_text: str = ""
    #: The fine-tune offered by this turn instead of an effect (None: none).
    tune: TuneStep | None = None

    @property
    def done(self) -> bool:
        return self.stop is not None

    @property
    def reason(self) -> str:
        """A key of ``judge.STOP_REASONS``; "" while the loop goes on."""
        return "" if self.stop is None else self.stop.reason


@dataclass(frozen=True)
class Undone:
    """A step taken back on request: the steps left and the setting that switches it off."""

    steps_left: int
    effect: str
    enable: KnobSetting


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
    #: Every effect the last search tried when it found none to offer (a step's own are
    #: in ``StepReport.candidates``), so "no effect brings it closer" shows its evidence.
    tried: list[dict[str, Any]] = field(default_factory=list)
    #: What was reached, graded (:mod:`serumrnn.server.outcome`): headline, what to try.
    outcome: dict[str, Any] = field(default_factory=dict)
    #: The fine-tune of the whole chain after the last step, when it was kept
    #: (:meth:`serumrnn.server.verified_loop.VerifiedLoop.finish`); ``best``,
    #: ``best_chain`` and ``closeness`` are then the tuned chain's.
    fine_tune: dict[str, Any] | None = None

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
            "tried": self.tried,
            "outcome": self.outcome,
            "fine_tune": self.fine_tune,
        }
