"""What a serving process does once: cap BLAS threads, find, load, verify and warm up the
models (the allocator is tuned by :mod:`serumrnn.server.native`, which every model load
imports first), and tell the device's launcher how far it got.

``serve`` answers pings before any model is loaded: :class:`LazyGroups` loads a group on its
first use (once, whatever the number of requests asking at the same time) or in the
background after start-up, and :class:`Progress` prints one machine-readable line per
stage (docs/install.md, "What the server prints"). Loading every group up front took
20-55 s before the first reply.

Kept apart from the OSC server so that ``serve``, ``bench`` and the tests start a process
the same way, and the server module holds only the protocol loop.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.chain import FX, Chain
    from serumrnn.server.rack.render import Renderer, RenderSettings

log = logging.getLogger("serumrnn.startup")

#: What starts every machine-readable start-up line on stdout; a JSON object follows.
PROGRESS_PREFIX = "serumrnn-progress "

#: ``serve``'s exit codes (docs/install.md): a bad option or a port in use, and no usable
#: models at all. 0 is a stop by signal, 1 a crash.
EXIT_USAGE = 2
EXIT_NO_MODELS = 3


class Progress:
    """Prints ``serumrnn-progress {"stage": ..., "t": ...}`` lines, flushed at once, so a
    launcher (the device's node.script) can show how far start-up got. ``t``: seconds since
    this object was made (the start of ``serve``). Thread-safe: groups load on workers."""

    def __init__(self, stream: IO[str] | None = None, t0: float | None = None):
        self.stream = stream
        self.t0 = time.monotonic() if t0 is None else t0
        self._lock = threading.RLock()  # a signal handler may print while its thread prints

    def __call__(self, stage: str, **fields: Any) -> None:
        line = PROGRESS_PREFIX + json.dumps(
            {"stage": stage, "t": round(time.monotonic() - self.t0, 3), **fields}
        )
        with self._lock:
            try:
                stream = self.stream or sys.stdout
                stream.write(line + "\n")  # one write: a line never interleaves with another
                stream.flush()
            except (OSError, ValueError):  # the launcher closed our stdout: keep serving
                pass


def default_models_dir() -> Path:
    """The checkout's ``models/`` when it holds a group (a developer's editable install),
    else the per-user install's copy (the producer install copies the models there), else
    the checkout's (whose absence the error then names)."""
    from serumrnn.server.models import DEFAULT_MODELS_DIR
    from serumrnn.server.user_install import serumrnn_home

    if any(DEFAULT_MODELS_DIR.glob("*/manifest.json")):
        return DEFAULT_MODELS_DIR
    installed = serumrnn_home() / "models"
    return installed if any(installed.glob("*/manifest.json")) else DEFAULT_MODELS_DIR


def find_groups(models_dir: Path | str | None = None, groups: Sequence[str] | None = None) -> list[str]:
    """The groups to serve: ``groups`` (resolved), else every group with a manifest in
    ``models_dir``. Reads no model, so it costs milliseconds. None at all is a
    ``ModelError`` (missing_group)."""
    from serumrnn.server.models import ModelError
    from serumrnn.server.rack import presets as P

    root = Path(models_dir or default_models_dir())
    wanted = (
        [P.resolve_group(g) for g in groups]
        if groups
        else [g for g in P.GROUPS if (root / g / "manifest.json").is_file()]
    )
    if not wanted:
        raise ModelError(
            "missing_group",
            f"no trained models in {root}: train a group with "
            "`serumrnn train --group basic` or pass --models DIR",
        )
    return wanted


def load_models(
    models_dir: Path | str | None = None, groups: list[str] | None = None
) -> dict[str, GroupModels]:
    """Every group found in ``models_dir`` (or just ``groups``), loaded and verified once.

    Only the models the step loop uses are loaded (the selector and one parameter
    model per effect). A folder with no group at all is a ``ModelError`` (missing_group).
    """
    from serumrnn.server.models import SERVER_BACKEND, STEP_MODELS, load_group

    root = Path(models_dir or default_models_dir())
    return {
        g: load_group(g, root, which=STEP_MODELS, backend=SERVER_BACKEND) for g in find_groups(root, groups)
    }


def load_and_warm(group: str, models_dir: Path | str | None = None) -> GroupModels:
    """One group as ``serve`` uses it: the step loop's models, verified and warmed up."""
    from serumrnn.server.models import SERVER_BACKEND, STEP_MODELS, load_group

    models = load_group(group, models_dir or default_models_dir(), which=STEP_MODELS, backend=SERVER_BACKEND)
    warm_up(models)
    return models


