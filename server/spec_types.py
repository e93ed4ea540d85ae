"""The spec's building blocks: how a knob reads (``Display``), a sampled knob (``Knob``),
a knob set when an effect is switched on (``Fixed``), a rule two knobs keep (``Relation``)
and an effect (``Effect``), with Serum's own values for the fixed knobs.

The table of effects built from them is ``serumrnn.server.spec``, which re-exports these
names (import them from there). They live apart because they change when a knob gains a
property, not when an effect or a range changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

#: Table 1 was sampled on a 0.01 grid ("granularity 100") in the research code.
GRID_STEPS = 100


#: Display units that name the quantity, not a unit: the knob's label already says it.
NAMED_BY_LABEL = frozenset({"Q"})


@dataclass(frozen=True)
class Display:
    """How a 0..1 knob reads in a musical unit: linear or logarithmic between lo and hi."""

    unit: str
    lo: float
    hi: float
    curve: str = "lin"  # "lin" | "log"
    digits: int = 0

    def value(self, x: float) -> float:
        """The knob's value in ``unit`` (what the open rack's DSP receives)."""
        x = min(1.0, max(0.0, float(x)))
        if self.curve == "log":
            return float(self.lo * (self.hi / self.lo) ** x)
        return self.lo + (self.hi - self.lo) * x

    def normalized(self, v: float) -> float:
        """Inverse of :meth:`value`, clamped to 0..1."""
        if self.curve == "log":
            x = math.log(v / self.lo) / math.log(self.hi / self.lo)
        else:
            x = (v - self.lo) / (self.hi - self.lo)
        return min(1.0, max(0.0, x))

    def text(self, x: float) -> str:
        v = self.value(x)
        if self.unit == "Hz" and v >= 1000:
            return f"{v / 1000:.1f} kHz"
        if self.unit.startswith(":"):
            return f"{v:.{self.digits}f}{self.unit}"  # a ratio: "9.5:1"
        if self.unit in NAMED_BY_LABEL:
            return f"{v:.{self.digits}f}"  # "High Q 2.70", not "High Q 2.70 Q"
        return f"{v:.{self.digits}f} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "lo": self.lo, "hi": self.hi, "curve": self.curve, "digits": self.digits}


PERCENT = Display("%", 0.0, 100.0)


@dataclass(frozen=True)
class Knob:
    """A sampled knob: what the models predict for one effect."""

    name: str
    serum_name: str
    serum_index: int
    label: str
    ranges: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
    display: Display = PERCENT
    choices: tuple[str, ...] = ()  # non-empty for a categorical knob
    #: A categorical knob's Serum-normalized value per choice (Serum's menus skip slots).
    serum_values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.serum_values) != len(self.choices):
            raise ValueError(
                f"knob {self.name}: {len(self.choices)} choices but {len(self.serum_values)} Serum values"
            )

    @property
    def categorical(self) -> bool:
        return bool(self.choices)

    @property
    def span(self) -> tuple[float, float]:
        """The interval a continuous knob is proposed and searched in: the hull of its
        Table 1 ranges (where the parameter models clip their outputs too)."""
        return min(r[0] for r in self.ranges), max(r[1] for r in self.ranges)

    def grid(self) -> tuple[float, ...]:
        """Every value this knob may be sampled at (Table 1 on a 0.01 grid).

        A categorical knob's grid is its class indices 0..C-1.
        """
        if self.categorical:
            return tuple(float(i) for i in range(len(self.choices)))
        values: list[float] = []
        for lo, hi in self.ranges:
            a, b = round(lo * GRID_STEPS), round(hi * GRID_STEPS)
            values.extend(i / GRID_STEPS for i in range(a, b + 1))
        return tuple(sorted(set(values)))

    def to_serum(self, value: float) -> float:
        """The Serum-normalized value to send to the plugin for a model value."""
        if self.categorical:
            return self.serum_values[int(value)]
        return float(value)

    def text(self, value: float) -> str:
        if self.categorical:
            return self.choices[int(value)]
        return self.display.text(value)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "serum_name": self.serum_name,
            "serum_index": self.serum_index,
        }
        if self.categorical:
            d["choices"] = list(self.choices)
            d["serum_values"] = [self.to_serum(i) for i in range(len(self.choices))]
        else:
            d["ranges"] = [list(r) for r in self.ranges]
            d["display"] = self.display.to_json()
        return d


@dataclass(frozen=True)
class Fixed:
    """A knob the paper never samples but sets when the effect is switched on."""

    name: str
    serum_name: str
    serum_index: int
    value: float
    display: Display = PERCENT
    #: What Serum's panel calls it, for people (``name`` is the code's).
    label: str = ""
    #: For a switch or menu: the word for each value it is set to (a bare "0" says nothing).
    words: tuple[tuple[float, str], ...] = ()
    #: The knob search may move it (an *extra* knob), over its whole 0..1 range, when the
    #: Table 1 knobs cannot reach a sound made elsewhere: a compressor with another
    #: threshold, a longer reverb. The models never set it, so it leaves the fingerprint alone.
    extra: bool = False
    #: The effect whose job this extra knob can do (the distortion's filter: the EQ's). The
    #: weak case's extra search (an accepted favourite at the first step) leaves it alone:
    #: there the effect already reaches the target, and a tone borrowed at the first step
    #: does a later effect's work, badly (:func:`serumrnn.server.knob_search.extra_names`).
    imitates: str = ""

    def text(self, value: float | None = None) -> str:
        """The value as a producer reads it: a word for a switch, else in its unit."""
        v = self.value if value is None else value
        for at, word in self.words:
            if abs(at - v) < 1e-9:
                return word
        return self.display.text(v)

    def position(self, value: float) -> float:
        """The value a search may set: for a switch (a knob with ``words``: the compressor's
        MULTIBAND) its nearest word's, so it moves between positions and a report names one."""
        if not self.words:
            return value
        return min((at for at, _ in self.words), key=lambda at: abs(at - value))

    def as_knob(self) -> Knob:
        """This fixed knob as a continuous knob over its whole 0..1 (how a profile maps an
        extra knob onto a plugin parameter, with the same targets as a Table 1 knob)."""
        return Knob(
            self.name, self.serum_name, self.serum_index, self.label or self.name, display=self.display
        )

    @property
    def serum_default(self) -> float | None:
        """Serum's own value for this knob (``SERUM_DEFAULTS``), None when not recorded."""
        return SERUM_DEFAULTS.get(self.serum_name)

    @property
    def at_default(self) -> bool:
        """Serum's default already is the value the paper sets: the Max for Live device
        need not set it, so the producer need not configure it (they leave it alone)."""
        d = self.serum_default
        return d is not None and abs(d - self.value) < 1e-9

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "serum_name": self.serum_name,
            "serum_index": self.serum_index,
            "value": self.value,
            "serum_default": self.serum_default,
            "at_default": self.at_default,
            "display": self.display.to_json(),
        }


