"""Model-level evaluation (paper sections 4.2 and 4.3): Table 2 and Table 3 per group.

``serumrnn eval-models --group G`` writes ``docs/results/<group>/models.md`` and
``models.json`` and merges the headline figures into the group's manifest.

Test data is held out by construction: fresh draws from a seed stream the training data
never uses, and any draw whose (preset, knobs) equals a training record is skipped.

* **Table 2**, per parameter model: N pairs (target = a random chain containing the effect,
  input = the same chain without it). The six metrics for input vs target and for output
  (the chain re-rendered with the predicted knobs) vs target, with Δ and Δ%; knob-level
  MAE per knob against predicting the training mean, and distortion mode accuracy against
  predicting the most frequent training mode.
* **Table 3**, selector accuracy as the paper measured it: 200 fresh targets per number
  of effects (1 to all of them), each with a random turn-on order; SerumRNN and NI on the example with
  one effect left (argmax over every effect, and over unused ones), SerumCNN on the
  exact set; beside them, the in-target accuracy over every prefix.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import metrics as M
from serumrnn.server import spec
from serumrnn.server.models import (
    GroupModels,
    knobs_from_outputs,
    load_group,
    most_probable_unused,
    pair_batch,
    pair_inputs,
    param_model_name,
    selector_inputs,
)
from serumrnn.server.rack import OpenRack
from serumrnn.server.rack import presets as P
from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.sampling import knob_key, random_effects, record_seed, sample_chain
from serumrnn.training.seed_streams import SELECTOR_TEST, TEST_STREAM

if TYPE_CHECKING:
    from serumrnn.server.rack.render import Renderer

RESULTS = Path("docs") / "results"  # default output, relative to the current folder
#: Table 3's goals: SerumRNN names the one effect left this often overall, and at each
#: number of effects in the target (the paper reports 0.974-1.000).
SELECTOR_GOAL, SELECTOR_GOAL_STEP = 0.985, 0.97
PAPER_MEL_MSE_PCT = {
    "compressor": -56.06,
    "distortion": -82.66,
    "eq": -45.92,
    "phaser": -10.15,
    "reverb": -62.60,
}


def _paper(effect: str) -> str:
    """The paper's Table 2 Mel-MSE Δ% for an effect, or a note for one it did not have."""
    pct = PAPER_MEL_MSE_PCT.get(effect)
    return "no paper figure" if pct is None else f"{pct:+.1f} %"


def _data_dir(models: GroupModels) -> Path | None:
    d = models.manifest.get("data", {}).get("dir")
    from serumrnn.training.datagen import data_dir_of_manifest

    return data_dir_of_manifest(d) if d else None


def training_keys(models: GroupModels) -> set:
    """(preset, knobs) of every record of the models' training data (``knob_key``), so
    held-out test draws can skip them; empty when the data folder is not here."""
    from serumrnn.training.pairs import Dataset

    d = _data_dir(models)
    if d is None or not (d / "dataset.json").exists():
        return set()
    ds = Dataset.load(d)
    return {(str(p), knob_key(c)) for p, c in zip(ds.arrays["preset"], ds.chains)}


def _training_labels(models: GroupModels, effect: str) -> np.ndarray | None:
    if not models.manifest:
        return None
    d = _data_dir(models)
    if d is None:
        return None
    files = sorted((d / "derived").glob(f"pairs-{effect}-v*.npz"))
    if not files:
        return None
    with np.load(files[0]) as z:
        return z["labels"][z["split"] == 0]


def draw_chain(
    group: str,
    rng: np.random.Generator,
    must: str | None,
    n_effects: int | None,
    presets: Sequence[str] | None = None,
) -> tuple[str, Chain]:
    """A preset of ``group`` (or of ``presets``, a plugin profile's) and a random chain
    (Table 1 knobs, random turn-on order): ``n_effects`` effects drawn at random, or, with
    ``n_effects=None``, ``must`` and each other effect with probability 1/2. Every held-out
    test draw is made here."""
    presets = presets or P.group_presets(group)
    preset = presets[int(rng.integers(len(presets)))]
    if n_effects is None:
        if must is None:
            raise ValueError(
                "draw_chain needs the effect every chain holds (must) or a number of effects (n_effects)"
            )
        others = [e for e in spec.EFFECT_NAMES if e != must and rng.random() < 0.5]
        names = sorted(set(others) | {must}, key=spec.EFFECT_NAMES.index)
    else:
        names = random_effects(rng, n_effects)
    return preset, sample_chain(names, rng)