GroupState = Literal["waiting", "loading", "ready", "failed"]


class LazyGroups(Mapping[str, "GroupModels"]):
    """Group id -> models, each group loaded once by one loader thread, never on a request's.

    Reads as the ``dict`` the server takes: ``in`` and iteration name the groups found
    (nothing loads). ``[group]`` returns a loaded group at once; for one not loaded yet it
    puts that group first in the loader's queue and raises ``ModelError("loading")``, which
    the server sends as an error reply: a request never holds one of the server's few
    workers for the seconds a load takes, so pings and other sessions keep their answers
    (two devices asking for two groups on a 2-core machine would otherwise stall both
    workers). A group that failed raises its ``ModelError`` again, and is not loaded again.

    ``load``: group -> models (:func:`load_and_warm` in ``serve``; a stub in the tests).
    ``progress``: ``progress(stage, **fields)`` when a group starts loading, is ready or
    fails (:class:`Progress` in ``serve``). ``preload``: after :meth:`start`, load every
    group in order (requests still go first); else only the groups asked for.
    """

    def __init__(
        self,
        groups: Sequence[str],
        load: Callable[[str], GroupModels],
        progress: Callable[..., None] | None = None,
        *,
        preload: bool = True,
    ):
        self._order = list(dict.fromkeys(groups))
        self._load, self._progress = load, progress or (lambda stage, **f: None)
        self._loaded: dict[str, GroupModels] = {}
        self._failed: dict[str, BaseException] = {}
        self._state: dict[str, GroupState] = {g: "waiting" for g in self._order}
        self._since: dict[str, float] = {}
        self._queue: list[str] = list(self._order) if preload else []
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        #: Loads started per group (each is 1 at most; the tests check it).
        self.loads: Counter[str] = Counter()

    # -- Mapping ----------------------------------------------------------------------
    def __getitem__(self, group: str) -> GroupModels:
        from serumrnn.server.models import ModelError

        if group not in self._state:
            raise KeyError(group)
        with self._cv:
            if group in self._loaded:
                return self._loaded[group]
            if group in self._failed:
                raise self._failed[group]
            if self._state[group] == "waiting":
                if group in self._queue:
                    self._queue.remove(group)
                self._queue.insert(0, group)
                self._cv.notify_all()
            since = time.monotonic() - self._since.get(group, time.monotonic())
        self.start()
        raise ModelError(
            "loading",
            f"the {group} models are loading ({since:.0f} s so far): ask again when "
            f"status shows {group}=ready",
        )

    def __contains__(self, group: object) -> bool:
        return group in self._state

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    # -- loading ----------------------------------------------------------------------
    def start(self) -> LazyGroups:
        """Start the loader thread (once; a daemon). The first request starts it too."""
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-loader", daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loader after the group it is loading (if any)."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()

    def wait(self, group: str, timeout: float | None = None) -> GroupModels:
        """The group's models, waiting for its load (for callers that may block)."""
        from serumrnn.server.models import ModelError

        try:
            return self[group]
        except ModelError as e:
            if e.code != "loading":
                raise
        with self._cv:
            if not self._cv.wait_for(lambda: self._state[group] in ("ready", "failed"), timeout):
                raise TimeoutError(f"{group} did not load within {timeout} s")
        return self[group]

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: bool(self._queue) or self._stop)
                if self._stop:
                    return
                group = self._queue.pop(0)
                if self._state[group] != "waiting":
                    continue
                self._state[group] = "loading"
                self._since[group] = time.monotonic()
                self.loads[group] += 1
            self._progress("group_loading", group=group, text=f"loading the {group} models")
            t0 = time.monotonic()
            try:
                models = self._load(group)
            except Exception as e:
                with self._cv:
                    self._failed[group], self._state[group] = e, "failed"
                    self._cv.notify_all()
                code = getattr(e, "code", type(e).__name__)
                self._progress(
                    "group_failed",
                    group=group,
                    code=code,
                    message=str(e),
                    text=f"{group} cannot be used: {e}",
                )
                log.error("group %s cannot be loaded: %s", group, e)
                continue
            seconds = time.monotonic() - t0
            with self._cv:
                self._loaded[group], self._state[group] = models, "ready"
                self._cv.notify_all()
            self._progress(
                "group_ready", group=group, seconds=round(seconds, 2), text=f"{group} ready ({seconds:.1f} s)"
            )
            log.info("group %s loaded and warmed up in %.1f s", group, seconds)

    def state(self, group: str) -> GroupState:
        return self._state[group]

    def states(self) -> str:
        """``group=state`` pairs in load order, for ``status`` (waiting, loading, ready, failed)."""
        with self._cv:
            return ",".join(f"{g}={s}" for g, s in self._state.items())

    @property
    def busy(self) -> bool:
        """Whether a group is loading right now (a shutdown then should not wait for it)."""
        return "loading" in self._state.values()


