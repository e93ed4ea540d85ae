"""``serumrnn results``: one page comparing every evaluated group with the paper's goals.

``eval-models`` and ``eval`` each write one group's tables; this reads their JSON
(``docs/results/<group>/models.json`` and ``system.json``) and writes
``docs/results/summary.md``, so the cross-group figures quoted in the README come from
the measured files, not from hand copying. Pure formatting: nothing is recomputed.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serumrnn.server import spec
from serumrnn.server.rack import presets as P
from serumrnn.training.evaluate_models import (
    PAPER_MEL_MSE_PCT,
    RESULTS,
    SELECTOR_GOAL,
    SELECTOR_GOAL_STEP,
)
from serumrnn.training.system_scores import PRODUCT_GOAL_PCT
from serumrnn.training.systems import SYSTEMS

#: A goal whose threshold is the group's own paper figure; one summary row for all groups.
_PAPER_FIGURE = re.compile(r" ≤ the paper's ([+-]?\d+\.\d) %$")


def goal_row(goal: str) -> tuple[str, str | None]:
    """``(row label, this group's paper figure or None)``: goals that differ only in the
    paper's figure per group share one row, the figure going into each group's cell."""
    m = _PAPER_FIGURE.search(goal)
    if m is None:
        return goal, None
    return goal[: m.start()] + " ≤ the paper's (per group)", m.group(1)


def _read(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _load(path: Path) -> dict[str, Any] | None:
    return _read(path) if path.is_file() else None


def _pct(x: float) -> str:
    return f"{x:+.1f} %".replace("-", "−")


def _num(x: float) -> str:
    return f"{x:+.2f}".replace("-", "−")


def table2_rows(models: dict[str, dict[str, Any]], groups: list[str]) -> list[str]:
    """One row per spec effect: each group's Mel-MSE Δ% against the paper's (when the
    paper had the effect)."""
    out = []
    for eff in spec.EFFECT_NAMES:
        paper = PAPER_MEL_MSE_PCT.get(eff)
        cells = []
        for g in groups:
            v = models[g]["table2"][eff]["delta_pct"]["mse"]
            cells.append(_pct(v) + ("" if paper is None or v <= paper else " (missed)"))
        goal = "no paper figure" if paper is None else f"≤ {_pct(paper)} (paper)"
        out.append(f"| {eff} | " + " | ".join(cells) + f" | {goal} |")
    return out


def table3_rows(models: dict[str, dict[str, Any]], groups: list[str]) -> list[str]:
    """The selectors' accuracy per group (the paper's Table 3), with the worst step."""
    out = []
    rows = [
        ("SerumRNN, one effect left: names it (as the paper's Table 3)", "serumrnn"),
        ("SerumRNN, every prefix: chosen effect is in the target", "serumrnn_in_target"),
        ("SerumRNN NI, one effect left", "serumrnn_ni"),
        ("SerumCNN, exact effect set", "serumcnn"),
    ]
    for label, key in rows:
        cells = []
        for g in groups:
            t = models[g]["table3"][key]
            per = t.get("per_step") or t["per_effects"]  # SerumCNN: by number of effects
            cells.append(f"{t['all']:.3f} (worst {min(per.values()):.3f})")
        goal = f"≥ {SELECTOR_GOAL} overall, ≥ {SELECTOR_GOAL_STEP} every step" if key == "serumrnn" else ""
        out.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    return out


def system_rows(
    system: dict[str, dict[str, Any] | None], groups: list[str], head: str, rule: str
) -> list[str]:
    """The whole system's tables (Table 4) and the goals of ``serumrnn eval``, for the
    groups that have a ``system.json``."""
    out: list[str] = []
    first = next(s for s in system.values() if s)

    def row(
        label: str, cell: Callable[[dict[str, Any]], str], goal: str | None = "", missing: str = ""
    ) -> str:
        """One table row: ``cell(system_json)`` per group, ``missing`` where not evaluated."""
        cells = [missing if (s := system[g]) is None else cell(s) for g in groups]
        return f"| {label} | " + " | ".join(cells) + ("" if goal is None else f" | {goal}") + " |"

    def delta(t: dict[str, Any]) -> str:
        return f"{_num(t['delta']['mse'])} ({_pct(t['delta_pct']['mse'])})"

    out += [
        "",
        "## Whole system: Δ Mel-MSE (Δ%) on 1,000 held-out pairs, tolerance 1 (Table 4)",
        "",
        head,
        rule,
    ]
    for key in SYSTEMS:

        def system_delta(s: dict[str, Any], key: str = key) -> str:
            return delta(s["systems"][key]["table"])

        out.append(
            row(
                first["systems"][key]["label"],
                system_delta,
                f"≤ {_pct(PRODUCT_GOAL_PCT)}" if key == "serumrnn" else "",
                missing="not evaluated",
            )
        )
    out.append(
        row(
            "SerumRNN, rolled back to its best step",
            lambda s: delta(s["systems"]["serumrnn"]["table_rollback"]),
        )
    )
    out += [
        "",
        "## Goals of the system evaluation",
        "",
        "| goal | " + " | ".join(groups) + " |",
        "|---" * (len(groups) + 1) + "|",
    ]
    labels = list(dict.fromkeys(goal_row(x["goal"])[0] for s in system.values() if s for x in s["goals"]))
    for label in labels:  # groups evaluated by different versions list different goals

        def cell(s: dict[str, Any], label: str = label) -> str:
            got = next((x for x in s["goals"] if goal_row(x["goal"])[0] == label), None)
            if got is None:
                return "not measured for this group"
            paper = goal_row(got["goal"])[1]
            return (
                ("met" if got["met"] else "missed")
                + f": {got['value']}"
                + ("" if paper is None else f" (paper {paper} %)")
            )

        out.append(row(label, cell, goal=None))
    out.append(
        row(
            "out of domain, the paper's loop (SoX targets of `serumrnn eval`; the verified "
            "loops' 45-target suite is in verified.md): Mel-MSE falls",
            lambda s: (
                f"{sum('mse' in v['improved'] for v in s['ood']['targets'].values())}"
                f" of {len(s['ood']['targets'])}"
            ),
            goal=None,
        )
    )
    return out


def summarize(results: Path = RESULTS) -> str:
    """The summary page's markdown for every group that has results under ``results``."""
    groups = [g for g in P.GROUPS if (results / g / "models.json").is_file()]
    if not groups:
        raise FileNotFoundError(f"no results under {results}: run `serumrnn eval-models --group G`")
    models = {g: _read(results / g / "models.json") for g in groups}  # groups that have one
    system = {g: _load(results / g / "system.json") for g in groups}
    head = "| | " + " | ".join(groups) + " | goal |"
    rule = "|---" * (len(groups) + 2) + "|"
    out = [
        "# Results across preset groups",
        "",
        "Generated by `serumrnn results` from `docs/results/<group>/models.json` "
        "(`serumrnn eval-models`) and `system.json` (`serumrnn eval`).",
        "",
        "## Parameter models: Mel-MSE Δ% on 1,000 held-out pairs (Table 2)",
        "",
        head,
        rule,
    ]
    out += table2_rows(models, groups)
    out += ["", "## Effect selection accuracy (Table 3)", "", head, rule]
    out += table3_rows(models, groups)
    if any(system.values()):
        out += system_rows(system, groups, head, rule)
    return "\n".join(out) + "\n"


def _cmd_results(a: argparse.Namespace) -> int:
    results = Path(a.results)
    text = summarize(results)
    (results / "summary.md").write_text(text)
    print(text)
    from serumrnn.training.result_figures import doc_files, write_all

    # the figures, and the tables and figures the docs quote (README.md and docs/*.md)
    for p in write_all(results, docs=doc_files(results)):
        print(f"wrote {p}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "results",
        help="docs/results/summary.md, the result figures and the docs' result tables, from the JSON",
    )
    r.add_argument(
        "--results",
        default=str(RESULTS),
        help="the results folder to read and write summary.md in (default docs/results)",
    )
    r.set_defaults(func=_cmd_results)
