"""The research code's own evaluation outputs, scored by our scorer: a measured anchor row.

The paper's repository keeps, per group and system, the per-pair metric paths of its
whole-system evaluation (``data/eval_out/ensemble/*__eval_out_data.npz``: 1,000 pairs,
the input then up to five steps). Scoring those paths with
:func:`serumrnn.training.system_scores.summarize_research` (each metric ends on its own
path by ``until_worse_1``; Δ % is the change of the means) gives the paper's Table 4 as a
figure we measured, not one we quote. Only the scores are committed (see
``scripts/score_research_code.py``); the data stays in its repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.training.system_scores import TABLE_TOLERANCE, summarize_research
from serumrnn.training.systems import Trajectory

#: Their file-name group -> ours ("temporal" is the paper's Adv. Modulating).
GROUPS = {
    "basic_shapes": "basic_shapes",
    "adv_shapes": "advanced_shapes",
    "temporal": "advanced_modulating_shapes",
}
#: Their system names (the ``is_seq_True`` runs, those of Table 4) -> ours.
SYSTEMS = {
    "oracle_random": "oracle",
    "next_effect_rnn": "serumrnn",
    "next_effect_seq_only_rnn": "serumrnn_ni",
    "all_effects_cnn": "serumcnn",
    "random": "random",
}
#: Their metric keys -> ours (in the order of :data:`serumrnn.server.metrics.METRICS`).
METRIC_KEYS = {
    "mse": "mse",
    "mae": "mae",
    "lsd": "lsd",
    "mfcc_dist": "mfccd",
    "pcc": "pcc",
    "mssmae": "mssmae",
}
FILE = "seq_5_v3__mfcc_30__{group}__ensemble__{system}__is_seq_True__eval_out_data.npz"
DEFAULT_OUT = Path("docs") / "results" / "research_code.json"


def trajectories(path: Path) -> list[Trajectory]:
    """One file's pairs as trajectories (every path has its six values: input + 5 steps)."""
    from serumrnn.server import metrics as M

    with np.load(path, allow_pickle=True) as z:  # their file: a pickled dict of arrays
        paths = z["eval_metrics_all"].item()
        effects = z["effect_name_seq_all"]
    ours = {METRIC_KEYS[k]: np.asarray(v, float) for k, v in paths.items() if k in METRIC_KEYS}
    dist = np.stack([ours[m] for m in M.METRICS], axis=-1)  # (pairs, 6 values, 6 metrics)
    return [Trajectory(tuple(str(e) for e in eff), d, 0, []) for eff, d in zip(effects, dist)]


def score_folder(folder: Path) -> dict[str, Any]:
    """Table 4 by the research rule for every group and system found in ``folder``."""
    folder = Path(folder)
    out: dict[str, Any] = {
        "source": "christhetree/serum_rnn data/eval_out/ensemble (is_seq_True runs)",
        "rule": f"research code: until_worse_{TABLE_TOLERANCE} per metric, Δ % of the means",
        "groups": {},
    }
    for theirs, group in GROUPS.items():
        rows: dict[str, Any] = {}
        for their_sys, system in SYSTEMS.items():
            f = folder / FILE.format(group=theirs, system=their_sys)
            if not f.is_file():
                continue
            trajs = trajectories(f)
            s = summarize_research(trajs, TABLE_TOLERANCE)
            rows[system] = {"pairs": len(trajs), "delta_pct": s["delta_pct"], "initial": s["initial"]}
        if rows:
            out["groups"][group] = rows
    if not out["groups"]:
        raise FileNotFoundError(
            f"no research-code evaluation files ({FILE.format(group='*', system='*')}) in {folder}"
        )
    return out


def write(folder: Path, out: Path = DEFAULT_OUT) -> dict[str, Any]:
    res = score_folder(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    return res
