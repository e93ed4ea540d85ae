"""Copy a group's best checkpoints into ``models/<group>/`` and write its manifest.

The manifest is what the server's loader checks before trusting a file: each file's
sha256, the spec's label and fingerprint, the feature settings and the render note the models were
trained on, the data size, the seed, and (after ``serumrnn eval-models``) the test metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from serumrnn.server import spec
from serumrnn.server.models import feature_settings, sha256
from serumrnn.server.nn_export import export_entry
from serumrnn.server.rack.render import RenderSettings
from serumrnn.training.recipes import Recipe

MANIFEST_VERSION = 1


def export_group(
    group: str, recipe: Recipe, best: dict[str, Path], models_root: Path, *, data_size: dict | None = None
) -> Path:
    from serumrnn.server.rack import presets as P

    group = P.resolve_group(group)
    out = models_root / group
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if old and spec.fingerprint_problem(old):
        old = {}  # models of another spec: none of them is listed beside the new ones
    files = dict(old.get("files", {}))
    training = dict(old.get("training", {}))
    for name, src in best.items():
        dst = out / f"{name}.keras"
        tmp = out / f".{name}.keras.tmp"
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        files[name] = {"file": dst.name, "sha256": sha256(dst), "bytes": dst.stat().st_size}
        export_entry(out, files[name])  # the server runs the NumPy export
        state = src.parent / "state.json"
        if state.exists():
            st = json.loads(state.read_text())
            training[name] = {
                "best_epoch": st["best_epoch"] + 1,
                "epochs_run": st["epoch"] + 1,
                "best_val_loss": st["best"],
                "seconds": round(st.get("seconds", 0), 1),
            }
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "group": group,
        "presets": list(P.group_presets(group)),
        "spec_version": spec.SPEC_VERSION,
        "spec_fingerprint": spec.fingerprint(),
        "features": feature_settings(),
        "render": RenderSettings().to_json(),
        "render_note": RenderSettings().note,
        "effects": list(spec.EFFECT_NAMES),
        "recipe": recipe.to_json(),
        "seed": recipe.seed,
        "data": data_size or old.get("data", {}),
        "files": files,
        "training": training,
        "test_metrics": old.get("test_metrics", {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)
    return manifest_path


def add_test_metrics(models_root: Path, group: str, metrics: dict) -> None:
    """Merge evaluation results into a group's manifest (checksums are unaffected)."""
    path = models_root / group / "manifest.json"
    m = json.loads(path.read_text())
    m.setdefault("test_metrics", {}).update(metrics)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(m, indent=2) + "\n")
    os.replace(tmp, path)
