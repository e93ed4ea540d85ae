"""Measure the step loops on naming the effect of sounds made elsewhere.

Not a fixed tuning set: every seed draws other inputs (SoX oscillators: waveform,
level, a SoX low-pass) and other effect settings (SoX effects and Debian plugins hosted
directly), so a change tuned on one seed is checked on the next. Each target carries the
type of effect that made it, so "the first suggestion names the effect used" is known.

    nice -n 10 .venv/bin/python scripts/naming_measure.py --seeds 0 1 --loops verified refine \
        --out runs/naming/ood.jsonl
    nice -n 10 .venv/bin/python scripts/naming_measure.py --in-domain 30 --loops verified \
        --out runs/naming/indomain.jsonl

One JSON line per (loop, target) is appended to ``--out`` as it is measured; a rerun skips
lines already there (checkpointed). ``--summary`` prints the table of a finished file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack import OpenRack

#: SoX effect (a key of ood_suite.SOX_EFFECTS) -> the spec effects it is an instance of.
SOX_TYPES = {
    "sox overdrive": ("distortion",),
    "sox reverb": ("reverb",),
    "sox phaser": ("phaser",),
    "sox equalizer": ("eq",),
    "sox compand": ("compressor",),
    "sox overdrive + reverb": ("distortion", "reverb"),
}
#: Debian plugin (a key of ood_suite.PLUGINS) -> the spec effect it is an instance of.
PLUGIN_TYPES = {
    "ZynDistortion": ("distortion",),
    "LSP Compressor Mono": ("compressor",),
    "LSP Graphic Equalizer x16 Mono": ("eq",),
    "Dragonfly Hall Reverb": ("reverb",),
}
WAVES = ("sawtooth", "square")
NOTE_HZ = 130.81  # MIDI 48, the note the shipped models know
OOD_WORDS = "further from your sound than"  # judge.out_of_domain's sentence
UNMATCHED_WORDS = "unlike what the models"  # outcome.unmatched_warning's sentence


def sox_input(rng: np.random.Generator, folder: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """An input made by SoX: a waveform at a drawn level, optionally low-passed."""
    from serumrnn.server.audio_io import load_clip
    from serumrnn.training.ood_suite import run_sox

    wave = WAVES[int(rng.integers(len(WAVES)))]
    level = round(float(rng.uniform(0.3, 0.9)), 2)
    lp = int(rng.choice([0, 0, 2000, 5000]))
    args = ["-n", "-r", "44100", "-c", "1", "-b", "16", str(folder / "in.wav")]
    args += ["synth", "1", wave, f"{NOTE_HZ}", "vol", f"{level}"]
    if lp:
        args += ["lowpass", str(lp)]
    run_sox(["-D", *args], "the naming measurement")
    return load_clip(folder / "in.wav"), {"wave": wave, "level": level, "lowpass": lp}


def ood_targets(seed: int, plugins: bool = True) -> Iterator[dict[str, Any]]:
    """Targets of one seed: one SoX input each, through one SoX effect or one plugin."""
    from serumrnn.server.sampling import record_seed
    from serumrnn.training import ood_suite as S

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        makers: list[tuple[str, tuple[str, ...]]] = list(SOX_TYPES.items())
        if plugins:
            makers += [(n, t) for n, t in PLUGIN_TYPES.items() if S.PLUGINS[n][0].is_file()]
        for i, (name, types) in enumerate(makers):
            rng = np.random.default_rng(record_seed(0x20A, seed, i))
            dry, inp = sox_input(rng, folder)
            if name in S.SOX_EFFECTS:
                args = S.SOX_EFFECTS[name](rng)
                wet = S.sox_target(dry, args, folder)
                settings: dict[str, Any] = {"args": args}
            else:
                path, draw = S.PLUGINS[name]
                params = draw(rng)
                wet = S.plugin_target(dry, path, params)
                settings = {"params": params}
            peak = float(np.max(np.abs(wet)))
            wet = (wet * np.float32(min(1.0, 0.9 / peak))).astype(np.float32) if peak > 0 else wet
            yield {
                "id": f"ood/{seed}/{name}",
                "name": name,
                "types": list(types),
                "input_settings": inp,
                "settings": settings,
                "input": dry,
                "target": wet,
            }


def issue_target() -> dict[str, Any]:
    """The issue's own example: a SoX saw and the same saw through ``overdrive 20``."""
    from serumrnn.server.audio_io import load_clip
    from serumrnn.training.ood_suite import run_sox

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp)
        run_sox(
            [
                "-n",
                "-r",
                "44100",
                "-c",
                "1",
                "-b",
                "16",
                str(f / "saw.wav"),
                "synth",
                "1",
                "sawtooth",
                "130.81",
            ],
            "the naming measurement",
        )
        run_sox([str(f / "saw.wav"), str(f / "od.wav"), "overdrive", "20"], "the naming measurement")
        return {
            "id": "issue/overdrive20",
            "name": "sox overdrive 20 (the reported case)",
            "types": ["distortion"],
            "input_settings": {"wave": "sawtooth", "level": 1.0},
            "settings": {"args": ["overdrive", "20"]},
            "input": load_clip(f / "saw.wav"),
            "target": load_clip(f / "od.wav"),
        }


