"""The paper's architectures, the training pipeline on tiny data, and the safe loader."""

import json
import shutil
import time

import keras  # installed by the project's set-up (the ml extra); a missing one is a failure
import numpy as np
import pytest

from serumrnn.server import spec
from serumrnn.server.models import (
    ALL_MODELS,
    PARAM_MODELS,
    STEP_MODELS,
    ModelError,
    effect_of_model,
    knobs_from_outputs,
    load_group,
    pair_batch,
    pair_inputs,
    param_model_name,
)
from serumrnn.training import architectures as A
from serumrnn.training import pairs as PR
from serumrnn.training import recipes
from serumrnn.training.train import train_group


def test_parameter_models_follow_the_paper():
    m = A.parameter_model("distortion")
    assert set(m.output) == {"mode", "continuous"}  # Keras 3: outputs as a dict by name
    convs = [l for l in m.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs if c.name.startswith("mel")] == [64, 128, 128]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 6
    pools = {l.name: l.pool_size for l in m.layers if isinstance(l, keras.layers.MaxPooling2D)}
    assert pools["mel_pool1"] == (4, 4) and pools["mfcc_pool1"] == (2, 4)
    assert [l.units for l in m.layers if l.name in ("fc1", "fc2")] == [128, 128]
    assert any(isinstance(l, keras.layers.BatchNormalization) for l in m.layers)
    x = {"mel": np.zeros((2, *A.MEL_SHAPE), np.float32), "mfcc": np.zeros((2, *A.MFCC_SHAPE), np.float32)}
    y = m(x)
    assert y["mode"].shape == (2, 12) and y["continuous"].shape == (2, 1)
    np.testing.assert_allclose(np.sum(y["mode"], axis=1), 1.0, rtol=1e-5)
    for e in ("compressor", "eq", "phaser", "reverb"):
        out = A.parameter_model(e, 0.125)(x)
        assert list(out) == ["continuous"] and out["continuous"].shape == (2, 3)


def test_selector_ignores_padded_steps_and_cnn_baseline_is_multilabel():
    sel = A.effect_selector(0.125)
    rng = np.random.default_rng(0)
    x = {
        "mel_seq": rng.normal(size=(1, 5, *A.MEL_SHAPE)).astype(np.float32),
        "mfcc_seq": rng.normal(size=(1, 5, *A.MFCC_SHAPE)).astype(np.float32),
        "applied_seq": np.zeros((1, 5, 6), np.float32),
        "step_present": np.zeros((1, 5, 1), np.float32),
    }
    x["applied_seq"][0, 0, 5] = x["applied_seq"][0, 1, 2] = 1
    x["step_present"][0, :2] = 1
    p1 = np.asarray(sel(x, training=False))
    x2 = {k: v.copy() for k, v in x.items()}
    x2["mel_seq"][0, 2:] = 99.0  # garbage in the padding
    p2 = np.asarray(sel(x2, training=False))
    np.testing.assert_allclose(p1, p2, atol=1e-6)
    assert p1.shape == (1, 5) and abs(p1.sum() - 1) < 1e-5
    x3 = {k: v.copy() for k, v in x.items()}
    x3["mel_seq"][0, 1] += 1.0  # a real step does matter
    assert np.abs(np.asarray(sel(x3, training=False)) - p1).max() > 1e-6
    cnn = A.serum_cnn(0.125)
    out = np.asarray(cnn({"mel": np.zeros((1, *A.MEL_SHAPE)), "mfcc": np.zeros((1, *A.MFCC_SHAPE))}))
    assert out.shape == (1, 5) and ((out > 0) & (out < 1)).all()


def test_model_names_have_one_home_built_from_the_spec():
    assert PARAM_MODELS == tuple("param_" + e for e in spec.EFFECT_NAMES)
    for e in spec.EFFECT_NAMES:
        assert effect_of_model(param_model_name(e)) == e
        assert A.parameter_model(e, 0.0625).name == param_model_name(e)
    for other in ("selector", "selector_ni", "serum_cnn"):
        assert effect_of_model(other) is None and other in ALL_MODELS
    assert set(STEP_MODELS) == {"selector", *PARAM_MODELS} and set(STEP_MODELS) < set(ALL_MODELS)
    with pytest.raises(KeyError, match="unknown effect 'chorus'"):
        effect_of_model("param_chorus")
    with pytest.raises(KeyError, match="unknown effect 'chorus'"):
        param_model_name("chorus")


