"""Training every model of a group: resumable, logged, one tf.data pipeline per model.

``serumrnn train --group G`` runs, in order: data generation (resumes), derived renders
(parameter-model inputs and selector prefixes, cached), then one parameter model per effect,
the selector, its NI baseline and SerumCNN. Each model checkpoints after every epoch
(``runs/<group>/<model>/``: ``last.keras``, ``best.keras``, ``state.json``, ``log.csv``);
a rerun after a kill continues from the last finished epoch, early-stopping state included.
Finished models are copied to ``models/<group>/`` with a manifest.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from serumrnn.server import spec
from serumrnn.server.models import ALL_MODELS, effect_of_model, pair_batch
from serumrnn.server.quiet import import_tensorflow
from serumrnn.training import pairs as PR
from serumrnn.training.recipes import Recipe
from serumrnn.training.seed_streams import EPOCH_STRIDE


# --------------------------------------------------------------------------- batches
@dataclass
class Source:
    """Numpy views a batch function gathers from."""

    ds: PR.Dataset
    dry: dict


class Batches(Protocol):
    """What :func:`fit` trains on: example indices per split, and the model's inputs and
    targets for any of them."""

    def indices(self, split: int) -> np.ndarray: ...

    def inputs(self, idx: np.ndarray) -> dict[str, np.ndarray]: ...

    def targets(self, idx: np.ndarray) -> dict[str, np.ndarray] | np.ndarray: ...


class ParamData:
    """Batches for one effect's parameter model."""

    def __init__(self, src: Source, effect_name: str, pairs: dict[str, np.ndarray]):
        self.src, self.p = src, pairs
        self.eff = spec.effect(effect_name)

    def indices(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.p["split"] == split)

    def inputs(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        p, arr = self.p, self.src.ds.arrays
        a_mel = p["input_mel"][p["pair_input"][idx]]
        a_mfcc = p["input_mfcc"][p["pair_input"][idx]]
        t = p["pair_target"][idx]
        b_mel = np.where(
            (t >= 0)[:, None, None],
            arr["mel"][np.maximum(t, 0)],
            p["extra_mel"][np.maximum(-1 - t, 0)] if len(p["extra_mel"]) else 0,
        )
        b_mfcc = np.where(
            (t >= 0)[:, None, None],
            arr["mfcc"][np.maximum(t, 0)],
            p["extra_mfcc"][np.maximum(-1 - t, 0)] if len(p["extra_mfcc"]) else 0,
        )
        return pair_batch(a_mel, a_mfcc, b_mel, b_mfcc)

    def targets(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        lab = self.p["labels"][idx]
        out = {}
        cont = [j for j, k in enumerate(self.eff.knobs) if not k.categorical]
        for j, k in enumerate(self.eff.knobs):
            if k.categorical:
                out[k.name] = lab[:, j].astype(np.int32)
        if cont:
            out["continuous"] = lab[:, cont]
        return out


class SelectorData:
    """Batches of step sequences for the selector (or its NI baseline)."""

    def __init__(self, src: Source, prefixes: dict[str, np.ndarray], *, ni: bool = False):
        self.src, self.ni = src, ni
        self.ex = PR.selector_examples(src.ds)
        self.prefix = prefixes
        self.row = {
            (int(r), int(k)): i for i, (r, k) in enumerate(zip(prefixes["record"], prefixes["length"]))
        }

    def indices(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.ex["split"] == split)

    def step_features(self, rec: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Features of the sound after the record's first j effects."""
        if j == 0 or self.ni:
            return self.src.dry[str(self.src.ds.arrays["preset"][rec])]
        i = self.row[(rec, j)]
        return self.prefix["mel"][i], self.prefix["mfcc"][i]

    def inputs(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        from serumrnn.server.models import selector_batch

        arr = self.src.ds.arrays
        hist, targets, applied = [], [], []
        for e in idx:
            rec, k = int(self.ex["record"][e]), int(self.ex["k"][e])
            hist.append([self.step_features(rec, j) for j in range(k + 1)])
            targets.append((arr["mel"][rec], arr["mfcc"][rec]))
            applied.append(("initial",) + self.src.ds.chains[rec].order[:k])
        return selector_batch(hist, targets, applied)

    def targets(self, idx: np.ndarray) -> np.ndarray:
        """Soft labels over the missing effects (see ``serumrnn.training.pairs``)."""
        return self.ex["soft"][idx]


class CNNData:
    """(dry, target) -> the set of effects, for SerumCNN."""

    def __init__(self, src: Source):
        self.src = src
        self.records = np.array([i for i, c in enumerate(src.ds.chains) if len(c) > 0], np.int64)
        self.split = src.ds.split[self.records]
        self.y = PR.multi_hot([src.ds.chains[i] for i in self.records])

    def indices(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def inputs(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        arr = self.src.ds.arrays
        recs = self.records[idx]
        dm = np.stack([self.src.dry[str(arr["preset"][r])][0] for r in recs])
        dc = np.stack([self.src.dry[str(arr["preset"][r])][1] for r in recs])
        return pair_batch(dm, dc, arr["mel"][recs], arr["mfcc"][recs])

    def targets(self, idx: np.ndarray) -> np.ndarray:
        return self.y[idx]


def tf_dataset(
    data: Batches, idx: np.ndarray, batch: int, *, shuffle: bool, seed: int, cap: int | None = None
):
    """A tf.data pipeline: shuffled index batches gathered from the shards' arrays."""
    tf = import_tensorflow()

    probe_x = data.inputs(idx[:1])
    probe_y = data.targets(idx[:1])

    def spec_of(v):
        return tf.TensorSpec((None, *np.asarray(v).shape[1:]), tf.as_dtype(np.asarray(v).dtype))

    sig = (
        {k: spec_of(v) for k, v in probe_x.items()},
        {k: spec_of(v) for k, v in probe_y.items()} if isinstance(probe_y, dict) else spec_of(probe_y),
    )
    epoch = [0]

    def gen() -> Iterator:
        order = idx.copy()
        if shuffle:
            np.random.default_rng(seed + epoch[0]).shuffle(order)
            epoch[0] += 1
            if cap:
                order = order[:cap]
        for s in range(0, len(order), batch):
            b = np.sort(order[s : s + batch])
            yield data.inputs(b), data.targets(b)

    return tf.data.Dataset.from_generator(gen, output_signature=sig).prefetch(2)


# --------------------------------------------------------------------------- resumable fit
def _atomic_model_save(model, path: Path) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    model.save(tmp)
    os.replace(tmp, path)


def _resume_callback(run: Path, patience: int, monitor: str = "val_loss"):
    import keras

    class Resume(keras.callbacks.Callback):
        """Checkpoint every epoch, keep the best, and early-stop with state on disk.

        ``seconds`` adds each finished epoch's time, so a run killed and resumed reports
        the training it really took (less the unfinished epoch it lost)."""

        def __init__(self):
            super().__init__()
            self.state = (
                json.loads((run / "state.json").read_text())
                if (run / "state.json").exists()
                else {"epoch": -1, "best": None, "best_epoch": -1, "wait": 0, "done": False}
            )
            self._t0 = time.time()

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            v = float(logs[monitor])
            st = self.state
            st["seconds"] = st.get("seconds", 0) + time.time() - self._t0
            if st["best"] is None or v < st["best"]:
                st.update(best=v, best_epoch=epoch, wait=0)
                _atomic_model_save(self.model, run / "best.keras")
            else:
                st["wait"] += 1
            st["epoch"] = epoch
            if st["wait"] >= patience:
                st["done"] = True
                self.model.stop_training = True
            _atomic_model_save(self.model, run / "last.keras")
            tmp = run / "state.json.tmp"
            tmp.write_text(json.dumps(st, indent=2))
            os.replace(tmp, run / "state.json")

    return Resume()


def fit(
    name: str,
    build: Callable,
    compile_kw: dict,
    data: Batches,
    recipe: Recipe,
    run: Path,
    *,
    batch: int,
    strategy=None,
    verbose: int = 2,
    callbacks: Sequence = (),
) -> Path:
    """Train (or resume) one model; returns the path of its best checkpoint.
    ``callbacks``: more Keras callbacks (``serumrnn calibrate``'s time budget)."""
    import keras

    run.mkdir(parents=True, exist_ok=True)
    cb = _resume_callback(run, recipe.patience)
    st = cb.state
    if st["done"] or st["epoch"] + 1 >= recipe.max_epochs:
        print(
            f"[{name}] already trained (best epoch {st['best_epoch'] + 1}, val_loss {st['best']:.4f})",
            file=sys.stderr,
        )
        return run / "best.keras"
    train_idx, val_idx = data.indices(0), data.indices(1)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ValueError(f"{name}: no training or validation examples; generate more data")
    keras.utils.set_random_seed(recipe.seed)
    scope = strategy.scope() if strategy is not None else _null()
    with scope:
        if st["epoch"] >= 0 and (run / "last.keras").exists():
            model = keras.models.load_model(
                run / "last.keras", custom_objects={"in_target_accuracy": in_target_accuracy}
            )
            print(f"[{name}] resuming after epoch {st['epoch'] + 1}", file=sys.stderr)
        else:
            model = build()
            model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), **compile_kw)
    tr = tf_dataset(
        data,
        train_idx,
        batch,
        shuffle=True,
        seed=recipe.seed + EPOCH_STRIDE * (st["epoch"] + 1),
        cap=recipe.examples_per_epoch,
    )
    va = tf_dataset(data, val_idx, batch, shuffle=False, seed=0)
    print(
        f"[{name}] {len(train_idx)} train / {len(val_idx)} val examples, {model.count_params():,} parameters",
        file=sys.stderr,
    )
    model.fit(
        tr,
        validation_data=va,
        epochs=recipe.max_epochs,
        initial_epoch=st["epoch"] + 1,
        callbacks=[cb, keras.callbacks.CSVLogger(str(run / "log.csv"), append=True), *callbacks],
        verbose=verbose,
    )
    return run / "best.keras"


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def compile_kwargs(name: str, continuous_weight: float = 1.0) -> dict:
    """Losses as in the paper: cross-entropy for categorical heads, MSE for continuous,
    equal weights unless ``continuous_weight`` (``Recipe.continuous_weight``) says otherwise."""
    import keras

    effect = effect_of_model(name)
    if effect is not None:
        eff = spec.effect(effect)
        loss, metrics = {}, {}
        for k in eff.categorical:
            loss[k.name] = "sparse_categorical_crossentropy"
            metrics[k.name] = ["accuracy"]
        if eff.continuous:
            loss["continuous"] = "mse"
            metrics["continuous"] = ["mae"]
        kw: dict = {"loss": loss, "metrics": metrics}
        if continuous_weight != 1.0 and eff.continuous and eff.categorical:
            kw["loss_weights"] = {k: continuous_weight if k == "continuous" else 1.0 for k in loss}
        return kw
    if name == "serum_cnn":
        return {"loss": "binary_crossentropy", "metrics": [keras.metrics.BinaryAccuracy(name="bin_acc")]}
    # The selector: cross-entropy against the soft label over the missing effects; its
    # accuracy is "the top effect is one of those still missing".
    return {
        "loss": "categorical_crossentropy",
        "metrics": [keras.metrics.MeanMetricWrapper(in_target_accuracy, name="in_target")],
    }


def in_target_accuracy(y_true, y_pred):
    """1 where the most probable effect has weight in the soft label (is still missing)."""
    import keras

    top = keras.ops.argmax(y_pred, axis=-1)
    hit = keras.ops.take_along_axis(y_true, keras.ops.expand_dims(top, -1), axis=-1)
    return keras.ops.cast(keras.ops.squeeze(hit, -1) > 0, "float32")


def builder(name: str, width: float) -> Callable:
    from serumrnn.training import architectures as A

    effect = effect_of_model(name)
    if effect is not None:
        return lambda: A.parameter_model(effect, width)
    if name == "serum_cnn":
        return lambda: A.serum_cnn(width)
    return lambda: A.effect_selector(width, name=name)


def get_strategy(name: str | None):
    """``tf.distribute`` for bigger runs: 'mirrored' (all local GPUs) or 'multiworker'."""
    if not name or name == "default":
        return None
    tf = import_tensorflow()

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; use default, mirrored or multiworker")


# --------------------------------------------------------------------------- a whole group
def train_group(
    group: str,
    recipe: Recipe,
    *,
    data_root: Path,
    runs_root: Path,
    only: tuple[str, ...] | None = None,
    workers: int = 2,
    strategy: str | None = None,
    verbose: int = 2,
) -> tuple[dict[str, Path], dict]:
    """Generate (or resume) data, build derived renders, train every model of a group."""
    from serumrnn.server.rack import presets as P
    from serumrnn.training import datagen

    group = P.resolve_group(group)
    names = only or ALL_MODELS
    unknown = set(names) - set(ALL_MODELS)
    if unknown:
        raise KeyError(f"unknown model(s) {sorted(unknown)}; models: {', '.join(ALL_MODELS)}")
    cfg = datagen.DataConfig(group=group, per_combo=recipe.per_combo, seed=recipe.seed)
    data_dir = data_root / f"{group}-{recipe.per_combo}-s{recipe.seed}"
    print(f"[{group}] data: {data_dir}", file=sys.stderr)
    datagen.generate(cfg, data_dir, workers=workers, progress=verbose > 0)
    ds = PR.Dataset.load(data_dir)
    src = Source(ds, PR.dry_features(ds))
    strat = get_strategy(strategy)
    best: dict[str, Path] = {}
    info: dict = {
        "dir": datagen.manifest_data_dir(data_dir),
        "clips": len(ds),
        "per_combo": recipe.per_combo,
        "seed": recipe.seed,
        "examples": {},
    }
    for i, name in enumerate(names):
        print(f"[{group}] model {i + 1}/{len(names)}: {name}", file=sys.stderr)
        eff = effect_of_model(name)
        data: Batches
        if eff is not None:
            data = ParamData(
                src, eff, PR.param_pairs(ds, eff, variants=recipe.variants, workers=workers, seed=recipe.seed)
            )
            batch = recipe.param_batch
        elif name == "serum_cnn":
            data, batch = CNNData(src), recipe.param_batch
        else:
            data = SelectorData(src, PR.prefix_features(ds, workers=workers), ni=name == "selector_ni")
            batch = recipe.selector_batch
        info["examples"][name] = {s: int(len(data.indices(i))) for i, s in enumerate(PR.SPLITS)}
        best[name] = fit(
            name,
            builder(name, recipe.width),
            compile_kwargs(name, recipe.continuous_weight),
            data,
            recipe,
            runs_root / group / name,
            batch=batch,
            strategy=strat,
            verbose=verbose,
        )
    return best, info
