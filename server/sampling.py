"""Sampling effect settings from Table 1 of the paper, reproducibly.

Every record is drawn from its own integer seed, so any clip in a data set can be
re-rendered from (preset, seed) alone, and the random baseline draws the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from serumrnn.server import spec
from serumrnn.server.rack.chain import FX, Chain, ChainKey


def record_seed(*key: int) -> int:
    """A 63-bit seed derived from an integer key (dataset seed, preset, subset, index...)."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint64)[0] >> 1)


def sample_fx(name: str, rng: np.random.Generator) -> FX:
    """One effect with every sampled knob drawn uniformly from its Table 1 grid."""
    eff = spec.effect(name)
    knobs = {}
    for k in eff.knobs:
        grid = k.grid()
        knobs[k.name] = grid[int(rng.integers(len(grid)))]
    return FX(name, knobs)


def sample_chain(names: Iterable[str], rng: np.random.Generator) -> Chain:
    """The given effects in a random order, each with sampled knobs."""
    names = list(names)
    order = [names[i] for i in rng.permutation(len(names))]
    return Chain(sample_fx(n, rng) for n in order)


def random_effects(rng: np.random.Generator, k: int) -> list[str]:
    """``k`` distinct effects drawn at random, listed in spec order (one ``rng.choice``)."""
    return [spec.EFFECT_NAMES[i] for i in sorted(rng.choice(len(spec.EFFECT_NAMES), k, replace=False))]


def chain_from_seed(names: Sequence[str], seed: int) -> Chain:
    return sample_chain(names, np.random.default_rng(seed))


def n_unique(names: Iterable[str]) -> int:
    """How many distinct knob settings a subset has (the empty subset has exactly one)."""
    return math.prod(len(k.grid()) for n in names for k in spec.effect(n).knobs)


def knob_key(chain: Chain) -> ChainKey:
    """What makes two settings "the same" for uniqueness: knobs per effect, order ignored."""
    return tuple(sorted(chain.key()))


def unique_chains(names: Sequence[str], count: int, *key: int) -> list[tuple[int, Chain]]:
    """``count`` chains with distinct knob settings (capped at what the grid allows).

    Returns (seed, chain) pairs; a duplicate draw is redrawn with the next attempt number,
    so the result depends only on ``key`` and ``count``.
    """
    target = min(count, n_unique(names))
    seen: set[ChainKey] = set()
    out: list[tuple[int, Chain]] = []
    i = 0
    attempt = 0
    while len(out) < target:
        seed = record_seed(*key, i, attempt)
        chain = chain_from_seed(names, seed)
        k = knob_key(chain)
        if k in seen:
            attempt += 1
            continue
        seen.add(k)
        out.append((seed, chain))
        i += 1
        attempt = 0
    return out
