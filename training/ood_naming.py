"""The out-of-domain suite for *naming* the effect: is the first suggestion the right type?

Each case is an input made by other software (a SoX oscillator or a ZynAddSubFX note, never
the open rack) and a target made from it by exactly ONE effect of other software (a SoX
effect, or a Debian plugin hosted directly: :mod:`serumrnn.training.effect_types`). So the
right first answer, the effect's type, is known. Settings, inputs and which implementation
makes each type are drawn from a seed stream: another ``--seed`` is another suite, and no
fixed set is tuned on. Types take turns, so each is a fifth of the cases.

Two steps, two processes (hosting a plugin breaks the open rack's Faust compile, see
``effect_types``):

* :func:`build` (``serumrnn ood-naming build``) renders the cases into a folder:
  ``suite.json`` (what made each case) and ``wav/`` (input and target per case);
* :func:`evaluate` (``serumrnn ood-naming eval``) runs loops from each input to its target
  on the open rack and reports, per loop, how often the first suggestion names the type,
  how many sessions end worse on Mel-MSE or MSSMAE, and the mean Mel-MSE and MSSMAE
  change. Rankers that render nothing (the selector, a naming head) are scored too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serumrnn.training import effect_types as ET
from serumrnn.training.md_table import table

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.render import Renderer

SEED_STREAM = 0x0A3E  # record_seed(SEED_STREAM, seed, case index, try)
SUITE_FILE = "suite.json"
FORMAT = 1
#: A target whose Mel-MSE from its input is below this is redrawn: an effect nobody can
#: hear has no right name.
MIN_CHANGE = 0.02
MAX_TRIES = 8
DEFAULT_CASES = 40


@dataclass(frozen=True)
class Case:
    index: int
    type: str
    implementation: str
    family: str
    settings: Any
    input_recipe: dict[str, Any]
    input: np.ndarray = field(repr=False)
    target: np.ndarray = field(repr=False)
    change_mse: float = 0.0

    def to_json(self, folder: str = "wav") -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "implementation": self.implementation,
            "family": self.family,
            "settings": self.settings,
            "input_recipe": self.input_recipe,
            "input_file": f"{folder}/input-{self.index:03d}.wav",
            "target_file": f"{folder}/target-{self.index:03d}.wav",
            "change_mse": self.change_mse,
        }


def draw_case(
    index: int, seed: int, folder: Path, implementations: Sequence[ET.Implementation] = ET.OTHER_SOFTWARE
) -> Case:
    """Case ``index`` of suite ``seed``: its type by turn, the rest drawn (redrawn while
    the effect changes the input by less than ``MIN_CHANGE``)."""
    from serumrnn.server import metrics as M
    from serumrnn.server.sampling import record_seed

    types = [t for t in ET.TYPES if any(i.type == t for i in implementations)]
    want = types[index % len(types)]
    pool = [i for i in implementations if i.type == want]
    change = 0.0
    for attempt in range(MAX_TRIES):
        rng = np.random.default_rng(record_seed(SEED_STREAM, seed, index, attempt))
        imp = pool[int(rng.integers(len(pool)))]
        recipe = ET.draw_input(rng)
        settings = imp.draw(rng)
        x = ET.render_input(recipe, folder)
        y = ET.apply(imp, x, settings, folder)
        change = float(M.distances(x, y)["mse"])
        if change >= MIN_CHANGE:
            return Case(index, want, imp.name, imp.family, settings, recipe, x, y, change)
    raise RuntimeError(
        f"case {index} of seed {seed}: no audible {want} in {MAX_TRIES} draws (last Mel-MSE {change:.4f})"
    )


def build(
    out: Path,
    *,
    seed: int = 0,
    cases: int = DEFAULT_CASES,
    implementations: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Render a suite into ``out`` (``suite.json`` and ``wav/``); returns its record.
    ``implementations`` restricts the effects drawn from (names in ``effect_types``)."""
    import tempfile

    from serumrnn.server.audio_io import write_wav

    imps = ET.OTHER_SOFTWARE if not implementations else tuple(ET.by_name(n) for n in implementations)
    ET.check_available(imps)
    out = Path(out)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i in _bar(range(cases), cases, "rendering cases", progress):
            c = draw_case(i, seed, Path(tmp), imps)
            row = c.to_json()
            write_wav(out / row["input_file"], c.input)
            write_wav(out / row["target_file"], c.target)
            rows.append(row)
    record = {
        "format": FORMAT,
        "seed": seed,
        "implementations": [i.name for i in imps],
        "min_change_mse": MIN_CHANGE,
        "build_seconds": round(time.perf_counter() - t0, 1),
        "cases": rows,
    }
    tmp_file = out / (SUITE_FILE + ".tmp")
    tmp_file.write_text(json.dumps(record, indent=1) + "\n")
    tmp_file.replace(out / SUITE_FILE)
    return record


