"""Measure settings of the fine-tune on pairs of the dev stream (never the held-out pairs).

    nice -n 10 .venv/bin/python scripts/fine_tune_sweep.py modulating 100 budget=60,sigmas=0.03,closer_look=0,extras=0 \
        --out /tmp/old.json
    nice -n 10 .venv/bin/python scripts/fine_tune_sweep.py modulating 100 --out /tmp/shipped.json

Arguments: group, pairs (drawn as ``serumrnn verified-eval`` draws them, from the dev stream
unless ``--stream test``), and optional settings as ``name=value`` pairs: ``budget``
(``loop_settings.FINE_TUNE_BUDGET``), ``sigmas`` (``fine_tune.SIGMAS``, one CMA-ES stage per
step: ``0.03/0.06``), ``closer_look`` (the closest settings the closer look hears again,
``fine_tune.CLOSER_LOOK_TOP``; 0 turns it off), ``extras`` (1/0: ``fine_tune.TUNE_EXTRAS``)
``rounds`` (``loop_settings.FINE_TUNE_ROUNDS``) and ``freed`` (``fine_tune.FREED_EXTRAS``,
``phaser/reverb``; empty: no freed round).
Runs the ``search+fine-tune`` loop on every pair and prints the summary of
``verified_eval.summarize`` (the Δ of the means, as Table 5) as JSON; ``--out`` keeps the rows.
Why the dev stream: the settings are chosen here, and the held-out pairs only report them.
"""

from __future__ import annotations

import argparse
import json
import time

import serumrnn.server.fine_tune as FT
import serumrnn.server.loop_settings as LS
from serumrnn.server.models import STEP_MODELS, load_group
from serumrnn.server.rack import OpenRack
from serumrnn.training import verified_eval as VE

#: The settings a run may change: name -> (module, constant, type).
SETTINGS = {
    "budget": (LS, "FINE_TUNE_BUDGET", int),
    "sigmas": (FT, "SIGMAS", lambda v: tuple(float(x) for x in v.split("/"))),
    "closer_look": (FT, "CLOSER_LOOK_TOP", int),
    "extras": (FT, "TUNE_EXTRAS", lambda v: bool(int(v))),
    "rounds": (LS, "FINE_TUNE_ROUNDS", int),
    "freed": (FT, "FREED_EXTRAS", lambda v: tuple(filter(None, v.split("/")))),
}


def apply(settings: str) -> dict[str, float]:
    """Set the constants named in ``settings`` ("budget=120,sigmas=0.03/0.06"); return them all."""
    for item in filter(None, settings.split(",")):
        name, _, value = item.partition("=")
        if name not in SETTINGS:
            raise SystemExit(f"unknown setting {name!r}; settings: {', '.join(SETTINGS)}")
        module, constant, kind = SETTINGS[name]
        setattr(module, constant, kind(value))
    return {name: getattr(module, constant) for name, (module, constant, _) in SETTINGS.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("group")
    p.add_argument("pairs", type=int)
    p.add_argument("settings", nargs="?", default="")
    p.add_argument("--stream", choices=("dev", "test"), default="dev")
    p.add_argument("--out")
    a = p.parse_args()
    used = apply(a.settings)
    models = load_group(a.group, None, which=STEP_MODELS)
    rack = OpenRack(models.render_settings)
    pairs = VE.draw_pairs(models.group, a.pairs, stream=VE.DEV_STREAM if a.stream == "dev" else None)
    t0 = time.time()
    rows = VE.run_pairs(models, rack, pairs, loop="search+fine-tune", log=print)
    summary = {**VE.summarize(rows), "settings": used, "stream": a.stream, "seconds": round(time.time() - t0)}
    print(json.dumps(summary))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"summary": summary, "rows": rows}, f)


if __name__ == "__main__":
    main()
