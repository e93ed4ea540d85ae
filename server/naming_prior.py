"""The naming head as a prior on the type of effect, for the search loop's choice.

The selector was trained on one implementation of each effect, ours, so on a sound made
elsewhere it names what our rack would do. The naming head (``models/naming_head``,
trained by ``serumrnn naming-head``) has heard several implementations of each type. The
search loop pools the two rankings (:func:`combine`) to choose which effects to render
and, among the effects whose renders the judge accepts, which one to offer
(:meth:`serumrnn.server.judge.Judge.offer`); the renders' verdict still decides whether
any effect is offered. Both rankings go into the step's report.

Loaded once per folder (the OSC server's sessions share it), checked against its
manifest: the spec it was trained for and its sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import spec
from serumrnn.server.models import DEFAULT_MODELS_DIR, Backend, GroupModels, ModelError, load_export

#: The head's folder beside the groups' folders (``models/naming_head``).
HEAD_FOLDER = "naming_head"


def head_input(input_mel: np.ndarray, target_mel: np.ndarray) -> np.ndarray:
    """What the head reads: the target's log-Mel and its change from the input, (B, 128, T, 2)."""
    a = np.asarray(input_mel, np.float32)
    b = np.asarray(target_mel, np.float32)
    return np.stack([b, b - a], axis=-1)


def combine(head_probs: np.ndarray, selector_probs: np.ndarray, weight: float) -> np.ndarray:
    """The head's and the selector's probabilities pooled: ``head^w * selector^(1-w)``,
    normalized (spec order). ``weight`` 1 is the head alone, 0 the selector alone."""
    h = np.clip(np.asarray(head_probs, np.float64), 1e-9, 1.0)
    s = np.clip(np.asarray(selector_probs, np.float64), 1e-9, 1.0)
    p = np.exp(weight * np.log(h) + (1.0 - weight) * np.log(s))
    out: np.ndarray = p / p.sum(axis=-1, keepdims=True)
    return out


#: (current log-Mels, target log-Mels), each (B, 128, T) -> (B, 5) probabilities.
ProbsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class NamingPrior:
    """A head ready to rank: its probabilities for (current, target), and the weight its
    manifest gives it against the selector (chosen on validation, ``naming-head eval``)."""

    probs_fn: ProbsFn
    weight: float
    source: str  # the folder it came from (reported)

    def probs(self, current_mel: np.ndarray, target_mel: np.ndarray) -> np.ndarray:
        """The five types' probabilities (spec order) for one (current, target) pair."""
        out: np.ndarray = np.asarray(self.probs_fn(current_mel[None], target_mel[None]), np.float64)[0]
        return out

    def pooled(self, head: np.ndarray, selector: np.ndarray) -> np.ndarray:
        return combine(head, selector, self.weight)


def read_manifest(folder: Path) -> tuple[dict[str, Any], Path]:
    """The head's manifest and its model file, checked: the spec and the sha256."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise ModelError("missing_file", f"{path} is missing: train a head with `serumrnn naming-head train`")
    m: dict[str, Any] = json.loads(path.read_text())
    if m.get("types") != list(spec.EFFECT_NAMES) or m.get("spec_fingerprint") != spec.fingerprint():
        raise ModelError("spec", f"{path}: the head was trained for another spec; train it again")
    f = Path(folder) / str(m["model"])
    if not f.is_file():
        raise ModelError("missing_file", f"{f} is missing")
    if hashlib.sha256(f.read_bytes()).hexdigest() != m["sha256"]:
        raise ModelError("checksum", f"{f} does not match its sha256 in the manifest")
    return m, f


def load_keras(folder: Path) -> tuple[Any, dict[str, Any]]:
    """The head's Keras model (checked) and its manifest."""
    from serumrnn.server.quiet import import_tensorflow

    m, f = read_manifest(folder)
    import_tensorflow()
    import keras

    return keras.models.load_model(f, compile=False), m


def load(folder: Path, backend: Backend = "keras") -> NamingPrior:
    """A checked head as a prior: its NumPy export (``backend`` "numpy", as the server runs
    its groups), or one traced TensorFlow function with a free batch axis."""
    from serumrnn.server.quiet import import_tensorflow

    if backend == "numpy":
        m, _ = read_manifest(folder)
        head = load_export(Path(folder), m)
        return NamingPrior(
            lambda a, b: np.asarray(head(head_input(a, b))), float(m.get("combine_weight", 1.0)), str(folder)
        )

    model, m = load_keras(folder)
    tf = import_tensorflow()
    fn = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)],
    )

    def probs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(fn(head_input(a, b)).numpy())

    return NamingPrior(probs, float(m.get("combine_weight", 1.0)), str(folder))


_LOADED: dict[tuple[Path, str], NamingPrior] = {}


def attach(models: GroupModels, folder: Path) -> NamingPrior:
    """Make the loops on ``models`` hear the head in ``folder`` instead of the one beside
    the models folder (``ood-naming eval --head``: a head is measured in the loop, not only
    as a ranking). Returns the checked prior."""
    prior = load(Path(folder), models.backend)
    models.naming_prior = prior
    return prior


def for_models(models: object) -> NamingPrior | None:
    """The prior a loop on ``models`` uses: one the models carry (``naming_prior``, as the
    tests' stubs may); for a trained group, the head beside its folder, else the shipped
    one; None otherwise (the loop then ranks by the selector alone)."""
    given = getattr(models, "naming_prior", None)
    if isinstance(given, NamingPrior):
        return given
    if not isinstance(models, GroupModels):
        return None
    places = [models.folder.parent / HEAD_FOLDER, DEFAULT_MODELS_DIR / HEAD_FOLDER]
    for place in places:
        if (place / "manifest.json").is_file():
            key = (place.resolve(), models.backend)  # the head runs as the group's models do
            if key not in _LOADED:
                _LOADED[key] = load(key[0], models.backend)
            return _LOADED[key]
    return None
