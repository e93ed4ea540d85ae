"""The one effect specification: effects, knobs, ranges, Serum names, distortion modes.

Everything that knows about a knob reads it from here: the open rack (to turn a 0..1
value into Hz or dB), the data generator (to sample Table 1 of the paper), the models
(output sizes and order), the server (Serum names in replies) and the Max for Live
device (through the JSON written by ``serumrnn spec export``).

Values are Serum-normalized 0..1 everywhere. Serum names and indices come from the
paper's research code (see ``shared/reference/serum-parameters.md``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The spec's human label. What data folders and model manifests are checked against is
#: the content itself (:func:`fingerprint`); the label only names it for people.
#: 2.0: effects are processed in the FX-rack order (``SERUM_RACK_ORDER``), whatever order
#: they were switched on in; 1.0 processed them in the order they were switched on.
SPEC_VERSION = "2.0"

#: The fingerprint each label stood for, for data folders and model manifests written
#: before fingerprints were recorded (they carry only ``spec_version``): such a record is
#: accepted only while its label's fingerprint is this code's, so a knob-range edit refuses
#: them too. History: never change an entry.
#: "1.0" had the effects, knobs, ranges and outputs of "2.0"; only its data processed the
#: effects in turn-on order (data format 1, refused by training/datagen.py for that
#: reason); its models (all three groups are retrained on 2.0 now) still load.
KNOWN_SPEC_FINGERPRINTS: dict[str, str] = {
    "2.0": "195e6799fd498e9e51816f84eac8cae317d57ececa09efa79796b7d20499c0c0",
    "1.0": "195e6799fd498e9e51816f84eac8cae317d57ececa09efa79796b7d20499c0c0",
}
#: Hex digits of a fingerprint shown in messages.
FINGERPRINT_SHOWN = 12

#: Table 1 was sampled on a 0.01 grid ("granularity 100") in the research code.
GRID_STEPS = 100

#: Serum's distortion menu; the research code used Dist_Mode slots 0..10 and 13 of 14.
#: Which name sits in which slot is not recorded there: verify on a machine with Serum.
DISTORTION_MODES: tuple[str, ...] = (
    "Tube",
    "SoftClip",
    "HardClip",
    "Diode 1",
    "Diode 2",
    "Lin.Fold",
    "Sin Fold",
    "Zero-Square",
    "Downsample",
    "X-Shaper",
    "X-Shaper (Asym)",
    "Rectify",
)
DISTORTION_MODE_SLOTS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13)
DISTORTION_SLOT_COUNT = 14


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
            return self.lo * (self.hi / self.lo) ** x
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

    def text(self, value: float | None = None) -> str:
        """The value as a producer reads it: a word for a switch, else in its unit."""
        v = self.value if value is None else value
        for at, word in self.words:
            if abs(at - v) < 1e-9:
                return word
        return self.display.text(v)

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
class Effect:
    name: str
    label: str
    enable: Fixed
    knobs: tuple[Knob, ...]
    fixed: tuple[Fixed, ...] = field(default_factory=tuple)
    relations: tuple[Relation, ...] = field(default_factory=tuple)

    def knob(self, name: str) -> Knob:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(
            f"effect {self.name!r} has no knob {name!r}; knobs: {', '.join(k.name for k in self.knobs)}"
        )

    @property
    def continuous(self) -> tuple[Knob, ...]:
        return tuple(k for k in self.knobs if not k.categorical)

    @property
    def categorical(self) -> tuple[Knob, ...]:
        return tuple(k for k in self.knobs if k.categorical)

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


def _on(serum_name: str, index: int) -> Fixed:
    return Fixed("enable", serum_name, index, 1.0, Display("", 0, 1))


HZ_FULL = Display("Hz", 20.0, 20000.0, "log")
DB_24 = Display("dB", -24.0, 24.0, digits=1)

EFFECTS: tuple[Effect, ...] = (
    Effect(
        "compressor",
        "Multiband Compressor",
        _on("Comp Enable", 159),
        knobs=(
            Knob("low", "CompMB L", 270, "Low band"),
            Knob("mid", "CompMB M", 271, "Mid band"),
            Knob("high", "CompMB H", 272, "High band"),
        ),
        fixed=(
            Fixed(
                "multiband", "CmpMBnd", 140, 1.0, Display("", 0, 1), label="Multiband", words=((1.0, "On"),)
            ),
            Fixed("threshold", "Cmp_Thr", 135, 0.5, Display("dB", -48.0, 0.0, digits=1), label="Threshold"),
            Fixed("ratio", "Cmp_Rat", 136, 0.75, Display(":1", 1.0, 20.0, "log", 1), label="Ratio"),
            Fixed("attack", "Cmp_Att", 137, 0.3, Display("ms", 0.1, 50.0, "log", 1), label="Attack"),
            Fixed("release", "Cmp_Rel", 138, 0.3, Display("ms", 10.0, 1000.0, "log"), label="Release"),
            Fixed("gain", "CmpGain", 139, 0.0, Display("dB", 0.0, 30.0, digits=1), label="Gain"),
            Fixed("wet", "Comp_wet", 269, 1.0, label="Mix"),
        ),
    ),
    Effect(
        "distortion",
        "Distortion",
        _on("Dist Enable", 154),
        knobs=(
            Knob(
                "mode",
                "Dist_Mode",
                99,
                "Mode",
                choices=DISTORTION_MODES,
                serum_values=tuple(s / (DISTORTION_SLOT_COUNT - 1) for s in DISTORTION_MODE_SLOTS),
            ),
            Knob("drive", "Dist_Drv", 97, "Drive", ranges=((0.30, 1.00),)),
        ),
        fixed=(
            Fixed("wet", "Dist_Wet", 96, 1.0, label="Mix"),
            Fixed(
                "filter_mode",
                "Dist_L/B/H",
                98,
                0.0,
                Display("", 0, 1),
                label="Filter type (L/B/H)",
                words=((0.0, "L (low-pass)"),),
            ),
            Fixed("filter_freq", "Dist_Freq", 100, 0.5, HZ_FULL, label="Filter frequency"),
            Fixed("filter_bw", "Dist_BW", 101, 0.5, label="Filter bandwidth"),
            Fixed(
                "prepost",
                "Dist_PrePost",
                102,
                0.0,
                Display("", 0, 1),
                label="Filter (Off/Pre/Post)",
                words=((0.0, "Off"),),
            ),
        ),
    ),
    Effect(
        "eq",
        "EQ",
        _on("EQ Enable", 161),
        knobs=(
            Knob("freq", "EQ FrqH", 89, "High freq", ranges=((0.50, 0.95),), display=HZ_FULL),
            Knob("q", "EQ Q H", 91, "High Q", display=Display("Q", 0.5, 12.0, "log", 2)),
            Knob("gain", "EQ VolH", 93, "High gain", ranges=((0.0, 0.40), (0.60, 1.0)), display=DB_24),
        ),
        fixed=(
            Fixed(
                "type_high",
                "EQ TypH",
                95,
                0.0,
                Display("", 0, 1),
                label="High band type",
                words=((0.0, "the first type"),),
            ),
            Fixed("freq_low", "EQ FrqL", 88, 0.333, HZ_FULL, label="Low band frequency"),
            Fixed("q_low", "EQ Q L", 90, 0.6, Display("Q", 0.5, 12.0, "log", 2), label="Low band Q"),
            Fixed("gain_low", "EQ VolL", 92, 0.5, DB_24, label="Low band gain"),
            Fixed(
                "type_low",
                "EQ TypL",
                94,
                0.0,
                Display("", 0, 1),
                label="Low band type",
                words=((0.0, "the first type"),),
            ),
        ),
        relations=(Relation("freq_low", "freq", 1.0, "the high band sits above the low band"),),
    ),
    Effect(
        "phaser",
        "Phaser",
        _on("Phs Enable", 156),
        knobs=(
            Knob("depth", "Phs_Dpth", 112, "Depth"),
            Knob("freq", "Phs_Frq", 113, "Frequency", display=Display("Hz", 40.0, 8000.0, "log")),
            Knob("feedback", "Phs_Feed", 114, "Feedback"),
        ),
        fixed=(
            Fixed("wet", "Phs_Wet", 109, 1.0, label="Mix"),
            Fixed(
                "bpm_sync",
                "Phs_BPM_Sync",
                110,
                0.0,
                Display("", 0, 1),
                label="BPM sync",
                words=((0.0, "Off"),),
            ),
            Fixed("rate", "Phs_Rate", 111, 0.25, Display("Hz", 0.05, 20.0, "log", 2), label="Rate"),
            Fixed("stereo", "Phs_Stereo", 115, 0.5, label="Stereo"),
        ),
    ),
    Effect(
        "reverb",
        "Hall Reverb",
        _on("Rev Enable", 160),
        knobs=(
            Knob("mix", "Verb Wet", 81, "Mix", ranges=((0.30, 0.70),)),
            Knob("low_cut", "VerbLoCt", 84, "Low cut", display=Display("Hz", 20.0, 2000.0, "log")),
            Knob("high_cut", "VerbHiCt", 86, "High cut", display=Display("Hz", 500.0, 20000.0, "log")),
        ),
        fixed=(
            Fixed("size", "VerbSize", 82, 0.35, label="Size"),
            Fixed("decay", "Decay", 83, 0.35, Display("s", 0.5, 12.0, "log", 1), label="Decay"),
            Fixed("spin_rate", "Spin Rate", 85, 0.25, label="Spin rate"),
            Fixed("spin_depth", "Spin Depth", 87, 0.2, label="Spin depth"),
        ),
        relations=(
            Relation(
                "low_cut",
                "high_cut",
                2.0,
                "a low cut above the high cut (or within an octave of it) filters the tail away",
            ),
        ),
    ),
)

EFFECT_NAMES: tuple[str, ...] = tuple(e.name for e in EFFECTS)
_BY_NAME = {e.name: e for e in EFFECTS}
#: The most steps a session takes: each effect is switched on at most once. The selector's
#: sequences are padded to this length, and "all effects are on" stops every loop.
MAX_STEPS = len(EFFECTS)

#: Serum's FX rack, top to bottom, for the spec's effects: the order Serum processes them in
#: whatever order the producer switched them on (the research code's ``FIXED_EFFECT_SEQ``).
#: A producer who reordered the rack passes another order (``--rack-order``).
SERUM_RACK_ORDER: tuple[str, ...] = ("distortion", "phaser", "compressor", "reverb", "eq")


def rack_order(names: Iterable[str] | str | None = None) -> tuple[str, ...]:
    """A processing order checked against the spec: every effect exactly once.

    Accepts a sequence or a comma-separated string (the CLI and OSC form); ``None`` is
    Serum's default."""
    if names is None:
        return SERUM_RACK_ORDER
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    order = tuple(names)
    if sorted(order) != sorted(EFFECT_NAMES):
        raise ValueError(
            f"a rack order names every effect exactly once ({', '.join(EFFECT_NAMES)}); "
            f"got {', '.join(order) or 'nothing'}"
        )
    return order


