"""How much disk the producer install takes: the installed files of every distribution
the project's dependencies pull in (the ``producer`` extra adds none), as this machine's
environment holds them, and the same with TensorFlow added (what the install took before
the server ran its models in NumPy). Writes docs/results/install_size.json for
docs/install.md.

    python scripts/install_size.py [--out docs/results/install_size.json]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def closure(requirements: list[str]) -> dict[str, md.Distribution]:
    """Every installed distribution the requirements pull in (markers for this machine)."""
    env = {**default_environment(), "extra": ""}
    seen: dict[str, md.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = req.name.lower().replace("_", "-")
        if (req.marker and not req.marker.evaluate(env)) or name in seen:
            continue
        dist = md.distribution(name)  # a missing one is an error: the environment is incomplete
        seen[name] = dist
        todo += [Requirement(r) for r in dist.requires or []]
    return seen


def installed_mb(dists: dict[str, md.Distribution]) -> float:
    total = 0
    for d in dists.values():
        for f in d.files or []:
            path = Path(str(d.locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
    return round(total / 2**20, 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "results" / "install_size.json"))
    a = p.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    producer = project["dependencies"] + project["optional-dependencies"]["producer"]
    base = closure(producer)
    with_tf = closure(producer + ["tensorflow-cpu"])
    record = {
        "measured_by": "python scripts/install_size.py",
        "python": platform.python_version(),
        "platform": sys.platform,
        "producer": {"distributions": len(base), "installed_mb": installed_mb(base)},
        "with_tensorflow": {"distributions": len(with_tf), "installed_mb": installed_mb(with_tf)},
    }
    out = Path(a.out)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record))
    print(f"wrote {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