def _mean_metrics(a_audio, b_audio) -> dict[str, np.ndarray]:
    d = M.distances(a_audio, b_audio)
    return {k: np.asarray(v, np.float64) for k, v in d.items()}


def table2(
    models: GroupModels, rack: OpenRack, n_pairs: int, train_keys: set, batch: int = 50
) -> dict[str, Any]:
    return {e: table2_effect(models, rack, e, n_pairs, train_keys, batch) for e in spec.EFFECT_NAMES}


def table2_effect(
    models: GroupModels,
    rack: Renderer,
    effect: str,
    n_pairs: int,
    train_keys: set,
    batch: int = 50,
    presets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One parameter model on ``n_pairs`` held-out pairs (the same pairs every run).
    ``rack`` may be a plugin rack, with its ``presets`` (``serumrnn calibrate``)."""
    ei = spec.EFFECT_NAMES.index(effect)
    eff = spec.effect(effect)
    ins: list[np.ndarray] = []
    tgts: list[np.ndarray] = []
    truth: list[tuple[str, Chain, int]] = []  # preset, target chain, the effect's position
    i = 0
    while len(truth) < n_pairs:
        rng = np.random.default_rng(record_seed(TEST_STREAM, ei, i))
        i += 1
        preset, chain = draw_chain(models.group, rng, effect, None, presets)
        if (preset, knob_key(chain)) in train_keys:
            continue
        pos = chain.order.index(effect)
        ins.append(rack.render(chain.without(effect), preset))
        tgts.append(rack.render(chain, preset))
        truth.append((preset, chain, pos))
    outs, pred = render_predictions(models, rack, effect, ins, tgts, truth, batch)
    A, B, O = np.stack(ins), np.stack(tgts), np.stack(outs)
    din = {k: float(np.mean(v)) for k, v in _mean_metrics(A, B).items()}
    dout = {k: float(np.mean(v)) for k, v in _mean_metrics(O, B).items()}
    d, pct = M.delta(din, dout)
    # knob-level error against the training mean (or the most frequent mode)
    true_knobs = np.array([[c[p].knobs[k.name] for k in eff.knobs] for _, c, p in truth])
    pred_knobs = np.array([[fx.knobs[k.name] for k in eff.knobs] for fx in pred])
    labels = _training_labels(models, effect)
    knob_rows = {}
    for j, k in enumerate(eff.knobs):
        if k.categorical:
            base_cls = (
                int(np.bincount(labels[:, j].astype(int), minlength=len(k.choices)).argmax())
                if labels is not None
                else 0
            )
            knob_rows[k.name] = {
                "accuracy": float(np.mean(pred_knobs[:, j] == true_knobs[:, j])),
                "baseline_accuracy": float(np.mean(true_knobs[:, j] == base_cls)),
                "baseline": "most frequent training mode",
            }
        else:
            mean = float(labels[:, j].mean()) if labels is not None else float(np.mean(k.grid()))
            knob_rows[k.name] = {
                "mae": float(np.mean(np.abs(pred_knobs[:, j] - true_knobs[:, j]))),
                "baseline_mae": float(np.mean(np.abs(mean - true_knobs[:, j]))),
                "baseline": "training mean" if labels is not None else "grid mean",
            }
    print(
        f"[{models.group}] {effect}: Mel-MSE {din['mse']:.2f} -> {dout['mse']:.2f} "
        f"({pct['mse']:+.1f} %, paper {_paper(effect)})",
        file=sys.stderr,
    )
    return {
        "pairs": n_pairs,
        "input": din,
        "output": dout,
        "delta": {k: float(v) for k, v in d.items()},
        "delta_pct": {k: float(v) for k, v in pct.items()},
        "knobs": knob_rows,
        "paper_mel_mse_pct": PAPER_MEL_MSE_PCT.get(effect),
    }


def render_predictions(
    models: GroupModels,
    rack: Renderer,
    effect: str,
    ins: Sequence[np.ndarray],
    tgts: Sequence[np.ndarray],
    truth: Sequence[tuple[str, Chain, int]],
    batch: int = 50,
) -> tuple[list[np.ndarray], list[FX]]:
    """The effect's parameter model on each (input, target) pair: its knobs put in place of
    the true ones in the target's chain (``truth``: preset, chain, the effect's position)
    and rendered. Returns the renders and the knobs."""
    name = param_model_name(effect)
    outs: list[np.ndarray] = []
    pred: list[FX] = []
    for s in range(0, len(truth), batch):
        am, ac = F.features(np.stack(ins[s : s + batch]))
        bm, bc = F.features(np.stack(tgts[s : s + batch]))
        y = models.predict(name, pair_batch(am, ac, bm, bc))
        for r in range(len(am)):
            fx = knobs_from_outputs(effect, y, r)
            preset, chain, pos = truth[s + r]
            outs.append(rack.render(Chain(list(chain[:pos]) + [fx] + list(chain[pos + 1 :])), preset))
            pred.append(fx)
    return outs, pred


def table3(models: GroupModels, rack: OpenRack, per_length: int, train_keys: set) -> dict[str, Any]:
    """Table 3 as the paper measured it, plus the in-target accuracy over every prefix.

    For each number of effects n = 1..``spec.MAX_STEPS``, ``per_length`` fresh targets with a random
    turn-on order. The paper's example is the sequence with one effect left (the sounds
    after 0..n-1 effects, each beside the target); its label is the n-th effect. SerumRNN
    and NI are scored on it by argmax over all effects (and over the unused ones);
    SerumCNN by whether its thresholded set equals the target's. "In the target" scores
    every prefix k < n: is the most probable unused effect one of those still missing?
    """
    sels = ("selector", "selector_ni")
    lengths = range(1, spec.MAX_STEPS + 1)
    # hits per selector and number of effects
    last: dict[str, dict[int, list[bool]]] = {s: {n: [] for n in lengths} for s in sels}
    last_masked: dict[str, dict[int, list[bool]]] = {s: {n: [] for n in lengths} for s in sels}
    in_target: dict[str, dict[int, list[bool]]] = {s: {n: [] for n in lengths} for s in sels}
    cnn: dict[int, list[bool]] = {n: [] for n in lengths}
    for n in lengths:
        made, i = 0, 0
        while made < per_length:
            rng = np.random.default_rng(record_seed(TEST_STREAM, SELECTOR_TEST + n, i))
            i += 1
            preset, chain = draw_chain(models.group, rng, None, n)
            if (preset, knob_key(chain)) in train_keys:
                continue
            made += 1
            audio = [rack.render(chain.prefix(j), preset) for j in range(n + 1)]
            mel, mfcc = F.features(np.stack(audio))
            feats = list(zip(mel, mfcc))
            target = feats[n]
            p = models.predict("serum_cnn", pair_inputs(feats[0], target))[0]
            cnn[n].append(bool(np.array_equal(p > 0.5, [e in chain.order for e in spec.EFFECT_NAMES])))
            for k in range(n):
                applied = ["initial"] + list(chain.order[:k])
                for sel in sels:
                    steps = feats[:1] * (k + 1) if sel == "selector_ni" else feats[: k + 1]
                    probs = models.predict(sel, selector_inputs(steps, target, applied))[0]
                    choice = most_probable_unused(probs, chain.order[:k])
                    in_target[sel][n].append(choice in chain.order[k:])
                    if k == n - 1:
                        truth = spec.EFFECT_NAMES.index(chain.order[k])
                        last[sel][n].append(int(np.argmax(probs)) == truth)
                        last_masked[sel][n].append(choice == chain.order[k])

    def summarize(h):
        per = {str(n): float(np.mean(v)) for n, v in h.items() if v}
        allv = [x for v in h.values() for x in v]
        return {"per_step": per, "all": float(np.mean(allv)), "n": {str(n): len(v) for n, v in h.items()}}

    return {
        "per_length": per_length,
        "serumrnn": summarize(last["selector"]),
        "serumrnn_unused_only": summarize(last_masked["selector"]),
        "serumrnn_ni": summarize(last["selector_ni"]),
        "serumrnn_ni_unused_only": summarize(last_masked["selector_ni"]),
        "serumrnn_in_target": summarize(in_target["selector"]),
        "serumrnn_ni_in_target": summarize(in_target["selector_ni"]),
        "serumcnn": {
            "per_effects": {str(n): float(np.mean(v)) for n, v in cnn.items()},
            "all": float(np.mean([x for v in cnn.values() for x in v])),
        },
    }


def markdown(group: str, res: dict[str, Any]) -> str:
    lines = [
        f"# Model evaluation: {group}",
        "",
        f"Generated by `serumrnn eval-models --group {group}`; "
        f"{res['table2'][spec.EFFECT_NAMES[0]]['pairs']} held-out pairs per parameter model, "
        f"{res['table3']['per_length']} held-out chains per length for the selectors.",
        "",
        "## Table 2 style: parameter models (mean error against the target)",
        "",
        "| effect | metric | input | output | Δ | Δ% |",
        "|---|---|---|---|---|---|",
    ]
    for e, r in res["table2"].items():
        for m in M.METRICS:
            lines.append(
                f"| {e} | {m.upper()} | {r['input'][m]:.2f} | {r['output'][m]:.2f} | "
                f"{r['delta'][m]:+.2f} | {r['delta_pct'][m]:+.2f} |"
            )
    lines += [
        "",
        "Mel-MSE Δ% against the paper's (Adv. Mod. Shapes, Table 2):",
        "",
        "| effect | ours | paper | goal met |",
        "|---|---|---|---|",
    ]
    for e, r in res["table2"].items():
        ours, paper = r["delta_pct"]["mse"], r["paper_mel_mse_pct"]
        lines.append(f"| {e} | {ours:+.1f} % | {paper:+.1f} % | {'yes' if ours <= paper else 'no'} |")
    lines += [
        "",
        "Knob-level error on the same pairs (normalized 0..1 units):",
        "",
        "| effect | knob | model | baseline | baseline is |",
        "|---|---|---|---|---|",
    ]
    for e, r in res["table2"].items():
        for k, v in r["knobs"].items():
            if "accuracy" in v:
                lines.append(
                    f"| {e} | {k} (accuracy) | {v['accuracy']:.3f} | "
                    f"{v['baseline_accuracy']:.3f} | {v['baseline']} |"
                )
            else:
                lines.append(
                    f"| {e} | {k} (MAE) | {v['mae']:.3f} | {v['baseline_mae']:.3f} | {v['baseline']} |"
                )
    t3 = res["table3"]
    lengths = list(t3["serumcnn"]["per_effects"])  # "1" .. the most effects in a target
    lines += [
        "",
        "## Table 3: effect selection accuracy, as the paper measured it",
        "",
        "Columns: the number of effects in the target. SerumRNN and NI rows are scored on "
        "the paper's examples (every effect but one applied; the label is the one left); "
        'the "every prefix" rows score each earlier step too, counting a hit when the '
        "most probable unused effect is one still missing (turn-on order is arbitrary).",
        "",
        "| model | " + " | ".join(lengths) + " | all |",
        "|---|" + "---|" * (len(lengths) + 1),
    ]
    for key, label in (
        ("serumrnn", "SerumRNN"),
        ("serumrnn_unused_only", "SerumRNN (unused effects only)"),
        ("serumrnn_ni", "SerumRNN NI"),
        ("serumrnn_ni_unused_only", "SerumRNN NI (unused only)"),
        ("serumrnn_in_target", "SerumRNN, every prefix: in the target"),
        ("serumrnn_ni_in_target", "SerumRNN NI, every prefix: in the target"),
    ):
        row = t3[key]["per_step"]
        lines.append(
            f"| {label} | "
            + " | ".join(f"{row.get(s, float('nan')):.3f}" for s in lengths)
            + f" | {t3[key]['all']:.3f} |"
        )
    row = t3["serumcnn"]["per_effects"]
    lines.append(
        "| SerumCNN (by number of effects) | "
        + " | ".join(f"{row[s]:.3f}" for s in lengths)
        + f" | {t3['serumcnn']['all']:.3f} |"
    )
    lines += [
        "",
        f"Goal: SerumRNN ≥ {SELECTOR_GOAL} overall and ≥ {SELECTOR_GOAL_STEP} for every "
        "number of effects (paper: 0.974-1.000).",
    ]
    return "\n".join(lines) + "\n"


def evaluate_group(
    group: str,
    *,
    models_dir: Path | None = None,
    pairs: int = 1000,
    per_length: int = 200,
    out_dir: Path = RESULTS,
) -> dict[str, Any]:
    from serumrnn.training.export import add_test_metrics

    models = load_group(group, models_dir)
    rack = OpenRack(models.render_settings)
    keys = training_keys(models)
    res: dict[str, Any] = {
        "group": models.group,
        "table2": table2(models, rack, pairs, keys),
        "table3": table3(models, rack, per_length, keys),
    }
    d = out_dir / models.group
    d.mkdir(parents=True, exist_ok=True)
    (d / "models.json").write_text(json.dumps(res, indent=2) + "\n")
    (d / "models.md").write_text(markdown(models.group, res))
    add_test_metrics(
        models.folder.parent,
        models.group,
        {
            "mel_mse_delta_pct": {e: r["delta_pct"]["mse"] for e, r in res["table2"].items()},
            "selector_accuracy": res["table3"]["serumrnn"]["all"],
            "selector_ni_accuracy": res["table3"]["serumrnn_ni"]["all"],
            "serum_cnn_accuracy": res["table3"]["serumcnn"]["all"],
            "pairs": pairs,
            "chains_per_length": per_length,
        },
    )
    return res