@dataclass(frozen=True)
class Relation:
    """A rule two settings of one effect keep to make sense together: ``low``'s value times
    ``ratio`` is at most ``high``'s value, both read in their musical unit (a frequency,
    so the gap is a ratio: 2.0 is an octave). Either side may be a fixed knob, which a
    repair never moves. Table 1 samples the knobs independently, so a model trained on it
    can propose a crossing (a reverb whose low cut is above its high cut); the step loops
    repair such a proposal (:func:`repair_knobs`) and offer a crossing only when it measures
    clearly better, with a note."""

    low: str
    high: str
    ratio: float = 1.0
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "ratio": self.ratio, "why": self.why}


@dataclass(frozen=True)
class Gate:
    """Knobs that do nothing while a switch of the same effect is at one position: the
    distortion's filter knobs while its filter is Off, the compressor's band knobs while
    MULTIBAND is off. Why declared: a search that switched the filter off still carried the
    filter frequency it had tried, and a step or a fine-tune then told the producer to turn a
    knob that changes nothing ("Filter frequency 93 Hz -> 24 Hz" with the filter Off). A
    setting is kept in a settled form (:func:`serumrnn.server.spec_knobs.settle`): a gated
    extra knob back at the spec's value, a gated Table 1 knob at ``rest``; no sound changes,
    and the words leave them out."""

    switch: str  # a fixed knob with ``words`` (a switch) of the same effect
    off: float  # the switch position (one of its words' values) at which ``knobs`` do nothing
    knobs: tuple[str, ...]
    rest: float = 0.0  # where a gated Table 1 knob sits meanwhile (a band knob at 0: no compression)
    why: str = ""


