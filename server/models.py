"""Loading the shipped models safely, and turning their outputs into knob values.

A group's folder (``models/<group>/``) holds one ``.keras`` file per model, its NumPy
export (``.npz``, written by ``serumrnn models export``) and a ``manifest.json``. Training
and evaluation run the ``.keras`` files (backend "keras"); the server runs the exports
(backend "numpy", :mod:`serumrnn.server.nn_numpy`) and never imports TensorFlow. Before
any file is trusted, the loader checks the manifest against this code (the spec's
fingerprint, feature settings, render note) and each file's sha256. Any problem is a
``ModelError`` with a stable ``code`` and a message naming the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import (
    native,  # noqa: F401  (DawDreamer before TensorFlow, see native.py)
    spec,
)
from serumrnn.server.quiet import import_tensorflow
from serumrnn.server.rack.chain import FX
from serumrnn.server.rack.render import RenderSettings

if TYPE_CHECKING:  # naming_prior imports this module
    from serumrnn.server.naming_prior import NamingPrior

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = ROOT / "models"
#: A parameter model is named for its effect: this prefix, then the effect's name.
PARAM_PREFIX = "param_"


def param_model_name(effect: str) -> str:
    """The name of ``effect``'s parameter model (its file, manifest entry and Keras name)."""
    return PARAM_PREFIX + spec.effect(effect).name


def effect_of_model(name: str) -> str | None:
    """The effect a parameter model predicts the knobs of; None for any other model.
    A parameter-model name whose effect the spec lacks is a ``KeyError``."""
    if not name.startswith(PARAM_PREFIX):
        return None
    return spec.effect(name[len(PARAM_PREFIX) :]).name


#: One parameter model per effect, in spec order.
PARAM_MODELS: tuple[str, ...] = tuple(param_model_name(e) for e in spec.EFFECT_NAMES)
#: What the assistant loads: the selector and every parameter model.
STEP_MODELS: tuple[str, ...] = ("selector",) + PARAM_MODELS
#: Every model of a group: the assistant's, the selector's NI baseline and SerumCNN.
ALL_MODELS: tuple[str, ...] = PARAM_MODELS + ("selector", "selector_ni", "serum_cnn")


#: How a group's models run: "keras" (TensorFlow; training and evaluation, whose committed
#: figures were measured so) or "numpy" (the exports; serve, match and demo).
Backend = Literal["keras", "numpy"]
#: What the server's commands load with.
SERVER_BACKEND: Backend = "numpy"