def load(folder: Path) -> tuple[dict[str, Any], list[Case]]:
    """A built suite: its record and its cases with their audio."""
    from serumrnn.server.audio_io import load_clip

    folder = Path(folder)
    path = folder / SUITE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: build the suite with `serumrnn ood-naming build --out {folder}`"
        )
    record = json.loads(path.read_text())
    if record.get("format") != FORMAT:
        raise ValueError(
            f"{path}: suite format {record.get('format')}, this code reads {FORMAT}; build it again"
        )
    cases = [
        Case(
            r["index"],
            r["type"],
            r["implementation"],
            r["family"],
            r["settings"],
            r["input_recipe"],
            load_clip(folder / r["input_file"]),
            load_clip(folder / r["target_file"]),
            r["change_mse"],
        )
        for r in record["cases"]
    ]
    return record, cases


def _bar(items, total: int, desc: str, enabled: bool):
    import sys

    from tqdm import tqdm

    return tqdm(items, total=total, desc=desc, disable=not enabled, file=sys.stderr)


# -- evaluation -----------------------------------------------------------------------
#: A ranker that renders nothing: (input audio, target audio) -> effect types, best first.
Namer = Callable[[np.ndarray, np.ndarray], Sequence[str]]


def selector_namer(models: GroupModels, selector: str = "selector") -> Namer:
    """The selector's ranking at the first step (what every loop starts from)."""
    from serumrnn.server import judge as J
    from serumrnn.server.models import rank_unused, selector_inputs

    def rank(x: np.ndarray, y: np.ndarray) -> list[str]:
        a, b = J.measure([x, y])
        probs = np.asarray(models.predict(selector, selector_inputs([a.features], b.features, ["initial"])))[
            0
        ]
        return rank_unused(probs, [])

    return rank