def suite_targets(folder: Path, note: int) -> Iterator[dict[str, Any]]:
    """The ``ood`` helper's naming suite (``serumrnn ood-naming build``): suite.json and its
    WAVs, each sound moved to the models' note as ``match`` does."""
    from serumrnn.server.audio_io import load_clip
    from serumrnn.server.pitch import to_model_note

    doc = json.loads((folder / "suite.json").read_text())
    for c in doc["cases"]:
        sounds = []
        for what in ("input", "target"):
            a = load_clip(folder / c[f"{what}_file"])
            sounds.append(to_model_note(a, c[f"{what}_file"], what, note).audio)
        yield {
            "id": f"suite{doc['seed']}/{c['index']}",
            "name": f"{c['implementation']} ({c['family']})",
            "types": [c["type"]],
            "settings": c["settings"],
            "input": sounds[0],
            "target": sounds[1],
        }


def demo_target(note: int) -> dict[str, Any]:
    """The shipped demo pair (``serumrnn demo`` = ``match`` on examples/), moved to the
    models' note as ``match`` does."""
    from serumrnn.server.audio_io import load_clip
    from serumrnn.server.pitch import to_model_note

    ex = Path(__file__).resolve().parent.parent / "examples"
    a, b = (to_model_note(load_clip(ex / f), f, f, note).audio for f in ("input-saw.wav", "target-saw.wav"))
    return {"id": "demo", "name": "demo pair", "types": [], "input": a, "target": b}


def in_domain_targets(group: str, n: int, rack) -> Iterator[dict[str, Any]]:
    """``serumrnn eval``'s held-out pairs (the same draw as verified-eval)."""
    from serumrnn.training.verified_eval import draw_pairs

    for i, (preset, chain) in enumerate(draw_pairs(group, n)):
        yield {
            "id": f"in/{group}/{i}",
            "name": f"{preset}: {'+'.join(chain.order)}",
            "types": list(chain.order),
            "preset": preset,
            "target": rack.render(chain, preset),
        }


def run_one(models, rack, t: dict[str, Any], loop: str) -> dict[str, Any]:
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.loop_settings import loop_row

    t0 = time.perf_counter()
    name = loop
    loop, fine_tune = loop_row(name)  # "search+fine-tune": the fine-tune after the last step
    s = Assistant(
        models,
        t["target"],
        renderer=rack,
        preset=t.get("preset"),
        input_audio=t.get("input"),
        loop=loop,
        fine_tune=fine_tune,
    )
    step_ms, step_cpu_ms = [], []
    while not s.done:
        t1, c1 = time.perf_counter(), time.process_time()
        s.step()
        step_ms.append(1000 * (time.perf_counter() - t1))
        step_cpu_ms.append(1000 * (time.process_time() - c1))
    s.runner.finish()  # the fine-tune, when the row asks for it
    res = s.result()
    wall = time.perf_counter() - t0
    start, end = res.initial or {}, (res.final if loop == "paper" else res.best) or {}
    first = res.steps[0] if res.steps else None
    return {
        "id": t["id"],
        "loop": name,
        "name": t["name"],
        "types": t["types"],
        "steps": [st.effect for st in res.steps],
        "first_right": bool(first is not None and first.effect in t["types"]),
        "top_choice": (max(first.probabilities, key=first.probabilities.get) if first else None),
        "mse_pct": 100 * (end["mse"] - start["mse"]) / start["mse"],
        "mss_pct": 100 * (end["mssmae"] - start["mssmae"]) / start["mssmae"],
        "worse": bool(end["mse"] > start["mse"] or end["mssmae"] > start["mssmae"]),
        "closeness": res.closeness,
        "renders": res.renders,
        "wall_s": wall,
        "step_ms": step_ms,
        "step_cpu_ms": step_cpu_ms,
        "ood_warning": any(OOD_WORDS in n for n in res.notes),
        "outcome_warning": any(UNMATCHED_WORDS in n for n in res.notes),
        "notes": res.notes,
        "stop": (res.stop or {}).get("reason"),
        "tried": [st.candidates for st in res.steps] + [res.tried],
        "headline": res.outcome.get("headline"),
    }


