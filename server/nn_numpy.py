"""The shipped Keras models run in NumPy, so a serving process never imports TensorFlow.

Importing TensorFlow took 12.6 s of the 25.6-27.9 s to a group's first step on this
2-core machine (the goal: 15 s), and a producer's install carried about 600 MB for
it. ``serumrnn models export`` (:mod:`serumrnn.server.nn_export`, the one place that needs
Keras) writes each ``.keras`` file's weights and a small layer graph into a ``.npz``
beside it; :func:`load` reads one back and :class:`NumpyModel` runs it. Only the layers of
``training/architectures.py`` and the naming head are known (Conv2D, MaxPooling2D,
Flatten, Dense, Dropout, BatchNormalization, Concatenate, Multiply, Masking,
TimeDistributed, Bidirectional LSTM, GlobalAverage/MaxPooling2D); an export holding
anything else is refused when it is written, not when it is run.

The graph (JSON in the ``graph`` entry of the ``.npz``): ``inputs`` (name and shape per
Keras input, in the model's order), ``outputs`` (one layer name, or a dict of them as the
Keras model returns), ``layers`` in an order where every layer follows its inputs, each
``{"name", "type", "in": [...], "cfg": {...}}``; weights are entries ``<layer>/<i>``
(Keras' ``get_weights()`` order; ``<td>/<inner>/<i>`` inside a TimeDistributed model,
``<bilstm>/forward|backward/<i>`` for a Bidirectional LSTM).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Version of the graph format; an export of another version is refused.
FORMAT = 1
#: The ``.npz`` entry holding the graph's JSON.
GRAPH_KEY = "graph"

Array = np.ndarray


def _elu(x: Array) -> Array:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def _sigmoid(x: Array) -> Array:
    out: Array = 1.0 / (1.0 + np.exp(-x))
    return out


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: Array = e / e.sum(axis=-1, keepdims=True)
    return out


#: The activations Keras layers name in their config.
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "linear": lambda x: x,
    "elu": _elu,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
}


def conv2d_same(x: Array, kernel: Array, bias: Array | None) -> Array:
    """A stride-1 'same' convolution, (B, H, W, C) -> (B, H, W, F): the kernel's taps as
    one matrix product (the patches' columns in the kernel's (row, column, channel) order)."""
    kh, kw, c, f = kernel.shape
    b, h, w, _ = x.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    cols = np.concatenate([xp[:, i : i + h, j : j + w, :] for i in range(kh) for j in range(kw)], axis=-1)
    out: Array = cols.reshape(-1, kh * kw * c) @ kernel.reshape(kh * kw * c, f)
    if bias is not None:
        out += bias
    return out.reshape(b, h, w, f)


def max_pool_same(x: Array, pool: tuple[int, int]) -> Array:
    """Keras' 'same' max-pooling with strides equal to the pool: the edge padded with
    -inf, more of it after than before (as TensorFlow pads)."""
    b, h, w, c = x.shape
    ph, pw = pool
    oh, ow = -(-h // ph), -(-w // pw)
    th, tw = oh * ph - h, ow * pw - w
    xp = np.pad(
        x, ((0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2), (0, 0)), constant_values=-np.inf
    )
    out: Array = xp.reshape(b, oh, ph, ow, pw, c).max(axis=(2, 4))
    return out


def lstm(x: Array, mask: Array | None, w: list[Array], reverse: bool) -> Array:
    """A Keras LSTM's last output (tanh, sigmoid gates, order i, f, c, o): masked steps keep
    the state, so the result is the state after the last unmasked step in reading order."""
    kernel, recurrent, bias = w
    units = recurrent.shape[0]
    b, t, _ = x.shape
    z_in = x @ kernel + bias
    h = np.zeros((b, units), x.dtype)
    c = np.zeros((b, units), x.dtype)
    for s in reversed(range(t)) if reverse else range(t):
        z = z_in[:, s] + h @ recurrent
        i, f = _sigmoid(z[:, :units]), _sigmoid(z[:, units : 2 * units])
        g, o = np.tanh(z[:, 2 * units : 3 * units]), _sigmoid(z[:, 3 * units :])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        if mask is None:
            h, c = h_new, c_new
        else:
            keep = mask[:, s, None]
            h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
    return h


@dataclass
class Graph:
    """One model's (or a TimeDistributed model's) layers and weights, ready to run."""

    inputs: list[tuple[str, tuple[int, ...]]]
    outputs: str | dict[str, str]
    layers: list[dict[str, Any]]
    weights: dict[str, list[Array]]

    @classmethod
    def parse(cls, g: Mapping[str, Any], arrays: Mapping[str, Array], prefix: str = "") -> Graph:
        """The graph ``g`` with its weights from ``arrays`` (keys under ``prefix``)."""
        weights: dict[str, list[Array]] = {}
        layers = []
        for layer in g["layers"]:
            key = prefix + layer["name"]
            layer = dict(layer)
            if layer["type"] == "TimeDistributed":
                layer["sub"] = cls.parse(layer["cfg"]["graph"], arrays, key + "/")
            elif layer["type"] == "Bidirectional":
                weights[layer["name"]] = [arrays[f"{key}/forward/{i}"] for i in range(3)] + [
                    arrays[f"{key}/backward/{i}"] for i in range(3)
                ]
            else:
                n = int(layer["cfg"].get("n_weights", 0))
                weights[layer["name"]] = [arrays[f"{key}/{i}"] for i in range(n)]
            layers.append(layer)
        inputs = [(str(i["name"]), tuple(int(d) for d in i["shape"])) for i in g["inputs"]]
        return cls(inputs, g["outputs"], layers, weights)

    def run(self, feeds: Mapping[str, Array]) -> Array | dict[str, Array]:
        """The outputs for ``feeds`` (input name -> batch), as the Keras model returns them."""
        vals: dict[str, Array] = {name: np.asarray(feeds[name], np.float32) for name, _ in self.inputs}
        masks: dict[str, Array] = {}
        for layer in self.layers:
            name, kind, cfg = layer["name"], layer["type"], layer["cfg"]
            xs = [vals[i] for i in layer["in"]]
            w = self.weights.get(name, [])
            if kind == "Masking":
                m = np.any(xs[0] != np.float32(cfg["mask_value"]), axis=-1)
                masks[name] = m
                vals[name] = xs[0] * m[..., None].astype(np.float32)
                continue
            if kind == "Bidirectional":
                mask = masks.get(layer["in"][0])
                fwd = lstm(xs[0], mask, w[:3], reverse=False)
                bwd = lstm(xs[0], mask, w[3:], reverse=True)
                vals[name] = np.concatenate([fwd, bwd], axis=-1)
                continue
            vals[name] = OPS[kind](layer, xs, w)
        if isinstance(self.outputs, dict):
            return {k: vals[v] for k, v in self.outputs.items()}
        return vals[self.outputs]


Layer = Mapping[str, Any]


def _conv2d(layer: Layer, xs: list[Array], w: list[Array]) -> Array:
    return ACTIVATIONS[layer["cfg"]["activation"]](conv2d_same(xs[0], w[0], w[1] if len(w) > 1 else None))


def _dense(layer: Layer, xs: list[Array], w: list[Array]) -> Array:
    y = xs[0] @ w[0]
    return ACTIVATIONS[layer["cfg"]["activation"]](y + w[1] if len(w) > 1 else y)


def _batch_norm(layer: Layer, xs: list[Array], w: list[Array]) -> Array:
    gamma, beta, mean, var = w
    scale = gamma / np.sqrt(var + np.float32(layer["cfg"]["epsilon"]))
    out: Array = xs[0] * scale + (beta - mean * scale)
    return out


def _multiply(layer: Layer, xs: list[Array], w: list[Array]) -> Array:
    out = xs[0]
    for y in xs[1:]:
        out = out * y
    return out


def _time_distributed(layer: Layer, xs: list[Array], w: list[Array]) -> Array:
    """The wrapped model on every step at once (the steps joined to the batch axis). The
    all-zero steps (the selector's padding: most of its steps early in a session) share
    one run, since equal inputs give equal outputs."""
    sub: Graph = layer["sub"]
    x = xs[0]
    b, t = x.shape[:2]
    rows = x.reshape(b * t, *x.shape[2:])
    zero: Array = np.logical_not(rows.reshape(b * t, -1).any(axis=1))
    if zero.sum() > 1:
        first = int(np.argmax(zero))
        keep: Array = ~zero
        keep[first] = True
        part = sub.run({sub.inputs[0][0]: rows[keep]})
        assert isinstance(part, np.ndarray)
        index = np.cumsum(keep) - 1  # each kept row's place in ``part``
        index[zero] = index[first]
        y: np.ndarray = part[index]
    else:
        out = sub.run({sub.inputs[0][0]: rows})
        assert isinstance(out, np.ndarray)
        y = out
    return y.reshape(b, t, *y.shape[1:])


#: Each stateless layer type: (layer, its inputs, its weights) -> its output.
OPS: dict[str, Callable[[Layer, list[Array], list[Array]], Array]] = {
    "Conv2D": _conv2d,
    "MaxPooling2D": lambda layer, xs, w: max_pool_same(xs[0], tuple(layer["cfg"]["pool_size"])),
    "Dense": _dense,
    "BatchNormalization": _batch_norm,
    "Flatten": lambda layer, xs, w: xs[0].reshape(len(xs[0]), -1),
    "Dropout": lambda layer, xs, w: xs[0],
    "Concatenate": lambda layer, xs, w: np.concatenate(xs, axis=int(layer["cfg"]["axis"])),
    "Multiply": _multiply,
    "GlobalAveragePooling2D": lambda layer, xs, w: xs[0].mean(axis=(1, 2)),
    "GlobalMaxPooling2D": lambda layer, xs, w: xs[0].max(axis=(1, 2)),
    "TimeDistributed": _time_distributed,
}


class ExportError(RuntimeError):
    """An export that cannot be used: damaged, of another format, or not the model it
    claims to be (its ``.keras`` file's sha256)."""


class NumpyModel:
    """An exported model: called with ``{input name: batch}`` like the Keras model, it
    returns the same structure (an array, or a dict of arrays for a parameter model)."""

    def __init__(self, graph: Graph, name: str, keras_sha256: str):
        self.graph, self.name, self.keras_sha256 = graph, name, keras_sha256

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each input's shape without the batch axis (what a warm-up call needs)."""
        return dict(self.graph.inputs)

    def __call__(self, inputs: Mapping[str, Array] | Array) -> Array | dict[str, Array]:
        if not isinstance(inputs, Mapping):  # a one-input model called with its array
            inputs = {self.graph.inputs[0][0]: inputs}
        missing = [n for n, _ in self.graph.inputs if n not in inputs]
        if missing:
            raise ValueError(f"{self.name}: inputs missing: {', '.join(missing)}")
        with np.errstate(over="ignore"):  # exp of a large negative in sigmoid/ELU saturates, as in TF
            return self.graph.run(inputs)


def load(path: Path | str) -> NumpyModel:
    """The model exported at ``path``; a damaged or foreign file is an ``ExportError``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop(GRAPH_KEY)))
        if meta.get("format") != FORMAT:
            raise ExportError(f"{path}: export format {meta.get('format')!r}, this code reads {FORMAT}")
        graph = Graph.parse(meta, arrays)
    except ExportError:
        raise
    except Exception as e:  # zip, JSON and key errors of a damaged file
        raise ExportError(f"{path} cannot be read: {type(e).__name__}: {e}") from None
    return NumpyModel(graph, str(meta.get("name", path.stem)), str(meta.get("keras_sha256", "")))
