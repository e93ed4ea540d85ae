"""``bench_osc``: step round trips over loopback, many clients stepping in parallel, each
reply checked to belong to its own request and session (``serumrnn bench`` prints it)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from serumrnn.server import osc
from serumrnn.server.loop_settings import DEFAULT_LOOP
from serumrnn.server.osc_client import OscClient

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels


def note_audio(seconds: float = 1.0, sr: int = 44100, drive: float = 1.0) -> np.ndarray:
    """A saw at the models' note (MIDI 48), optionally driven into a soft clip."""
    t = np.arange(int(sr * seconds)) / sr
    saw = 2.0 * ((130.8128 * t) % 1.0) - 1.0
    clip: np.ndarray = (0.5 * np.tanh(drive * saw) / np.tanh(drive)).astype(np.float32)
    return clip


#: The target of the ``follow`` rows: the bench's saw through two effects at settings the
#: models know, so the verified loop offers steps and each capture judges one (the plain
#: bench's soft-clipped target is one that loop cannot bring closer from the saw).
FOLLOW_TARGET: tuple[tuple[str, dict[str, float]], ...] = (
    ("distortion", {"mode": 1.0, "drive": 0.55}),
    ("reverb", {"mix": 0.5, "low_cut": 0.2, "high_cut": 0.8}),
)


class _Serum:
    """What a device would have set on Serum from the replies so far, and the capture it
    would record: the dry sound through those settings on the open rack (``follow``)."""

    def __init__(self, dry: np.ndarray, path: str) -> None:
        from serumrnn.server.rack import OpenRack

        self.dry, self.path, self.rack = dry, path, OpenRack()
        self.values: dict[str | int, float] = {}  # Serum parameter name -> value
        self.tune_before: dict[str | int, float] = {}

    def apply(self, reply: list[osc.Message]) -> None:
        """Set what ``reply`` asks (an effect with its knobs, a fine-tune, a take-back) and
        record the capture (a done session starts again from the dry sound: :meth:`reset`)."""
        for m in reply:
            what, a = m.address.removeprefix(f"{osc.PREFIX}/step/"), m.args
            if what == "takeback":
                if a[4]:
                    self.values[a[4]] = float(a[5])
                else:  # a fine-tune taken back: its knobs to their values before
                    self.values.update(self.tune_before)
            elif what == "effect":
                self.values[a[5]] = float(a[6])
            elif what in ("knob", "fixed"):
                self.values[a[2]] = float(a[3])
            elif what == "tune":
                self.tune_before = {}
            elif what == "tune/knob":
                self.values[a[2]] = float(a[3])
                self.tune_before[a[2]] = float(a[6])
        self.record()

    def reset(self) -> None:
        self.values.clear()
        self.tune_before.clear()
        self.record()

    def record(self) -> None:
        from serumrnn.server.audio_io import write_wav
        from serumrnn.server.rack.capture import chain_from_serum

        write_wav(Path(self.path), self.rack.process(self.dry, chain_from_serum(self.values)))


def follow_target(dry: np.ndarray) -> np.ndarray:
    """The ``follow`` rows' target: ``dry`` through :data:`FOLLOW_TARGET` on the open rack."""
    from serumrnn.server.rack import FX, OpenRack

    return OpenRack().process(dry, [FX(name, knobs) for name, knobs in FOLLOW_TARGET])


def _retry_after(busy: osc.Message) -> float:
    """Seconds a ``busy`` error asks the client to wait (its sixth argument; 1 s if absent)."""
    return float(busy.args[5]) if len(busy.args) > 5 else 1.0


def _is_busy(reply: list[osc.Message]) -> bool:
    """The reply is the fair scheduler's ``busy`` refusal (come back after its retry-after)."""
    return bool(reply) and reply[-1].address == f"{osc.PREFIX}/error" and reply[-1].args[1] == "busy"


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class OscBench(TypedDict):
    """What :func:`bench_osc` measured (``lost``, ``wrong``, ``errors``: replies missing,
    misrouted, or errors other than ``session_done`` and ``busy``; ``error_codes``: every
    error reply by code, so a run's refusals show)."""

    clients: int
    seconds: float
    lost: int
    wrong: int
    errors: int
    error_codes: dict[str, int]
    steps: int
    served: int
    offered: int  # step replies that offered an effect or a fine-tune
    p50_ms: float
    p95_ms: float
    steps_per_s: float


