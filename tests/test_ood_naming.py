"""The out-of-domain naming suite, the naming head, calibration.

Whatever hosts a Debian plugin runs in a child process (``serumrnn ...``), because a
plugin loaded here would break the open rack that other tests compile later."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stub_models import StubModels

from serumrnn.server import features as F
from serumrnn.server import metrics as M
from serumrnn.server import spec
from serumrnn.server.models import ModelError
from serumrnn.training import effect_types as ET
from serumrnn.training import naming_head as NH
from serumrnn.training import ood_naming as ON

SOX_ONLY = "sox overdrive,sox reverb,sox phaser,sox compand,sox equalizer"


def serumrnn(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "serumrnn.server.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    root = tmp_path_factory.mktemp("ood")
    for seed in (0, 1):
        r = serumrnn(
            "ood-naming", "build", "--out", str(root / f"s{seed}"), "--seed", str(seed), "--cases", "6",
            "--implementations", SOX_ONLY + ",ZynDistortion", "--quiet",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
    return ON.load(root / "s0"), ON.load(root / "s1")


def test_each_case_is_one_effect_of_other_software_with_its_type_known(suites):
    (rec, cases), (rec1, cases1) = suites
    assert [c.type for c in cases] == [ET.TYPES[i % 5] for i in range(6)]
    for c in cases:
        imp = ET.by_name(c.implementation)
        assert imp.type == c.type and imp.family in ("sox", "zyn") and c.family == imp.family
        assert c.input_recipe["source"] in ("sox", "zyn")  # never the open rack
        assert c.input.shape == c.target.shape == (44100,)
        assert float(M.distances(c.input, c.target)["mse"]) >= ON.MIN_CHANGE  # audible
    # another seed: other settings and inputs, same turns of types
    assert [c.type for c in cases1] == [c.type for c in cases]
    assert [c.settings for c in cases] != [c.settings for c in cases1]
    assert not np.allclose(cases[0].input, cases1[0].input)
    assert rec["seed"] == 0 and rec1["seed"] == 1


def test_eval_scores_the_first_suggestion_against_the_type(rack, suites):
    (_, cases), _ = suites
    # a selector that always ranks distortion first: named exactly on distortion cases
    models = StubModels(["distortion", "reverb", "eq", "phaser", "compressor"])
    res = ON.evaluate(
        models,
        rack,
        cases,
        loops=("verified", "paper"),
        namers={"fixed": lambda x, y: ["distortion", "eq"]},
        progress=False,
        held_out=[cases[1].implementation],
    )
    n = res["namers"]["fixed"]["summary"]
    assert n["top1"] == pytest.approx(sum(c.type == "distortion" for c in cases) / len(cases))
    assert cases[1].type == "distortion"
    unheard = [c for c in cases if c.implementation == cases[1].implementation]
    # a distortion implementation: the fixed ranking names each of its cases
    assert n["held_out"] == {"cases": len(unheard), "named": len(unheard), "top1": 1.0, "top2": 1.0}
    assert n["heard"]["cases"] == len(cases) - len(unheard)
    paper = res["loops"]["paper"]["rows"]
    assert all(r["first"] == "distortion" for r in paper)
    assert [r["named"] for r in paper] == [c.type == "distortion" for c in cases]
    ver = res["loops"]["verified"]
    assert ver["summary"]["worse_any"] == 0  # the verified loop never ends worse
    for r in ver["rows"]:
        assert r["named"] == (r["first"] == r["type"])
        want = 100 * (r["end"]["mse"] - r["start"]["mse"]) / r["start"]["mse"]
        assert r["delta_pct"]["mse"] == pytest.approx(want, rel=1e-6)
    assert "first suggestion names the type" in ON.markdown(res)


def test_load_refuses_a_folder_without_a_suite(tmp_path):
    with pytest.raises(FileNotFoundError, match="ood-naming build"):
        ON.load(tmp_path)


# -- the naming head ------------------------------------------------------------------


def test_combine_pools_head_and_selector():
    head = np.array([0.1, 0.6, 0.1, 0.1, 0.1])
    sel = np.array([0.7, 0.05, 0.05, 0.1, 0.1])
    assert NH.ranking(NH.combine(head, sel, 1.0))[0] == spec.EFFECT_NAMES[1]
    assert NH.ranking(NH.combine(head, sel, 0.0))[0] == spec.EFFECT_NAMES[0]
    p = NH.combine(head, sel, 0.5)
    assert p.sum() == pytest.approx(1.0) and np.all(p > 0)
    assert NH.ranking(p, used=[spec.EFFECT_NAMES[0]])[0] != spec.EFFECT_NAMES[0]


def test_whole_implementations_are_held_out():
    held = [i.name for i in ET.OTHER_SOFTWARE if NH.held_out(i.name, i.family)]
    assert "Dragonfly Hall Reverb" in held and "ZamTube" in held and "ZynPhaser" in held
    assert not NH.held_out("sox reverb", "sox") and not NH.held_out("open rack eq", NH.OPEN_RACK)
    for t in ET.TYPES:  # every type is both trained on and tested on an unheard implementation
        imps = [i for i in ET.OTHER_SOFTWARE if i.type == t]
        assert any(NH.held_out(i.name, i.family) for i in imps)


def _fake_data(root: Path, per: int = 12) -> None:
    """Examples whose type is written in the spectrum: the head must learn it."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"seed": 0}))
    audio = (rng.standard_normal((4, 44100)) * 0.1).astype(np.float32)
    np.savez(root / "inputs.npz", audio=audio)
    mel = F.mel_db(audio)
    for k, (name, fam) in enumerate([("a", "sox"), ("b", "lsp"), ("c", "zam")]):
        idx = rng.integers(0, 4, per).astype(np.int32)
        types = np.arange(per) % 5
        tm = mel[idx].copy()
        for j, band in enumerate(types):
            tm[j, 20 * band : 20 * band + 20] += 0.5
        for t in range(5):
            sel = types == t
            np.savez(
                root / f"impl-{k:02d}{t}.npz",
                input=idx[sel],
                target_mel=tm[sel].astype(np.float16),
                meta=np.array(
                    json.dumps({"name": f"{name}{t}", "type": spec.EFFECT_NAMES[t], "family": fam})
                ),
            )


