"""Resumable, deterministic data generation (paper section 2.1).

For each preset of a group and each effect subset (``spec.subsets()``), ``per_combo`` unique knob
settings are drawn from Table 1, rendered, turned into features and written as shards.

Two orders are recorded per clip, as in the paper's research code: the *processing*
order (``process_order``: the rack order, Serum's FX rack by default, the same for every
clip of a folder) and the *turn-on* order (``order``: a random permutation drawn per
record, the order in which the selector's sequences add the effects).

Layout of an output folder::

    dataset.json                 what was asked for (checked on resume)
    shards/<preset>-sNN-cMMMM.npz  one unit of work, written atomically

A shard is complete or absent: it is written to a temporary name and renamed. A rerun
skips shards that load, re-renders those that don't, and so resumes after a kill with no
corrupt or duplicate shard. The same seed gives byte-identical arrays.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import spec
from serumrnn.server.rack import presets as P
from serumrnn.server.rack.render import RenderSettings
from serumrnn.server.sampling import unique_chains

#: Default scale: fits this 2-core machine in minutes (4 presets x 32 subsets x 64 = 8,192
#: clips per group, about 1.5 min at 100 clips/s and 230 MB of float16 features).
DEFAULT_PER_COMBO = 64
#: The paper's scale: 4,000 clips per combination per preset (1.536 M clips in all).
PAPER_PER_COMBO = 4000
DEFAULT_CHUNK = 32


def knob_columns() -> tuple[str, ...]:
    """Columns of a shard's ``knobs`` matrix: every sampled knob of every effect, as
    ``effect.knob`` in spec order."""
    return tuple(f"{e.name}.{k.name}" for e in spec.EFFECTS for k in e.knobs)


def _small_int(largest: int):
    """int8 (every shard so far) while it holds ``largest``, else int32."""
    return np.int8 if largest <= np.iinfo(np.int8).max else np.int32


#: 2: clips rendered in rack order, ``process_order`` recorded beside the turn-on ``order``.
FORMAT_VERSION = 2


@dataclass(frozen=True)
class DataConfig:
    group: str
    per_combo: int = DEFAULT_PER_COMBO
    seed: int = 0
    chunk: int = DEFAULT_CHUNK
    renderer: str = "open_rack"  # or a plugin profile name / path
    presets: tuple[str, ...] | None = None  # default: the group's open-rack presets
    render: dict[str, Any] = field(default_factory=lambda: RenderSettings().to_json())
    features: dict[str, Any] = field(default_factory=lambda: {**F.settings(), "dtype": "float16"})
    spec_version: str = field(default_factory=lambda: spec.SPEC_VERSION)
    #: What the loader checks: the spec content the clips were made with.
    spec_fingerprint: str = field(default_factory=lambda: spec.fingerprint())
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "group", P.resolve_group(self.group))  # aliases -> id
        if self.presets is not None:
            object.__setattr__(self, "presets", tuple(self.presets))
        if self.per_combo < 1 or self.chunk < 1:
            raise ValueError("per_combo and chunk must be at least 1")

    def preset_names(self) -> tuple[str, ...]:
        """The presets to render: the group's, or a profile's own (``--presets``)."""
        return self.presets or P.group_presets(self.group)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["presets"] = list(self.preset_names())
        d["knob_columns"] = list(knob_columns())
        d["effects"] = list(spec.EFFECT_NAMES)
        return d


@dataclass(frozen=True)
class Task:
    """One shard's worth of work: a slice of one (preset, subset)'s unique settings."""

    preset: str
    preset_index: int
    subset: tuple[str, ...]
    chunk: int
    start: int
    stop: int

    @property
    def filename(self) -> str:
        return f"{self.preset}-s{spec.subset_id(self.subset):02d}-c{self.chunk:04d}.npz"


def plan(cfg: DataConfig) -> list[Task]:
    """Every shard the config asks for, in a stable order."""
    from serumrnn.server.sampling import n_unique

    tasks = []
    for pi, preset in enumerate(cfg.preset_names()):
        for subset in spec.subsets():
            n = min(cfg.per_combo, n_unique(subset))
            for c, start in enumerate(range(0, n, cfg.chunk)):
                tasks.append(Task(preset, pi, subset, c, start, min(n, start + cfg.chunk)))
    return tasks


@functools.lru_cache(maxsize=8)
def _combo_settings(seed: int, preset_index: int, subset: tuple[str, ...], n: int):
    """All of one (preset, subset)'s unique settings, drawn once per worker."""
    return unique_chains(subset, n, seed, preset_index, spec.subset_id(subset))


