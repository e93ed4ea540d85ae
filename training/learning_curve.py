"""Learning curves: what more data would buy, measured with runs of increasing size.

``serumrnn learning-curve --group G --effect E`` trains the effect's parameter model on
growing fractions of its training pairs (same recipe, same epoch budget), scores each on
the same held-out pairs (Mel-MSE Δ% as in Table 2, and validation loss) and draws
``docs/results/<group>/learning_curve_<effect>.png`` with a JSON beside it.
``--effect selector`` does the same for the effect selector, scored by its accuracy on
the held-out sequences (exact next effect, and "the chosen effect is in the target").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from serumrnn.server import spec
from serumrnn.server.models import GroupModels, param_model_name
from serumrnn.server.rack import OpenRack
from serumrnn.server.rack import presets as P
from serumrnn.training import pairs as PR
from serumrnn.training.recipes import Recipe
from serumrnn.training.train import (
    Batches,
    ParamData,
    SelectorData,
    Source,
    builder,
    compile_kwargs,
    fit,
)

FRACTIONS = (0.125, 0.25, 0.5, 1.0)


class _Subset:
    """A view of a data source whose training split is a fixed fraction of the original."""

    def __init__(self, data: Batches, fraction: float, seed: int = 0):
        self.data, self.fraction = data, fraction
        idx = data.indices(0)
        self.train = np.sort(np.random.default_rng(seed).permutation(idx)[: max(1, int(len(idx) * fraction))])

    def indices(self, split: int) -> np.ndarray:
        return self.train if split == 0 else self.data.indices(split)

    def inputs(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        return self.data.inputs(idx)

    def targets(self, idx: np.ndarray) -> dict[str, np.ndarray] | np.ndarray:
        return self.data.targets(idx)


def selector_accuracy(model, data: SelectorData, batch: int = 256) -> dict[str, float]:
    """Held-out accuracy: on the paper's examples (one effect left) the argmax is that
    effect (exact); on every prefix it is one of the effects still missing (in the target)."""
    idx = data.indices(2)
    exact = in_target = n_last = 0
    for s in range(0, len(idx), batch):
        b = idx[s : s + batch]
        pred = np.argmax(model.predict(data.inputs(b), verbose=0), axis=-1)
        last = data.ex["last"][b]
        exact += int(np.sum((pred == data.ex["label"][b]) & last))
        n_last += int(np.sum(last))
        in_target += int(np.sum(data.ex["soft"][b][np.arange(len(b)), pred] > 0))
    return {
        "exact": exact / max(1, n_last),
        "in_target": in_target / max(1, len(idx)),
        "test_sequences": int(len(idx)),
    }


def learning_curve(
    group: str,
    effect: str,
    recipe: Recipe,
    *,
    data_root: Path,
    runs_root: Path,
    out_dir: Path,
    pairs: int = 200,
    fractions=FRACTIONS,
    workers: int = 2,
) -> Path:
    """Train ``effect``'s parameter model (or the selector, ``effect="selector"``) on growing
    fractions of its training data and score each run on the same held-out data."""
    from serumrnn.server.quiet import import_tensorflow

    import_tensorflow()
    import keras

    from serumrnn.training.evaluate_models import table2_effect

    group = P.resolve_group(group)
    data_dir = data_root / f"{group}-{recipe.per_combo}-s{recipe.seed}"
    ds = PR.Dataset.load(data_dir)
    src = Source(ds, PR.dry_features(ds))
    selector = effect == "selector"
    name = "selector" if selector else param_model_name(effect)
    full: SelectorData | ParamData
    if selector:
        full = SelectorData(src, PR.prefix_features(ds, workers=workers))
    else:
        full = ParamData(
            src,
            effect,
            PR.param_pairs(ds, effect, variants=recipe.variants, workers=workers, seed=recipe.seed),
        )
    rack: OpenRack | None = None  # only Table 2 scoring renders: made on its first use
    rows = []
    for frac in fractions:
        data = _Subset(full, frac)
        run = runs_root / group / "learning_curve" / f"{effect}-{frac:g}"
        best = fit(
            f"{name}@{frac:g}",
            builder(name, recipe.width),
            compile_kwargs(name, recipe.continuous_weight),
            data,
            recipe,
            run,
            batch=recipe.selector_batch if selector else recipe.param_batch,
            verbose=0,
        )
        model = keras.models.load_model(best, compile=False)
        state = json.loads((run / "state.json").read_text())
        row = {
            "fraction": frac,
            "train_pairs": int(len(data.train)),
            "best_val_loss": state["best"],
            "epochs": state["epoch"] + 1,
        }
        if isinstance(full, SelectorData):
            row.update(selector_accuracy(model, full))
        else:
            if rack is None:
                rack = OpenRack()
            res = table2_effect(GroupModels(group, run, {}, {name: model}), rack, effect, pairs, set())
            row.update(mel_mse_delta_pct=res["delta_pct"]["mse"], mssmae_delta_pct=res["delta_pct"]["mssmae"])
        rows.append(row)
        print(f"[{group}] {effect} @ {frac:g}: {rows[-1]}")
    out_dir = out_dir / group
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"learning_curve_{effect}.json").write_text(
        json.dumps(
            {"group": group, "effect": effect, "recipe": recipe.to_json(), "test_pairs": pairs, "rows": rows},
            indent=2,
        )
        + "\n"
    )
    return plot(rows, group, effect, out_dir / f"learning_curve_{effect}.png")


def plot(rows, group: str, effect: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["train_pairs"] for r in rows]
    unit = "training sequences" if effect == "selector" else "training pairs"
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    if effect == "selector":
        from serumrnn.training.evaluate_models import SELECTOR_GOAL

        ax[0].plot(n, [r["exact"] for r in rows], "o-", label="exact next effect")
        ax[0].plot(n, [r["in_target"] for r in rows], "s-", label="chosen effect in the target")
        ax[0].axhline(SELECTOR_GOAL, color="gray", ls="--", label="goal")
        ax[0].set(
            xscale="log", xlabel=unit, ylabel="held-out accuracy", title="Effect selector: held-out accuracy"
        )
    else:
        from serumrnn.training.evaluate_models import PAPER_MEL_MSE_PCT

        ax[0].plot(n, [r["mel_mse_delta_pct"] for r in rows], "o-", label="ours")
        if effect in PAPER_MEL_MSE_PCT:
            ax[0].axhline(PAPER_MEL_MSE_PCT[effect], color="gray", ls="--", label="paper")
        ax[0].set(
            xscale="log",
            xlabel=unit,
            ylabel="Mel-MSE Δ% (lower is better)",
            title=f"{spec.effect(effect).label}: held-out Δ%",
        )
    ax[0].legend(fontsize=7)
    ax[1].plot(n, [r["best_val_loss"] for r in rows], "o-")
    ax[1].set(xscale="log", xlabel=unit, ylabel="best validation loss", title="validation loss")
    from matplotlib.ticker import NullFormatter

    for a in ax:  # a tick at each measured size (a log axis inside one decade has one tick)
        a.set_xticks(n, [f"{v:,}" for v in n], fontsize=7)
        a.xaxis.set_minor_formatter(NullFormatter())
        a.grid(True, alpha=0.3)
    what = "effect selector" if effect == "selector" else f"{effect} parameter model"
    fig.suptitle(f"{group}: learning curve, {what}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"serumrnn-data": _rows_hash(rows)})
    plt.close(fig)
    return path


def _rows_hash(rows: list[dict]) -> str:
    from serumrnn.training.result_figures import data_hash

    return data_hash(rows)


def replot(json_path: Path) -> Path:
    """Draw a learning curve again from its committed JSON (no training)."""
    d = json.loads(Path(json_path).read_text())
    return plot(d["rows"], d["group"], d["effect"], Path(json_path).with_suffix(".png"))