class ModelError(RuntimeError):
    """A model folder or file that cannot be used. ``code`` is stable for clients:
    missing_group, missing_manifest, bad_manifest, incompatible, missing_file,
    checksum, corrupt, nan_output."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def feature_settings() -> dict[str, Any]:
    """The feature facts a model depends on (checked against each manifest)."""
    return {**F.settings(), "n_frames": F.N_FRAMES}


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, checked for compatibility with this code."""
    if not folder.is_dir():
        raise ModelError(
            "missing_group",
            f"no models at {folder}: train them with "
            f"`serumrnn train --group {folder.name}` or pass --models DIR",
        )
    path = folder / "manifest.json"
    if not path.is_file():
        raise ModelError("missing_manifest", f"{path} is missing")
    try:
        m = json.loads(path.read_text())
        files = m["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError("bad_manifest", f"{path} is not a valid manifest: {e}") from None
    problem = spec.fingerprint_problem(m)
    if problem:
        raise ModelError(
            "incompatible",
            f"{path}: the models were {problem}. Retrain them "
            f"(`serumrnn train --group {folder.name}`) or use models made for "
            "this spec",
        )
    if m.get("features") != feature_settings():
        raise ModelError("incompatible", f"{path}: feature settings differ from server/features.py")
    if not isinstance(files, dict):
        raise ModelError("bad_manifest", f"{path}: 'files' must be an object")
    manifest: dict[str, Any] = m
    return manifest


class StepModels(Protocol):
    """What the assistant needs of a group's models (``GroupModels``, and the tests'
    scripted ``StubModels``): the group's name, its render settings, and inference."""

    @property
    def group(self) -> str: ...

    @property
    def render_settings(self) -> RenderSettings: ...

    def predict(self, name: str, inputs: Mapping[str, np.ndarray]) -> Any: ...


@dataclass
class GroupModels:
    """One preset group's models, loaded once and ready for inference."""

    group: str
    folder: Path
    manifest: dict[str, Any]
    models: dict[str, Any] = field(default_factory=dict)
    backend: Backend = "keras"
    _fns: dict[str, Any] = field(default_factory=dict, repr=False)
    #: A naming head the caller chose (``naming_prior.attach``); None: the loops use the
    #: one beside the folder (``naming_prior.for_models``).
    naming_prior: NamingPrior | None = None

    @property
    def render_settings(self) -> RenderSettings:
        return RenderSettings(**self.manifest.get("render", {}))

    def input_shapes(self, name: str) -> dict[str, tuple[int, ...]]:
        """Model ``name``'s inputs and their shapes without the batch axis."""
        model = self.models[name]
        if self.backend == "numpy":
            shapes: dict[str, tuple[int, ...]] = model.input_shapes
            return shapes
        return {t.name.split(":")[0]: tuple(t.shape[1:]) for t in model.inputs}

    def predict(self, name: str, inputs: Mapping[str, np.ndarray]) -> Any:
        """Inference: the NumPy export, or a compiled TensorFlow function per model (no
        retracing per call)."""
        if self.backend == "numpy":
            return self.models[name]({k: np.asarray(v, np.float32) for k, v in inputs.items()})
        if name not in self._fns:
            tf = import_tensorflow()

            # Each model traces once; TF's "retracing" warning counts the first traces of
            # several different functions, which is expected here, so keep it quiet.
            tf.get_logger().setLevel("ERROR")
            model = self.models[name]
            # One signature with a free batch axis: traced once, whatever the batch size.
            sig = {
                t.name.split(":")[0]: tf.TensorSpec((None, *t.shape[1:]), tf.float32) for t in model.inputs
            }
            self._fns[name] = tf.function(lambda x, m=model: m(x, training=False), input_signature=[sig])
        out = self._fns[name]({k: np.asarray(v, np.float32) for k, v in inputs.items()})
        if isinstance(out, dict):
            return {k: v.numpy() for k, v in out.items()}
        return out.numpy()


def load_group(
    group: str,
    models_dir: Path | str | None = None,
    *,
    which: tuple[str, ...] = ALL_MODELS,
    verify: bool = True,
    backend: Backend = "keras",
) -> GroupModels:
    """Load and verify a group's models. ``which`` picks a subset (missing ones are errors);
    ``backend`` "numpy" loads the exports (no TensorFlow)."""
    from serumrnn.server.rack import presets as P

    gid = P.resolve_group(group)
    folder = Path(models_dir or DEFAULT_MODELS_DIR) / gid
    manifest = read_manifest(folder)
    out = GroupModels(gid, folder, manifest, backend=backend)
    if backend == "numpy":
        for name in which:
            out.models[name] = load_export(folder, _entry(folder, manifest, name), verify=verify)
        return out
    import_tensorflow()
    import keras

    for name in which:
        entry = _entry(folder, manifest, name)
        path = folder / entry["file"]
        _check_file(path, entry["sha256"], verify, "re-export or re-download the models")
        try:
            out.models[name] = keras.models.load_model(path, compile=False)
        except Exception as e:  # keras raises many kinds on a damaged file
            raise ModelError("corrupt", f"{path} cannot be loaded: {type(e).__name__}: {e}") from None
    return out


def _check_file(path: Path, sha: str, verify: bool, fix: str) -> None:
    """A model file the manifest lists: present, and (``verify``) the bytes it recorded."""
    if not path.is_file():
        raise ModelError("missing_file", f"{path} is missing: {fix}")
    if verify and sha256(path) != sha:
        raise ModelError(
            "checksum", f"{path} does not match its sha256 in the manifest (corrupt or replaced); {fix}"
        )


def _entry(folder: Path, manifest: Mapping[str, Any], name: str) -> dict[str, Any]:
    entry: dict[str, Any] | None = manifest["files"].get(name)
    if entry is None:
        raise ModelError("missing_file", f"{folder / 'manifest.json'} lists no model {name!r}")
    return entry


def load_export(folder: Path, entry: Mapping[str, Any], *, verify: bool = True) -> Any:
    """The NumPy export of the manifest ``entry``'s model (a group's file entry, or the
    naming head's manifest), checked: its own sha256, and that it was made from the
    ``.keras`` file the manifest lists (a retrained model with a stale export is refused)."""
    from serumrnn.server import nn_numpy

    keras_name = entry.get("file") or entry.get("model")
    np_entry = entry.get("numpy")
    if not isinstance(np_entry, dict):
        raise ModelError(
            "missing_file",
            f"{folder / 'manifest.json'} lists no NumPy export of {keras_name}: run `serumrnn models export`",
        )
    path = folder / str(np_entry["file"])
    _check_file(path, str(np_entry["sha256"]), verify, "run `serumrnn models export`")
    try:
        model = nn_numpy.load(path)
    except nn_numpy.ExportError as e:
        raise ModelError("corrupt", str(e)) from None
    if verify and model.keras_sha256 != entry["sha256"]:
        raise ModelError(
            "checksum",
            f"{path} was exported from another {keras_name} than the manifest lists: "
            "run `serumrnn models export`",
        )
    return model


def pair_batch(
    current_mel: Sequence[np.ndarray] | np.ndarray,
    current_mfcc: Sequence[np.ndarray] | np.ndarray,
    target_mel: Sequence[np.ndarray] | np.ndarray,
    target_mfcc: Sequence[np.ndarray] | np.ndarray,
) -> dict[str, np.ndarray]:
    """The paper's parameter-model input (SerumCNN's too): the current and the target
    sound's features stacked as two channels, current in channel 0, target in channel 1.

    Every argument is a batch, (B, N_MELS, N_FRAMES) for Mel and (B, N_MFCC, N_FRAMES) for
    MFCC (an array or a sequence of per-clip arrays); the result is float32
    ``{"mel": (B, N_MELS, N_FRAMES, 2), "mfcc": (B, N_MFCC, N_FRAMES, 2)}``. Training,
    evaluation and the assistant all build this input here: the trained models depend on
    the channel order."""
    mel = np.stack([current_mel, target_mel], axis=-1).astype(np.float32, copy=False)
    mfcc = np.stack([current_mfcc, target_mfcc], axis=-1).astype(np.float32, copy=False)
    return {"mel": mel, "mfcc": mfcc}


def pair_inputs(
    current: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray]
) -> dict[str, np.ndarray]:
    """One (mel, mfcc) pair of the current and target sounds as a batch of one
    (:func:`pair_batch`)."""
    return pair_batch([current[0]], [current[1]], [target[0]], [target[1]])