def _settings(cfg: DataConfig, task: Task):
    from serumrnn.server.sampling import n_unique

    n = min(cfg.per_combo, n_unique(task.subset))
    return _combo_settings(cfg.seed, task.preset_index, task.subset, n)[task.start : task.stop]


def shard_arrays(cfg: DataConfig, task: Task, renderer) -> dict[str, np.ndarray]:
    """Render one task and return the arrays of its shard (pure apart from the renderer)."""
    settings = _settings(cfg, task)
    audio = np.stack([renderer.render(chain, task.preset) for _, chain in settings])
    mel, mfcc = F.features(audio)
    columns = knob_columns()
    knobs = np.full((len(settings), len(columns)), np.nan, np.float32)
    order = np.full((len(settings), len(spec.EFFECT_NAMES)), -1, _small_int(len(spec.EFFECT_NAMES)))
    process = np.full_like(order, -1)
    for i, (_, chain) in enumerate(settings):
        for j, fx in enumerate(chain):
            order[i, j] = spec.EFFECT_NAMES.index(fx.name)
        for j, fx in enumerate(chain.in_rack_order(renderer.settings.rack_order)):
            process[i, j] = spec.EFFECT_NAMES.index(fx.name)
            for k, v in fx.knobs.items():
                knobs[i, columns.index(f"{fx.name}.{k}")] = v
    return {
        "mel": mel.astype(np.float16),
        "mfcc": mfcc.astype(np.float16),
        "knobs": knobs,
        "order": order,
        "process_order": process,
        "seed": np.array([s for s, _ in settings], np.int64),
        "preset": np.array([task.preset] * len(settings)),
        "subset": np.full(
            len(settings), spec.subset_id(task.subset), _small_int(2 ** len(spec.EFFECT_NAMES) - 1)
        ),
        "index": np.arange(task.start, task.stop, dtype=np.int32),
    }


