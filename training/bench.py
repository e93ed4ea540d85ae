"""``serumrnn bench``: speed figures on this machine, with baselines measured in the same run.

Goals (issue 2): render <= 10 ms per 1 s clip with synth and all five effects;
features <= 3 ms per clip; data generation >= 100 clips/s with all workers.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from server import features as F
from server import spec
from server.rack import OpenRack
from server.sampling import sample_chain


def _times(fn: Callable[[], object], n: int) -> np.ndarray:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return np.array(out) * 1e3


def _row(name: str, ms: np.ndarray, goal: str = "") -> str:
    return f"  {name:<44} p50 {np.median(ms):7.2f} ms   p95 {np.percentile(ms, 95):7.2f} ms  {goal}"


def bench_render(n: int) -> dict[str, float]:
    rack = OpenRack()
    rng = np.random.default_rng(0)
    chains = [sample_chain(spec.EFFECT_NAMES, rng) for _ in range(n)]
    presets = list(rack.presets)
    rack.render(chains[0], presets[0])  # warm-up
    i = iter(range(10 ** 9))

    def warm():
        k = next(i)
        rack.render(chains[k % n], presets[k % len(presets)])

    def cold():
        k = next(i)
        rack._dry.clear()  # force the synth to render too
        rack.render(chains[k % n], presets[k % len(presets)])

    def synth_only():
        k = next(i)
        rack._dry.clear()
        rack.dry(presets[k % len(presets)])

    per_fx = {}
    for name in spec.EFFECT_NAMES:
        fx_chains = [sample_chain([name], rng) for _ in range(n)]
        per_fx[name] = _times(lambda: rack.render(fx_chains[next(i) % n], "saw"), n)
    w, c, s = _times(warm, n), _times(cold, n), _times(synth_only, n)
    print("render, one 1 s clip at 44.1 kHz (open rack, DawDreamer + Faust):")
    print(_row("synth + all five effects (synth rendered)", c, "goal <= 10 ms"))
    print(_row("all five effects on the cached dry synth", w, "(what data generation pays)"))
    print(_row("synth alone", s))
    for name, ms in per_fx.items():
        print(_row(f"  {name} alone (cached synth)", ms))
    return {"render_cold_p50_ms": float(np.median(c)), "render_warm_p50_ms": float(np.median(w))}


def bench_features(batch: int, reps: int) -> dict[str, float]:
    rack = OpenRack()
    rng = np.random.default_rng(1)
    audio = np.stack([rack.render(sample_chain(spec.EFFECT_NAMES, rng), p)
                      for p in rack.presets for _ in range(max(1, batch // 12))])[:batch]
    F.features(audio[:2])
    F.naive_features(audio[:1])  # import and warm librosa outside the timings
    fast = _times(lambda: F.features(audio), reps) / len(audio)
    bare = _times(lambda: F.bare_stft(audio), reps) / len(audio)
    one = _times(lambda: F.features(audio[:1]), reps * 4)
    naive = _times(lambda: F.naive_features(audio[:8]), reps) / 8
    print(f"features per 1 s clip (Mel 128 x 87 + 30 MFCC), batch of {len(audio)}:")
    print(_row("batched fast path (server.features.features)", fast, "goal <= 3 ms"))
    print(_row("  baseline: bare magnitude STFT, same batch", bare))
    print(_row("  baseline: naive librosa, one call per clip", naive))
    print(_row("fast path, a single clip (server step)", one))
    r_bare = np.median(fast) / np.median(bare)
    r_naive = np.median(naive) / np.median(fast)
    print(f"  ratios: fast / bare STFT = {r_bare:.2f}x   naive librosa / fast = {r_naive:.2f}x faster")
    return {"features_p50_ms": float(np.median(fast)), "features_vs_stft": float(r_bare),
            "naive_over_fast": float(r_naive)}


def bench_datagen(workers: int, per_combo: int) -> dict[str, float]:
    from training import datagen

    with tempfile.TemporaryDirectory() as tmp:
        cfg = datagen.DataConfig(group="advanced_modulating_shapes", per_combo=per_combo, seed=123,
                                 chunk=per_combo)
        t = time.perf_counter()
        res = datagen.generate(cfg, Path(tmp) / "d", workers=workers, progress=False)
        wall = time.perf_counter() - t
    rate = res["clips_written"] / wall
    print(f"data generation, {res['clips_written']} clips (render + features + shard write), "
          f"{workers} workers:")
    print(f"  {rate:8.1f} clips/s end to end, worker start-up included ({wall:.1f} s)   goal >= 100")
    return {"datagen_clips_per_s": rate}


def bench_models(reps: int, models_dir: Path | None = None) -> dict[str, float]:
    """Load time of each shipped group and one-call inference time of each model."""
    from server.models import DEFAULT_MODELS_DIR, ModelError, load_group
    from server.rack import presets as P

    root = models_dir or DEFAULT_MODELS_DIR
    out: dict[str, float] = {}
    print("models (load once, then one call = one step's inference, batch of 1):")
    for group in P.GROUPS:
        t = time.perf_counter()
        try:
            gm = load_group(group, root)
        except ModelError as e:
            print(f"  {group}: not available ({e.code}: {e})")
            continue
        load_s = time.perf_counter() - t
        print(f"  {group}: load + verify {len(gm.models)} models {load_s:.2f} s")
        out[f"{group}_load_s"] = load_s
        x = {"mel": np.zeros((1, F.N_MELS, F.N_FRAMES, 2), np.float32),
             "mfcc": np.zeros((1, F.N_MFCC, F.N_FRAMES, 2), np.float32)}
        seq = {"mel_seq": np.zeros((1, 5, F.N_MELS, F.N_FRAMES, 2), np.float32),
               "mfcc_seq": np.zeros((1, 5, F.N_MFCC, F.N_FRAMES, 2), np.float32),
               "applied_seq": np.zeros((1, 5, 6), np.float32),
               "step_present": np.zeros((1, 5, 1), np.float32)}
        seq["applied_seq"][0, 0, 5] = seq["step_present"][0, 0, 0] = 1
        for name in gm.models:
            inp = seq if name.startswith("selector") else x
            gm.predict(name, inp)  # trace once
            ms = _times(lambda: gm.predict(name, inp), reps)
            print(_row(f"    {name}", ms))
            out[f"{group}_{name}_p50_ms"] = float(np.median(ms))
    return out


def run_bench(*, quick: bool = False, workers: int = 2) -> dict[str, float]:
    import os

    print(f"serumrnn bench on {os.cpu_count()} CPU cores" + (" (quick)" if quick else ""))
    out: dict[str, float] = {}
    out.update(bench_render(20 if quick else 60))
    out.update(bench_features(64, 3 if quick else 10))
    out.update(bench_datagen(workers, 16 if quick else 48))
    out.update(bench_models(10 if quick else 50))
    return out