def warns(r: dict[str, Any]) -> bool:
    """Whether ``outcome.unmatched_warning`` fires on a measured row (recomputed for rows
    measured before the loops gave it)."""
    from serumrnn.server import outcome as O

    if "outcome_warning" in r:
        return bool(r["outcome_warning"])
    tried = r["tried"]
    first = tried[0] if r["steps"] else (tried[-1] if tried else [])
    return (
        O.unmatched_warning(r["closeness"], O.first_choice_refused([{"candidates": first}], [])) is not None
    )


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One loop's figures over its rows (what the table prints and the JSON keeps)."""
    steps = [x for r in rows for x in r.get("step_ms", [])]
    cpu = [x for r in rows for x in r.get("step_cpu_ms", [])]
    return {
        "targets": len(rows),
        "first_right": int(sum(r["first_right"] for r in rows)),
        "mean_mse_pct": float(np.mean([r["mse_pct"] for r in rows])),
        "mean_mssmae_pct": float(np.mean([r["mss_pct"] for r in rows])),
        "worse": int(sum(r["worse"] for r in rows)),
        "renders_per_target": float(np.mean([r["renders"] for r in rows])),
        "seconds_per_target": float(np.mean([r["wall_s"] for r in rows])),
        "step_p50_ms": float(np.median(steps)) if steps else None,
        "step_cpu_p50_ms": float(np.median(cpu)) if cpu else None,
        "start_distance_warning": int(sum(r["ood_warning"] for r in rows)),
        "outcome_warning": int(sum(warns(r) for r in rows)),
        "median_closeness": float(np.median([r["closeness"] or 0 for r in rows])),
    }


def summary_json(path: Path) -> dict[str, Any]:
    """Every loop's figures in a results file (docs/results/<group>/search_eval.json)."""
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return {
        "source": str(path),
        "loops": {
            loop: figures([r for r in rows if r["loop"] == loop])
            for loop in dict.fromkeys(r["loop"] for r in rows)
        },
    }


def summary(path: Path) -> str:
    out = [
        "| loop | targets | first names the effect | mean Mel-MSE Δ% | mean MSSMAE Δ% | worse | "
        "renders/target | s/target | step p50 ms (wall / CPU) | start-distance warning | outcome warning | "
        "median closeness |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for loop, f in summary_json(path)["loops"].items():
        n = f["targets"]
        out.append(
            f"| {loop} | {n} | {f['first_right']}/{n} | {f['mean_mse_pct']:.1f} | {f['mean_mssmae_pct']:.1f} | "
            f"{f['worse']} | {f['renders_per_target']:.0f} | {f['seconds_per_target']:.2f} | "
            f"{f['step_p50_ms'] or np.nan:.0f} / {f['step_cpu_p50_ms'] or np.nan:.0f} | "
            f"{f['start_distance_warning']}/{n} | {f['outcome_warning']}/{n} | {f['median_closeness']:.2f} |"
        )
    return "\n".join(out)


def chosen_targets(a: argparse.Namespace, models: GroupModels, rack: OpenRack) -> Iterable[dict[str, Any]]:
    """The targets the options name: the issue's, the demo pair, a suite folder, held-out
    pairs, or the out-of-domain targets of each seed."""
    if a.issue:
        return [issue_target()]
    if a.demo:
        return [demo_target(models.render_settings.note)]
    if a.suite:
        return suite_targets(a.suite, models.render_settings.note)
    if a.in_domain:
        return in_domain_targets(models.group, a.in_domain, rack)
    return (t for s in a.seeds for t in ood_targets(s, not a.no_plugins))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--loops", nargs="+", default=["verified"])
    ap.add_argument("--group", default="basic_shapes")
    ap.add_argument("--in-domain", type=int, default=0, metavar="N", help="held-out pairs instead")
    ap.add_argument("--no-plugins", action="store_true")
    ap.add_argument("--demo", action="store_true", help="only the shipped demo pair")
    ap.add_argument("--limit", type=int, default=0, help="only the first N targets")
    ap.add_argument("--suite", type=Path, default=None, help="the ood helper's naming suite folder")
    ap.add_argument("--issue", action="store_true", help="only the issue's overdrive 20 target")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON")
    a = ap.parse_args()
    if a.summary:
        print(summary(a.out))
        if a.json:
            a.json.write_text(
                json.dumps({"command": " ".join(sys.argv), **summary_json(a.out)}, indent=1) + "\n"
            )
        return 0
    from serumrnn.server.models import STEP_MODELS, load_group
    from serumrnn.server.rack import OpenRack

    models = load_group(a.group, which=STEP_MODELS)
    rack = OpenRack(models.render_settings)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if a.out.exists():
        done = {(r["id"], r["loop"]) for r in map(json.loads, a.out.read_text().splitlines()) if r}
    for n, t in enumerate(chosen_targets(a, models, rack)):
        if a.limit and n >= a.limit:
            break
        for loop in a.loops:
            if (t["id"], loop) in done:
                continue
            row = run_one(models, rack, t, loop)
            with a.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"{loop:9s} {t['id']:45s} steps={row['steps']} right={row['first_right']} "
                f"mse={row['mse_pct']:.0f}% mss={row['mss_pct']:.0f}% renders={row['renders']} "
                f"{row['wall_s']:.1f}s ood={row['ood_warning']}",
                flush=True,
            )
    print(summary(a.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
