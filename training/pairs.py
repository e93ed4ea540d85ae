"""Training examples for the models, formed from the generated shards.

**Parameter-model pairs** (one set per effect ``e``). Every record whose chain contains
``e`` is a *target*. Its *input* is the same chain, same knobs and order, with ``e``
removed, rendered from the record's preset. So input and target differ by exactly the
effect being modelled, and the label is the target's knobs for ``e``. This is the paper's
"input audio" / "target audio" pairing restricted to the pairs that isolate one effect;
with ``variants > 0`` each input is also paired with that many extra targets that differ
only in ``e``'s knobs (new draws from Table 1), the Cartesian-product idea of the paper
(one input, several targets) at a cost of one render per extra target.

**Selector sequences.** A record's chain ``C = (e1, .., en)`` (n >= 1) lists its effects
in the record's random turn-on order (every sound is still *processed* in rack order). It
gives n examples. Example k (0-based) has k + 1 steps; step j holds the features of the
prefix ``C[:j]`` (the dry preset for j = 0) next to the target, and the one-hot of the
effect applied at step j ("initial" for j = 0). Its soft label spreads 1/(n - k) over the
effects still missing, ``C[k:]``: in rack order the turn-on order is arbitrary, so no
single "next" effect exists. The paper's examples are those with one effect left
(k = n - 1, ``last``), whose soft label is the one-hot of ``C[n-1]`` (``label``): they are
what Table 3 measures.
The NI baseline sees the same examples with every step's spectra replaced by step 0's.
SerumCNN sees (dry, target) and the set of effects as a multi-hot over the spec's effects.

**Splits.** Records are split, not pairs, so no target leaks across splits: a record goes
to test, validation or train by a hash of its seed (0.05 / 0.10 / 0.85, the paper's).

Intermediate renders are cached in ``<data>/derived/`` as atomic ``.npz`` files, so a
killed build resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import spec
from serumrnn.server.rack.chain import Chain
from serumrnn.server.sampling import record_seed, sample_fx
from serumrnn.training import datagen

TEST_SPLIT = 0.05
VAL_SPLIT = 0.10
SPLITS = ("train", "val", "test")


def split_of(seeds: np.ndarray) -> np.ndarray:
    """0 train, 1 val, 2 test: a stable function of each record's seed."""
    u = (np.asarray(seeds, np.uint64) * np.uint64(0x9E3779B97F4A7C15) >> np.uint64(11)).astype(
        np.float64
    ) / float(1 << 53)
    return np.where(u < TEST_SPLIT, 2, np.where(u < TEST_SPLIT + VAL_SPLIT, 1, 0)).astype(np.int8)


@dataclass
class Dataset:
    """A generated data set in memory, with each record's chain decoded once."""

    root: Path
    arrays: dict[str, np.ndarray]
    chains: list[Chain]
    group: str
    render: dict

    @classmethod
    def load(cls, root: Path) -> Dataset:
        root = Path(root)
        arrays = datagen.load_dataset(root)
        meta = json.loads((root / "dataset.json").read_text())
        chains = [datagen.decode_chain(k, o) for k, o in zip(arrays["knobs"], arrays["order"])]
        return cls(root, arrays, chains, meta["group"], meta["render"])

    def __len__(self) -> int:
        return len(self.chains)

    @property
    def split(self) -> np.ndarray:
        return split_of(self.arrays["seed"])

    def presets(self) -> list[str]:
        return sorted(set(self.arrays["preset"].tolist()))


def _renderer(render: dict):
    from serumrnn.server.rack.render import RenderSettings

    return datagen.make_renderer("open_rack", RenderSettings(**render))


