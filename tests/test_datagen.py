"""Data generation: complete, deterministic, unique, and resumable after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from serumrnn.server import features as F
from serumrnn.server import spec
from serumrnn.server.sampling import knob_key, n_unique, unique_chains
from serumrnn.training import datagen

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(group="basic", per_combo=2, seed=7, chunk=2)


def tiny_cfg(**kw):
    return datagen.DataConfig(**{**TINY, **kw})


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "basic"
    res = datagen.generate(tiny_cfg(), out, workers=1, progress=False)
    return out, res


def test_plan_covers_every_preset_and_subset():
    tasks = datagen.plan(tiny_cfg())
    presets = {t.preset for t in tasks}
    assert presets == {"sine", "triangle", "saw", "square"}
    assert {t.subset for t in tasks} == set(spec.subsets())
    # the empty subset has one possible clip per preset; every other has per_combo
    assert sum(t.stop - t.start for t in tasks) == 4 * (1 + 31 * 2)
    assert len({t.filename for t in tasks}) == len(tasks)


def test_unique_settings_drawn_from_table1():
    chains = unique_chains(spec.EFFECT_NAMES, 300, 1, 2, 3)
    keys = [knob_key(c) for _, c in chains]
    assert len(set(keys)) == 300
    for _, c in chains:
        assert sorted(c.order) == sorted(spec.EFFECT_NAMES)
        g = c[c.order.index("eq")].knobs["gain"]
        assert not 0.40 < g < 0.60
        assert 0.30 <= c[c.order.index("distortion")].knobs["drive"] <= 1.0
    orders = {c.order for _, c in chains}
    assert len(orders) > 50  # the order is randomized
    assert unique_chains(["distortion"], 10_000, 0)[-1][1] is not None
    assert len(unique_chains(["distortion"], 10_000, 0)) == n_unique(["distortion"]) == 12 * 71


def test_records_hold_features_knobs_order_preset_seed(tiny_set, rack):
    out, res = tiny_set
    assert res["clips_written"] == res["clips_total"] == 252
    data = datagen.load_dataset(out)
    n = len(data["seed"])
    assert n == 252
    assert data["mel"].shape == (n, F.N_MELS, F.N_FRAMES) and data["mel"].dtype == np.float16
    assert data["mfcc"].shape == (n, F.N_MFCC, F.N_FRAMES)
    assert data["knobs"].shape == (n, len(datagen.knob_columns()))
    assert set(np.unique(data["preset"])) == {"sine", "triangle", "saw", "square"}
    # a record re-renders from its knobs and order alone
    i = int(np.argmax((data["order"] >= 0).sum(axis=1)))
    chain = datagen.decode_chain(data["knobs"][i], data["order"][i])
    assert len(chain) == 5
    mel, _ = F.features(rack.render(chain, str(data["preset"][i])))
    np.testing.assert_allclose(mel, data["mel"][i].astype(np.float32), atol=2e-3)
    # knobs of effects not in the record are NaN, the others are on the grid
    row = data["knobs"][i]
    assert np.isfinite(row).all()
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["render"]["note"] == 48 and meta["spec_version"] == spec.SPEC_VERSION


def test_same_seed_same_data(tiny_set, tmp_path):
    out, _ = tiny_set
    again = tmp_path / "again"
    cfg = tiny_cfg()
    tasks = datagen.plan(cfg)[:6]
    datagen.generate(cfg, again, workers=1, progress=False, limit=6)
    for t in tasks:
        with np.load(out / "shards" / t.filename) as a, np.load(again / "shards" / t.filename) as b:
            for k in a.files:
                np.testing.assert_array_equal(a[k], b[k])
    other = datagen.generate(tiny_cfg(seed=8), tmp_path / "other", workers=1, progress=False, limit=6)
    assert other["shards_written"] == 6
    with (
        np.load(out / "shards" / tasks[5].filename) as a,
        np.load(tmp_path / "other" / "shards" / tasks[5].filename) as b,
    ):
        assert not np.array_equal(a["knobs"], b["knobs"])


def test_rerun_with_other_settings_is_refused(tiny_set):
    out, _ = tiny_set
    with pytest.raises(ValueError, match="other settings.*per_combo"):
        datagen.generate(tiny_cfg(per_combo=3), out, workers=1, progress=False)


def test_kill_then_resume_completes_without_corrupt_or_duplicate_shards(tiny_set, tmp_path):
    ref, _ = tiny_set
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "serumrnn.server.cli",
        "data",
        "generate",
        "--group",
        "basic",
        "--per-combo",
        "2",
        "--seed",
        "7",
        "--chunk",
        "2",
        "--workers",
        "2",
        "--quiet",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list((out / "shards").glob("*.npz")) if (out / "shards").exists() else []
        if len(done) >= 10:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole pool, mid-write if it is writing
    proc.wait()
    shards = out / "shards"
    first = {p.name for p in shards.glob("*.npz")}
    total = len(datagen.plan(tiny_cfg()))
    assert 10 <= len(first) < total, "kill the run while it is part-way"
    # a torn write from an older, non-atomic writer must be detected and redone
    victim = sorted(first)[0]
    (shards / victim).write_bytes((shards / victim).read_bytes()[:100])
    (shards / ".leftover.npz.123.tmp").write_bytes(b"partial")
    res = datagen.generate(tiny_cfg(), out, workers=1, progress=False)
    assert res["shards_written"] == total - len(first) + 1
    names = sorted(p.name for p in shards.iterdir())
    assert names == sorted(t.filename for t in datagen.plan(tiny_cfg()))  # no tmp, no extra
    for name in names:
        with np.load(shards / name) as a, np.load(ref / "shards" / name) as b:
            np.testing.assert_array_equal(a["mel"], b["mel"])
            np.testing.assert_array_equal(a["seed"], b["seed"])
    again = datagen.generate(tiny_cfg(), out, workers=1, progress=False)
    assert again["shards_written"] == 0


def test_unknown_group_is_a_clear_cli_error(tmp_path, capsys):
    from serumrnn.server.cli import main

    assert main(["data", "generate", "--group", "pads", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown preset group 'pads'" in err and "basic_shapes" in err


def test_generation_on_real_plugins_through_a_profile(tmp_path):
    cfg = datagen.config_from_args("basic", 1, 3, renderer="debian_test", presets="saw,init")
    res = datagen.generate(cfg, tmp_path / "zyn", workers=1, progress=False, limit=3)
    assert res["shards_written"] == 3
    meta = json.loads((tmp_path / "zyn" / "dataset.json").read_text())
    assert meta["renderer"] == "debian_test" and meta["presets"] == ["saw", "init"]
    for p in sorted((tmp_path / "zyn" / "shards").glob("*.npz"))[:3]:
        with np.load(p) as z:
            assert np.isfinite(z["mel"].astype(np.float32)).all()
            assert z["mel"].astype(np.float32).max() > -0.5  # not silence


def test_records_carry_the_processing_order_and_the_turn_on_order(tiny_set):
    """Processing order is the rack order for every clip; the turn-on order is drawn per
    record (the research code's shuffle) and holds the same effects."""
    out, _ = tiny_set
    data = datagen.load_dataset(out)
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["render"]["rack_order"] == list(spec.SERUM_RACK_ORDER)
    rank = {spec.EFFECT_NAMES.index(n): i for i, n in enumerate(spec.SERUM_RACK_ORDER)}
    turn_on_differs = 0
    for turn_on, process in zip(data["order"], data["process_order"]):
        on = [int(x) for x in turn_on if x >= 0]
        proc = [int(x) for x in process if x >= 0]
        assert sorted(on) == sorted(proc)
        assert proc == sorted(proc, key=rank.__getitem__)
        turn_on_differs += on != proc
    assert turn_on_differs > 50  # the turn-on order is random, not the rack's


def test_a_data_folder_made_before_rack_order_is_refused(tiny_set, tmp_path):
    out, _ = tiny_set
    old = tmp_path / "old"
    old.mkdir()
    meta = json.loads((out / "dataset.json").read_text())
    meta.update(spec_version="1.0", format_version=1)
    del meta["render"]["rack_order"]
    (old / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not in Serum's rack order"):
        datagen.load_dataset(old)
    with pytest.raises(ValueError, match="delete the folder or use another --out"):
        datagen.generate(tiny_cfg(), old, workers=1, progress=False)


def test_soft_selector_labels_spread_over_the_missing_effects(tiny_set):
    from serumrnn.training import pairs as PR

    ds = PR.Dataset.load(tiny_set[0])
    ex = PR.selector_examples(ds)
    np.testing.assert_allclose(ex["soft"].sum(axis=1), 1.0, rtol=1e-6)
    for e in range(len(ex["record"])):
        chain = ds.chains[int(ex["record"][e])]
        k = int(ex["k"][e])
        missing = {spec.EFFECT_NAMES.index(n) for n in chain.order[k:]}
        assert set(np.flatnonzero(ex["soft"][e])) == missing
        assert bool(ex["last"][e]) == (k == len(chain) - 1)
        if ex["last"][e]:  # the paper's example: the one effect left is the label
            assert int(np.argmax(ex["soft"][e])) == int(ex["label"][e])


def test_parameter_pairs_are_cached_per_seed(tiny_set, tmp_path, monkeypatch):
    """The extra targets are drawn from the seed, so a cached set made with one seed is
    never handed out for another."""
    from serumrnn.training import pairs as PR

    def silent(jobs, render, workers):  # the renders are not what this is about
        return (
            np.zeros((len(jobs), F.N_MELS, F.N_FRAMES), np.float16),
            np.zeros((len(jobs), F.N_MFCC, F.N_FRAMES), np.float16),
        )

    monkeypatch.setattr(PR, "_render_features", silent)
    ds = PR.Dataset.load(tiny_set[0])
    ds = PR.Dataset(tmp_path, ds.arrays, ds.chains, ds.group, ds.render)  # cache here
    extra = slice(sum("eq" in c.order for c in ds.chains), None)  # rows of the variants
    a = PR.param_pairs(ds, "eq", variants=1, workers=1, seed=0)
    b = PR.param_pairs(ds, "eq", variants=1, workers=1, seed=1)
    assert len(a["labels"][extra]) > 0
    assert not np.array_equal(a["labels"][extra], b["labels"][extra])
    np.testing.assert_array_equal(a["labels"][: extra.start], b["labels"][: extra.start])
    again = PR.param_pairs(ds, "eq", variants=1, workers=1, seed=0)  # from the cache
    np.testing.assert_array_equal(again["labels"], a["labels"])
    assert PR.param_pairs_path(tmp_path, "eq", 1, 0).is_file()
    assert PR.param_pairs_path(tmp_path, "eq", 1, 1).is_file()


def test_a_data_folder_of_another_spec_content_is_refused(tiny_set, tmp_path, monkeypatch):
    """Folders record the spec's fingerprint. One written before that (label only) loads
    and resumes while its label stands for this content; after a knob-range edit both are
    refused, naming both specs."""
    import shutil

    from spec_copies import replace_knob, use_effects

    out, _ = tiny_set
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["spec_fingerprint"] == spec.fingerprint()
    legacy = tmp_path / "legacy"
    shutil.copytree(out, legacy)
    del meta["spec_fingerprint"]
    (legacy / "dataset.json").write_text(json.dumps(meta))
    n = len(datagen.load_dataset(out)["seed"])
    assert len(datagen.load_dataset(legacy)["seed"]) == n
    assert datagen.generate(tiny_cfg(), legacy, workers=1, progress=False)["shards_written"] == 0
    old = spec.fingerprint()
    with monkeypatch.context() as m:
        use_effects(m, replace_knob("distortion", "drive", ranges=((0.2, 1.0),)))
        new = spec.fingerprint()
        for folder in (out, legacy):
            with pytest.raises(
                ValueError, match=f"made for spec '2.0' .fingerprint {old[:12]}.*fingerprint {new[:12]}"
            ):
                datagen.load_dataset(folder)
            with pytest.raises(ValueError, match="delete the folder or use another --out"):
                datagen.generate(tiny_cfg(), folder, workers=1, progress=False)