def write_shard(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically: a reader sees the whole shard or none of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        # numpy's stub types savez's ``allow_pickle`` as a keyword too, so mypy reads any
        # unpacked name as possibly that bool.
        np.savez(f, **arrays)  # type: ignore[arg-type]
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def shard_ok(path: Path) -> bool:
    """True when a shard exists and every array in it reads back."""
    try:
        with np.load(path) as z:
            for k in ("mel", "mfcc", "knobs", "order", "process_order", "seed"):
                z[k]
        return True
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False


def check_semantics(out: Path, meta: dict[str, Any]) -> None:
    """Refuse a data folder made before rack-order rendering (or by a newer format), or
    with another spec content (its fingerprint, see ``spec.fingerprint``)."""
    fmt, ver = meta.get("format_version"), meta.get("spec_version")
    if fmt != FORMAT_VERSION:
        raise ValueError(
            f"{out} was made by data format {fmt} / spec {ver}; this code reads format "
            f"{FORMAT_VERSION} / spec {spec.SPEC_VERSION}. Format 1 / spec 1.0 processed effects "
            "in the order they were switched on, not in Serum's rack order, so its clips and "
            "sequences are not valid now: delete the folder or use another --out, and generate again"
        )
    problem = spec.fingerprint_problem(meta)
    if problem:
        raise ValueError(
            f"{out} was {problem}, so its clips and labels mean something else "
            "now: delete the folder or use another --out, and generate again"
        )


def recorded_config(meta: dict[str, Any]) -> dict[str, Any]:
    """A data folder's ``dataset.json`` as this code writes it: one written before
    fingerprints were recorded gets the fingerprint its spec label stands for."""
    if "spec_fingerprint" in meta:
        return meta
    return {**meta, "spec_fingerprint": spec.recorded_fingerprint(meta)}


def _check_config(out: Path, cfg: DataConfig) -> None:
    meta = out / "dataset.json"
    want = cfg.to_json()
    if meta.exists():
        have = json.loads(meta.read_text())
        check_semantics(out, have)
        have = recorded_config(have)
        if have != want:
            diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            raise ValueError(
                f"{out} holds a data set made with other settings ({', '.join(diff)}); "
                "use another --out or delete it"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(want, indent=2) + "\n")
        os.replace(tmp, meta)


# -- worker processes: one renderer each, made once ---------------------------------
_RENDERER = None  # this process's renderer: set by init_worker, read by worker_renderer


def make_renderer(name: str, settings: RenderSettings):
    if name == "open_rack":
        from serumrnn.server.rack.open_rack import OpenRack

        return OpenRack(settings)
    from serumrnn.server.rack.plugins import PluginRack

    return PluginRack(name, settings=settings)


def init_worker(name: str, render: dict) -> None:
    """Make this process's renderer once (a pool's initializer, or before rendering here)."""
    global _RENDERER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _RENDERER = make_renderer(name, RenderSettings(**render))


def worker_renderer():
    """The renderer :func:`init_worker` made in this process."""
    if _RENDERER is None:
        raise RuntimeError("no renderer in this process: call datagen.init_worker first")
    return _RENDERER


def _run_task(args: tuple[DataConfig, Task, str]) -> tuple[str, int]:
    cfg, task, shard_dir = args
    path = Path(shard_dir) / task.filename
    write_shard(path, shard_arrays(cfg, task, worker_renderer()))
    return task.filename, task.stop - task.start


def generate(
    cfg: DataConfig, out: Path, *, workers: int = 2, progress: bool = True, limit: int | None = None
) -> dict[str, Any]:
    """Render every missing shard; returns counts. ``limit`` stops after that many shards."""
    import multiprocessing as mp

    from tqdm import tqdm

    P.resolve_group(cfg.group)
    out = Path(out)
    _check_config(out, cfg)
    shard_dir = out / "shards"
    shard_dir.mkdir(exist_ok=True)
    for stale in shard_dir.glob(".*.tmp"):  # left by a killed run
        stale.unlink(missing_ok=True)
    tasks = plan(cfg)
    todo = [t for t in tasks if not shard_ok(shard_dir / t.filename)]
    if limit is not None:
        todo = todo[:limit]
    total_clips = sum(t.stop - t.start for t in tasks)
    done_clips = total_clips - sum(t.stop - t.start for t in todo)
    t0 = time.perf_counter()
    clips = 0
    bar = tqdm(
        total=total_clips,
        initial=done_clips,
        unit="clip",
        disable=not progress,
        desc=f"{cfg.group}",
        file=sys.stderr,
    )
    jobs = [(cfg, t, str(shard_dir)) for t in todo]
    if workers <= 1:
        init_worker(cfg.renderer, cfg.render)
        results: Iterator = map(_run_task, jobs)
        for _, n in results:
            clips += n
            bar.update(n)
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=init_worker, initargs=(cfg.renderer, cfg.render)) as pool:
            for _, n in pool.imap_unordered(_run_task, jobs):
                clips += n
                bar.update(n)
    bar.close()
    dt = time.perf_counter() - t0
    return {
        "shards_total": len(tasks),
        "shards_written": len(todo),
        "clips_written": clips,
        "clips_total": total_clips,
        "seconds": dt,
        "clips_per_s": clips / dt if dt > 0 and clips else 0.0,
    }


def load_dataset(out: Path) -> dict[str, np.ndarray]:
    """Concatenate every shard of a data set (in plan order) into one dict of arrays."""
    out = Path(out)
    cfg = json.loads((out / "dataset.json").read_text())
    check_semantics(out, cfg)
    dc = DataConfig(**{k: cfg[k] for k in DataConfig.__dataclass_fields__ if k in cfg})
    parts: dict[str, list] = {}
    for t in plan(dc):
        path = out / "shards" / t.filename
        if not shard_ok(path):
            raise FileNotFoundError(f"{path} is missing or unreadable: rerun data generate to resume")
        with np.load(path) as z:
            for k in z.files:
                parts.setdefault(k, []).append(z[k])
    return {k: np.concatenate(v) for k, v in parts.items()}