def _atomic_savez(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _render_features(
    jobs: list[tuple[str, Chain]], render: dict, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Render (preset, chain) jobs, in parallel when asked, and featurize them."""
    if not jobs:
        z = np.zeros((0, F.N_MELS, F.N_FRAMES), np.float16)
        return z, np.zeros((0, F.N_MFCC, F.N_FRAMES), np.float16)
    if workers > 1 and len(jobs) > 64:
        import multiprocessing as mp

        parts = np.array_split(np.arange(len(jobs)), workers * 4)
        with mp.get_context("spawn").Pool(
            workers, initializer=datagen.init_worker, initargs=("open_rack", render)
        ) as pool:
            res = pool.map(_render_part, [[jobs[i] for i in p] for p in parts])
        return np.concatenate([r[0] for r in res]), np.concatenate([r[1] for r in res])
    datagen.init_worker("open_rack", render)
    return _render_part(jobs)


def _render_part(jobs):
    renderer = datagen.worker_renderer()
    audio = np.stack([renderer.render(c, p) for p, c in jobs])
    mel, mfcc = F.features(audio)
    return mel.astype(np.float16), mfcc.astype(np.float16)


def dry_features(ds: Dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rack = _renderer(ds.render)
    out = {}
    for p in ds.presets():
        mel, mfcc = F.features(rack.dry(p))
        out[p] = (mel.astype(np.float16), mfcc.astype(np.float16))
    return out


def param_pairs_path(root: Path, effect_name: str, variants: int, seed: int) -> Path:
    """Where :func:`param_pairs` caches its result. The extra targets are drawn from
    ``seed``, so it is part of the name whenever there are any."""
    tail = f"-s{seed}" if variants else ""
    return Path(root) / "derived" / f"pairs-{effect_name}-v{variants}{tail}.npz"


def param_pairs(
    ds: Dataset, effect_name: str, *, variants: int = 0, workers: int = 2, seed: int = 0
) -> dict[str, np.ndarray]:
    """Input features, target index and labels for one effect (cached in derived/).
    ``variants`` extra targets per input are drawn from ``seed``."""
    path = param_pairs_path(ds.root, effect_name, variants, seed)
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    path.parent.mkdir(exist_ok=True)
    eff = spec.effect(effect_name)
    targets = [i for i, c in enumerate(ds.chains) if effect_name in c.order]
    jobs, labels = [], []
    for i in targets:
        jobs.append((str(ds.arrays["preset"][i]), ds.chains[i].without(effect_name)))
    in_mel, in_mfcc = _render_features(jobs, ds.render, workers)
    for i in targets:
        fx = ds.chains[i][ds.chains[i].order.index(effect_name)]
        labels.append([fx.knobs[k.name] for k in eff.knobs])
    target_idx = list(targets)
    tgt_mel = np.zeros((0, F.N_MELS, F.N_FRAMES), np.float16)
    tgt_mfcc = np.zeros((0, F.N_MFCC, F.N_FRAMES), np.float16)
    pair_input = list(range(len(targets)))
    if variants:
        vjobs, vlabels, vinput = [], [], []
        for n, i in enumerate(targets):
            chain = ds.chains[i]
            pos = chain.order.index(effect_name)
            for v in range(variants):
                rng = np.random.default_rng(record_seed(seed, int(ds.arrays["seed"][i]), v))
                fx = sample_fx(effect_name, rng)
                new = Chain(list(chain[:pos]) + [fx] + list(chain[pos + 1 :]))
                vjobs.append((str(ds.arrays["preset"][i]), new))
                vlabels.append([fx.knobs[k.name] for k in eff.knobs])
                vinput.append(n)
        tgt_mel, tgt_mfcc = _render_features(vjobs, ds.render, workers)
        labels += vlabels
        pair_input += vinput
        target_idx += [-1 - j for j in range(len(vjobs))]  # negative: an extra target
    out = {
        "input_mel": in_mel,
        "input_mfcc": in_mfcc,
        "extra_mel": tgt_mel,
        "extra_mfcc": tgt_mfcc,
        "pair_input": np.array(pair_input, np.int32),
        "pair_target": np.array(target_idx, np.int32),
        "labels": np.array(labels, np.float32),
        "split": ds.split[np.array([targets[k] for k in pair_input], np.int64)]
        if targets
        else np.zeros(0, np.int8),
    }
    _atomic_savez(path, **out)
    return out


def prefix_features(ds: Dataset, *, workers: int = 2) -> dict[str, np.ndarray]:
    """Features of every proper, non-empty prefix of every record's chain (derived/)."""
    path = ds.root / "derived" / "prefixes.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    path.parent.mkdir(exist_ok=True)
    jobs, rec, length = [], [], []
    for i, c in enumerate(ds.chains):
        for k in range(1, len(c)):
            jobs.append((str(ds.arrays["preset"][i]), c.prefix(k)))
            rec.append(i)
            length.append(k)
    mel, mfcc = _render_features(jobs, ds.render, workers)
    out = {"mel": mel, "mfcc": mfcc, "record": np.array(rec, np.int32), "length": np.array(length, np.int8)}
    _atomic_savez(path, **out)
    return out


def missing_distribution(missing: Iterable[str]) -> np.ndarray:
    """The selector's soft target: equal weight on every effect still missing."""
    names = list(missing)
    out = np.zeros(len(spec.EFFECT_NAMES), np.float32)
    for n in names:
        out[spec.EFFECT_NAMES.index(n)] = 1.0 / len(names)
    return out


def selector_examples(ds: Dataset) -> dict[str, np.ndarray]:
    """Per example: the record, k (its first k effects are on), the hard label ``C[k]``,
    the soft label over ``C[k:]``, whether one effect is left (the paper's examples) and
    the number of effects in the target."""
    rec, ks, labels, soft, n_fx = [], [], [], [], []
    for i, c in enumerate(ds.chains):
        for k in range(len(c)):
            rec.append(i)
            ks.append(k)
            labels.append(spec.EFFECT_NAMES.index(c.order[k]))
            soft.append(missing_distribution(c.order[k:]))
            n_fx.append(len(c))
    rec_a = np.array(rec, np.int32)
    k_a, n_a = np.array(ks, np.int8), np.array(n_fx, np.int8)
    return {
        "record": rec_a,
        "k": k_a,
        "label": np.array(labels, np.int8),
        "soft": np.array(soft, np.float32).reshape(-1, len(spec.EFFECT_NAMES)),
        "last": k_a == n_a - 1,
        "n_effects": n_a,
        "split": ds.split[rec_a] if len(rec_a) else np.zeros(0, np.int8),
    }


def multi_hot(chains: Iterable[Chain]) -> np.ndarray:
    return np.array([[float(n in c.order) for n in spec.EFFECT_NAMES] for c in chains], np.float32)