def test_pair_builder_puts_current_in_channel_0_and_target_in_channel_1():
    """The one builder of the parameter models' input: shapes the networks take, float32,
    current first; a batch keeps its row order."""

    def sound(v: float, dtype=np.float16):
        return (np.full(A.MEL_SHAPE[:2], v, dtype), np.full(A.MFCC_SHAPE[:2], v + 0.5, dtype))

    x = pair_inputs(sound(1.0), sound(2.0))
    assert x["mel"].shape == (1, *A.MEL_SHAPE) and x["mfcc"].shape == (1, *A.MFCC_SHAPE)
    assert x["mel"].dtype == np.float32 and x["mfcc"].dtype == np.float32
    assert (x["mel"][..., 0] == 1.0).all() and (x["mel"][..., 1] == 2.0).all()
    assert (x["mfcc"][..., 0] == 1.5).all() and (x["mfcc"][..., 1] == 2.5).all()
    cur, tgt = [sound(1.0), sound(3.0)], [sound(2.0), sound(4.0)]
    b = pair_batch(
        [c[0] for c in cur], [c[1] for c in cur], np.stack([t[0] for t in tgt]), np.stack([t[1] for t in tgt])
    )
    assert b["mel"].shape == (2, *A.MEL_SHAPE) and b["mfcc"].shape == (2, *A.MFCC_SHAPE)
    assert b["mel"][1, 0, 0].tolist() == [3.0, 4.0] and b["mfcc"][0, 0, 0].tolist() == [1.5, 2.5]
    np.testing.assert_array_equal(b["mel"][:1], x["mel"])


def test_knobs_from_outputs_clips_to_table1_and_takes_argmax():
    fx = knobs_from_outputs("distortion", {"mode": np.eye(12)[[7]], "continuous": np.array([[0.05]])})
    assert fx.knobs == {"mode": 7.0, "drive": 0.30}
    fx = knobs_from_outputs("eq", {"continuous": np.array([[1.3, -0.2, 0.5]])})
    assert fx.knobs == {"freq": 0.95, "q": 0.0, "gain": 0.5}


def test_pairs_differ_by_exactly_the_modelled_effect(tiny_run, rack):
    from serumrnn.server import features as F

    root = tiny_run[0]
    ds = PR.Dataset.load(next((root / "data").iterdir()))
    p = PR.param_pairs(ds, "reverb", variants=1, workers=1)
    n_targets = sum("reverb" in c.order for c in ds.chains)
    assert len(p["labels"]) == 2 * n_targets  # one input, the record and one variant as targets
    k = int(np.flatnonzero(p["pair_target"] >= 0)[3])
    rec = int(p["pair_target"][k])
    chain = ds.chains[rec]
    inp = rack.render(chain.without("reverb"), str(ds.arrays["preset"][rec]))
    np.testing.assert_allclose(F.features(inp)[0], p["input_mel"][p["pair_input"][k]], atol=2e-3)
    fx = chain[chain.order.index("reverb")]
    assert list(p["labels"][k]) == pytest.approx([fx.knobs[n] for n in ("mix", "low_cut", "high_cut")])
    splits = set(PR.split_of(ds.arrays["seed"]).tolist())
    assert splits == {0, 1, 2}


def test_training_resumes_from_its_checkpoint(tiny_run):
    root, recipe, best, info, _ = tiny_run
    run = root / "runs" / "basic_shapes" / "param_eq"
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 0
    rows = (run / "log.csv").read_text().strip().splitlines()
    assert len(rows) == 2  # header + one epoch
    # a rerun with a larger budget continues at epoch 2 instead of starting over
    more = recipes.get("tiny", max_epochs=2)
    train_group(
        "basic",
        more,
        data_root=root / "data",
        runs_root=root / "runs",
        only=("param_eq",),
        workers=1,
        verbose=0,
    )
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1
    rows = (run / "log.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and rows[1].split(",")[0] == "0" and rows[2].split(",")[0] == "1"


def test_a_continuous_weight_scales_only_the_continuous_loss_of_a_model_with_both_heads():
    """The paper's equal weights by default; a recipe's ``continuous_weight`` reaches the
    distortion's drive loss and nothing else (an all-continuous model has no other loss)."""
    from serumrnn.training.train import compile_kwargs

    assert "loss_weights" not in compile_kwargs("param_distortion")
    kw = compile_kwargs("param_distortion", 50.0)
    assert kw["loss_weights"] == {"mode": 1.0, "continuous": 50.0}
    assert "loss_weights" not in compile_kwargs("param_eq", 50.0)
    assert "loss_weights" not in compile_kwargs("selector", 50.0)
    m = A.parameter_model("distortion", 0.0625)  # Keras takes the weights by output name
    m.compile(optimizer="adam", **kw)
    x = {"mel": np.zeros((4, *A.MEL_SHAPE), np.float32), "mfcc": np.zeros((4, *A.MFCC_SHAPE), np.float32)}
    y = {"mode": np.zeros(4, np.int32), "continuous": np.full((4, 1), 0.5, np.float32)}
    logs = m.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["mode_loss"] + 50.0 * logs["continuous_loss"], rel=1e-3)


