"""The nouns of the renderer API: an effect with its knobs (``FX``) and an ordered ``Chain``.

They are plain data checked against the spec, so the same chain renders on the open rack,
on a real plugin through a profile, or becomes a step reply for the Max for Live device.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, overload

from serumrnn.server import spec

#: One effect's settings, hashable: its name and its (knob, value) pairs sorted by knob.
FXKey = tuple[str, tuple[tuple[str, float], ...]]
#: A chain's settings, hashable, in the chain's order (caches of renders and judged sounds).
ChainKey = tuple[FXKey, ...]


@dataclass(frozen=True)
class FX:
    """One effect switched on with its sampled knobs (Serum-normalized 0..1, mode as class).

    ``extra``: values for some of the effect's extra knobs (``spec.Fixed.extra``), which a
    knob search may move when the Table 1 knobs cannot reach a sound made elsewhere; the
    others keep the spec's fixed values. Empty for every setting a model proposes. A knob
    that a switch leaves doing nothing (``spec.Gate``: the filter's knobs while it is Off)
    is settled where the spec rests it.

    >>> FX("distortion", mode="Tube", drive=0.72)
    >>> FX("compressor", low=0.5, mid=0.2, high=0.1, extra={"threshold": 0.3})
    """

    name: str
    knobs: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, float] = field(default_factory=dict)

    def __init__(
        self,
        name: str,
        knobs: Mapping[str, Any] | None = None,
        *,
        extra: Mapping[str, float] | None = None,
        **kw: Any,
    ):
        spec.effect(name)  # error early on an unknown effect
        values = dict(knobs or {})
        values.update(kw)
        # Settled: a knob a switch leaves doing nothing rests where the spec puts it, so one
        # sound has one setting and no step names such a knob (spec.Gate).
        knobs_, extra_ = spec.settle(
            name, spec.validate_knobs(name, values), spec.validate_extra(name, extra or {})
        )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "knobs", knobs_)
        object.__setattr__(self, "extra", extra_)

    def with_knobs(self, values: Mapping[str, float]) -> FX:
        """The same effect with some knobs changed; its extra knobs stay as they are."""
        return FX(self.name, {**self.knobs, **values}, extra=self.extra)

    def fixed_value(self, f: spec.Fixed) -> float:
        """What one of the effect's fixed knobs is set to: its extra value, else the spec's."""
        return self.extra.get(f.name, f.value)

    @property
    def effect(self) -> spec.Effect:
        return spec.effect(self.name)

    def serum_values(self) -> dict[str, float]:
        """Serum parameter name -> normalized value, enable and fixed knobs included."""
        eff = self.effect
        out = {eff.enable.serum_name: eff.enable.value}
        out.update({f.serum_name: self.fixed_value(f) for f in eff.fixed})
        out.update({k.serum_name: k.to_serum(self.knobs[k.name]) for k in eff.knobs})
        return out

    @cached_property
    def idle(self) -> frozenset[str]:
        """The knobs its switches leave doing nothing (``spec.gated_off``): no words name them.
        Read once per knob by ``describe`` and the fine-tune, so it is worked out once."""
        return spec.gated_off(self.name, self.extra)

    def describe(self) -> str:
        """Producer-readable text, e.g. 'Distortion: Mode Tube, Drive 72 %'."""
        eff = self.effect
        parts = [f"{k.label} {k.text(self.knobs[k.name])}" for k in eff.knobs if k.name not in self.idle]
        return f"{eff.label}: " + ", ".join(parts + spec.extra_text(self.name, self.extra))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"effect": self.name, "knobs": dict(self.knobs)}
        if self.extra:
            d["extra"] = dict(self.extra)
        return d

    def key(self) -> FXKey:
        """This effect's settings, hashable (the one definition of "the same settings");
        an extra knob's entry is named ``extra.<name>``."""
        extra = tuple((f"extra.{n}", v) for n, v in sorted(self.extra.items()))
        return (self.name, tuple(sorted(self.knobs.items())) + extra)


class Chain(Sequence[FX]):
    """The effects that are on, with their knobs, listed in the order they were switched on.

    The list order is the producer's step sequence, not the processing order: a renderer
    always processes a chain in its rack order (:meth:`in_rack_order`), as Serum's FX rack
    does, so two chains holding the same effects and knobs sound the same."""

    def __init__(self, effects: Iterable[FX] = ()):
        self._fx = tuple(effects)
        names = [f.name for f in self._fx]
        if len(set(names)) != len(names):
            raise ValueError(f"an effect appears twice in the chain: {names}")

    @overload
    def __getitem__(self, i: int) -> FX: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[FX, ...]: ...

    def __getitem__(self, i: int | slice) -> FX | tuple[FX, ...]:
        return self._fx[i]

    def __len__(self) -> int:
        return len(self._fx)

    def __iter__(self) -> Iterator[FX]:
        return iter(self._fx)

    def __repr__(self) -> str:
        return f"Chain({list(self._fx)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Chain) and self._fx == other._fx

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(f.name for f in self._fx)

    def without(self, name: str) -> Chain:
        return Chain(f for f in self._fx if f.name != name)

    def then(self, fx: FX) -> Chain:
        return Chain(self._fx + (fx,))

    def prefix(self, n: int) -> Chain:
        return Chain(self._fx[:n])

    def in_rack_order(self, rack_order: Sequence[str]) -> Chain:
        """The same effects in processing order (``rack_order`` lists every effect)."""
        rank = {n: i for i, n in enumerate(rack_order)}
        return Chain(sorted(self._fx, key=lambda f: rank[f.name]))

    def same_effects(self, other: Chain) -> bool:
        """Same effects with the same knobs, whatever the turn-on order (same sound)."""
        return sorted(self._fx, key=lambda f: f.name) == sorted(other, key=lambda f: f.name)

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._fx]

    def key(self) -> ChainKey:
        """The effects and their knob values in this chain's order, hashable."""
        return tuple(f.key() for f in self._fx)

    @classmethod
    def from_json(cls, items: Iterable[Mapping[str, Any]]) -> Chain:
        return cls(FX(d["effect"], d["knobs"], extra=d.get("extra")) for d in items)