def group_states(models: Mapping[str, Any]) -> str:
    """What ``status`` reports of the groups' loading: :meth:`LazyGroups.states`, or every
    group ready for models loaded up front (a plain dict)."""
    if isinstance(models, LazyGroups):
        return models.states()
    return ",".join(f"{g}=ready" for g in models)


class PendingRack:
    """A ``Renderer`` whose open rack is made after the server already answers pings.

    DawDreamer must make every engine on one thread (a render hangs on an engine made on
    another thread than an earlier one), so ``serve``'s main thread makes the rack after
    start-up and hands it over with :meth:`fill`; a request that renders before then waits
    for it (making it takes seconds; pings need no rack)."""

    def __init__(self, settings: RenderSettings, wait_s: float = 300.0):
        self.settings, self.wait_s = settings, wait_s
        self._rack: Renderer | None = None
        self._ready = threading.Event()

    def fill(self, rack: Renderer) -> None:
        self._rack = rack
        self._ready.set()

    def _get(self) -> Renderer:
        if not self._ready.wait(self.wait_s) or self._rack is None:
            from serumrnn.server.rack.render import RenderError

            raise RenderError(f"the open rack was not ready within {self.wait_s:.0f} s of start-up")
        return self._rack

    @property
    def presets(self) -> tuple[str, ...]:
        return self._get().presets

    def render(
        self, chain: Chain | Sequence[FX] = (), preset: str | None = None, *, note: int | None = None
    ) -> np.ndarray:
        return self._get().render(chain, preset, note=note)

    def dry(self, preset: str, *, note: int | None = None) -> np.ndarray:
        return self._get().dry(preset, note=note)

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray:
        return self._get().process(audio, chain)


def warm_up(models: GroupModels) -> None:
    """Call each model (TensorFlow traces it) and touch features, metrics and pitch once, so
    the first real step is as fast as the rest (the first call of each costs up to seconds)."""
    from serumrnn.server import features as F
    from serumrnn.server.assistant import Assistant

    tf_log = logging.getLogger("tensorflow")
    level = tf_log.level
    tf_log.setLevel(logging.ERROR)  # tracing every model in a row reads as "retracing"
    try:
        for name in models.models:
            shapes = models.input_shapes(name)
            models.predict(name, {k: np.zeros((1, *s), np.float32) for k, s in shapes.items()})
    finally:
        tf_log.setLevel(level)
    Assistant(models, _tone(F.SAMPLE_RATE), loop="paper").step(
        current=np.sign(_tone(F.SAMPLE_RATE)) * np.float32(0.3)
    )
    warm_up_process()


def _tone(sr: int) -> np.ndarray:
    """A second of C3, the models' note."""
    t = np.arange(sr) / sr
    return (0.5 * np.sin(2 * np.pi * 130.81 * t)).astype(np.float32)


#: The clip pYIN warms up on: two of its 4096-sample frames. Its numba kernels are the same
#: for any length, and a second of audio costs pYIN about 4 times as much (measured 1.8 s
#: against 0.47 s on 2 busy cores) for nothing the warm-up needs.
PITCH_WARM_UP_SAMPLES = 8192

_process_warm = threading.Lock()
_process_warmed = False


def warm_up_process() -> None:
    """What the first target and step cost once per process, whatever the group: pYIN's
    first call loads scipy.signal and its numba kernels (measured 17.6 s on this 2-core
    machine under load, against 0.1 s for a model's whole paper step), and the search
    loop's first knob refinement imports pycma (after pYIN: both need scipy.stats).
    ``serve`` runs it on its own thread at start-up, next to the first group's load;
    later calls return at once."""
    global _process_warmed
    with _process_warm:
        if _process_warmed:
            return
        from serumrnn.server import features as F
        from serumrnn.server.pitch import detect_pitch
        from serumrnn.server.refine import import_cma

        detect_pitch(_tone(F.SAMPLE_RATE)[:PITCH_WARM_UP_SAMPLES])
        import_cma()
        _process_warmed = True