def run_case(
    models: GroupModels,
    renderer: Renderer,
    case: Case,
    loop: str,
    session_kw: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One loop from the case's input to its target: what it named first, and the change."""
    from serumrnn.server import metrics as M
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.loop_settings import loop_row, row_extra
    from serumrnn.training.ood_suite import tune_round_rows

    t = time.perf_counter()
    name = loop
    loop, fine_tune = loop_row(name)  # "search+fine-tune": the fine-tune after the last step
    s = Assistant(
        models,
        case.target,
        renderer=renderer,
        input_audio=case.input,
        loop=loop,
        fine_tune=fine_tune,
        **{"extra": row_extra(name), **(session_kw or {})},
    )
    res = s.run()
    end = res.final if loop == "paper" else res.best
    start = res.initial
    if start is None or end is None:
        raise RuntimeError(f"the {loop} loop left case {case.index} unmeasured")
    _, pct = M.delta({m: start[m] for m in ("mse", "mssmae")}, {m: end[m] for m in ("mse", "mssmae")})
    first = res.steps[0].effect if res.steps else None
    return {
        "first": first,
        "named": first == case.type,
        "steps": [st.effect for st in res.steps],
        "start": {m: float(start[m]) for m in ("mse", "mssmae")},
        "end": {m: float(end[m]) for m in ("mse", "mssmae")},
        "delta_pct": {m: float(v) for m, v in pct.items()},
        "worse_any": bool(end["mse"] > start["mse"] or end["mssmae"] > start["mssmae"]),
        "renders": res.renders,
        "stop": (res.stop or {}).get("reason", ""),
        # the first step's evidence: every effect it rendered, and both rankings (search loop)
        "first_tried": res.steps[0].candidates if res.steps else res.tried,
        "first_naming": res.steps[0].naming if res.steps else None,
        "tune_rounds": tune_round_rows(res.fine_tune),
        "seconds": round(time.perf_counter() - t, 2),
    }


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The issue's figures over a loop's rows, and the naming rate per type and family."""
    n = len(rows)
    if not n:
        return {"cases": 0}

    def rate(sel: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"cases": len(sel), "named": sum(r["named"] for r in sel)}

    return {
        "cases": n,
        "first_names_type": sum(r["named"] for r in rows) / n,
        "named": sum(r["named"] for r in rows),
        "no_step": sum(r["first"] is None for r in rows),
        "worse_any": sum(r["worse_any"] for r in rows),
        "mean_mse_delta_pct": float(np.mean([r["delta_pct"]["mse"] for r in rows])),
        "mean_mssmae_delta_pct": float(np.mean([r["delta_pct"]["mssmae"] for r in rows])),
        "mean_renders": float(np.mean([r["renders"] for r in rows])),
        "mean_seconds": float(np.mean([r["seconds"] for r in rows])),
        "by_type": {t: rate([r for r in rows if r["type"] == t]) for t in sorted({r["type"] for r in rows})},
        "by_family": {
            f: rate([r for r in rows if r["family"] == f]) for f in sorted({r["family"] for r in rows})
        },
    }


def summarize_namer(rows: Sequence[dict[str, Any]], held_out: Sequence[str] = ()) -> dict[str, Any]:
    """Top-1 and top-2 naming rates, per type, and on the cases whose implementation is in
    ``held_out`` (a naming head's unheard implementations) against the rest."""

    def rates(sel: Sequence[dict[str, Any]]) -> dict[str, Any]:
        n = len(sel)
        top1 = sum(r["ranking"][0] == r["type"] for r in sel)
        return {
            "cases": n,
            "named": top1,
            "top1": top1 / n if n else 0.0,
            "top2": sum(r["type"] in r["ranking"][:2] for r in sel) / n if n else 0.0,
        }

    out = rates(rows)
    out["by_type"] = {
        t: rates([r for r in rows if r["type"] == t]) for t in sorted({r["type"] for r in rows})
    }
    if held_out:
        out["held_out"] = rates([r for r in rows if r["implementation"] in held_out])
        out["heard"] = rates([r for r in rows if r["implementation"] not in held_out])
    return out


def evaluate(
    models: GroupModels,
    renderer: Renderer,
    cases: Sequence[Case],
    *,
    loops: Sequence[str] = ("verified", "refine", "paper"),
    namers: Mapping[str, Namer] | None = None,
    session_kw: Mapping[str, Any] | None = None,
    progress: bool = True,
    held_out: Sequence[str] = (),
) -> dict[str, Any]:
    """Every loop (and every ranker in ``namers``) on every case; rows and summaries.
    ``held_out``: implementations a naming head never heard (scored apart)."""
    out: dict[str, Any] = {"loops": {}, "namers": {}}
    for name, namer in (namers or {}).items():
        rows = [
            {
                "index": c.index,
                "type": c.type,
                "implementation": c.implementation,
                "family": c.family,
                "ranking": list(namer(c.input, c.target)),
            }
            for c in cases
        ]
        out["namers"][name] = {"rows": rows, "summary": summarize_namer(rows, held_out)}
    for loop in loops:
        rows = []
        for c in _bar(cases, len(cases), f"{loop} loop", progress):
            r = run_case(models, renderer, c, loop, session_kw)
            rows.append(
                {
                    "index": c.index,
                    "type": c.type,
                    "implementation": c.implementation,
                    "family": c.family,
                    **r,
                }
            )
        out["loops"][loop] = {"rows": rows, "summary": summarize(rows)}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The per-loop table a person reads (the JSON holds every row)."""
    rows: list[tuple[object, ...]] = []
    for loop, v in result["loops"].items():
        s = v["summary"]
        rows.append(
            (
                loop,
                s["cases"],
                f"{s['named']}/{s['cases']} ({100 * s['first_names_type']:.0f} %)",
                s["no_step"],
                s["worse_any"],
                f"{s['mean_mse_delta_pct']:+.1f} %",
                f"{s['mean_mssmae_delta_pct']:+.1f} %",
                f"{s['mean_renders']:.0f}",
            )
        )
    for name, v in result.get("namers", {}).items():
        s = v["summary"]
        held = s.get("held_out")
        extra = f"; unheard implementations {held['named']}/{held['cases']}" if held else ""
        named = f"{s['named']}/{s['cases']} ({100 * s['top1']:.0f} %; top 2: {100 * s['top2']:.0f} %{extra})"
        rows.append((f"{name} (ranking only)", s["cases"], named, "", "", "", "", 0))
    columns = ["loop", "cases", "first suggestion names the type", "no step", "worse (Mel-MSE or MSSMAE)"]
    columns += ["mean Mel-MSE Δ", "mean MSSMAE Δ", "renders"]
    return "\n".join(table(columns, rows, right_from=1))