def selector_batch(
    histories: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
    targets: Sequence[tuple[np.ndarray, np.ndarray]],
    applied: Sequence[Sequence[str]],
) -> dict[str, np.ndarray]:
    """Selector inputs for many examples, padded to ``spec.MAX_STEPS`` steps: step j of example r pairs the
    sound ``histories[r][j]`` (mel, mfcc) with ``targets[r]``, with the one-hot of
    ``applied[r][j]`` ("initial" for the first step). Training, evaluation and the step
    assistant all build the selector's input here."""
    b = len(histories)
    n = spec.MAX_STEPS
    mel = np.zeros((b, n, F.N_MELS, F.N_FRAMES, 2), np.float32)
    mfcc = np.zeros((b, n, F.N_MFCC, F.N_FRAMES, 2), np.float32)
    app = np.zeros((b, n, len(spec.STEP_TOKENS)), np.float32)
    present = np.zeros((b, n, 1), np.float32)
    for r, (states, target, tokens) in enumerate(zip(histories, targets, applied)):
        for j, (sm, sc) in enumerate(states):
            mel[r, j, ..., 0], mel[r, j, ..., 1] = sm, target[0]
            mfcc[r, j, ..., 0], mfcc[r, j, ..., 1] = sc, target[1]
            app[r, j, spec.STEP_TOKENS.index(tokens[j])] = 1.0
            present[r, j] = 1.0
    return {"mel_seq": mel, "mfcc_seq": mfcc, "applied_seq": app, "step_present": present}


def selector_inputs(
    states: Sequence[tuple[np.ndarray, np.ndarray]],
    target: tuple[np.ndarray, np.ndarray],
    applied: Sequence[str],
) -> dict[str, np.ndarray]:
    """One selector example: the sounds so far (each paired with the target), padded."""
    return selector_batch([states], [target], [applied])


def most_probable_unused(probs: np.ndarray, used: Sequence[str]) -> str:
    """The effect a selector ranks first among those not switched on yet (no repeats)."""
    masked = np.asarray(probs, np.float64).copy()
    for e in used:
        masked[spec.EFFECT_NAMES.index(e)] = -np.inf
    return spec.EFFECT_NAMES[int(np.argmax(masked))]


def rank_unused(probs: np.ndarray, used: Sequence[str]) -> list[str]:
    """Unused effects, most probable first (what a verified step tries in turn)."""
    order = np.argsort(-np.asarray(probs, np.float64), kind="stable")
    return [spec.EFFECT_NAMES[i] for i in order if spec.EFFECT_NAMES[i] not in used]


def knobs_from_outputs(effect_name: str, outputs: Mapping[str, np.ndarray], row: int = 0) -> FX:
    """A parameter model's outputs as an ``FX``: argmax for a categorical knob, and a
    continuous knob clipped into its sampled range (the paper's Table 1)."""
    eff = spec.effect(effect_name)
    values: dict[str, float] = {}
    for key, arr in outputs.items():
        if not np.isfinite(np.asarray(arr)[row]).all():
            raise ModelError("nan_output", f"the {effect_name} model produced non-finite {key!r}")
    # Read only for continuous knobs, so an effect without them has an empty row.
    cont = np.asarray(outputs["continuous"])[row] if eff.continuous else np.empty(0)
    ci = 0
    for k in eff.knobs:
        if k.categorical:
            values[k.name] = float(int(np.argmax(np.asarray(outputs[k.name])[row])))
        else:
            lo, hi = k.span
            values[k.name] = float(np.clip(cont[ci], lo, hi))
            ci += 1
    return FX(effect_name, values)