_FAIRNESS_GRACE_S = 300.0  # how long ``at_least`` may keep a client past its window


def bench_osc(
    models_dir: Path | str | None,
    clients: int,
    seconds: float,
    *,
    models: dict[str, GroupModels] | None = None,
    group: str | None = None,
    workers: int | None = None,
    malloc: bool = True,
    at_least: int = 0,
    extra: bool = True,
    loop: str = DEFAULT_LOOP,
    follow: bool = False,
) -> OscBench:
    """Step round trips over loopback: ``clients`` sessions stepping in parallel for
    ``seconds``, each from its own socket with the device's captured flow (the capture is
    a file path). Checks each reply arrived and belonged to its own request and session.

    ``malloc`` tunes this process's allocator as ``serve`` does (``native.tune_allocator``), for
    figures that match the server's; it lasts for the rest of the process.

    ``extra``: the server's search may move extra knobs (False: ``serve --no-extra-knobs``,
    the same-run baseline of ``bench``). ``loop``: the server's step loop (``serve --loop``).

    ``at_least`` keeps each client stepping past ``seconds`` until it has that many steps (a
    fairness check: every client is answered however slow a step is), up to a deadline.

    ``follow``: each client plays the device with Serum as the open rack: it sets what every
    reply asks and sends the render of it as its next capture, towards a target the models
    can reach (:data:`FOLLOW_TARGET`), so the round trips time steps that are offered and
    captures that judge them. Without it every capture is the dry saw and the target the
    soft-clipped saw: every round trip is a session's first step.

    Returns clients, steps, served (clients with a step), p50_ms, p95_ms, steps_per_s, lost,
    wrong, errors.
    """
    import tempfile

    from serumrnn.server import native
    from serumrnn.server.audio_io import write_wav
    from serumrnn.server.osc_server import DEFAULT_WORKERS, OscServer
    from serumrnn.server.startup import load_models, warm_up

    if malloc:
        native.tune_allocator()
    if models is None:
        models = load_models(models_dir)
        for m in models.values():
            warm_up(m)
    group = group or next(iter(models))
    tmp = tempfile.TemporaryDirectory(prefix="serumrnn-bench-")
    target, capture = Path(tmp.name) / "target.wav", Path(tmp.name) / "capture.wav"
    dry = note_audio()
    write_wav(target, follow_target(dry) if follow else note_audio(drive=6.0))
    write_wav(capture, dry)
    # Each client's Serum is built here, before the server starts: Faust compiling its racks
    # in a client thread while the server's workers compiled theirs hung a render.
    serums = [_Serum(dry, str(Path(tmp.name) / f"capture-{i}.wav")) for i in range(clients)] if follow else []
    server = OscServer(models, "127.0.0.1", 0, 0, workers=workers or DEFAULT_WORKERS, extra=extra, loop=loop)
    server.start()
    run = _Run(server.address, group, str(target), str(capture), seconds, at_least, clients, serums)
    threads = [threading.Thread(target=run.client, daemon=True) for _ in range(clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 120 + (_FAIRNESS_GRACE_S if at_least else 0))
    finally:
        server.stop()
        tmp.cleanup()
    return run.result(clients, seconds)


class _Run:
    """One benchmark's clients and what they measured, shared under one lock."""

    def __init__(
        self,
        address: tuple[str, int],
        group: str,
        target: str,
        capture: str,
        seconds: float,
        at_least: int,
        clients: int,
        serums: list[_Serum] | None = None,
    ) -> None:
        self.address, self.group, self.target, self.capture = address, group, target, capture
        self.seconds, self.at_least = seconds, at_least
        self.serums = list(serums or [])  # ``follow``: one per client, taken as each starts
        self.lock = threading.Lock()
        self.rtts: list[float] = []
        self.tally = {"lost": 0, "wrong": 0, "errors": 0, "steps": 0, "served": 0, "offered": 0}
        self.codes: dict[str, int] = {}  # error replies by code (busy: the fair scheduler's refusal)
        self.ready = threading.Barrier(clients)
        self.window = [0.0, 0.0]  # when stepping began and ended (targets are set before)

    def client(self) -> None:
        """One session: open it, set its target, then step until the window (and
        ``at_least``) is done."""
        with OscClient(self.address, timeout=60.0) as c:
            sid = self.open(c)
            if sid is None:
                return
            serum = None
            if self.serums:  # this client's own Serum and capture file
                with self.lock:
                    serum = self.serums.pop()
                serum.reset()
            try:
                self.ready.wait(timeout=120)  # every client steps in the same window
            except threading.BrokenBarrierError:
                pass
            with self.lock:
                self.window[0] = self.window[0] or time.monotonic()
            end = time.monotonic() + self.seconds
            deadline = end + _FAIRNESS_GRACE_S
            mine = 0
            while time.monotonic() < end or (mine < self.at_least and time.monotonic() < deadline):
                mine += self.step(c, sid, first=mine == 0, serum=serum)
            with self.lock:
                self.window[1] = max(self.window[1], time.monotonic())

    def open(self, c: OscClient) -> Any:
        """A new session with its target set; None (counted) when ``new`` failed."""
        new = c.request("new", self.group, 0)
        if not new or new[-1].address != f"{osc.PREFIX}/new/reply":
            with self.lock:
                self.tally["lost" if not new else "errors"] += 1
            return None
        sid = new[-1].args[1]
        for _ in range(60):  # a busy server says when to come back; the device waits as long
            t = c.request("target", sid, self.target)
            if not _is_busy(t):
                break
            time.sleep(_retry_after(t[-1]))
        return sid

    def step(self, c: OscClient, sid: Any, *, first: bool, serum: _Serum | None = None) -> int:
        """One step's round trip, counted; 1 when it was a step (not an error or lost).
        With ``serum`` (``follow``), the capture is its render, and it sets what the reply
        asks (outside the timed round trip)."""
        t0 = time.perf_counter()
        rid = c.next_id()
        reply = c.request("step", sid, serum.path if serum else self.capture, rid=rid)
        dt = (time.perf_counter() - t0) * 1e3
        with self.lock:
            if not reply:
                self.tally["lost"] += 1
                return 0
            stepped = self.count(c, reply, rid, sid, dt, first)
        last = reply[-1]
        if _is_busy(reply):
            # the fair scheduler's answer: come back after its retry-after
            time.sleep(_retry_after(last))
        elif last.address == f"{osc.PREFIX}/error" or last.args[4]:  # done: start over
            c.request("reset", sid)
            if serum is not None:
                serum.reset()
        elif serum is not None:
            serum.apply(reply)
        return stepped

    def count(
        self, c: OscClient, reply: list[osc.Message], rid: int, sid: Any, dt: float, first: bool
    ) -> int:
        """Tally one reply (under the lock): misrouted messages, errors by code, a step."""
        if any(m.args[:2] != (rid, sid) and m.address != f"{osc.PREFIX}/error" for m in reply) or c.stray:
            self.tally["wrong"] += 1 + len(c.stray)
            c.stray.clear()
        last = reply[-1]
        if last.address == f"{osc.PREFIX}/error":
            code = str(last.args[1])
            self.codes[code] = self.codes.get(code, 0) + 1
            self.tally["errors"] += code not in ("session_done", "busy")
            return 0
        self.tally["steps"] += 1
        self.tally["served"] += first
        self.tally["offered"] += any(
            m.address in (f"{osc.PREFIX}/step/effect", f"{osc.PREFIX}/step/tune") for m in reply
        )
        self.rtts.append(dt)
        return 1

    def result(self, clients: int, seconds: float) -> OscBench:
        span = self.window[1] - self.window[0]
        return {
            "clients": clients,
            "seconds": seconds,
            "lost": self.tally["lost"],
            "wrong": self.tally["wrong"],
            "errors": self.tally["errors"],
            "error_codes": self.codes,
            "steps": self.tally["steps"],
            "served": self.tally["served"],
            "offered": self.tally["offered"],
            "p50_ms": _percentile(self.rtts, 50),
            "p95_ms": _percentile(self.rtts, 95),
            "steps_per_s": self.tally["steps"] / span if span > 0 else 0.0,
        }


def format_bench(result: OscBench) -> str:
    """One line for ``serumrnn bench``."""
    r = result
    return (
        f"OSC step round trip, {r['clients']:>2} client(s): p50 {r['p50_ms']:.1f} ms, "
        f"p95 {r['p95_ms']:.1f} ms ({r['steps']} steps, {r['offered']} offering one, {r['steps_per_s']:.1f}/s; "
        f"lost {r['lost']}, misrouted {r['wrong']}, errors {r['errors']})"
    )