_K = TypeVar("_K", Knob, Fixed)


def _named(effect: str, items: tuple[_K, ...], name: str, what: str) -> _K:
    """The item of ``items`` called ``name``, or an error that lists their names."""
    for x in items:
        if x.name == name:
            return x
    raise KeyError(f"effect {effect!r} has no {what} {name!r}; {what}s: {', '.join(x.name for x in items)}")


@dataclass(frozen=True)
class Effect:
    name: str
    label: str
    enable: Fixed
    knobs: tuple[Knob, ...]
    fixed: tuple[Fixed, ...] = field(default_factory=tuple)
    relations: tuple[Relation, ...] = field(default_factory=tuple)
    gates: tuple[Gate, ...] = field(default_factory=tuple)

    def knob(self, name: str) -> Knob:
        return _named(self.name, self.knobs, name, "knob")

    @property
    def continuous(self) -> tuple[Knob, ...]:
        return tuple(k for k in self.knobs if not k.categorical)

    @property
    def categorical(self) -> tuple[Knob, ...]:
        return tuple(k for k in self.knobs if k.categorical)

    @property
    def extra(self) -> tuple[Fixed, ...]:
        """The fixed knobs a search may move (``Fixed.extra``), in the spec's order."""
        return tuple(f for f in self.fixed if f.extra)

    def fixed_knob(self, name: str) -> Fixed:
        return _named(self.name, self.fixed, name, "fixed knob")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "enable": self.enable.to_json(),
            "knobs": [k.to_json() for k in self.knobs],
            "fixed": [f.to_json() for f in self.fixed],
            "relations": [r.to_json() for r in self.relations],
        }


#: Serum's own (initial) value of each switch and fixed knob, as the research code's effect
#: configs record it (``data/configs/effects/*.yaml`` in christhetree/serum_rnn: their
#: ``default`` blocks mark only the enable switches as changed from Serum's value). Every
#: fixed knob but ``CmpMBnd`` is set by the paper to exactly this value.
SERUM_DEFAULTS: dict[str, float] = {
    "Comp Enable": 0.0,
    "CmpMBnd": 0.0,
    "Cmp_Thr": 0.5,
    "Cmp_Rat": 0.75,
    "Cmp_Att": 0.3,
    "Cmp_Rel": 0.3,
    "CmpGain": 0.0,
    "Comp_wet": 1.0,
    "Dist Enable": 0.0,
    "Dist_Wet": 1.0,
    "Dist_L/B/H": 0.0,
    "Dist_Freq": 0.5,
    "Dist_BW": 0.5,
    "Dist_PrePost": 0.0,
    "EQ Enable": 0.0,
    "EQ TypH": 0.0,
    "EQ FrqL": 0.333,
    "EQ Q L": 0.6,
    "EQ VolL": 0.5,
    "EQ TypL": 0.0,
    "Phs Enable": 0.0,
    "Phs_Wet": 1.0,
    "Phs_BPM_Sync": 0.0,
    "Phs_Rate": 0.25,
    "Phs_Stereo": 0.5,
    "Rev Enable": 0.0,
    "VerbSize": 0.35,
    "Decay": 0.35,
    "Spin Rate": 0.25,
    "Spin Depth": 0.2,
}
