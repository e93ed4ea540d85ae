"""``serumrnn models export``: each shipped ``.keras`` file as a ``.npz`` the server runs
without TensorFlow (:mod:`serumrnn.server.nn_numpy`), and ``--check`` that the committed
exports are those of the committed ``.keras`` files.

Writing an export needs Keras (it reads the ``.keras`` file); checking one does not. Each
manifest entry (a group's ``files[name]``, the naming head's top level) gains
``"numpy": {"file", "sha256"}``, and the export's graph records the sha256 of the
``.keras`` file it was made from, so a retrained model whose export was not rewritten is
found by ``--check`` and refused by the server's loader.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server.models import sha256
from serumrnn.server.nn_numpy import FORMAT, GRAPH_KEY

#: A fixed time stamp for every zip entry, so an export's bytes depend on the model only.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _refuse(model: str, layer: str, why: str) -> ValueError:
    return ValueError(f"{model}: layer {layer!r} cannot be exported: {why}")


def _history(arg: Any) -> list[str]:
    """The layer names a Keras config's call argument (a tensor or a list of them) reads."""
    if isinstance(arg, (list, tuple)):
        return [n for a in arg for n in _history(a)]
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        return [str(arg["config"]["keras_history"][0])]
    return []


def _io_names(spec: Any) -> list[str] | dict[str, str] | str:
    """A config's ``input_layers``/``output_layers``: one ``[name, 0, 0]``, a list of
    them, or a dict of them."""
    if isinstance(spec, dict):
        return {k: str(v[0]) for k, v in spec.items()}
    if len(spec) and isinstance(spec[0], str):
        return str(spec[0])
    return [str(s[0]) for s in spec]


def _conv_cfg(cfg: Mapping[str, Any]) -> dict[str, Any] | str:
    ok = (
        list(cfg["strides"]) == [1, 1]
        and list(cfg["dilation_rate"]) == [1, 1]
        and cfg["padding"] == "same"
        and cfg["data_format"] == "channels_last"
        and cfg.get("groups", 1) == 1
    )
    return (
        {"activation": cfg["activation"]}
        if ok
        else "only stride-1, undilated, 'same', channels-last convolutions"
    )


def _pool_cfg(cfg: Mapping[str, Any]) -> dict[str, Any] | str:
    if cfg["padding"] != "same" or list(cfg["strides"]) != list(cfg["pool_size"]):
        return "only 'same' pooling with strides equal to the pool"
    return {"pool_size": list(cfg["pool_size"])}


def _norm_cfg(cfg: Mapping[str, Any]) -> dict[str, Any] | str:
    if cfg["axis"] not in (-1, [-1]) or not (cfg["center"] and cfg["scale"]):
        return "only a centred, scaled normalization of the last axis"
    return {"epsilon": float(cfg["epsilon"])}


def _global_pool_cfg(cfg: Mapping[str, Any]) -> dict[str, Any] | str:
    if cfg.get("keepdims") or cfg.get("data_format") != "channels_last":
        return "only channels-last pooling without keepdims"
    return {}


def _bilstm_cfg(cfg: Mapping[str, Any]) -> dict[str, Any] | str:
    inner = cfg["layer"]
    c = inner["config"]
    ok = (
        inner["class_name"] == "LSTM"
        and cfg["merge_mode"] == "concat"
        and not (c["return_sequences"] or c["return_state"] or c["go_backwards"])
        and (c["activation"], c["recurrent_activation"]) == ("tanh", "sigmoid")
        and c["use_bias"]
    )
    return {"units": int(c["units"])} if ok else "only a concatenated Bidirectional LSTM's last output"


def _no_cfg(cfg: Mapping[str, Any]) -> dict[str, Any] | str:
    return {}


#: Each layer type the runner knows: its Keras config -> what the runner reads of it, or
#: why that config is refused (a setting the runner does not implement).
_CONFIGS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any] | str]] = {
    "InputLayer": _no_cfg,
    "Conv2D": _conv_cfg,
    "MaxPooling2D": _pool_cfg,
    "Dense": lambda cfg: {"activation": cfg["activation"]},
    "BatchNormalization": _norm_cfg,
    "Flatten": _no_cfg,
    "Dropout": _no_cfg,
    "Concatenate": lambda cfg: {"axis": int(cfg["axis"])},
    "Multiply": _no_cfg,
    "Masking": lambda cfg: {"mask_value": float(cfg["mask_value"])},
    "GlobalAveragePooling2D": _global_pool_cfg,
    "GlobalMaxPooling2D": _global_pool_cfg,
    "TimeDistributed": _no_cfg,
    "Bidirectional": _bilstm_cfg,
}