#: The selector's "effect applied" one-hot (one more than the effects): every effect, then
#: "initial" (the first step, nothing applied yet).
STEP_TOKENS: tuple[str, ...] = EFFECT_NAMES + ("initial",)


def effect(name: str) -> Effect:
    """Look an effect up by name, with an error that lists the valid names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown effect {name!r}; effects: {', '.join(EFFECT_NAMES)}") from None


def subsets() -> tuple[tuple[str, ...], ...]:
    """Every effect combination (2 ** effects of them, from none to all), in a stable order."""
    out = []
    for mask in range(2 ** len(EFFECT_NAMES)):
        out.append(tuple(n for i, n in enumerate(EFFECT_NAMES) if mask >> i & 1))
    return tuple(out)


def subset_id(names: Iterable[str]) -> int:
    """A stable integer (bit mask) for an effect subset, order ignored."""
    s = set(names)
    return sum(1 << i for i, n in enumerate(EFFECT_NAMES) if n in s)


def validate_knobs(effect_name: str, knobs: Mapping[str, float]) -> dict[str, float]:
    """Check a knob dict against the spec: every knob present, values in 0..1 or a class."""
    eff = effect(effect_name)
    out: dict[str, float] = {}
    unknown = set(knobs) - {k.name for k in eff.knobs}
    if unknown:
        raise KeyError(
            f"effect {effect_name!r} has no knob(s) {sorted(unknown)}; "
            f"knobs: {', '.join(k.name for k in eff.knobs)}"
        )
    for k in eff.knobs:
        if k.name not in knobs:
            raise KeyError(f"effect {effect_name!r}: missing knob {k.name!r}")
        v = knobs[k.name]
        if k.categorical:
            if isinstance(v, str):
                v = k.choices.index(v)
            if not (0 <= int(v) < len(k.choices)) or int(v) != v:
                raise ValueError(f"{effect_name}.{k.name}: class {v!r} not in 0..{len(k.choices) - 1}")
            out[k.name] = float(int(v))
        else:
            if not (0.0 <= float(v) <= 1.0) or math.isnan(float(v)):
                raise ValueError(f"{effect_name}.{k.name}: {v!r} is outside 0..1")
            out[k.name] = float(v)
    return out


# -- relations between knobs ---------------------------------------------------------


def _side(
    eff: Effect, name: str, knobs: Mapping[str, float]
) -> tuple[Display, float, tuple[float, float] | None]:
    """One side of a relation: its display, its 0..1 value, and the 0..1 interval it may
    move in (None for a fixed knob, which stays)."""
    for k in eff.knobs:
        if k.name == name:
            return k.display, float(knobs[name]), k.span
    for f in eff.fixed:
        if f.name == name:
            return f.display, float(f.value), None
    raise KeyError(f"effect {eff.name!r} has no knob or fixed knob {name!r} (a relation names it)")


def relation_problems(effect_name: str, knobs: Mapping[str, float]) -> list[str]:
    """Which of the effect's relations ``knobs`` break, in words a producer reads
    ("Low cut 2.0 kHz is not an octave below High cut 998 Hz"); empty when none."""
    eff = effect(effect_name)
    out = []
    for r in eff.relations:
        (dl, xl, _), (dh, xh, _) = _side(eff, r.low, knobs), _side(eff, r.high, knobs)
        if dl.value(xl) * r.ratio > dh.value(xh) * (1 + 1e-9):
            gap = (
                "below"
                if r.ratio == 1.0
                else ("an octave below" if r.ratio == 2.0 else f"{r.ratio:g}x below")
            )
            out.append(f"{_label(eff, r.low)} {dl.text(xl)} is not {gap} {_label(eff, r.high)} {dh.text(xh)}")
    return out


def _label(eff: Effect, name: str) -> str:
    for k in eff.knobs:
        if k.name == name:
            return k.label
    for f in eff.fixed:
        if f.name == name:
            return f.label or f.name
    return name


def repair_knobs(effect_name: str, knobs: Mapping[str, float]) -> dict[str, float]:
    """The nearest setting that keeps every relation of the effect: the two sides of a
    broken relation are moved apart equally on their (log-frequency) scale, each within
    its Table 1 span, a fixed side not at all. Knobs in no broken relation are returned
    unchanged, so a sensible proposal passes through as it is."""
    eff = effect(effect_name)
    out = {k: float(v) for k, v in knobs.items()}
    for r in eff.relations:
        (dl, xl, sl), (dh, xh, sh) = _side(eff, r.low, out), _side(eff, r.high, out)
        if dl.curve != "log" or dh.curve != "log":
            raise ValueError(f"{effect_name}: relation {r.low} < {r.high} needs two log (frequency) scales")
        a, b = math.log(dl.value(xl)), math.log(dh.value(xh))
        short = math.log(r.ratio) - (b - a)
        if short <= 0:
            continue
        # Bounds on each side's log value; a fixed side cannot move.
        lo_a = math.log(dl.value(sl[0])) if sl else a
        hi_b = math.log(dh.value(sh[1])) if sh else b
        down = min(short / 2 if sh else short, a - lo_a) if sl else 0.0
        up = min(short - down, hi_b - b) if sh else 0.0
        down = min(short - up, a - lo_a) if sl else 0.0  # whatever the high side could not take
        if sl:
            out[r.low] = dl.normalized(math.exp(a - down))
        if sh:
            out[r.high] = dh.normalized(math.exp(b + up))
    return out


# -- what a model or a data set means: the spec's fingerprint ---------------------------


def meaning() -> dict[str, Any]:
    """Everything in the spec that changes what a data set or a trained model means: the
    effects and their order, each knob's Serum name and index, sampled ranges (the grid),
    categorical values and the Serum values they send, the fixed knobs' values, the display
    curves the open rack renders through, and the rack order. Labels and wording are left
    out: changing them changes no sound and no model output."""

    def display(d: Display) -> dict[str, Any]:
        return {"unit": d.unit, "lo": float(d.lo), "hi": float(d.hi), "curve": d.curve}

    def fixed(f: Fixed) -> dict[str, Any]:
        return {
            "name": f.name,
            "serum_name": f.serum_name,
            "serum_index": f.serum_index,
            "value": float(f.value),
            "display": display(f.display),
        }

    def knob(k: Knob) -> dict[str, Any]:
        d: dict[str, Any] = {"name": k.name, "serum_name": k.serum_name, "serum_index": k.serum_index}
        if k.categorical:
            d["choices"] = list(k.choices)
            d["serum_values"] = [k.to_serum(i) for i in range(len(k.choices))]
        else:
            d["ranges"] = [[float(lo), float(hi)] for lo, hi in k.ranges]
            d["display"] = display(k.display)
        return d

    return {
        "grid_steps": GRID_STEPS,
        "rack_order": list(SERUM_RACK_ORDER),
        "effects": [
            {
                "name": e.name,
                "enable": fixed(e.enable),
                "knobs": [knob(k) for k in e.knobs],
                "fixed": [fixed(f) for f in e.fixed],
            }
            for e in EFFECTS
        ],
    }


def fingerprint() -> str:
    """sha256 of :func:`meaning` as canonical JSON: what data folders and model manifests
    record, and what their loaders compare with this code's spec."""
    text = json.dumps(meaning(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def recorded_fingerprint(record: Mapping[str, Any]) -> str | None:
    """The spec fingerprint a data folder's ``dataset.json`` or a model manifest was made
    with: its ``spec_fingerprint``; for one written before fingerprints were recorded, the
    fingerprint its ``spec_version`` label stands for (``KNOWN_SPEC_FINGERPRINTS``); None
    when neither is known."""
    fp = record.get("spec_fingerprint")
    if fp:
        return str(fp)
    return KNOWN_SPEC_FINGERPRINTS.get(str(record.get("spec_version")))


def fingerprint_problem(record: Mapping[str, Any]) -> str | None:
    """None when ``record`` (a ``dataset.json`` or a manifest) was made with this spec's
    content; else why not, naming both specs (label and fingerprint)."""
    have, now = recorded_fingerprint(record), fingerprint()
    if have == now:
        return None
    label = record.get("spec_version")
    made = (
        f"spec {label!r} (fingerprint {have[:FINGERPRINT_SHOWN]})"
        if have
        else f"spec {label!r} (no fingerprint recorded, and a label this code does not know)"
    )
    return (
        f"made for {made}, but this code has spec {SPEC_VERSION!r} (fingerprint "
        f"{now[:FINGERPRINT_SHOWN]}): knobs, ranges or effects differ"
    )


def to_json() -> dict[str, Any]:
    """The whole spec as plain JSON (what the Max for Live device reads)."""
    return {
        "spec_version": SPEC_VERSION,
        "spec_fingerprint": fingerprint(),
        "grid_steps": GRID_STEPS,
        "rack_order": list(SERUM_RACK_ORDER),
        "effects": [e.to_json() for e in EFFECTS],
        "step_tokens": list(STEP_TOKENS),
        "distortion_modes": list(DISTORTION_MODES),
    }


#: Where ``serumrnn spec export`` writes :func:`export_json` for the device to read.
EXPORT_PATH = Path(__file__).resolve().parent.parent / "m4l_device" / "serumrnn_spec.json"


def export_json() -> str:
    """Deterministic text of :func:`to_json`, so the committed file can be diffed."""
    return json.dumps(to_json(), indent=2, sort_keys=False) + "\n"
