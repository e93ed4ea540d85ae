"""Rules a knob setting of one effect keeps: every knob present and in range
(:func:`validate`), the effect's relations between knobs (:func:`relation_problems`), the
nearest setting that keeps them (:func:`repair`; :func:`repair_setting` with the
extra knobs a setting moved), and which knobs a switch leaves doing nothing
(:func:`gated_off`, :func:`settle`).

Each takes the :class:`~serumrnn.server.spec_types.Effect` itself; ``serumrnn.server.spec``
looks the effect up by name (``spec.validate_knobs``, ``spec.relation_problems``,
``spec.repair_knobs``), which is what the rest of the code calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from serumrnn.server.spec_types import Display, Effect, Gate


def validate(eff: Effect, knobs: Mapping[str, float]) -> dict[str, float]:
    """Check a knob dict against the effect: every knob present, values in 0..1 or a class."""
    out: dict[str, float] = {}
    unknown = set(knobs) - {k.name for k in eff.knobs}
    if unknown:
        raise KeyError(
            f"effect {eff.name!r} has no knob(s) {sorted(unknown)}; "
            f"knobs: {', '.join(k.name for k in eff.knobs)}"
        )
    for k in eff.knobs:
        if k.name not in knobs:
            raise KeyError(f"effect {eff.name!r}: missing knob {k.name!r}")
        v = knobs[k.name]
        if k.categorical:
            if isinstance(v, str):
                v = k.choices.index(v)
            if not (0 <= int(v) < len(k.choices)) or int(v) != v:
                raise ValueError(f"{eff.name}.{k.name}: class {v!r} not in 0..{len(k.choices) - 1}")
            out[k.name] = float(int(v))
        else:
            if not (0.0 <= float(v) <= 1.0) or math.isnan(float(v)):
                raise ValueError(f"{eff.name}.{k.name}: {v!r} is outside 0..1")
            out[k.name] = float(v)
    return out


def validate_extra(eff: Effect, values: Mapping[str, float]) -> dict[str, float]:
    """Check values for the effect's extra knobs (``Fixed.extra``): each name one of them,
    each value in 0..1. Any subset may be given; the rest keep the spec's values."""
    names = [f.name for f in eff.extra]
    unknown = set(values) - set(names)
    if unknown:
        raise KeyError(
            f"effect {eff.name!r} has no extra knob(s) {sorted(unknown)}; "
            f"extra knobs: {', '.join(names) or 'none'}"
        )
    out: dict[str, float] = {}
    for name in names:
        if name in values:
            v = float(values[name])
            if not (0.0 <= v <= 1.0) or math.isnan(v):
                raise ValueError(f"{eff.name}.{name}: {values[name]!r} is outside 0..1")
            out[name] = v
    return out


def _side(
    eff: Effect, name: str, knobs: Mapping[str, float], extra: Mapping[str, float] | None = None
) -> tuple[Display, float, tuple[float, float] | None]:
    """One side of a relation: its display, its 0..1 value, and the 0..1 interval it may
    move in (None for a fixed knob at the spec's value, which stays; an extra knob a setting
    moved, in ``extra``, moves over its whole range like the search that set it)."""
    for k in eff.knobs:
        if k.name == name:
            return k.display, float(knobs[name]), k.span
    for f in eff.fixed:
        if f.name == name:
            if extra is not None and name in extra:
                return f.display, float(extra[name]), (0.0, 1.0)
            return f.display, float(f.value), None
    raise KeyError(f"effect {eff.name!r} has no knob or fixed knob {name!r} (a relation names it)")


def relation_problems(
    eff: Effect, knobs: Mapping[str, float], extra: Mapping[str, float] | None = None
) -> list[str]:
    """Which of the effect's relations ``knobs`` (and the extra knobs set in ``extra``)
    break, in words a producer reads ("Low cut 2.0 kHz is not an octave below High cut
    998 Hz"); empty when none."""
    out = []
    for r in eff.relations:
        (dl, xl, _), (dh, xh, _) = _side(eff, r.low, knobs, extra), _side(eff, r.high, knobs, extra)
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


def repair(eff: Effect, knobs: Mapping[str, float]) -> dict[str, float]:
    """The nearest setting that keeps every relation of the effect, for ``knobs`` alone
    (every fixed knob at the spec's value): :func:`repair_setting` without extra knobs."""
    return repair_setting(eff, knobs, {})[0]


def repair_setting(
    eff: Effect, knobs: Mapping[str, float], extra: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """The nearest setting that keeps every relation of the effect: the two sides of a
    broken relation are moved apart equally on their (log-frequency) scale, each within
    its Table 1 span (an extra knob set in ``extra``: within 0..1), a fixed side at the
    spec's value not at all. Knobs in no broken relation are returned unchanged, so a
    sensible proposal passes through as it is. Returns (knobs, extra)."""
    out = {k: float(v) for k, v in knobs.items()}
    out_extra = {k: float(v) for k, v in extra.items()}

    def put(name: str, value: float) -> None:
        (out if name in out else out_extra)[name] = value

    for r in eff.relations:
        (dl, xl, sl), (dh, xh, sh) = _side(eff, r.low, out, out_extra), _side(eff, r.high, out, out_extra)
        if dl.curve != "log" or dh.curve != "log":
            raise ValueError(f"{eff.name}: relation {r.low} < {r.high} needs two log (frequency) scales")
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
            put(r.low, dl.normalized(math.exp(a - down)))
        if sh:
            put(r.high, dh.normalized(math.exp(b + up)))
    return out, out_extra


def _switch_at(eff: Effect, g: Gate, extra: Mapping[str, float]) -> bool:
    """Whether ``g``'s switch, as ``extra`` sets it (else at the spec's value), is at ``g.off``."""
    f = eff.fixed_knob(g.switch)
    return f.position(float(extra.get(g.switch, f.value))) == g.off


def gated_off(eff: Effect, extra: Mapping[str, float]) -> frozenset[str]:
    """The knobs (Table 1 or fixed) that do nothing with the switches where ``extra`` (else
    the spec) sets them: the effect's gates (``Effect.gates``) whose switch is off."""
    return frozenset(n for g in eff.gates if _switch_at(eff, g, extra) for n in g.knobs)


def settle(
    eff: Effect, knobs: Mapping[str, float], extra: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """The same sound's one setting: each knob a switch leaves doing nothing (:func:`gated_off`)
    put where it rests, an extra knob back at the spec's value (dropped from ``extra``), a
    Table 1 knob at its gate's ``rest``. Two settings that differ only there are one setting
    (one cache entry, no fine-tune move), and no step names such a knob. Returns (knobs, extra)."""
    out, out_extra = dict(knobs), dict(extra)
    for g in eff.gates:
        if not _switch_at(eff, g, extra):
            continue
        for name in g.knobs:
            if name in out:
                out[name] = g.rest
            out_extra.pop(name, None)
    return out, out_extra