def test_head_trains_ships_a_checked_manifest_and_scores_held_out(tmp_path):
    _fake_data(tmp_path / "data")
    m = NH.train(tmp_path / "data", tmp_path / "head", epochs=2, verbose=0)
    assert m["data"]["held_out"] == [f"c{t}" for t in range(5)]  # family zam
    assert set(m["data"]["trained_on"]).isdisjoint(m["data"]["held_out"])
    assert m["data"]["held_out_examples"] == 12
    head = NH.load_head(tmp_path / "head")
    p = head.probs(np.zeros(44100, np.float32) + 0.1, np.ones(44100, np.float32) * 0.2)
    assert p.shape == (5,) and p.sum() == pytest.approx(1.0, abs=1e-5)
    f = tmp_path / "head" / NH.HEAD_FILE
    f.write_bytes(f.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="sha256"):
        NH.load_head(tmp_path / "head")


# -- calibration ----------------------------------------------------------------------


def test_calibrate_resumes_and_writes_models_that_load(tmp_path):
    from serumrnn.server.models import STEP_MODELS, load_group
    from serumrnn.training import calibrate as C

    base = ["calibrate", "--profile", "debian_test", "--minutes", "5", "--max-pairs", "16", "--quiet"]
    paths = ["--work", str(tmp_path / "work"), "--out", str(tmp_path / "models")]
    r = serumrnn(*base, *paths, "--max-epochs", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    work = tmp_path / "work" / "basic_shapes"
    plan = json.loads((work / "plan.json").read_text())
    assert plan["chunks"] == dict.fromkeys(spec.EFFECT_NAMES, 1)  # --max-pairs 16: one chunk each
    need = json.loads((work / "need.json").read_text())  # measured on that chunk, shipped models
    assert need["pairs"] == dict.fromkeys(spec.EFFECT_NAMES, 16)
    assert need["weights"] == C.need_weights(need["shipped_mse_pct"], need["open_rack"])
    data = sorted(p.name for p in (work / "data").iterdir())
    stamp = {p: (work / "data" / p).stat().st_mtime for p in data}
    # a second run with more epochs continues each model after its checkpoint, same data
    r = serumrnn(*base, *paths, "--max-epochs", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("resuming after epoch 1") == len(spec.EFFECT_NAMES)
    assert {p: (work / "data" / p).stat().st_mtime for p in data} == stamp
    m = json.loads((tmp_path / "models" / "basic_shapes" / "manifest.json").read_text())
    assert m["calibration"]["profile"] == "debian_test"
    assert m["calibration"]["pairs_per_effect"] == dict.fromkeys(spec.EFFECT_NAMES, 16)
    assert m["calibration"]["need"] == need
    assert all(v["epochs_run"] == 2 for v in m["calibration"]["training"].values())
    for v in m["calibration"]["training"].values():  # rendered on the plugins: 2 validation pairs
        assert v["val_pairs"] == 2 and v["val_mel_mse"]["shipped"] > 0
        assert v["kept"] == min(v["val_mel_mse"], key=lambda k: (v["val_mel_mse"][k], k != "shipped"))
    models = load_group("basic", tmp_path / "models", which=STEP_MODELS)  # checksums verified
    assert set(models.models) == set(STEP_MODELS)
    # the minutes count across reruns: with all 5 spent, a rerun allowing more epochs trains none
    spent = json.loads((work / "budget.json").read_text())["spent_s"]
    assert 0 < spent < 300
    (work / "budget.json").write_text(json.dumps({"spent_s": 300.0}))
    r = serumrnn(*base, *paths, "--max-epochs", "3")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "5.0 of 5 minutes spent by earlier runs, 0.0 left" in r.stderr and "resuming" not in r.stderr
    m = json.loads((tmp_path / "models" / "basic_shapes" / "manifest.json").read_text())
    assert all(v["epochs_run"] == 2 for v in m["calibration"]["training"].values())


def test_another_round_of_data_only_when_the_data_limited_every_model():
    from serumrnn.training import calibrate as C

    budget = 600.0
    assert C.another_round([True] * 5, 0.5 * budget, budget, {"eq": 7, "phaser": 250}, 4000)
    assert not C.another_round(
        [True] * 4 + [False], 0.5 * budget, budget, {"eq": 7}, 4000
    )  # time stopped one
    assert not C.another_round([True] * 5, (C.ROUND_MIN_SHARE - 0.01) * budget, budget, {"eq": 7}, 4000)
    assert not C.another_round(
        [True] * 5, 0.5 * budget, budget, {"eq": 250, "phaser": 250}, 4000
    )  # at --max-pairs


def test_rendering_goes_by_need_and_keeps_what_a_killed_run_rendered(tmp_path, monkeypatch):
    """Scripted chunks on a fake clock (one second each): the weights decide which effect
    renders next, so the counts keep to the weights' shares; chunks already on disk are
    counted, not rendered again."""
    from serumrnn.training import calibrate as C

    clock = {"t": 0.0}
    rendered: list[tuple[str, int]] = []

    def chunk(rack, effect, c, presets, group):
        rendered.append((effect, c))
        clock["t"] += 1.0
        return {"seed": np.arange(C.CHUNK, dtype=np.uint64)}

    monkeypatch.setattr(C, "render_chunk", chunk)
    monkeypatch.setattr(C.time, "time", lambda: clock["t"])
    open_rack = {"compressor": -96.0, "distortion": -73.0, "eq": -63.0, "phaser": -27.0, "reverb": -90.0}
    shipped = {"compressor": -86.0, "distortion": 17.0, "eq": -74.0, "phaser": -18.0, "reverb": -79.0}
    w = C.need_weights(shipped, open_rack)  # the floor plus the points short of the open rack
    assert w == {"compressor": 30.0, "distortion": 110.0, "eq": 20.0, "phaser": 29.0, "reverb": 31.0}
    assert C.need_weights(shipped, None) == dict.fromkeys(spec.EFFECT_NAMES, C.NEED_FLOOR)
    zero = dict.fromkeys(spec.EFFECT_NAMES, 0)
    caps = dict.fromkeys(spec.EFFECT_NAMES, 1000)
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "eq-c0000.npz", seed=np.zeros(1))  # from a killed run
    here = C.ChunkRenderer(None, "debian_test", ["saw"], "basic_shapes", workers=1)
    done = C._render_chunks(here, tmp_path, 55.0, zero, caps, w)
    assert ("eq", 0) not in rendered and len(rendered) == 56  # rendered until past the deadline
    assert sum(done.values()) == 57
    share = {e: done[e] / w[e] for e in spec.EFFECT_NAMES}
    spread = max(share.values()) - min(share.values())
    assert spread <= 1 / min(w.values())  # each within a chunk of its share
    assert done["distortion"] >= 5 * done["eq"]
    # no deadline: every effect to its cap, and nothing past it
    more = C._render_chunks(here, tmp_path, None, done, {**done, "eq": done["eq"] + 2}, w)
    assert more == {**done, "eq": done["eq"] + 2}
    assert rendered[-2:] == [("eq", done["eq"]), ("eq", done["eq"] + 1)]


def test_chunks_rendered_by_worker_processes_equal_those_rendered_here(tmp_path):
    """Two processes, each hosting the plugins, render one chunk per effect; every chunk
    holds the pairs this process renders: the same draws and knobs, and features within a
    hair (a plugin's state carries a trace of what the process rendered before: about
    0.2 % of the features differed; the mean difference is under 0.1 % of the mean value)."""
    from serumrnn.server.rack.plugins import PluginRack
    from serumrnn.training import calibrate as C

    rack = PluginRack("debian_test")
    pool = C.ChunkRenderer(rack, "debian_test", ["saw"], "basic_shapes", workers=2)
    zero = dict.fromkeys(spec.EFFECT_NAMES, 0)
    try:
        done = C._render_chunks(
            pool,
            tmp_path,
            None,
            zero,
            dict.fromkeys(spec.EFFECT_NAMES, 1),
            dict.fromkeys(spec.EFFECT_NAMES, 1.0),
        )
    finally:
        pool.close()
    assert done == dict.fromkeys(spec.EFFECT_NAMES, 1)
    for e in ("eq", "reverb"):
        here = C.render_chunk(rack, e, 0, ["saw"], "basic_shapes")
        with np.load(tmp_path / "data" / f"{e}-c0000.npz") as z:
            assert set(z.files) == set(here)
            for k in ("labels", "seed"):
                np.testing.assert_array_equal(z[k], here[k])
            for k in ("in_mel", "in_mfcc", "tgt_mel", "tgt_mfcc"):
                a, b = z[k].astype(np.float32), here[k].astype(np.float32)
                assert np.mean(np.abs(a - b)) <= 1e-3 * np.mean(np.abs(b)), k


def test_a_plan_from_before_data_by_need_reads_as_equal_counts(tmp_path):
    from serumrnn.training import calibrate as C

    (tmp_path / "plan.json").write_text(
        json.dumps({"chunks": 3, "rounds": [2, 3], "chunk": 16, "presets": ["saw"]})
    )
    plan = C._load_plan(tmp_path / "plan.json")
    each = lambda n: dict.fromkeys(spec.EFFECT_NAMES, n)  # noqa: E731
    assert plan["chunks"] == each(3) and plan["rounds"] == [each(2), each(3)]


def test_time_left_by_models_that_stop_early_goes_back_to_those_the_budget_stopped():
    """Scripted models on a fake clock: each trains in whole 5 s epochs until its share is
    used (at least one epoch, as the deadline callback does) or it has done the epochs it
    needs. "slow" goes first and needs 90 s, the others 10 s each; 120 s in all."""
    from serumrnn.training import calibrate as C

    need = {"slow": 90.0, "a": 10.0, "b": 10.0}
    done = dict.fromkeys(need, 0.0)
    clock = {"t": 0.0}
    calls: list[tuple[str, float]] = []

    def train_one(name: str, share: float) -> None:
        calls.append((name, round(share, 1)))
        spent = 0.0
        while done[name] < need[name] and (spent == 0 or spent < share):
            done[name] += 5.0
            spent += 5.0
        clock["t"] += spent

    left = lambda: 120.0 - clock["t"]  # noqa: E731
    C.train_in_turn(list(need), train_one, left, lambda n: done[n] >= need[n], min_s=5.0)
    assert done == need  # without giving back, "slow" would have stopped at its 40 s share
    assert calls[:3] == [("slow", 40.0), ("a", 40.0), ("b", 70.0)]
    assert calls[3:] == [("slow", 60.0)]  # only the model the budget stopped trains again
    # the time is out before "slow" ends: it gets what is left, then nothing more is tried
    done.update(dict.fromkeys(need, 0.0))
    clock["t"] = 0.0
    calls.clear()
    need["slow"] = 200.0
    C.train_in_turn(list(need), train_one, left, lambda n: done[n] >= need[n], min_s=5.0)
    assert done["slow"] == 100.0 and [c[0] for c in calls] == ["slow", "a", "b", "slow"]


def test_calibrate_renders_a_second_round_when_every_model_stops_early(tmp_path):
    """One epoch per model ends each round by itself with most of the budget left, so a
    second round renders 16 more pairs per effect and trains on all 48 from the first
    round's weights; ``--max-pairs`` ends it there. A rerun renders and trains nothing."""
    from serumrnn.server.models import PARAM_MODELS

    args = [
        "calibrate",
        "--profile",
        "debian_test",
        "--minutes",
        "5",
        "--max-pairs",
        "48",
        "--round-pairs",
        "16",
    ]
    args += [
        "--max-epochs",
        "1",
        "--quiet",
        "--work",
        str(tmp_path / "work"),
        "--out",
        str(tmp_path / "models"),
    ]
    r = serumrnn(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    work = tmp_path / "work" / "basic_shapes"
    plan = json.loads((work / "plan.json").read_text())
    each = lambda n: dict.fromkeys(spec.EFFECT_NAMES, n)  # noqa: E731
    assert plan["rounds"] == [each(2), each(3)] and plan["chunks"] == each(3)  # the first round: FIRST_CHUNKS
    assert "calibration data, round 2: pairs per effect compressor 48, distortion 48" in r.stderr
    for name in PARAM_MODELS:  # both rounds trained, each in its own run
        assert json.loads((work / "runs" / name / "state.json").read_text())["epoch"] == 0
        assert json.loads((work / "runs-r2" / name / "state.json").read_text())["epoch"] == 0
    m = json.loads((tmp_path / "models" / "basic_shapes" / "manifest.json").read_text())
    assert m["calibration"]["rounds"] == [each(32), each(48)] and m["calibration"][
        "pairs_per_effect"
    ] == each(48)
    assert all(v["val_pairs"] == 5 for v in m["calibration"]["training"].values())  # every 10th of 48
    stamp = {p.name: p.stat().st_mtime for p in (work / "data").iterdir()}
    r = serumrnn(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("already trained") == 2 * len(PARAM_MODELS) and "round 3" not in r.stderr
    assert {p.name: p.stat().st_mtime for p in (work / "data").iterdir()} == stamp


def test_calibration_ships_a_model_only_where_it_renders_closer(tmp_path, monkeypatch):
    """keep_closer renders both models' knobs on the validation pairs and puts the shipped
    files back wherever the shipped model lands closer (scripted renders, no plugins)."""
    import shutil

    from serumrnn.server.models import PARAM_MODELS
    from serumrnn.training import calibrate as C
    from serumrnn.training import evaluate_models as EM

    shipped = tmp_path / "shipped" / "basic_shapes"
    shutil.copytree(Path("models/basic_shapes"), shipped)
    cal = tmp_path / "cal" / "basic_shapes"
    shutil.copytree(shipped, cal)
    m = json.loads((cal / "manifest.json").read_text())
    m["calibration"] = {"training": {n: {} for n in PARAM_MODELS}}
    for n in PARAM_MODELS:
        (cal / f"{n}.keras").write_bytes(b"calibrated")
        m["files"][n] = {"file": f"{n}.keras", "sha256": "x", "numpy": {"file": f"{n}.npz", "sha256": "y"}}
    (cal / "manifest.json").write_text(json.dumps(m))
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    for e in spec.EFFECT_NAMES:  # one chunk: pairs 0 and 10 validate
        np.savez(work / "data" / f"{e}-c0000.npz", seed=np.arange(11, dtype=np.uint64) + 7)
    plan = {"chunks": dict.fromkeys(spec.EFFECT_NAMES, 1), "presets": ["saw"]}

    class Rack:
        def render(self, chain, preset):
            return np.random.default_rng(len(chain)).normal(0, 0.1, 22050).astype(np.float32)

    class OneEffect(list):
        order = property(lambda self: [fx for fx in self])

        def without(self, effect):
            return []

    closer = {"param_eq", "param_reverb"}  # the calibrated models that render the target
    noise = np.random.default_rng(9).normal(0, 0.1, 22050).astype(np.float32)

    def predictions(models, rack, effect, ins, tgts, truth, batch=50):
        mine = models.folder == cal.parent
        if mine and f"param_{effect}" in closer:
            return list(tgts), []
        return [t + noise * np.float32(1 + mine) for t in tgts], []  # calibrated: further off

    monkeypatch.setattr(EM, "render_predictions", predictions)
    monkeypatch.setattr(
        "serumrnn.server.models.load_group", lambda g, folder, which: type("G", (), {"folder": folder})()
    )
    monkeypatch.setattr(EM, "draw_chain", lambda g, rng, e, n, presets: ("saw", OneEffect([e])))
    out = C.keep_closer(Rack(), work, plan, shipped, cal)
    man = json.loads((cal / "manifest.json").read_text())
    ship = json.loads((shipped / "manifest.json").read_text())
    for n in PARAM_MODELS:
        want = "calibrated" if n in closer else "shipped"
        assert out[n]["kept"] == want and man["calibration"]["training"][n]["kept"] == want
        assert out[n]["val_pairs"] == 2
        body = (cal / f"{n}.keras").read_bytes()
        if want == "shipped":
            assert man["files"][n] == ship["files"][n] and body == (shipped / f"{n}.keras").read_bytes()
        else:
            assert body == b"calibrated" and man["files"][n]["sha256"] == "x"