def test_each_finished_epoch_adds_its_time_to_the_state_on_disk(tmp_path):
    """A run killed mid-fit keeps the time of the epochs it finished (the manifest's
    per-model seconds would otherwise count only the last, resumed part)."""
    import keras

    from serumrnn.training.train import _resume_callback

    cb = _resume_callback(tmp_path, patience=3)
    cb.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    for epoch, loss in enumerate((1.0, 0.5)):
        cb.on_epoch_begin(epoch)
        time.sleep(0.05)
        cb.on_epoch_end(epoch, {"val_loss": loss})
        on_disk = json.loads((tmp_path / "state.json").read_text())
        assert on_disk["seconds"] >= 0.05 * (epoch + 1)
    resumed = _resume_callback(tmp_path, patience=3)  # as after a kill
    assert resumed.state["seconds"] == on_disk["seconds"] and resumed.state["epoch"] == 1


def test_loader_verifies_checksums_and_compatibility(tiny_run, tmp_path):
    root, _, best, _, manifest = tiny_run
    m = json.loads(manifest.read_text())
    assert set(m["files"]) == set(ALL_MODELS)
    assert m["render_note"] == 48 and m["spec_version"] == spec.SPEC_VERSION
    assert m["spec_fingerprint"] == spec.fingerprint()
    assert m["data"]["clips"] == 252 and m["seed"] == 0
    gm = load_group("basic", root / "models")
    assert set(gm.models) == set(ALL_MODELS)
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    folder = models / "basic_shapes"
    with pytest.raises(ModelError, match="no models at") as e:
        load_group("advanced", models)
    assert e.value.code == "missing_group"
    f = folder / "param_eq.keras"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="param_eq.keras does not match its sha256") as e:
        load_group("basic", models, which=("param_eq",))
    assert e.value.code == "checksum"
    with pytest.raises(ModelError) as e:
        load_group("basic", models, which=("param_eq",), verify=False)
    assert e.value.code == "corrupt"
    (folder / "param_reverb.keras").unlink()
    with pytest.raises(ModelError, match="param_reverb.keras is missing"):
        load_group("basic", models, which=("param_reverb",))
    man = json.loads((folder / "manifest.json").read_text())
    man.update(spec_version="0.1", spec_fingerprint="0" * 64)
    (folder / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match="made for spec '0.1' .fingerprint 000000000000.") as e:
        load_group("basic", models, which=("selector",))
    assert e.value.code == "incompatible"
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError) as e:
        load_group("basic", models, which=("selector",))
    assert e.value.code == "bad_manifest"


def test_selector_learning_curve_scores_each_run_on_held_out_sequences(tiny_run, tmp_path):
    """learning-curve --effect selector: one run per fraction, each scored on the same
    held-out sequences, with the PNG and JSON written."""
    from serumrnn.training.learning_curve import learning_curve

    root, recipe = tiny_run[0], tiny_run[1]
    png = learning_curve(
        "basic",
        "selector",
        recipe,
        data_root=root / "data",
        runs_root=tmp_path / "runs",
        out_dir=tmp_path / "results",
        fractions=(0.5, 1.0),
        workers=1,
    )
    rows = json.loads(png.with_suffix(".json").read_text())["rows"]
    assert png.is_file() and [r["fraction"] for r in rows] == [0.5, 1.0]
    assert rows[0]["train_pairs"] < rows[1]["train_pairs"]
    for r in rows:
        assert r["test_sequences"] > 0
        assert 0.0 <= r["exact"] <= r["in_target"] <= 1.0  # the exact effect is in the target
