"""Calibration to the producer's plugins: fine-tune the parameter models on their sound.

``serumrnn calibrate --profile P --minutes M`` renders training pairs through the
profile's plugins (the pairs of Table 2: a chain with the effect against the same chain
without it, on the profile's preset), fine-tunes the five parameter models from the
shipped weights, and writes a models folder that ``match`` and ``serve`` accept (``--models``).

Everything is resumable. Pairs are rendered in chunks written atomically
(``<work>/data/<effect>-cNNNN.npz``); once the data phase has finished, ``plan.json`` fixes
the data set, so a rerun trains on the same pairs. Each model checkpoints every epoch
(``serumrnn.training.train.fit``) and continues from its last finished epoch after a kill.
The budget: about ``DATA_SHARE`` of the minutes render, the rest trains, shared equally
by the models still training (:func:`train_in_turn`).

Data by need: after ``FIRST_CHUNKS`` chunks per effect, the shipped models are rendered on
those pairs (:func:`probe_need`), and each effect's share of the rest of the rendering is
``NEED_FLOOR`` plus how many points its shipped model on the plugins falls short of its
open-rack figure (``need.json``, recorded in ``plan.json``). Why: on ``debian_test`` four
models beat their open-rack figures on a few hundred pairs, while the distortion, 90 points
short, gained about 10 points per doubling of its pairs; equal shares spent most of the
rendering where it no longer helped. What the models that stop early leave
goes back to the ones the budget stopped; a model still stopped when the time is out is
exported at its best epoch so far and a rerun continues it.

Rounds: when every model's training ends by itself (early stopping, or its last epoch) with at least
``ROUND_MIN_SHARE`` of the budget left, the data were the limit, not the time. So another
round renders more pairs (``DATA_SHARE`` of what is left), and each model trains on all the
pairs from where the last round ended. ``plan.json`` records each round's data
(``rounds``), so a rerun trains on the same pairs and continues the round it was in.

A calibrated model ships only where it renders closer than the shipped one: after the
export, both models' knobs for the calibration's own validation pairs are rendered on the
plugins (:func:`keep_closer`), and where the shipped model's renders are closer on mean
Mel-MSE its files go back in. Why: the training loss is on knob values, and with a few
hundred pairs the epoch it picks can render further from the target than where it
started (the EQ did, on 16 validation pairs).

This process hosts plugins and never builds the open rack (see ``effect_types``); the
open-rack figures it is compared with come from ``docs/results/<group>/models.json``.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import metrics as M
from serumrnn.server import spec
from serumrnn.server.models import PARAM_MODELS, effect_of_model, param_model_name, sha256
from serumrnn.server.nn_export import export_entry
from serumrnn.server.sampling import knob_key, record_seed
from serumrnn.training.recipes import Recipe

CAL_STREAM = 0xCA1B  # record_seed(CAL_STREAM, effect index, pair): training pairs
CHUNK = 16
VAL_EVERY = 10
DATA_SHARE = 0.4
#: Another round of data only with at least this share of the budget left (else it trains).
ROUND_MIN_SHARE = 0.25
MAX_PAIRS = 8000  # per effect: the data phase stops here even with time left
#: Chunks per effect rendered in turn before the need is measured on them (a data set needs
#: two: every 10th pair validates).
FIRST_CHUNKS = 2
#: Every effect's share weight starts here, in Mel-MSE points: a model already at its
#: open-rack figure still gets data (its figure on 32 probe pairs is noisy), a model
#: 90 points short gets (20 + 90) / 20 = 5.5 times as much.
NEED_FLOOR = 20.0
#: Time left below this goes to no model: loading a model and its data for an epoch or two
#: costs about as much.
CONTINUE_MIN_S = 30.0
#: The distortion's drive loss weighs ``continuous_weight`` times its mode's. Why: the mode's
#: cross-entropy (about 1 to 3) drowned the drive's MSE (about 0.03), so the calibrated
#: drive barely moved, and on the plugins the drive decides the sound: on 60 of the
#: calibration's validation pairs, ZynDistortion with the model's mode and the true drive
#: came 91 % closer, with the true mode and the model's drive 14 % further away. With the
#: drive weighted 100 times, the same 1,568 pairs gave -47 % (weight 1: -6 %; 20: -28 %).
#: ``max_epochs`` is a backstop: the budget and early stopping end the training. It was 100,
#: and on 1,952 pairs the distortion's best epoch was its last one the budget allowed (92).
RECIPE = Recipe(
    "calibrate",
    width=0.25,
    per_combo=0,
    variants=0,
    max_epochs=400,
    patience=10,
    learning_rate=3e-4,
    param_batch=32,
    continuous_weight=100.0,
)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Budget:
    """The ``--minutes`` of one calibration, counted across reruns in ``<work>/budget.json``.

    Why: a rerun after a kill continues the time that was left instead of starting a fresh
    budget, so what a calibration trained does not depend on how often it was interrupted
    (a rerun whose evaluation had failed trained two more rounds on a fresh 30 minutes).
    The time spent is saved after every data chunk and every epoch; a kill loses at most
    the one in progress. A rerun with larger ``--minutes`` gets the difference."""

    def __init__(self, work: Path, minutes: float):
        self.path = work / "budget.json"
        self.spent_before = float(json.loads(self.path.read_text())["spent_s"]) if self.path.exists() else 0.0
        self.start = time.time() - self.spent_before  # as if one uninterrupted run began here
        self.seconds = 60.0 * minutes
        self.end = self.start + self.seconds

    def left(self) -> float:
        return self.end - time.time()

    def save(self) -> None:
        _atomic_write(self.path, json.dumps({"spent_s": round(time.time() - self.start, 1)}) + "\n")


# -- data -----------------------------------------------------------------------------
def render_chunk(rack: Any, effect: str, chunk: int, presets: list[str], group: str) -> dict[str, np.ndarray]:
    """``CHUNK`` pairs for ``effect``: input (chain without it), target, its knobs."""
    from serumrnn.training.evaluate_models import draw_chain

    ei = spec.EFFECT_NAMES.index(effect)
    eff = spec.effect(effect)
    ins, tgts, labels, seeds = [], [], [], []
    for j in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        seed = record_seed(CAL_STREAM, ei, j)
        preset, chain = draw_chain(group, np.random.default_rng(seed), effect, None, presets)
        ins.append(rack.render(chain.without(effect), preset))
        tgts.append(rack.render(chain, preset))
        fx = chain[chain.order.index(effect)]
        labels.append([fx.knobs[k.name] for k in eff.knobs])
        seeds.append(seed)
    im, ic = F.features(np.stack(ins))
    tm, tc = F.features(np.stack(tgts))
    return {
        "in_mel": im.astype(np.float16),
        "in_mfcc": ic.astype(np.float16),
        "tgt_mel": tm.astype(np.float16),
        "tgt_mfcc": tc.astype(np.float16),
        "labels": np.array(labels, np.float32),
        "seed": np.array(seeds, np.uint64),
    }


class ChunkRenderer:
    """Renders chunks in this process (``workers`` 1) or in ``workers`` processes that each
    host the profile's plugins. Why: rendering is one core's work, and the pairs are what
    calibration's minutes buy: each core renders its own. The processes start at the
    first chunk (a rerun whose data are fixed starts none) and end with :meth:`close`."""

    def __init__(self, rack: Any, profile: str, presets: list[str], group: str, workers: int = 1):
        self.rack, self.profile, self.presets, self.group = rack, profile, presets, group
        self.slots = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, effect: str, chunk: int) -> Future:
        if self.slots == 1:
            done: Future = Future()
            done.set_result(render_chunk(self.rack, effect, chunk, self.presets, self.group))
            return done
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.slots,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a plugin host
                initializer=_worker_init,
                initargs=(self.profile,),
            )
        return self._pool.submit(_worker_render, effect, chunk, self.presets, self.group)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


_WORKER_RACK: Any = None


def _worker_init(profile: str) -> None:
    global _WORKER_RACK
    from serumrnn.server.rack.plugins import PluginRack

    _WORKER_RACK = PluginRack(profile)


def _worker_render(effect: str, chunk: int, presets: list[str], group: str) -> dict[str, np.ndarray]:
    return render_chunk(_WORKER_RACK, effect, chunk, presets, group)


def _render_chunks(
    renderer: ChunkRenderer,
    work: Path,
    deadline: float | None,
    have: dict[str, int],
    cap: dict[str, int],
    weights: dict[str, float],
    tick: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Render chunks after ``have`` up to ``cap`` per effect (those on disk are kept), always
    the effect furthest behind its ``weights`` share, ``renderer.slots`` at a time, until the
    deadline (None: until every effect is at its cap; chunks under way then still land);
    returns the whole chunks each effect has, counted without gaps."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    for stale in data.glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    on_disk = lambda e, c: (data / f"{e}-c{c:04d}.npz").exists()  # noqa: E731
    done, handed = dict(have), dict(have)
    pending: dict[Future, tuple[str, int]] = {}
    while True:
        for e in spec.EFFECT_NAMES:  # count what an earlier, killed run rendered
            while done[e] < cap[e] and on_disk(e, done[e]):
                done[e] += 1
            handed[e] = max(handed[e], done[e])
            while handed[e] < cap[e] and on_disk(e, handed[e]):
                handed[e] += 1
        while len(pending) < renderer.slots and not (deadline is not None and time.time() > deadline):
            open_ = [e for e in spec.EFFECT_NAMES if handed[e] < cap[e]]
            if not open_:
                break
            e = min(open_, key=lambda n: handed[n] / weights[n])
            pending[renderer.submit(e, handed[e])] = (e, handed[e])
            handed[e] += 1
        if not pending:
            return done
        fut = next(as_completed(pending))
        e, c = pending.pop(fut)
        path = data / f"{e}-c{c:04d}.npz"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **fut.result())
        os.replace(tmp, path)
        tick()


def need_weights(shipped: dict[str, float], open_rack: dict[str, float] | None) -> dict[str, float]:
    """Each effect's share weight of the rendering: ``NEED_FLOOR`` plus the points its
    shipped model's Mel-MSE change on the plugins (``shipped``) falls short of its open-rack
    figure; equal weights where there is no open-rack figure to compare with."""
    if not open_rack:
        return dict.fromkeys(spec.EFFECT_NAMES, NEED_FLOOR)
    return {
        e: NEED_FLOOR + max(0.0, shipped[e] - open_rack[e]) if e in open_rack else NEED_FLOOR
        for e in spec.EFFECT_NAMES
    }


def _load_plan(path: Path) -> dict[str, Any]:
    """``plan.json``, with per-effect chunk counts (plans written before data by need held
    one count for every effect)."""
    plan: dict[str, Any] = json.loads(path.read_text())
    per = lambda c: c if isinstance(c, dict) else dict.fromkeys(spec.EFFECT_NAMES, c)  # noqa: E731
    plan["rounds"] = [per(c) for c in plan.get("rounds", [plan["chunks"]])]
    plan["chunks"] = per(plan["chunks"])
    return plan


def _effect(model: str) -> str:
    """The effect a parameter model sets (:func:`effect_of_model`, for a name known to be one)."""
    effect = effect_of_model(model)
    assert effect is not None, model
    return effect


def _caps(max_pairs: int) -> dict[str, int]:
    return dict.fromkeys(spec.EFFECT_NAMES, max(1, max_pairs // CHUNK))


def render_data(
    renderer: ChunkRenderer,
    work: Path,
    deadline: float,
    max_pairs: int,
    need: Callable[[dict[str, int]], dict[str, float]],
    round_pairs: int | None = None,
    tick: Callable[[], None] = lambda: None,
) -> dict:
    """``FIRST_CHUNKS`` chunks per effect, the weights ``need`` measures on them, then
    chunks by those weights until the deadline, ``max_pairs`` per effect or ``round_pairs``
    (a round's most); the first run that finishes writes ``plan.json`` and fixes the first
    round's data."""
    plan_path = work / "plan.json"
    if plan_path.exists():
        return _load_plan(plan_path)
    t0 = time.perf_counter()
    zero = dict.fromkeys(spec.EFFECT_NAMES, 0)
    caps = _caps(max_pairs)
    first = {e: min(caps[e], FIRST_CHUNKS) for e in spec.EFFECT_NAMES}
    have = _render_chunks(renderer, work, None, zero, first, dict.fromkeys(first, 1.0), tick)
    weights = need(have)
    end = {e: max(first[e], c) for e, c in _round_end(zero, caps, round_pairs).items()}
    chunks = _render_chunks(renderer, work, deadline, have, end, weights, tick)
    plan = {
        "chunks": chunks,
        "rounds": [chunks],
        "chunk": CHUNK,
        "presets": renderer.presets,
        "weights": weights,
        "workers": renderer.slots,
        "render_seconds": time.perf_counter() - t0,
    }
    _atomic_write(plan_path, json.dumps(plan, indent=1) + "\n")
    print(f"calibration data: {_pairs_text(chunks)}", file=sys.stderr)
    return plan


def _pairs_text(chunks: dict[str, int]) -> str:
    return "pairs per effect " + ", ".join(f"{e} {c * CHUNK}" for e, c in chunks.items())


def _round_end(have: dict[str, int], caps: dict[str, int], round_pairs: int | None) -> dict[str, int]:
    """The chunk counts a data round may reach from ``have``: the caps overall and
    ``round_pairs`` more per round (None: no per-round limit)."""
    if round_pairs is None:
        return dict(caps)
    return {e: min(caps[e], have[e] + max(1, round_pairs // CHUNK)) for e in caps}


def more_data(
    renderer: ChunkRenderer,
    work: Path,
    plan: dict,
    deadline: float,
    max_pairs: int,
    round_pairs: int | None = None,
    tick: Callable[[], None] = lambda: None,
) -> bool:
    """Another round of pairs after ``plan``'s, by the plan's weights (until the deadline or
    the caps); when some effect gained a chunk, records the round in ``plan.json`` and
    returns True."""
    have = plan["chunks"]
    weights = plan.get("weights") or dict.fromkeys(spec.EFFECT_NAMES, NEED_FLOOR)
    chunks = _render_chunks(
        renderer, work, deadline, have, _round_end(have, _caps(max_pairs), round_pairs), weights, tick
    )
    if chunks == have:
        return False
    plan["chunks"] = chunks
    plan["rounds"].append(chunks)
    _atomic_write(work / "plan.json", json.dumps(plan, indent=1) + "\n")
    print(f"calibration data, round {len(plan['rounds'])}: {_pairs_text(chunks)}", file=sys.stderr)
    return True


def train_in_turn(
    names: list[str],
    train_one: Callable[[str, float], None],
    left: Callable[[], float],
    finished: Callable[[str], bool],
    min_s: float = CONTINUE_MIN_S,
) -> None:
    """Train ``names`` one after another, each with an equal share of the time left
    (``train_one(name, seconds)``); then give what is left back to the models the budget
    stopped (``finished`` false), again in equal shares, until each has ended by itself or
    less than ``min_s`` is left. Why: a model that early-stops leaves its share to the models
    after it, but not to those before it; on ``debian_test`` the distortion, second in turn,
    was stopped while still improving and 6 of the 30 minutes went unused."""
    for i, name in enumerate(names):
        train_one(name, max(0.0, left()) / (len(names) - i))
    while True:
        stopped = [n for n in names if not finished(n)]
        if not stopped or left() < min_s:
            return
        for i, name in enumerate(stopped):
            train_one(name, max(0.0, left()) / (len(stopped) - i))


def another_round(
    finished: list[bool], left_s: float, budget_s: float, chunks: dict[str, int], max_pairs: int
) -> bool:
    """Whether more data is worth rendering: every model stopped early (the data, not the
    time, limited it), at least ``ROUND_MIN_SHARE`` of the budget is left, and some effect
    has fewer than ``max_pairs`` pairs."""
    return (
        all(finished)
        and left_s >= ROUND_MIN_SHARE * budget_s
        and any(c * CHUNK < max_pairs for c in chunks.values())
    )


class CalibData:
    """Batches for one effect's parameter model from the rendered chunks."""

    def __init__(self, work: Path, effect: str, chunks: int):
        self.eff = spec.effect(effect)
        parts: dict[str, list[np.ndarray]] = {}
        for c in range(chunks):
            with np.load(work / "data" / f"{effect}-c{c:04d}.npz") as z:
                for k in z.files:
                    parts.setdefault(k, []).append(z[k])
        self.a = {k: np.concatenate(v) for k, v in parts.items()}
        # every 10th pair validates (so even a tiny run has both); Table 2's draws test
        self.split = (np.arange(len(self.a["seed"])) % VAL_EVERY == 0).astype(np.int8)

    def indices(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def inputs(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        from serumrnn.server.models import pair_batch

        a = self.a
        return pair_batch(a["in_mel"][idx], a["in_mfcc"][idx], a["tgt_mel"][idx], a["tgt_mfcc"][idx])

    def targets(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        lab = self.a["labels"][idx]
        out = {k.name: lab[:, j].astype(np.int32) for j, k in enumerate(self.eff.knobs) if k.categorical}
        cont = [j for j, k in enumerate(self.eff.knobs) if not k.categorical]
        if cont:
            out["continuous"] = lab[:, cont]
        return out

    def keys(self, group: str, presets: list[str]) -> set:
        """(preset, knob_key) of every pair, redrawn from the seeds: Table 2 skips them."""
        from serumrnn.training.evaluate_models import draw_chain

        out = set()
        for seed in self.a["seed"]:
            preset, chain = draw_chain(group, np.random.default_rng(int(seed)), self.eff.name, None, presets)
            out.add((preset, knob_key(chain)))
        return out


def _deadline_callback(deadline: float, tick: Callable[[], None] = lambda: None):
    import keras

    class Deadline(keras.callbacks.Callback):
        """Stop after the epoch that passes the budget (the epoch is checkpointed first)."""

        def on_epoch_end(self, epoch, logs=None):
            tick()
            if time.time() > deadline:
                self.model.stop_training = True

    return Deadline()


# -- the whole command ----------------------------------------------------------------
def calibrate(
    profile: str,
    minutes: float,
    *,
    group: str = "basic",
    models_dir: Path | None = None,
    work: Path,
    out: Path,
    max_pairs: int = MAX_PAIRS,
    max_epochs: int | None = None,
    verbose: int = 0,
    round_pairs: int | None = None,
    workers: int = 1,
) -> Path:
    """Render, fine-tune (in rounds while the data limit it) and export; returns the new
    group folder (``out/<group>``). ``round_pairs``: the most pairs per effect a round adds;
    ``workers``: processes rendering the data (:class:`ChunkRenderer`)."""
    from serumrnn.server.models import DEFAULT_MODELS_DIR, read_manifest
    from serumrnn.server.quiet import import_tensorflow
    from serumrnn.server.rack import presets as P
    from serumrnn.server.rack.plugins import PluginRack
    from serumrnn.training.train import compile_kwargs, fit

    if minutes <= 0:
        raise ValueError(f"--minutes must be more than 0, got {minutes}")
    gid = P.resolve_group(group)
    src = Path(models_dir or DEFAULT_MODELS_DIR) / gid
    shipped = read_manifest(src)
    work = work / gid
    work.mkdir(parents=True, exist_ok=True)
    budget = Budget(work, minutes)
    if budget.spent_before:
        print(
            f"calibration budget: {budget.spent_before / 60:.1f} of {minutes:g} minutes spent by earlier runs,"
            f" {max(0.0, budget.left()) / 60:.1f} left",
            file=sys.stderr,
        )
    rack = PluginRack(profile)
    presets = [rack.profile.default_preset or "init"]
    need = functools.partial(
        probe_need,
        rack,
        work,
        presets=presets,
        gid=gid,
        models_dir=src.parent,
        open_rack=open_rack_figures(gid),
    )
    renderer = ChunkRenderer(rack, profile, presets, gid, workers)
    try:
        plan = render_data(
            renderer,
            work,
            budget.start + DATA_SHARE * budget.seconds,
            max_pairs,
            need,
            round_pairs,
            budget.save,
        )
    finally:
        renderer.close()  # the workers' plugins and memory go before training
    import_tensorflow()
    import keras

    width = float(shipped.get("recipe", {}).get("width", RECIPE.width))
    recipe = Recipe(**{**RECIPE.to_json(), "width": width, "max_epochs": max_epochs or RECIPE.max_epochs})
    best: dict[str, Path] = {name: src / shipped["files"][name]["file"] for name in PARAM_MODELS}

    def train_one(
        runs: dict[str, Path], start: dict[str, Path], chunks: dict[str, int], name: str, share: float
    ) -> None:
        """Fit ``name`` from ``start`` (or its checkpoint in ``runs``) for about ``share`` seconds."""
        run = runs[name]
        if share <= 0 and (run / "best.keras").exists():  # the budget is spent: no more epochs
            best[name] = run / "best.keras"
            return
        best[name] = fit(
            name,
            lambda: keras.models.load_model(start[name], compile=False),
            compile_kwargs(name, recipe.continuous_weight),
            CalibData(work, _effect(name), chunks[_effect(name)]),
            recipe,
            run,
            batch=recipe.param_batch,
            verbose=verbose,
            callbacks=[_deadline_callback(time.time() + share, budget.save)],
        )

    r = 0
    while True:  # round r trains from round r - 1's best (the shipped models first)
        start_from = dict(best)
        runs = {n: work / ("runs" if r == 0 else f"runs-r{r + 1}") / n for n in PARAM_MODELS}
        rounds = plan["rounds"]  # a round trains the models whose data grew
        grew = [n for n in PARAM_MODELS if r == 0 or rounds[r][_effect(n)] > rounds[r - 1][_effect(n)]]
        train_in_turn(
            grew,
            functools.partial(train_one, runs, start_from, plan["rounds"][r]),
            budget.left,
            lambda n: _finished(best[n], recipe),  # best[n] is this round's run once it has had its turn
        )
        if r + 1 < len(plan["rounds"]):  # a rerun: this round's data were rendered already
            r += 1
            continue
        finished = [_finished(best[n], recipe) for n in PARAM_MODELS]
        left = budget.left()
        if not another_round(finished, left, budget.seconds, plan["chunks"], max_pairs):
            break
        try:
            grown = more_data(
                renderer, work, plan, time.time() + DATA_SHARE * left, max_pairs, round_pairs, budget.save
            )
        finally:
            renderer.close()
        if not grown:
            break
        r += 1
    folder = export(
        src, shipped, best, out / gid, profile=profile, minutes=minutes, plan=plan, work=work, recipe=recipe
    )
    keep_closer(rack, work, plan, src, folder)
    return folder


def _render_pairs(
    rack: Any, seeds: np.ndarray, effect: str, gid: str, presets: list[str]
) -> tuple[list, list[np.ndarray], list[np.ndarray]]:
    """The calibration pairs ``seeds`` rendered again (the chunks keep features only):
    (preset, chain, the effect's position), inputs, targets."""
    from serumrnn.training.evaluate_models import draw_chain

    truth, ins, tgts = [], [], []
    for seed in seeds:
        preset, chain = draw_chain(gid, np.random.default_rng(int(seed)), effect, None, presets)
        truth.append((preset, chain, chain.order.index(effect)))
        ins.append(rack.render(chain.without(effect), preset))
        tgts.append(rack.render(chain, preset))
    return truth, ins, tgts


def _mel_mse(models: Any, rack: Any, effect: str, ins: list, tgts: list, truth: list) -> float:
    """Mean Mel-MSE to the targets of the renders of ``models``' knobs for ``effect``."""
    from serumrnn.training.evaluate_models import render_predictions

    renders, _ = render_predictions(models, rack, effect, ins, tgts, truth)
    return float(np.mean(M.distances(np.stack(renders), np.stack(tgts))["mse"]))


def probe_need(
    rack: Any,
    work: Path,
    chunks: dict[str, int],
    presets: list[str],
    gid: str,
    models_dir: Path,
    open_rack: dict[str, float] | None,
) -> dict[str, float]:
    """The rendering's share weights (:func:`need_weights`) from the Mel-MSE change on the
    plugins of the models in ``models_dir`` (the shipped ones) over the first ``chunks`` of
    pairs; written to ``need.json``, which a rerun reads instead of loading and rendering again."""
    from serumrnn.server.models import load_group

    path = work / "need.json"
    if path.exists():
        return {e: float(v) for e, v in json.loads(path.read_text())["weights"].items()}
    models = load_group(gid, models_dir, which=PARAM_MODELS)
    shipped = {}
    for e in spec.EFFECT_NAMES:
        truth, ins, tgts = _render_pairs(rack, CalibData(work, e, chunks[e]).a["seed"], e, gid, presets)
        before = float(np.mean(M.distances(np.stack(ins), np.stack(tgts))["mse"]))
        shipped[e] = 100.0 * (_mel_mse(models, rack, e, ins, tgts, truth) - before) / before
    weights = need_weights(shipped, open_rack)
    record = {
        "pairs": {e: chunks[e] * CHUNK for e in chunks},
        "shipped_mse_pct": shipped,
        "open_rack": open_rack,
    }
    _atomic_write(path, json.dumps({**record, "weights": weights}, indent=1) + "\n")
    print(
        "calibration data by need (shipped model's Mel-MSE change on the plugins -> weight): "
        + ", ".join(f"{e} {shipped[e]:+.0f} % -> {weights[e]:.0f}" for e in spec.EFFECT_NAMES),
        file=sys.stderr,
    )
    return weights


def keep_closer(rack: Any, work: Path, plan: dict, shipped: Path, calibrated: Path) -> dict[str, dict]:
    """Per parameter model, the mean Mel-MSE to the target of the shipped and of the
    calibrated model's renders on the calibration's validation pairs; where the shipped one
    is closer (or as close), its files replace the calibrated ones in ``calibrated``.
    Recorded in the manifest's ``calibration.training.<model>.kept`` and ``val_mel_mse``."""
    from serumrnn.server.models import load_group

    gid = calibrated.name
    folders = {"shipped": shipped, "calibrated": calibrated}
    models = {k: load_group(gid, v.parent, which=PARAM_MODELS) for k, v in folders.items()}
    manifest = json.loads((calibrated / "manifest.json").read_text())
    src_manifest = json.loads((shipped / "manifest.json").read_text())
    out: dict[str, dict] = {}
    for name in PARAM_MODELS:
        effect = _effect(name)
        data = CalibData(work, effect, plan["chunks"][effect])
        truth, ins, tgts = _render_pairs(rack, data.a["seed"][data.indices(1)], effect, gid, plan["presets"])
        mse = {k: _mel_mse(m, rack, effect, ins, tgts, truth) for k, m in models.items()}
        kept = "calibrated" if mse["calibrated"] < mse["shipped"] else "shipped"
        if kept == "shipped":
            entry = src_manifest["files"][name]
            shutil.copyfile(shipped / entry["file"], calibrated / entry["file"])
            if "numpy" in entry:
                shutil.copyfile(shipped / entry["numpy"]["file"], calibrated / entry["numpy"]["file"])
            stale = manifest["files"][name]
            for f in (stale["file"], stale.get("numpy", {}).get("file")):
                if f and f not in (entry["file"], entry.get("numpy", {}).get("file")):
                    (calibrated / f).unlink(missing_ok=True)
            manifest["files"][name] = entry
        out[name] = {"kept": kept, "val_mel_mse": mse, "val_pairs": len(truth)}
        manifest["calibration"]["training"][name].update(out[name])
        print(
            f"[{name}] validation Mel-MSE on the plugins: shipped {mse['shipped']:.4f}, "
            f"calibrated {mse['calibrated']:.4f}: keeps the {kept} model",
            file=sys.stderr,
        )
    _atomic_write(calibrated / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


def _finished(best: Path, recipe: Recipe) -> bool:
    """A model's training ended by itself: early-stopped, or every epoch run. False: the
    budget stopped it (a rerun continues it). Read from its run's ``state.json``."""
    st = json.loads((best.parent / "state.json").read_text())
    return bool(st["done"]) or st["epoch"] + 1 >= recipe.max_epochs


def export(
    src: Path,
    shipped: dict,
    best: dict[str, Path],
    out: Path,
    *,
    profile: str,
    minutes: float,
    plan: dict,
    work: Path,
    recipe: Recipe = RECIPE,
) -> Path:
    """The shipped folder with the fine-tuned parameter models in place (new sha256s)."""
    out.mkdir(parents=True, exist_ok=True)
    files = dict(shipped["files"])
    for name, entry in shipped["files"].items():
        if name not in best:
            shutil.copyfile(src / entry["file"], out / entry["file"])
            if "numpy" in entry:  # its export, which the server runs
                shutil.copyfile(src / entry["numpy"]["file"], out / entry["numpy"]["file"])
    training = {}
    for name, path in best.items():
        dst = out / f"{name}.keras"
        shutil.copyfile(path, dst)
        files[name] = {"file": dst.name, "sha256": sha256(dst), "bytes": dst.stat().st_size}
        export_entry(out, files[name])  # the server runs the NumPy export
        st = json.loads((path.parent / "state.json").read_text())
        training[name] = {
            "best_epoch": st["best_epoch"] + 1,
            "epochs_run": st["epoch"] + 1,
            "finished": _finished(path, recipe),
            "best_val_loss": st["best"],
            "seconds": round(st.get("seconds", 0), 1),
        }
    manifest = {
        **shipped,
        "files": files,
        "calibration": {
            "profile": profile,
            "minutes": minutes,
            "from": str(src),
            "pairs_per_effect": {e: c * plan["chunk"] for e, c in plan["chunks"].items()},
            "rounds": [{e: c * plan["chunk"] for e, c in r.items()} for r in plan["rounds"]],
            "need": json.loads((work / "need.json").read_text()) if (work / "need.json").exists() else None,
            "presets": plan["presets"],
            "work": str(work),
            "recipe": recipe.to_json(),
            "training": training,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "test_metrics": {},
    }
    _atomic_write(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


def evaluate(
    profile: str, group: str, folders: dict[str, Path | None], pairs: int, work: Path | None = None
) -> dict:
    """Each parameter model's Mel-MSE change on the profile's plugins (Table 2's held-out
    draws, on the profile's preset) for each models folder (name -> folder)."""
    from serumrnn.server.models import load_group
    from serumrnn.server.rack import presets as P
    from serumrnn.server.rack.plugins import PluginRack
    from serumrnn.training.evaluate_models import table2_effect

    group = P.resolve_group(group)
    rack = PluginRack(profile)
    presets = [rack.profile.default_preset or "init"]
    keys: set = set()
    if work is not None and (work / "plan.json").exists():
        plan = _load_plan(work / "plan.json")
        for e in spec.EFFECT_NAMES:
            keys |= CalibData(work, e, plan["chunks"][e]).keys(group, presets)
    out: dict[str, Any] = {}
    for label, folder in folders.items():
        models = load_group(group, folder, which=PARAM_MODELS)
        out[label] = {
            e: table2_effect(models, rack, e, pairs, keys, presets=presets)["delta_pct"]
            for e in spec.EFFECT_NAMES
        }
    return out


def open_rack_figures(group: str) -> dict[str, float] | None:
    """Table 2's Mel-MSE change per effect on the open rack, as committed."""
    from serumrnn.server.rack import presets as P
    from serumrnn.training.evaluate_models import RESULTS

    path = RESULTS / P.resolve_group(group) / "models.json"
    if not path.is_file():
        return None
    t2 = json.loads(path.read_text())["table2"]
    return {e: float(t2[e]["delta_pct"]["mse"]) for e in spec.EFFECT_NAMES if e in t2}


__all__ = ["calibrate", "evaluate", "keep_closer", "open_rack_figures", "param_model_name"]