def decode_chain(knobs_row: np.ndarray, order_row: np.ndarray):
    """A record's ``Chain`` back from its knob row and order row."""
    from serumrnn.server.rack.chain import FX, Chain

    columns = knob_columns()
    fxs = []
    for idx in order_row:
        if idx < 0:
            break
        name = spec.EFFECT_NAMES[int(idx)]
        vals = {k.name: float(knobs_row[columns.index(f"{name}.{k.name}")]) for k in spec.effect(name).knobs}
        fxs.append(FX(name, vals))
    return Chain(fxs)


def config_from_args(
    group: str,
    per_combo: int | None,
    seed: int,
    *,
    paper_scale: bool = False,
    renderer: str = "open_rack",
    chunk: int = DEFAULT_CHUNK,
    note: int | None = None,
    presets: str | None = None,
    rack_order: str | None = None,
) -> DataConfig:
    n = PAPER_PER_COMBO if paper_scale else (per_combo or DEFAULT_PER_COMBO)
    rs = RenderSettings(rack_order=spec.rack_order(rack_order))
    if note is not None:
        rs = RenderSettings(note=note, rack_order=rs.rack_order)
    names = tuple(p for p in presets.split(",") if p) if presets else None
    return DataConfig(
        group=P.resolve_group(group),
        per_combo=n,
        seed=seed,
        chunk=chunk,
        renderer=renderer,
        render=rs.to_json(),
        presets=names,
    )


def summarize(out: Path) -> dict[str, Any]:
    out = Path(out)
    if not (out / "dataset.json").is_file():
        raise FileNotFoundError(
            f"{out} is not a data folder (it has no dataset.json); "
            "make one with `serumrnn data generate --group G --out FOLDER`"
        )
    cfg = json.loads((out / "dataset.json").read_text())
    dc = DataConfig(**{k: cfg[k] for k in DataConfig.__dataclass_fields__ if k in cfg})
    tasks = plan(dc)
    ok = sum(shard_ok(out / "shards" / t.filename) for t in tasks)
    return {
        "group": dc.group,
        "per_combo": dc.per_combo,
        "shards": len(tasks),
        "complete": ok,
        "clips": sum(t.stop - t.start for t in tasks),
    }


#: A model manifest names its data folder relative to the project, when it lies inside.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def manifest_data_dir(data_dir: Path) -> str:
    """How a manifest records ``data_dir``: relative to the project when inside it (so a
    moved checkout still finds its data), absolute otherwise."""
    full = Path(data_dir).resolve()
    return os.path.relpath(full, PROJECT_ROOT) if full.is_relative_to(PROJECT_ROOT) else str(full)


def data_dir_of_manifest(recorded: str) -> Path:
    """The folder :func:`manifest_data_dir` recorded (an absolute one stays as it is)."""
    return PROJECT_ROOT / recorded


def bench_datagen(workers: int, per_combo: int) -> dict[str, float]:
    """``serumrnn bench``'s data-generation figure: a throw-away folder, end to end."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cfg = DataConfig(group="advanced_modulating_shapes", per_combo=per_combo, seed=123, chunk=per_combo)
        t = time.perf_counter()
        res = generate(cfg, Path(tmp) / "d", workers=workers, progress=False)
        wall = time.perf_counter() - t
    rate = res["clips_written"] / wall
    print(
        f"data generation, {res['clips_written']} clips (render + features + shard write), {workers} workers:"
    )
    print(f"  {rate:8.1f} clips/s end to end, worker start-up included ({wall:.1f} s)   goal >= 100")
    return {"datagen_clips_per_s": rate}


__all__: Sequence[str] = [
    "DataConfig",
    "generate",
    "load_dataset",
    "plan",
    "decode_chain",
    "knob_columns",
    "config_from_args",
    "summarize",
    "bench_datagen",
]
