"""Modified copies of the effect spec, for tests: what an edit of ``server/spec.py`` does,
without touching it. ``use_effects`` swaps the spec's effects (and every table the spec
derives from them) through pytest's ``monkeypatch``, which puts everything back after the
test. Code that reads the spec when it runs sees the copy; that is the point: nothing else
should need editing when the spec changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from serumrnn.server import spec


def replace_knob(effect: str, knob: str, **changes: Any) -> tuple[spec.Effect, ...]:
    """The spec's effects with one knob changed (``dataclasses.replace`` fields)."""
    out = []
    for e in spec.EFFECTS:
        if e.name == effect:
            e = dataclasses.replace(
                e, knobs=tuple(dataclasses.replace(k, **changes) if k.name == knob else k for k in e.knobs)
            )
        out.append(e)
    return tuple(out)


def use_effects(monkeypatch, effects: Iterable[spec.Effect], rack_order: Sequence[str] | None = None) -> None:
    """Make ``effects`` the spec's, in that order. ``rack_order`` defaults to the current
    rack order with any new effect appended at the bottom of the rack."""
    effects = tuple(effects)
    names = tuple(e.name for e in effects)
    if rack_order is None:
        rack_order = tuple(n for n in spec.SERUM_RACK_ORDER if n in names) + tuple(
            n for n in names if n not in spec.SERUM_RACK_ORDER
        )
    derived = {
        "EFFECTS": effects,
        "EFFECT_NAMES": names,
        "_BY_NAME": {e.name: e for e in effects},
        "SERUM_RACK_ORDER": tuple(rack_order),
        "STEP_TOKENS": names + ("initial",),
        "MAX_STEPS": len(effects),
    }
    # Every table of the spec module that lists the effects must be one of those replaced
    # here, or the copy would be half old: a new one fails this until it is added above.
    old = set(spec.EFFECT_NAMES)
    for key, value in vars(spec).items():
        if key in derived or not isinstance(value, (tuple, list, dict)):
            continue
        if old <= {getattr(v, "name", v) for v in value if isinstance(v, (str, spec.Effect))}:
            raise AssertionError(
                f"spec.{key} lists the effects: derive it in tests/spec_copies.py.use_effects too"
            )
    for key, value in derived.items():
        monkeypatch.setattr(spec, key, value)
