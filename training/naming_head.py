"""A naming head: which TYPE of effect turns this input into this target?

The selector was trained on one implementation of each effect, ours, so on sounds made
elsewhere it names what our rack would do, not what was done. This head hears several
implementations of each type (:mod:`serumrnn.training.effect_types`): the open rack with
its fixed knobs varied too, SoX's effects, LSP, Zyn's effects, Dragonfly's reverbs and
zam-plugins. Whole implementations are held out of training (``HELD_OUT``: every Dragonfly
reverb, every zam-plugin and ZynPhaser), so its test figure is on effects it never heard.

The head is small: a few convolutions over the (input, target - input) log-Mel pair,
pooled over time and frequency, then a softmax over the five types. It sits beside the
selector; :func:`combine` pools both rankings (a weighted product of probabilities, the
weight chosen on validation cases of the *training* implementations).

Data is rendered in two processes (plugins, then the open rack: see ``effect_types``):
``serumrnn naming-head data`` starts both as child processes. Each implementation's
examples are one ``.npz`` written atomically, so a killed run resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import naming_prior as NP
from serumrnn.server import spec
from serumrnn.server.naming_prior import combine, head_input
from serumrnn.server.nn_export import export_entry
from serumrnn.training import effect_types as ET

SEED_STREAM = 0x4EAD  # record_seed(SEED_STREAM, seed, implementation, example)
#: Implementations whose examples are never trained on: the held-out test.
HELD_OUT_FAMILIES = ("dragonfly", "zam")
HELD_OUT_NAMES = ("ZynPhaser",)
OPEN_RACK = "open_rack"
INPUT_POOL = 160  # inputs drawn once per data set and shared by every implementation
DEFAULT_PER_IMPL = 80
VAL_SHARE = 0.15
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # head weights tried on validation for the combination
HEAD_FILE = "naming_head.keras"


def held_out(name: str, family: str) -> bool:
    return family in HELD_OUT_FAMILIES or name in HELD_OUT_NAMES


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def _mel(audio: np.ndarray) -> np.ndarray:
    return F.mel_db(np.asarray(audio, np.float32)).astype(np.float16)


# -- data: the plugin process ---------------------------------------------------------
def render_inputs(root: Path, seed: int) -> None:
    """The shared input pool (SoX oscillators and Zyn notes): ``inputs.npz``."""
    from serumrnn.server.sampling import record_seed

    path = root / "inputs.npz"
    if path.exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        audio = [
            ET.render_input(
                ET.draw_input(np.random.default_rng(record_seed(SEED_STREAM, seed, 0xFFFF, i))), Path(tmp)
            )
            for i in range(INPUT_POOL)
        ]
    _atomic_savez(path, audio=np.stack(audio).astype(np.float32))


def render_other_software(root: Path, seed: int, per_impl: int) -> None:
    """Every SoX and plugin implementation's examples (resumes per implementation)."""
    from serumrnn.server.sampling import record_seed

    render_inputs(root, seed)
    with np.load(root / "inputs.npz") as z:
        inputs = z["audio"]
    ET.check_available(ET.OTHER_SOFTWARE)
    for k, imp in enumerate(ET.OTHER_SOFTWARE):
        path = root / f"impl-{k:02d}.npz"
        if path.exists():
            continue
        t0 = time.perf_counter()
        xs, ys = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for j in range(per_impl):
                rng = np.random.default_rng(record_seed(SEED_STREAM, seed, k, j))
                i = int(rng.integers(len(inputs)))
                ys.append(ET.apply(imp, inputs[i], imp.draw(rng), Path(tmp)))
                xs.append(i)
        _atomic_savez(
            path,
            input=np.array(xs, np.int32),
            target_mel=_mel(np.stack(ys)),
            meta=np.array(json.dumps({"name": imp.name, "type": imp.type, "family": imp.family})),
        )
        print(f"{imp.name}: {per_impl} examples in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


# -- data: the open-rack process ------------------------------------------------------
def _vary_fixed(rack: Any, effect: str, rng: np.random.Generator) -> dict[str, float]:
    """Set an effect's fixed knobs (size, decay, rate, threshold, ...) to values drawn
    around the spec's, switches left alone; returns what was set."""
    from serumrnn.server.rack.open_rack import faust_value

    stage = rack._fx[effect]
    out = {}
    for f in spec.effect(effect).fixed:
        if f.words or f.name not in stage.address:
            continue
        v = float(np.clip(f.value + rng.uniform(-0.25, 0.25), 0.0, 1.0))
        stage.set(f.name, faust_value(effect, f.name, v))
        out[f.name] = round(v, 3)
    return out


def render_open_rack(root: Path, seed: int, per_impl: int) -> None:
    """The open rack's examples: every effect on the same inputs, Table 1 knobs and the
    fixed knobs varied."""
    from serumrnn.server.rack import FX, OpenRack
    from serumrnn.server.sampling import record_seed, sample_fx

    with np.load(root / "inputs.npz") as z:
        inputs = z["audio"]
    rack = OpenRack()
    for k, effect in enumerate(spec.EFFECT_NAMES):
        path = root / f"open-{effect}.npz"
        if path.exists():
            continue
        xs, ys = [], []
        for j in range(per_impl):
            rng = np.random.default_rng(record_seed(SEED_STREAM, seed, 0x0AC0 + k, j))
            i = int(rng.integers(len(inputs)))
            fx: FX = sample_fx(effect, rng)
            _vary_fixed(rack, effect, rng)
            rack.clear_caches(dry=False)
            ys.append(ET._staged(rack.process(inputs[i], [fx])))
            xs.append(i)
        _atomic_savez(
            path,
            input=np.array(xs, np.int32),
            target_mel=_mel(np.stack(ys)),
            meta=np.array(json.dumps({"name": f"open rack {effect}", "type": effect, "family": OPEN_RACK})),
        )


def generate(root: Path, *, seed: int = 0, per_impl: int = DEFAULT_PER_IMPL) -> None:
    """Both halves, each in a child process of its own (plugins first)."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = {"seed": seed, "per_impl": per_impl, "input_pool": INPUT_POOL}
    cfg_path = root / "config.json"
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != cfg:
        raise ValueError(f"{root} holds naming data made with other settings; use another --out or delete it")
    cfg_path.write_text(json.dumps(cfg) + "\n")
    for part in ("plugins", "open_rack"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "serumrnn.training.naming_head",
                part,
                str(root),
                str(seed),
                str(per_impl),
            ],
            check=True,
        )


# -- the examples ---------------------------------------------------------------------
@dataclass
class Examples:
    input_mel: np.ndarray  # (pool, 128, T)
    index: np.ndarray  # input per example
    target_mel: np.ndarray
    type: np.ndarray  # class index in spec order
    impl: list[str]
    family: list[str]
    held_out: np.ndarray  # bool
    val: np.ndarray  # bool, among the training implementations

    def x(self, rows: np.ndarray) -> np.ndarray:
        return head_input(self.input_mel[self.index[rows]], self.target_mel[rows])


def load_examples(root: Path, seed: int = 0) -> Examples:
    with np.load(root / "inputs.npz") as z:
        input_mel = _mel(z["audio"])
    idx, mels, types, impls, fams = [], [], [], [], []
    for path in sorted(root.glob("impl-*.npz")) + sorted(root.glob("open-*.npz")):
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            idx.append(z["input"])
            mels.append(z["target_mel"])
            n = len(z["input"])
        types += [spec.EFFECT_NAMES.index(meta["type"])] * n
        impls += [meta["name"]] * n
        fams += [meta["family"]] * n
    if not idx:
        raise FileNotFoundError(
            f"{root} holds no naming examples: run `serumrnn naming-head data --out {root}`"
        )
    held = np.array([held_out(n, f) for n, f in zip(impls, fams)])
    val = (~held) & (np.random.default_rng(seed).random(len(held)) < VAL_SHARE)
    return Examples(
        input_mel,
        np.concatenate(idx),
        np.concatenate(mels),
        np.array(types, np.int32),
        impls,
        fams,
        held,
        val,
    )


# -- the model ------------------------------------------------------------------------
def build_head(width: int = 16):
    from serumrnn.server.quiet import import_tensorflow

    import_tensorflow()
    import keras
    from keras import layers

    inp = keras.Input((F.N_MELS, F.N_FRAMES, 2), name="pair")
    x = inp
    for i, f in enumerate((width, 2 * width, 2 * width)):
        x = layers.Conv2D(f, (3, 3), padding="same", activation="elu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D((2, 2), padding="same", name=f"pool{i + 1}")(x)
    x = layers.Concatenate(name="pooled")(
        [layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)]
    )
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Dense(32, activation="elu", name="fc")(x)
    out = layers.Dense(len(spec.EFFECT_NAMES), activation="softmax", name="effect_type")(x)
    return keras.Model(inp, out, name="naming_head")


def train(
    root: Path, out: Path, *, seed: int = 0, epochs: int = 30, batch: int = 32, verbose: int = 2
) -> dict:
    """Train on the training implementations, keep the best validation epoch, score the
    held-out implementations, choose the combination weight on validation, ship."""
    from serumrnn.server.quiet import import_tensorflow

    import_tensorflow()
    import keras

    t0 = time.perf_counter()
    ex = load_examples(root, seed)
    tr = np.flatnonzero(~ex.held_out & ~ex.val)
    va = np.flatnonzero(ex.val)
    te = np.flatnonzero(ex.held_out)
    keras.utils.set_random_seed(seed)
    model = build_head()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / f".best-{os.getpid()}.keras"
    # class weights: each type counts the same whatever its number of implementations
    counts = np.bincount(ex.type[tr], minlength=len(spec.EFFECT_NAMES))
    cw = {c: float(len(tr) / (len(counts) * max(1, n))) for c, n in enumerate(counts)}
    model.fit(
        ex.x(tr),
        ex.type[tr],
        validation_data=(ex.x(va), ex.type[va]),
        epochs=epochs,
        batch_size=batch,
        class_weight=cw,
        verbose=verbose,
        callbacks=[
            keras.callbacks.ModelCheckpoint(str(ckpt), monitor="val_loss", save_best_only=True),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=6),
        ],
    )
    model = keras.models.load_model(ckpt, compile=False)
    ckpt.unlink()
    p_te = model.predict(ex.x(te), verbose=0)
    p_va = model.predict(ex.x(va), verbose=0)
    per_impl = {}
    for name in sorted(set(ex.impl[i] for i in te)):
        rows = [j for j, i in enumerate(te) if ex.impl[i] == name]
        per_impl[name] = {
            "type": spec.EFFECT_NAMES[int(ex.type[te[rows[0]]])],
            "examples": len(rows),
            "accuracy": float(np.mean(p_te[rows].argmax(1) == ex.type[te[rows]])),
        }
    path = out / HEAD_FILE
    model.save(path)
    manifest = {
        "model": HEAD_FILE,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "types": list(spec.EFFECT_NAMES),
        "spec_fingerprint": spec.fingerprint(),
        "features": {"n_mels": F.N_MELS, "n_frames": F.N_FRAMES, "hop": F.HOP, "sample_rate": F.SAMPLE_RATE},
        "seed": seed,
        "data": {
            "folder": str(root),
            "config": json.loads((root / "config.json").read_text()),
            "train_examples": int(len(tr)),
            "val_examples": int(len(va)),
            "held_out_examples": int(len(te)),
            "trained_on": sorted(set(ex.impl[i] for i in tr)),
            "held_out": sorted(set(ex.impl[i] for i in te)),
        },
        "train_seconds": round(time.perf_counter() - t0, 1),
        "val_accuracy": float(np.mean(p_va.argmax(1) == ex.type[va])),
        "held_out_accuracy": float(np.mean(p_te.argmax(1) == ex.type[te])),
        "held_out_by_implementation": per_impl,
        "combine_weight": 1.0,  # set by `naming-head eval` on validation with a selector
    }
    export_entry(out, manifest)  # the server runs the NumPy export
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


# -- using it -------------------------------------------------------------------------
@dataclass
class Head:
    model: Any
    manifest: dict[str, Any]
    folder: Path
    _fn: Any = field(default=None, repr=False)

    @property
    def held_out(self) -> list[str]:
        return list(self.manifest["data"]["held_out"])

    @property
    def trained_on(self) -> list[str]:
        return list(self.manifest["data"]["trained_on"])

    @property
    def weight(self) -> float:
        return float(self.manifest.get("combine_weight", 1.0))

    def probs_from_mel(self, input_mel: np.ndarray, target_mel: np.ndarray) -> np.ndarray:
        """Probabilities of the five types (spec order) for (current, target) log-Mels,
        each (128, T) or a batch (B, 128, T)."""
        a, b = np.asarray(input_mel), np.asarray(target_mel)
        single = a.ndim == 2
        if single:
            return np.asarray(self.model.predict_on_batch(head_input(a[None], b[None])))[0]
        return np.concatenate(
            [
                np.asarray(self.model.predict_on_batch(head_input(a[s : s + 64], b[s : s + 64])))
                for s in range(0, len(a), 64)
            ]
        )

    def probs(self, input_audio: np.ndarray, target_audio: np.ndarray) -> np.ndarray:
        return self.probs_from_mel(F.mel_db(input_audio), F.mel_db(target_audio))

    def namer(self):
        def rank(x: np.ndarray, y: np.ndarray) -> list[str]:
            return ranking(self.probs(x, y))

        return rank


def ranking(probs: np.ndarray, used: Sequence[str] = ()) -> list[str]:
    from serumrnn.server.models import rank_unused

    return rank_unused(np.asarray(probs), list(used))


def combined_namer(head: Head, models: Any, weight: float | None = None):
    """A ranker (input, target) -> types: the head and the selector's first step pooled."""
    from serumrnn.server import judge as J
    from serumrnn.server.models import selector_inputs

    w = head.weight if weight is None else weight

    def rank(x: np.ndarray, y: np.ndarray) -> list[str]:
        a, b = J.measure([x, y])
        sel = np.asarray(models.predict("selector", selector_inputs([a.features], b.features, ["initial"])))[
            0
        ]
        return ranking(combine(head.probs_from_mel(a.mel, b.mel), sel, w))

    return rank


def load_head(folder: Path) -> Head:
    """The shipped head, checked: manifest, spec and sha256 (:mod:`serumrnn.server.naming_prior`)."""
    model, m = NP.load_keras(Path(folder))
    return Head(model, m, Path(folder))


def choose_weight(head: Head, models: Any, root: Path) -> dict[str, Any]:
    """The combination weight that names the most validation cases (training
    implementations only), and every held-out figure: head, selector, combined."""
    from serumrnn.server.models import selector_batch

    seed = int(head.manifest["seed"])
    ex = load_examples(root, seed)
    in_mel = ex.input_mel.astype(np.float32)
    in_mfcc = F.mfcc(in_mel)

    def both(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hp = head.probs_from_mel(ex.input_mel[ex.index[rows]], ex.target_mel[rows])
        sp = []
        for s in range(0, len(rows), 64):
            part = rows[s : s + 64]
            tm = ex.target_mel[part].astype(np.float32)
            tc = F.mfcc(tm)
            x = selector_batch(
                [[(in_mel[ex.index[r]], in_mfcc[ex.index[r]])] for r in part],
                list(zip(tm, tc)),
                [["initial"]] * len(part),
            )
            sp.append(np.asarray(models.predict("selector", x)))
        return hp, np.concatenate(sp)

    va, te = np.flatnonzero(ex.val), np.flatnonzero(ex.held_out)
    hv, sv = both(va)
    acc = {w: float(np.mean(combine(hv, sv, w).argmax(1) == ex.type[va])) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (acc[w], w))
    ht, st = both(te)
    return {
        "val_accuracy_by_weight": acc,
        "weight": best,
        "held_out": {
            "examples": int(len(te)),
            "head": float(np.mean(ht.argmax(1) == ex.type[te])),
            "selector": float(np.mean(st.argmax(1) == ex.type[te])),
            "combined": float(np.mean(combine(ht, st, best).argmax(1) == ex.type[te])),
        },
    }


if __name__ == "__main__":  # the child processes of `generate`
    part, root_arg, seed_arg, per_arg = sys.argv[1:5]
    if part == "plugins":
        render_other_software(Path(root_arg), int(seed_arg), int(per_arg))
    elif part == "open_rack":
        render_open_rack(Path(root_arg), int(seed_arg), int(per_arg))
    else:
        raise SystemExit(f"unknown part {part!r}")
