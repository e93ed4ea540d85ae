"""Named, versioned training recipes: the shipped CPU recipe and the paper's.

A published figure is one command away: ``serumrnn train --group G --recipe NAME``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

# The paper's training facts (section 3.3).
LEARNING_RATE = 1e-3
PARAM_BATCH = 128
SELECTOR_BATCH = 32
PATIENCE = 8
PAPER_EPOCHS = 100


@dataclass(frozen=True)
class Recipe:
    name: str
    width: float  # 1.0 = the paper's filter and unit counts
    per_combo: int  # data generation scale (clips per preset per effect subset)
    variants: int  # extra targets per parameter-model input (Cartesian product)
    max_epochs: int
    patience: int = PATIENCE
    learning_rate: float = LEARNING_RATE
    param_batch: int = PARAM_BATCH
    selector_batch: int = SELECTOR_BATCH
    examples_per_epoch: int | None = None  # cap per epoch (a fresh random subset each epoch)
    seed: int = 0
    # A parameter model's continuous-knob loss weight against its categorical heads' (the
    # paper: equal weights). Only models with both kinds of head (the distortion) feel it.
    continuous_weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    # Trains each model in minutes on 2 CPU cores: a quarter-width network on the default
    # data scale (7,940 clips per group), one extra target per input, at most 25 epochs
    # and 8,000 examples per epoch.
    "cpu": Recipe("cpu", width=0.25, per_combo=64, variants=1, max_epochs=25, examples_per_epoch=8000),
    # The paper: full width, 4,000 clips per combination (about 1.2 M parameter-model
    # pairs with four extra targets per input), 100 epochs. Meant for a GPU machine.
    "paper": Recipe("paper", width=1.0, per_combo=4000, variants=4, max_epochs=PAPER_EPOCHS),
    # For tests: tiny everything.
    "tiny": Recipe(
        "tiny",
        width=0.0625,
        per_combo=2,
        variants=1,
        max_epochs=2,
        patience=1,
        param_batch=16,
        selector_batch=8,
    ),
}


def get(name: str, **overrides: Any) -> Recipe:
    try:
        r = RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}") from None
    return replace(r, **{k: v for k, v in overrides.items() if v is not None})
