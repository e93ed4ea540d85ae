"""The NumPy exports the server runs (server/nn_numpy.py) against the shipped Keras models.

Tolerance: float32 carries about 7 significant digits (machine epsilon 1.2e-7). Each output
is a chain of about eight layers, each a sum of up to ~1,200 float32 products (a 3x3 conv
over 128 channels, a Dense over a flattened map) that TensorFlow's oneDNN kernels and
NumPy's BLAS add in different orders; the rounding of such a sum is bounded by about
n * epsilon of its terms' magnitude, 1.4e-4 for n = 1,200. So the outputs must agree within
``TOL`` = 1e-4 of the output's own scale (max |value|, at least 1). Measured on real
features: at most about 1e-6 (the selector), so the bound is loose, not tuned to pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fresh_process import STEP_IMPORTS, STEP_TARGET

from serumrnn.server import features as F
from serumrnn.server import naming_prior as NP
from serumrnn.server import nn_export, spec
from serumrnn.server.models import (
    ALL_MODELS,
    DEFAULT_MODELS_DIR,
    STEP_MODELS,
    ModelError,
    knobs_from_outputs,
    load_group,
    pair_batch,
    selector_batch,
    sha256,
)
from serumrnn.server.rack import OpenRack
from serumrnn.server.rack import presets as P
from serumrnn.server.rack.render import RenderSettings
from serumrnn.server.sampling import sample_chain

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-4
GROUPS = tuple(P.GROUPS)


def _close(keras_out: np.ndarray, numpy_out: np.ndarray, what: str) -> None:
    k, n = np.asarray(keras_out, np.float64), np.asarray(numpy_out, np.float64)
    assert k.shape == n.shape, what
    scale = max(1.0, float(np.abs(k).max()))
    assert float(np.abs(k - n).max()) <= TOL * scale, f"{what}: max |diff| {np.abs(k - n).max():.2e}"


def _sounds(group: str, n: int, seed: int) -> list[tuple[tuple[np.ndarray, np.ndarray], ...]]:
    """``n`` (current, target) feature pairs of the group's presets, rendered by the open
    rack: the dry preset against the preset through 1-5 random effects."""
    models_manifest = json.loads((DEFAULT_MODELS_DIR / P.resolve_group(group) / "manifest.json").read_text())
    rack = OpenRack(RenderSettings(**models_manifest["render"]))
    rng = np.random.default_rng(seed)
    presets = P.group_presets(group)
    clips = []
    for i in range(n):
        preset = presets[i % len(presets)]
        names = list(rng.choice(spec.EFFECT_NAMES, size=1 + i % len(spec.EFFECT_NAMES), replace=False))
        clips += [rack.dry(preset), rack.render(sample_chain(names, rng), preset)]
    mel, mfcc = F.features(np.stack(clips))
    return [((mel[2 * i], mfcc[2 * i]), (mel[2 * i + 1], mfcc[2 * i + 1])) for i in range(n)]


@pytest.mark.parametrize("group", GROUPS)
def test_every_shipped_model_runs_in_numpy_as_in_keras(group):
    pairs = _sounds(group, 5, seed=3)
    keras_models = load_group(group, which=ALL_MODELS, backend="keras")
    numpy_models = load_group(group, which=ALL_MODELS, backend="numpy")
    cur, tgt = zip(*pairs)
    x = pair_batch([c[0] for c in cur], [c[1] for c in cur], [t[0] for t in tgt], [t[1] for t in tgt])
    # selector histories of 1 to 5 sounds: every number of padded steps the server sends
    histories = [[cur[r]] + [tgt[j] for j in range(r)] for r in range(len(pairs))]
    applied = [["initial"] + list(spec.EFFECT_NAMES[:r]) for r in range(len(pairs))]
    seq = selector_batch(histories, list(tgt), applied)
    for name in ALL_MODELS:
        inp = seq if name.startswith("selector") else x
        k, n = keras_models.predict(name, inp), numpy_models.predict(name, inp)
        if isinstance(k, dict):
            assert set(k) == set(n)
            for key in k:
                _close(k[key], n[key], f"{group}/{name}/{key}")
                assert (np.argmax(k[key], -1) == np.argmax(n[key], -1)).all() or key == "continuous"
        else:
            _close(k, n, f"{group}/{name}")
            assert (np.argmax(k, -1) == np.argmax(n, -1)).all(), f"{group}/{name}: another top choice"


def test_the_naming_head_runs_in_numpy_as_in_keras():
    pairs = _sounds("basic", 4, seed=5)
    cur = np.stack([c[0] for c, _ in pairs])
    tgt = np.stack([t[0] for _, t in pairs])
    folder = DEFAULT_MODELS_DIR / NP.HEAD_FOLDER
    k = NP.load(folder, "keras").probs_fn(cur, tgt)
    n = NP.load(folder, "numpy").probs_fn(cur, tgt)
    _close(k, n, "naming_head")
    assert (np.argmax(k, -1) == np.argmax(n, -1)).all()


def _steps(models, rack, target, preset, loop):
    from serumrnn.server.assistant import Assistant

    a = Assistant(models, target, renderer=rack, preset=preset, loop=loop)
    if loop == "paper":
        a.run()
        reports = a.steps
    else:
        reports = [a.step()]
    return [(r.effect, {s.name: s.value for s in r.knobs}) for r in reports if r is not None]


#: How far a continuous knob may differ after the first step. Each step is rendered with the
#: previous step's knobs, so the first step's ~1e-7 difference grows through the rack's
#: nonlinear effects (measured: up to 2.4e-3 by the fourth step of a paper-loop run); 1 % of
#: a knob's range is below what a producer sets by hand on Serum's knobs.
LATER_STEP_KNOB_TOL = 0.01


@pytest.mark.parametrize("loop", ["paper", "search"])
def test_the_server_s_steps_are_the_same_on_either_backend(loop):
    """The steps the server offers on a handful of pairs: the paper loop to its end, and
    the default search loop's first step (naming head included). Same effects and
    categorical knobs on every step; continuous knobs within ``TOL`` on the first step."""
    keras_models = load_group("basic", which=STEP_MODELS, backend="keras")
    numpy_models = load_group("basic", which=STEP_MODELS, backend="numpy")
    rack = OpenRack(numpy_models.render_settings)
    rng = np.random.default_rng(11)
    presets = P.group_presets("basic")
    compared = 0
    for i in range(4):
        preset = presets[i % len(presets)]
        names = list(rng.choice(spec.EFFECT_NAMES, size=2 + i % 3, replace=False))
        target = rack.render(sample_chain(names, rng), preset)
        want = _steps(keras_models, rack, target, preset, loop)
        got = _steps(numpy_models, rack, target, preset, loop)
        assert [e for e, _ in got] == [e for e, _ in want]
        for s, ((effect, kk), (_, nk)) in enumerate(zip(want, got)):
            categorical = {k.name for k in spec.effect(effect).knobs if k.categorical}
            assert set(kk) == set(nk)
            for knob in kk:
                tol = 0.0 if knob in categorical else TOL if s == 0 else LATER_STEP_KNOB_TOL
                assert abs(nk[knob] - kk[knob]) <= tol, (i, s, effect, knob, kk[knob], nk[knob])
        compared += len(want)
    assert compared >= 4


def test_knobs_from_numpy_outputs_match_keras_knobs():
    pairs = _sounds("advanced", 3, seed=8)
    cur, tgt = zip(*pairs)
    x = pair_batch([c[0] for c in cur], [c[1] for c in cur], [t[0] for t in tgt], [t[1] for t in tgt])
    km = load_group("advanced", which=("param_distortion",), backend="keras")
    nm = load_group("advanced", which=("param_distortion",), backend="numpy")
    ko, no = km.predict("param_distortion", x), nm.predict("param_distortion", x)
    for row in range(len(pairs)):
        kf, nf = knobs_from_outputs("distortion", ko, row), knobs_from_outputs("distortion", no, row)
        assert kf.knobs["mode"] == nf.knobs["mode"]
        assert nf.knobs["drive"] == pytest.approx(kf.knobs["drive"], abs=TOL)


def test_the_committed_exports_are_those_of_the_committed_keras_files():
    assert nn_export.problems(DEFAULT_MODELS_DIR) == []
    r = subprocess.run(
        [sys.executable, "-m", "serumrnn.server.cli", "models", "export", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    shipped = sum(1 for _ in nn_export._entries(DEFAULT_MODELS_DIR))
    assert shipped == 8 * len(GROUPS) + 1  # every group's models and the naming head
    assert f"{shipped} NumPy exports" in r.stdout


def test_a_stale_or_damaged_export_is_refused(tmp_path):
    group = P.resolve_group("basic")
    shutil.copytree(DEFAULT_MODELS_DIR / group, tmp_path / group)
    folder = tmp_path / group
    manifest = json.loads((folder / "manifest.json").read_text())
    # a "retrained" selector whose export was not rewritten: another model's export in its place
    shutil.copyfile(folder / "param_eq.npz", folder / "selector.npz")
    manifest["files"]["selector"]["numpy"]["sha256"] = sha256(folder / "selector.npz")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    with pytest.raises(ModelError) as e:
        load_group("basic", tmp_path, which=("selector",), backend="numpy")
    assert e.value.code == "checksum" and "exported from another selector.keras" in str(e.value)
    assert nn_export.problems(tmp_path) == [
        f"{folder / 'selector.npz'} was exported from another selector.keras"
    ]
    # a damaged file: its sha256 no longer matches
    (folder / "param_eq.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError) as e:
        load_group("basic", tmp_path, which=("param_eq",), backend="numpy")
    assert e.value.code == "checksum"
    with pytest.raises(ModelError) as e:
        load_group("basic", tmp_path, which=("param_eq",), backend="numpy", verify=False)
    assert e.value.code == "corrupt"
    # no export listed at all
    del manifest["files"]["param_reverb"]["numpy"]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    with pytest.raises(ModelError, match="serumrnn models export") as e:
        load_group("basic", tmp_path, which=("param_reverb",), backend="numpy")
    assert e.value.code == "missing_file"


def test_the_exporter_refuses_a_layer_the_runner_does_not_implement(tmp_path):
    import keras

    inp = keras.Input((8, 8, 2), name="x")
    out = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="strided")(inp)
    model = keras.Model(inp, keras.layers.Flatten()(out))
    with pytest.raises(ValueError, match="'strided' cannot be exported: only stride-1"):
        nn_export.graph_of(model, model.get_config(), {})
    out2 = keras.layers.AveragePooling2D(2, name="avg")(inp)
    model2 = keras.Model(inp, out2)
    with pytest.raises(ValueError, match="type AveragePooling2D is not supported"):
        nn_export.graph_of(model2, model2.get_config(), {})


def test_an_export_is_byte_for_byte_reproducible(tmp_path):
    src = DEFAULT_MODELS_DIR / P.resolve_group("basic") / "selector.keras"
    nn_export.export_model(src, tmp_path / "a.npz")
    nn_export.export_model(src, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert (tmp_path / "a.npz").read_bytes() == (src.with_suffix(".npz")).read_bytes()


#: A prelude that makes ``import tensorflow`` and ``import keras`` fail in the child.
NO_TF = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"


def test_the_server_s_step_path_runs_where_tensorflow_cannot_be_imported():
    code = (
        NO_TF + STEP_IMPORTS + "try:\n"
        "    import tensorflow\n"
        "    print('tensorflow imported')\n"
        "except ImportError:\n"
        "    print('no tensorflow')\n"
        "gm = load_and_warm('basic_shapes')\n"
        + STEP_TARGET
        + "r = Assistant(gm, target, renderer=rack, preset='saw').step()\n"
        "print('step', r.effect, r.loop)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert "no tensorflow" in lines
    step = [ln.split() for ln in lines if ln.startswith("step ")]
    assert len(step) == 1 and step[0][1] in spec.EFFECT_NAMES and step[0][2] == "search"


def test_match_runs_where_tensorflow_cannot_be_imported(tmp_path):
    code = NO_TF + "from serumrnn.server.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    args = [str(ROOT / "examples" / "input-saw.wav"), str(ROOT / "examples" / "target-saw.wav")]
    r = subprocess.run(
        [sys.executable, "-c", code, "match", *args, "--group", "basic", "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "m" / "index.html").is_file()
