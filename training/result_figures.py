"""The results as pictures and tables, drawn from the committed result JSON only.

``serumrnn results`` calls :func:`write_all`: per group, Table 4 as bars (our rack beside the
research code's own evaluation data, both scored by the research rule, plus each system's
gain over Random, which does not depend on how strong a rack's random effects are), the
product's loops against the paper, and the markdown blocks the docs quote (between
``<!-- results:NAME -->`` and ``<!-- /results -->`` markers). Each PNG carries the hash of
the data it was drawn from, so a test can tell when a figure has drifted from its JSON.
Pure formatting: nothing is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serumrnn.training.systems import SYSTEMS

RESULTS = Path("docs") / "results"
RESEARCH_JSON = "research_code.json"
TABLE4_JSON = "table4.json"  # derived by ``write_all`` from system.json and research_code.json
#: Table 4's iterative systems and Random, in the paper's order.
TABLE4_SYSTEMS = ("oracle", "serumrnn", "serumrnn_ni", "serumcnn", "random")
SHOWN = (("mse", "Mel-MSE"), ("mssmae", "MSSMAE"))
GROUP_LABELS = {
    "basic_shapes": "Basic Shapes",
    "advanced_shapes": "Adv. Shapes",
    "advanced_modulating_shapes": "Adv. Modulating",
}
#: PNG text key holding the hash of the data a figure was drawn from.
DATA_KEY = "serumrnn-data"
OURS_COLOUR, THEIRS_COLOUR = "#2a6fb0", "#b0b0b0"


def data_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path, data: Any) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={DATA_KEY: data_hash(data)})
    _pyplot().close(fig)
    return path


def load(results: Path = RESULTS) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Every group's ``system.json`` that exists, and the research code's scores."""
    systems = {
        g: json.loads((results / g / "system.json").read_text())
        for g in GROUP_LABELS
        if (results / g / "system.json").is_file()
    }
    rc = results / RESEARCH_JSON
    return systems, (json.loads(rc.read_text()) if rc.is_file() else None)


def table4_data(system: dict[str, Any], research: dict[str, Any] | None) -> dict[str, Any]:
    """One group's Table 4 Δ % (research rule) for ours and theirs, and the gain over Random."""
    group = system["group"]
    theirs_rows = (research or {}).get("groups", {}).get(group, {})
    out: dict[str, Any] = {"group": group, "pairs": system["pairs"], "ours": {}, "theirs": {}}
    for s in TABLE4_SYSTEMS:
        out["ours"][s] = {m: system["systems"][s]["table_research"]["delta_pct"][m] for m, _ in SHOWN}
        if s in theirs_rows:
            out["theirs"][s] = {m: theirs_rows[s]["delta_pct"][m] for m, _ in SHOWN}
    for side in ("ours", "theirs"):
        rows = out[side]
        if "random" in rows:
            out[f"{side}_gain"] = {
                s: {m: rows[s][m] - rows["random"][m] for m, _ in SHOWN} for s in rows if s != "random"
            }
    return out


def _label_bars(ax: Any, xs: Any, vals: list[float]) -> None:
    """Each bar's value, just inside its end (a missing value has no bar and no label)."""
    import numpy as np

    for xi, v in zip(xs, vals):
        if not np.isnan(v):
            ax.annotate(
                f"{v:.0f}",
                (xi, v),
                ha="center",
                va="top",
                fontsize=7,
                xytext=(0, -2),
                textcoords="offset points",
            )


def _bars(ax: Any, labels: list[str], ours: list[float], theirs: list[float], pairs: int) -> None:
    """Ours beside theirs per system, each bar labelled with its value."""
    import numpy as np

    x = np.arange(len(labels))
    w = 0.38
    for off, vals, colour, label in (
        (-w / 2, ours, OURS_COLOUR, f"ours (open rack, {pairs} pairs)"),
        (w / 2, theirs, THEIRS_COLOUR, "research code's own data (Serum, 1000 pairs)"),
    ):
        ax.bar(x + off, vals, w, color=colour, label=label)
        _label_bars(ax, x + off, vals)
    ax.set_xticks(x, labels, fontsize=8)
    ax.axhline(0, color="black", lw=0.6)