def _in_order(layers: Mapping[str, Mapping[str, Any]], outputs: list[str]) -> list[str]:
    """The layers the outputs depend on, each after its inputs (Keras also records a
    mask's own ops in the graph; no output reads them, so they are left out)."""
    needed: list[str] = []

    def visit(n: str) -> None:
        if n in needed:
            return
        for nodes in layers[n].get("inbound_nodes", []):
            for i in _history(nodes["args"]):
                visit(i)
        needed.append(n)

    for n in outputs:
        visit(n)
    return needed


def _store_weights(
    model_name: str, kind: str, layer: Any, key: str, arrays: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Put ``layer``'s weights into ``arrays`` under ``key``; the config entries they need."""
    if kind == "Bidirectional":
        for side, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
            ws = sub.get_weights()
            if len(ws) != 3:
                raise _refuse(model_name, layer.name, "an LSTM without its kernel, recurrent kernel and bias")
            for i, w in enumerate(ws):
                arrays[f"{key}/{side}/{i}"] = np.asarray(w, np.float32)
        return {}
    ws = layer.get_weights()
    for i, w in enumerate(ws):
        arrays[f"{key}/{i}"] = np.asarray(w, np.float32)
    return {"n_weights": len(ws)} if ws else {}


def graph_of(
    model: Any, config: Mapping[str, Any], arrays: dict[str, np.ndarray], prefix: str = ""
) -> dict[str, Any]:
    """The runner's graph of a Keras functional ``model`` (``config``: its
    ``get_config()``), its weights added to ``arrays``."""
    name = str(config.get("name", model.name))
    layers = {str(lc["name"]): lc for lc in config["layers"]}
    outputs = _io_names(config["output_layers"])
    ends = (
        list(outputs.values())
        if isinstance(outputs, dict)
        else [outputs]
        if isinstance(outputs, str)
        else outputs
    )
    needed = _in_order(layers, ends)
    masked = {n for n in needed if layers[n]["class_name"] == "Masking"}
    out_layers = []
    for n in needed:
        kind = str(layers[n]["class_name"])
        if kind not in _CONFIGS:
            raise _refuse(name, n, f"type {kind} is not supported by serumrnn.server.nn_numpy")
        cfg = _CONFIGS[kind](layers[n]["config"])
        if isinstance(cfg, str):
            raise _refuse(name, n, cfg)
        if kind == "InputLayer":
            continue
        nodes = layers[n]["inbound_nodes"]
        if len(nodes) != 1:
            raise _refuse(name, n, "a layer called more than once")
        ins = _history(nodes[0]["args"])
        if masked & set(ins) and kind != "Bidirectional":
            raise _refuse(name, n, "only a Bidirectional LSTM may read a masked tensor")
        layer = model.get_layer(n)
        if kind == "TimeDistributed":
            cfg["graph"] = graph_of(
                layer.layer, layers[n]["config"]["layer"]["config"], arrays, f"{prefix}{n}/"
            )
        else:
            cfg.update(_store_weights(name, kind, layer, prefix + n, arrays))
        out_layers.append({"name": n, "type": kind, "in": ins, "cfg": cfg})
    in_names = [str(t.name).split(":")[0] for t in model.inputs]
    shapes = {str(t.name).split(":")[0]: [int(d) for d in t.shape[1:]] for t in model.inputs}
    inputs = _io_names(config["input_layers"])
    if sorted(in_names) != sorted([inputs] if isinstance(inputs, str) else inputs):
        raise _refuse(name, name, f"inputs {in_names} differ from the config's {inputs}")
    return {
        "name": name,
        "inputs": [{"name": n, "shape": shapes[n]} for n in in_names],
        "outputs": outputs,
        "layers": out_layers,
    }


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` with fixed entry times and order: the same model gives the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for key in sorted(arrays):
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, entry.getvalue())
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def export_model(keras_path: Path, out: Path) -> None:
    """Write ``keras_path``'s model as the runner's ``.npz`` at ``out``."""
    from serumrnn.server.quiet import import_tensorflow

    import_tensorflow()
    import keras

    model = keras.models.load_model(keras_path, compile=False)
    arrays: dict[str, np.ndarray] = {}
    graph = graph_of(model, model.get_config(), arrays)
    graph.update(format=FORMAT, keras_sha256=sha256(keras_path))
    arrays[GRAPH_KEY] = np.array(json.dumps(graph, sort_keys=True))
    write_npz(out, arrays)


def _entries(models_dir: Path) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(manifest path, manifest, entry) for every model the folder ships: each group's
    files, then the naming head (whose manifest is its own entry)."""
    for manifest in sorted(models_dir.glob("*/manifest.json")):
        m = json.loads(manifest.read_text())
        if isinstance(m.get("files"), dict):
            for entry in m["files"].values():
                yield manifest, m, entry
        elif "model" in m:
            yield manifest, m, m


def _keras_file(entry: Mapping[str, Any]) -> str:
    return str(entry.get("file") or entry["model"])


def problems(models_dir: Path) -> list[str]:
    """Why the exports in ``models_dir`` are not those of its ``.keras`` files (none: in sync).
    Reads hashes only, so it needs no TensorFlow."""
    out = []
    for manifest, _, entry in _entries(models_dir):
        folder = manifest.parent
        keras_file = folder / _keras_file(entry)
        np_entry = entry.get("numpy")
        if not isinstance(np_entry, dict):
            out.append(f"{keras_file}: no export listed in {manifest}")
            continue
        path = folder / str(np_entry["file"])
        if not path.is_file():
            out.append(f"{path} is missing")
            continue
        if sha256(path) != np_entry["sha256"]:
            out.append(f"{path} does not match its sha256 in {manifest}")
            continue
        with np.load(path, allow_pickle=False) as z:
            made_from = json.loads(str(z[GRAPH_KEY])).get("keras_sha256")
        if made_from != entry["sha256"] or (keras_file.is_file() and sha256(keras_file) != made_from):
            out.append(f"{path} was exported from another {keras_file.name}")
    return out


def export_entry(folder: Path, entry: dict[str, Any]) -> Path:
    """Export the model a manifest ``entry`` lists (a group's file entry, or the naming
    head's manifest) beside its ``.keras`` file, and record the export in ``entry``.
    Training calls this as it writes a manifest, so new models ship with their exports."""
    src = folder / _keras_file(entry)
    out = src.with_suffix(".npz")
    export_model(src, out)
    entry["numpy"] = {"file": out.name, "sha256": sha256(out)}
    return out


def export_all(models_dir: Path) -> list[Path]:
    """Export every model the folder's manifests list, and record each export in its manifest."""
    written = []
    changed: dict[Path, dict[str, Any]] = {}
    for manifest, m, entry in _entries(models_dir):
        written.append(export_entry(manifest.parent, entry))
        changed[manifest] = m
    for manifest, m in changed.items():
        indent = 2 if "files" in m else 1  # as training/export.py and naming_head.py write them
        manifest.write_text(json.dumps(m, indent=indent) + "\n")
    return written


def _cmd_export(a: argparse.Namespace) -> int:
    from serumrnn.server.models import DEFAULT_MODELS_DIR

    folder = Path(a.models or DEFAULT_MODELS_DIR)
    if a.check:
        found = problems(folder)
        for why in found:
            print(why, file=sys.stderr)
        if found:
            print("the NumPy exports are out of sync: run `serumrnn models export`", file=sys.stderr)
            return 1
        n = sum(1 for _ in _entries(folder))
        print(f"{n} NumPy exports in {folder} are in sync with their .keras files")
        return 0
    for p in export_all(folder):
        print(f"wrote {p}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="the shipped models' files")
    msub = p.add_subparsers(dest="models_cmd", required=True)
    ex = msub.add_parser(
        "export", help="write each .keras model as a .npz the server runs without TensorFlow"
    )
    ex.add_argument("--models", default=None, help="models folder (default: the checkout's models/)")
    ex.add_argument(
        "--check", action="store_true", help="fail if an export is missing or not that of its .keras file"
    )
    ex.set_defaults(func=_cmd_export)
