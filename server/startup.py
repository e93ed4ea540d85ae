"""What a serving process does once, before its first request: cap BLAS threads, load and
verify the models, and warm them up (the allocator is tuned by :mod:`serumrnn.server.native`,
which every model load imports first).

Kept apart from the OSC server so that ``serve``, ``bench`` and the tests start a process
the same way, and the server module holds only the protocol loop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels


def load_models(
    models_dir: Path | str | None = None, groups: list[str] | None = None
) -> dict[str, GroupModels]:
    """Every group found in ``models_dir`` (or just ``groups``), loaded and verified once.

    Only the models the step loop uses are loaded (the selector and one parameter
    model per effect). A folder with no group at all is a ``ModelError`` (missing_group).
    """
    from serumrnn.server.models import DEFAULT_MODELS_DIR, STEP_MODELS, ModelError, load_group
    from serumrnn.server.rack import presets as P

    root = Path(models_dir or DEFAULT_MODELS_DIR)
    wanted = (
        [P.resolve_group(g) for g in groups]
        if groups
        else [g for g in P.GROUPS if (root / g / "manifest.json").is_file()]
    )
    if not wanted:
        raise ModelError(
            "missing_group",
            f"no trained models in {root}: train a group with "
            "`serumrnn train --group basic` or pass --models DIR",
        )
    return {g: load_group(g, root, which=STEP_MODELS) for g in wanted}


def warm_up(models: GroupModels) -> None:
    """Trace each model and touch features, metrics and pitch once, so the first real
    step is as fast as the rest (the first call of each costs up to seconds)."""
    from serumrnn.server import features as F
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.pitch import detect_pitch

    tf_log = logging.getLogger("tensorflow")
    level = tf_log.level
    tf_log.setLevel(logging.ERROR)  # tracing every model in a row reads as "retracing"
    try:
        for name, model in models.models.items():
            models.predict(
                name, {t.name.split(":")[0]: np.zeros((1, *t.shape[1:]), np.float32) for t in model.inputs}
            )
    finally:
        tf_log.setLevel(level)
    t = np.arange(F.SAMPLE_RATE) / F.SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 130.81 * t)).astype(np.float32)
    Assistant(models, tone, loop="paper").step(current=np.sign(tone) * np.float32(0.3))
    detect_pitch(tone)


class BlasLimits(Protocol):
    """What the server keeps of threadpoolctl's limits: the way back to the old ones."""

    def restore_original_limits(self) -> None: ...


def limit_blas(threads: int | None) -> BlasLimits | None:
    """Cap BLAS threads while serving. Requests already run in parallel on the worker
    pool; a multi-threaded GEMM per request only oversubscribes the cores (measured on 2
    busy cores: a feature pass takes 33 ms with 2 BLAS threads and 1 ms with one)."""
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn, a librosa dependency
        return None
    return threadpool_limits(threads, user_api="blas")