def plot_table4(d: dict[str, Any], path: Path) -> Path:
    """Mel-MSE and MSSMAE Δ % per system, ours beside the research code's, and the gain over Random."""
    import numpy as np

    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.4))
    gs = [s for s in TABLE4_SYSTEMS if s != "random"]
    for col, (m, label) in enumerate(SHOWN):
        ax = axes[0][col]
        _bars(
            ax,
            [SYSTEMS[s] for s in TABLE4_SYSTEMS],
            [d["ours"][s][m] for s in TABLE4_SYSTEMS],
            [d["theirs"][s][m] if s in d["theirs"] else np.nan for s in TABLE4_SYSTEMS],
            d["pairs"],
        )
        ax.set_ylabel("Δ % (lower is closer)", fontsize=8)
        ax.set_title(f"{label}: change from input to end", fontsize=9)
        ax = axes[1][col]
        _bars(
            ax,
            [SYSTEMS[s] for s in gs],
            [d["ours_gain"][s][m] for s in gs],
            [d["theirs_gain"][s][m] if "theirs_gain" in d else np.nan for s in gs],
            d["pairs"],
        )
        ax.set_ylabel("Δ % minus Random's (points)", fontsize=8)
        ax.set_title(f"{label}: gain over Random (the same rack's random effects)", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(
        f"Table 4, {GROUP_LABELS[d['group']]}: mean error change against the target by the research "
        "code's rule (each metric ends before its 2nd bad step)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path, d)


def loops_data(systems: dict[str, Any], research: dict[str, Any] | None) -> dict[str, Any]:
    """SerumRNN's Mel-MSE Δ % (research rule) per group: the paper's data, our paper loop,
    and the product's verified and refine loops (on their subset of pairs)."""
    out: dict[str, Any] = {}
    for g, s in systems.items():
        row = {"paper_loop": s["systems"]["serumrnn"]["table_research"]["delta_pct"]["mse"]}
        theirs = (research or {}).get("groups", {}).get(g, {}).get("serumrnn")
        if theirs:
            row["research_code"] = theirs["delta_pct"]["mse"]
        for key, v in (s.get("verified") or {}).items():
            row[key] = v["table_research"]["delta_pct"]["mse"]
            row[f"{key}_pairs"] = v["pairs"]
        out[g] = row
    return out


LOOP_BARS = (
    ("research_code", "paper (research code's data, Serum)", THEIRS_COLOUR),
    ("paper_loop", "ours, the paper's loop", "#7aa6d6"),
    ("serumrnn_verified", "ours, verified loop (product default)", OURS_COLOUR),
    ("serumrnn_refine", "ours, refine loop", "#173f66"),
)


def plot_loops(d: dict[str, Any], path: Path) -> Path:
    import numpy as np

    plt = _pyplot()
    groups = list(d)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(groups))
    w = 0.8 / len(LOOP_BARS)
    for j, (key, label, colour) in enumerate(LOOP_BARS):
        vals = [d[g].get(key, np.nan) for g in groups]
        xs = x + (j - (len(LOOP_BARS) - 1) / 2) * w
        ax.bar(xs, vals, w, color=colour, label=label)
        _label_bars(ax, xs, vals)
    ax.set_xticks(x, [GROUP_LABELS[g] for g in groups], fontsize=9)
    ax.set_ylabel("SerumRNN Mel-MSE Δ % (lower is closer)", fontsize=8)
    ax.axhline(0, color="black", lw=0.6)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    ax.set_title(
        "SerumRNN against the target: the paper's figure and the product's loops\n"
        "(research code's rule; the verified and refine loops run on a subset of the pairs)",
        fontsize=9,
    )
    fig.tight_layout()
    return _save(fig, path, d)


# -- markdown blocks -----------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:+.1f} %".replace("-", "−")


def _pts(x: float | None) -> str:
    return "–" if x is None else f"{x:+.1f}".replace("-", "−")


def table4_markdown(systems: dict[str, Any], research: dict[str, Any] | None) -> str:
    L = [
        "| group | system | Mel-MSE Δ % ours | research code's data | MSSMAE Δ % ours | research code's data "
        "| Mel-MSE gain over Random (points), ours | theirs |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for g, s in systems.items():
        d = table4_data(s, research)
        for sy in TABLE4_SYSTEMS:
            th = d["theirs"].get(sy, {})
            og = d.get("ours_gain", {}).get(sy, {}).get("mse")
            tg = d.get("theirs_gain", {}).get(sy, {}).get("mse")
            L.append(
                f"| {GROUP_LABELS[g]} | {SYSTEMS[sy]} | {_pct(d['ours'][sy]['mse'])} | {_pct(th.get('mse'))} "
                f"| {_pct(d['ours'][sy]['mssmae'])} | {_pct(th.get('mssmae'))} | {_pts(og)} | {_pts(tg)} |"
            )
    return "\n".join(L)


def loops_markdown(systems: dict[str, Any], research: dict[str, Any] | None) -> str:
    d = loops_data(systems, research)
    L = [
        "| group | paper (research code's data) | ours, paper loop | ours, verified loop | ours, refine loop |",
        "|---|---:|---:|---:|---:|",
    ]
    for g, r in d.items():
        v = f"{_pct(r.get('serumrnn_verified'))} ({r.get('serumrnn_verified_pairs', 0)} pairs)"
        f = f"{_pct(r.get('serumrnn_refine'))} ({r.get('serumrnn_refine_pairs', 0)} pairs)"
        L.append(
            f"| {GROUP_LABELS[g]} | {_pct(r.get('research_code'))} | {_pct(r['paper_loop'])} | {v} | {f} |"
        )
    return "\n".join(L)


def plugins_markdown(results: Path, first: int | None = None) -> str:
    """The real-plugin rows of every group side by side, from each ``<group>/plugins.json``
    (over its first ``first`` pairs when given, so rows are compared on the same pairs);
    a row that no group ran is left out."""
    from serumrnn.training.doc_figures import MINUS
    from serumrnn.training.plugin_eval import ROWS, summarize

    def num(x: float) -> str:
        return f"{x:.1f}".replace("-", MINUS)

    done = {
        g: json.loads(f.read_text())["pairs_done"][:first]
        for g in GROUP_LABELS
        if (f := results / g / "plugins.json").is_file()
    }
    lines = ["| row | " + " | ".join(GROUP_LABELS[g] for g in done) + " |", "|---" * (len(done) + 1) + "|"]
    for row, label in ROWS.items():
        cells = []
        for pairs in done.values():
            have = [p for p in pairs if row in p["rows"]]
            if not have:
                cells.append("–")
                continue
            s = summarize(have, row)
            cell = f"{num(s['mse_pct'])} / {num(s['mssmae_pct'])} / {s['worse']} of {s['pairs']}"
            cells.append(
                cell + (f", {s['captures_per_pair']:.1f} captures" if row.startswith("device") else "")
            )
        if any(c != "–" for c in cells):  # a row no group's run has is left out
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ood_naming_markdown(path: Path) -> str:
    """The per-loop table of one ``serumrnn ood-naming eval`` JSON, as the command prints it
    (with the docs' minus sign). A ranker an older file kept only as rates is left out."""
    from serumrnn.training.doc_figures import MINUS
    from serumrnn.training.ood_naming import markdown

    result = json.loads(path.read_text())
    result["namers"] = {k: v for k, v in result.get("namers", {}).items() if "named" in v["summary"]}
    return re.sub(r"(?<=[ (])-(?=\d)", MINUS, markdown(result))


#: Each generated block of the docs: its name and how it is made from the JSON.
BLOCKS: dict[str, Callable[[dict[str, Any], dict[str, Any] | None], str]] = {
    "table4": table4_markdown,
    "loops": loops_markdown,
}
#: ``<!-- results:NAME -->`` or, for a table committed as JSON, ``<!-- results:table FILE -->``.
_BLOCK = re.compile(r"(<!-- results:(\w+)(?: (\S+))? -->\n)(.*?)(<!-- /results -->)", re.S)


def json_table(path: Path) -> str:
    """A Markdown table from a JSON ``{"columns": [{"name", "format"}], "rows": [[...]]}``;
    a column's format is one of ``doc_figures.FORMATS`` (None or "text": as written); a
    missing value (null) is shown as "–"."""
    from serumrnn.training.doc_figures import FORMATS

    t = json.loads(path.read_text())
    cols = t["columns"]
    lines = ["| " + " | ".join(c["name"] for c in cols) + " |"]
    lines.append(
        "|" + "|".join("---:" if c.get("format") not in (None, "text") else "---" for c in cols) + "|"
    )
    for row in t["rows"]:
        if len(row) != len(cols):
            raise ValueError(f"{path}: a row has {len(row)} cells for {len(cols)} columns: {row}")
        cells = [
            "–" if v is None else str(v) if c.get("format") in (None, "text") else FORMATS[c["format"]]([v])
            for c, v in zip(cols, row)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fill(
    text: str, systems: dict[str, Any], research: dict[str, Any] | None, results: Path | None = None
) -> str:
    """``text`` with every generated block rewritten from the JSON (unknown names are an error);
    given ``results``, also the JSON tables and the prose's figure spans (``doc_figures``)."""
    from serumrnn.training import doc_figures

    def sub(m: re.Match[str]) -> str:
        name, arg = m.group(2), m.group(3)
        if name == "table" and arg and results is not None:
            return f"{m.group(1)}{json_table(results / arg)}\n{m.group(5)}"
        if name == "plugins" and results is not None:
            return f"{m.group(1)}{plugins_markdown(results, int(arg) if arg else None)}\n{m.group(5)}"
        if name == "ood_naming" and arg and results is not None:
            return f"{m.group(1)}{ood_naming_markdown(results / arg)}\n{m.group(5)}"
        if name in ("table", "plugins", "ood_naming"):
            return m.group(0)
        if name not in BLOCKS:
            raise KeyError(
                f"unknown results block {name!r} (known: table, plugins, ood_naming, {', '.join(BLOCKS)})"
            )
        return f"{m.group(1)}{BLOCKS[name](systems, research)}\n{m.group(5)}"

    out = _BLOCK.sub(sub, text)
    return doc_figures.fill(out, results) if results is not None else out


def figures(results: Path = RESULTS) -> dict[Path, tuple[Any, Callable[[], Path]]]:
    """Every figure drawn from the JSON: its path, the data it shows, and how to draw it."""
    from functools import partial

    from serumrnn.training.learning_curve import replot

    systems, research = load(results)
    out: dict[Path, tuple[Any, Callable[[], Path]]] = {}
    for g, s in systems.items():
        path, d = results / g / "table4.png", table4_data(s, research)
        out[path] = (d, partial(plot_table4, d, path))
    if systems:
        path, d = results / "loops.png", loops_data(systems, research)
        out[path] = (d, partial(plot_loops, d, path))
    for lc in sorted(results.glob("*/learning_curve_*.json")):
        rows = json.loads(lc.read_text())["rows"]
        out[lc.with_suffix(".png")] = (rows, partial(replot, lc))
    return out


def doc_files(results: Path = RESULTS) -> tuple[Path, ...]:
    """The docs whose tables and figures come from ``results`` (docs/results/): README.md and
    every page in docs/."""
    docs = results.parent
    return (docs.parent / "README.md", *sorted(docs.glob("*.md")))


def write_all(results: Path = RESULTS, docs: tuple[Path, ...] = ()) -> list[Path]:
    """Draw every figure and refill the generated blocks of ``docs``; return what was written."""
    systems, research = load(results)
    written = [draw() for _, draw in figures(results).values()]
    if systems:  # the derived Table 4 figures (gain over Random) the prose quotes
        derived = results / TABLE4_JSON
        derived.write_text(
            json.dumps({g: table4_data(s, research) for g, s in systems.items()}, indent=1) + "\n"
        )
        written.append(derived)
    for doc in docs:
        if doc.is_file():
            text = doc.read_text()
            new = fill(text, systems, research, results)
            if new != text:
                doc.write_text(new)
                written.append(doc)
    return written


def png_data_hash(path: Path) -> str | None:
    """The data hash a figure was drawn from (None for a PNG not drawn here)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.info.get(DATA_KEY)
