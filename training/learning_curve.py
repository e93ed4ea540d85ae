"""Learning curves: what more data would buy, measured with runs of increasing size.

``serumrnn learning-curve --group G --effect E`` trains the effect's parameter model on
growing fractions of its training pairs (same recipe, same epoch budget), scores each on
the same held-out pairs (Mel-MSE Δ% as in Table 2, and validation loss) and draws
``docs/results/<group>/learning_curve_<effect>.png`` with a JSON beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from server import spec
from server.models import GroupModels
from server.rack import OpenRack
from server.rack import presets as P
from training import pairs as PR
from training.recipes import Recipe
from training.train import ParamData, Source, builder, compile_kwargs, fit

FRACTIONS = (0.125, 0.25, 0.5, 1.0)


class _Subset:
    """A view of a data source whose training split is a fixed fraction of the original."""

    def __init__(self, data, fraction: float, seed: int = 0):
        self.data, self.fraction = data, fraction
        idx = data.indices(0)
        self.train = np.sort(np.random.default_rng(seed).permutation(idx)[: max(1, int(len(idx) * fraction))])

    def indices(self, split: int) -> np.ndarray:
        return self.train if split == 0 else self.data.indices(split)

    def inputs(self, idx):
        return self.data.inputs(idx)

    def targets(self, idx):
        return self.data.targets(idx)


def learning_curve(group: str, effect: str, recipe: Recipe, *, data_root: Path, runs_root: Path,
                   out_dir: Path, pairs: int = 200, fractions=FRACTIONS, workers: int = 2) -> Path:
    import keras

    from training.evaluate_models import table2_effect

    group = P.resolve_group(group)
    data_dir = data_root / f"{group}-{recipe.per_combo}-s{recipe.seed}"
    ds = PR.Dataset.load(data_dir)
    src = Source(ds, PR.dry_features(ds))
    full = ParamData(src, effect, PR.param_pairs(ds, effect, variants=recipe.variants,
                                                 workers=workers, seed=recipe.seed))
    rack = OpenRack()
    rows = []
    for frac in fractions:
        data = _Subset(full, frac)
        run = runs_root / group / "learning_curve" / f"{effect}-{frac:g}"
        best = fit(f"param_{effect}@{frac:g}", builder(f"param_{effect}", recipe.width),
                   compile_kwargs(f"param_{effect}"), data, recipe, run,
                   batch=recipe.param_batch, verbose=0)
        gm = GroupModels(group, run, {}, {f"param_{effect}": keras.models.load_model(best, compile=False)})
        res = table2_effect(gm, rack, effect, pairs, set())
        state = json.loads((run / "state.json").read_text())
        rows.append({"fraction": frac, "train_pairs": int(len(data.train)),
                     "best_val_loss": state["best"], "epochs": state["epoch"] + 1,
                     "mel_mse_delta_pct": res["delta_pct"]["mse"],
                     "mssmae_delta_pct": res["delta_pct"]["mssmae"]})
        print(f"[{group}] {effect} @ {frac:g}: {rows[-1]}")
    out_dir = out_dir / group
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"learning_curve_{effect}.json").write_text(json.dumps(
        {"group": group, "effect": effect, "recipe": recipe.to_json(), "test_pairs": pairs,
         "rows": rows}, indent=2) + "\n")
    return plot(rows, group, effect, out_dir / f"learning_curve_{effect}.png")


def plot(rows, group: str, effect: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["train_pairs"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].plot(n, [r["mel_mse_delta_pct"] for r in rows], "o-", label="ours")
    from training.evaluate_models import PAPER_MEL_MSE_PCT

    ax[0].axhline(PAPER_MEL_MSE_PCT[effect], color="gray", ls="--", label="paper")
    ax[0].set(xscale="log", xlabel="training pairs", ylabel="Mel-MSE Δ% (lower is better)",
              title=f"{spec.effect(effect).label}: held-out Δ%")
    ax[0].legend(fontsize=7)
    ax[1].plot(n, [r["best_val_loss"] for r in rows], "o-")
    ax[1].set(xscale="log", xlabel="training pairs", ylabel="best validation loss",
              title="validation loss")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for a in ax:  # plain numbers on the log axis, no overlapping minor labels
        a.xaxis.set_major_formatter(ScalarFormatter())
        a.xaxis.set_minor_formatter(NullFormatter())
    fig.suptitle(f"{group}: learning curve, {effect} parameter model", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
