"""What a data set or a trained model means, as far as the spec goes: the spec's content
as data (:func:`meaning_of`), its sha256 fingerprint, and the check a loader makes of a
recorded fingerprint against this code's.

The functions take the effects and the rack order as arguments; ``serumrnn.server.spec``
calls them with its own table (``spec.meaning``, ``spec.fingerprint``,
``spec.fingerprint_problem``), which is what the rest of the code calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from serumrnn.server.spec_types import GRID_STEPS, Display, Effect, Fixed, Knob

#: The fingerprint each label stood for, for data folders and model manifests written
#: before fingerprints were recorded (they carry only ``spec_version``): such a record is
#: accepted only while its label's fingerprint is this code's, so a knob-range edit refuses
#: them too. History: never change an entry.
#: "1.0" had the effects, knobs, ranges and outputs of "2.0"; only its data processed the
#: effects in turn-on order (data format 1, refused by training/datagen.py for that
#: reason); its models (all three groups are retrained on 2.0 now) still load.
KNOWN_SPEC_FINGERPRINTS: dict[str, str] = {
    "2.0": "195e6799fd498e9e51816f84eac8cae317d57ececa09efa79796b7d20499c0c0",
    "1.0": "195e6799fd498e9e51816f84eac8cae317d57ececa09efa79796b7d20499c0c0",
}
#: Hex digits of a fingerprint shown in messages.
FINGERPRINT_SHOWN = 12


def _display(d: Display) -> dict[str, Any]:
    return {"unit": d.unit, "lo": float(d.lo), "hi": float(d.hi), "curve": d.curve}


def _fixed(f: Fixed) -> dict[str, Any]:
    return {
        "name": f.name,
        "serum_name": f.serum_name,
        "serum_index": f.serum_index,
        "value": float(f.value),
        "display": _display(f.display),
    }


def _knob(k: Knob) -> dict[str, Any]:
    d: dict[str, Any] = {"name": k.name, "serum_name": k.serum_name, "serum_index": k.serum_index}
    if k.categorical:
        d["choices"] = list(k.choices)
        d["serum_values"] = [k.to_serum(i) for i in range(len(k.choices))]
    else:
        d["ranges"] = [[float(lo), float(hi)] for lo, hi in k.ranges]
        d["display"] = _display(k.display)
    return d


def meaning_of(effects: Sequence[Effect], rack_order: Sequence[str]) -> dict[str, Any]:
    """Everything in the spec that changes what a data set or a trained model means: the
    effects and their order, each knob's Serum name and index, sampled ranges (the grid),
    categorical values and the Serum values they send, the fixed knobs' values, the display
    curves the open rack renders through, and the rack order. Labels and wording are left
    out: changing them changes no sound and no model output."""
    return {
        "grid_steps": GRID_STEPS,
        "rack_order": list(rack_order),
        "effects": [
            {
                "name": e.name,
                "enable": _fixed(e.enable),
                "knobs": [_knob(k) for k in e.knobs],
                "fixed": [_fixed(f) for f in e.fixed],
            }
            for e in effects
        ],
    }


def fingerprint_of(meaning: Mapping[str, Any]) -> str:
    """sha256 of a spec's :func:`meaning_of` as canonical JSON: what data folders and model
    manifests record, and what their loaders compare with this code's spec."""
    text = json.dumps(meaning, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def recorded_fingerprint(record: Mapping[str, Any]) -> str | None:
    """The spec fingerprint a data folder's ``dataset.json`` or a model manifest was made
    with: its ``spec_fingerprint``; for one written before fingerprints were recorded, the
    fingerprint its ``spec_version`` label stands for (``KNOWN_SPEC_FINGERPRINTS``); None
    when neither is known."""
    fp = record.get("spec_fingerprint")
    if fp:
        return str(fp)
    return KNOWN_SPEC_FINGERPRINTS.get(str(record.get("spec_version")))


def fingerprint_problem(record: Mapping[str, Any], now: str, version: str) -> str | None:
    """None when ``record`` (a ``dataset.json`` or a manifest) was made with the spec whose
    fingerprint is ``now`` (labelled ``version``); else why not, naming both specs (label
    and fingerprint)."""
    have = recorded_fingerprint(record)
    if have == now:
        return None
    label = record.get("spec_version")
    made = (
        f"spec {label!r} (fingerprint {have[:FINGERPRINT_SHOWN]})"
        if have
        else f"spec {label!r} (no fingerprint recorded, and a label this code does not know)"
    )
    return (
        f"made for {made}, but this code has spec {version!r} (fingerprint "
        f"{now[:FINGERPRINT_SHOWN]}): knobs, ranges or effects differ"
    )
