"""Real plugins hosted in a worker process, behind the same ``Renderer`` protocol.

Why a separate process: loading plugins can change the host process for good. Measured
with the Debian plugins: after ``PluginRack("debian_test").dry("saw")`` the float32 product
``5e-40 * 1`` is 0.0 (the FPU flushes denormals to zero), and an ``OpenRack`` built
afterwards in the same process aborts it inside Faust's compiler. A plugin can also hang
or crash. So :class:`PluginHost` runs a :class:`~serumrnn.server.rack.plugins.PluginRack`
in a child started with the *spawn* method (a fresh interpreter, nothing inherited), and
talks to it over a pipe:

* the plugins load once, when the host starts (errors then name the profile file and key);
* every render waits at most ``timeout_s`` (a batch's renders each, the worker reporting
  each sound as it finishes it); a render that takes longer is a hung plugin: the child is
  killed and the call raises :class:`PluginHostError`;
* a child that dies (a crashing plugin) makes the call raise :class:`PluginHostError`;
* either way the next call starts a fresh child, so one bad render costs one error.

:class:`HostPool` keeps one host per (profile, settings) so a server loads a profile's
plugins once, not per request.

What a verified step costs on the plugins (the worker side is
:mod:`~serumrnn.server.rack.plugin_worker`): a step's candidates go in one request
(:meth:`PluginHost.render_batch`); the input clip is sent once and then named by its
hash; and while the worker waits for a request it flushes the plugins the last render
used and loads (and warms up) spare instances of the ones reloaded before each use (the
Dragonfly reverb, ZynPhaser), so a render finds its plugins clear instead of clearing them
first.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.plugin_worker import ERRORS, ClipStore, chain_data, serve
from serumrnn.server.rack.profile import Profile, ProfileError, load_profile
from serumrnn.server.rack.render import RenderError, RenderSettings

#: A render (or the first render of a chain, which may warm a plugin up) that takes longer
#: than this is a hung plugin. Debian rack: 2-55 ms per render, the phaser's first 55 ms.
RENDER_TIMEOUT_S = 20.0
#: Starting the child (a fresh interpreter, DawDreamer's import) and loading every plugin.
LOAD_TIMEOUT_S = 60.0
#: What builds the renderer in the child: "module:function(profile, settings, **options)".
DEFAULT_FACTORY = "serumrnn.server.rack.plugin_worker:plugin_rack"


#: What the parent's wait returns when the worker does not hold a clip it was named.
_MISSING = object()


class PluginHostError(RenderError):
    """The plugin worker hung, crashed or could not start; the next call restarts it."""


class PluginHost:
    """A profile's plugins in a worker process, with the open rack's three calls.

    >>> host = PluginHost("debian_test")
    >>> audio = host.render([FX("distortion", mode="Tube", drive=0.7)])

    One call at a time (a lock); ``timeout_s`` bounds each render, ``load_timeout_s`` the
    start. Load errors (a missing plugin, a parameter the plugin lacks) are raised here as
    the same class the plugin rack raises, naming the profile file and key. ``factory``
    names the function the child builds its renderer with (tests script a fake one).
    """

    def __init__(
        self,
        profile: str | os.PathLike[str] | Mapping[str, Any] | Profile,
        settings: RenderSettings | None = None,
        *,
        plugin_path: str | os.PathLike[str] | None = None,
        strict_names: bool = True,
        timeout_s: float = RENDER_TIMEOUT_S,
        load_timeout_s: float = LOAD_TIMEOUT_S,
        factory: str = DEFAULT_FACTORY,
    ):
        self.profile = load_profile(profile)
        self.settings = RenderSettings() if settings is None else settings
        self.timeout_s, self.load_timeout_s, self.factory = timeout_s, load_timeout_s, factory
        self._options: dict[str, Any] = {"strict_names": strict_names}
        if plugin_path is not None:
            self._options["plugin_path"] = os.fspath(plugin_path)
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Any = None
        self._presets: tuple[str, ...] = ()
        self._dry: dict[tuple[str | None, int], np.ndarray] = {}
        self._clips = ClipStore()  # what the worker holds (values not kept here)
        self.starts = 0
        self.load_s = 0.0
        with self._lock:
            self._start()

    @property
    def label(self) -> str:
        """What reports and replies call this renderer."""
        return f"plugins: {self.profile.name}"

    def extra_knobs(self, effect: str) -> tuple[str, ...]:
        """The effect's extra knobs the profile maps (as ``PluginRack.extra_knobs``): read
        from the profile here, so asking never waits on the worker."""
        m = self.profile.effects.get(effect)
        return () if m is None else tuple(m.extra)

    # -- the worker

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        p = self.profile
        args = (child, self.factory, dict(p.raw), p.source, p.base_dir, asdict(self.settings), self._options)
        t = time.perf_counter()
        proc = ctx.Process(target=serve, args=args, daemon=True, name=f"plugins-{p.name}")
        proc.start()
        child.close()
        self._clips = ClipStore()
        self._proc, self._conn = proc, parent
        self.starts += 1
        reply = self._wait("load", self.load_timeout_s)
        self.load_s = time.perf_counter() - t
        self._presets = tuple(reply["presets"])

    def _stop(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is not None and proc.is_alive():
            proc.kill()
        if proc is not None:
            proc.join(5)

    def _wait(self, what: str, timeout: float) -> Any:
        """The worker's answer; each sound of a batch (a "progress" message) restarts the
        clock, so ``timeout`` bounds one render however many a request holds."""
        where = f"profile {self.profile.source}"
        reply: Any = ("progress",)
        while reply[0] == "progress":
            try:
                ready = self._conn.poll(timeout)
            except (EOFError, OSError):
                ready = True  # the pipe closed: recv says so below
            if not ready:
                self._stop()
                raise PluginHostError(
                    f"{where}: the plugins did not finish the {what} within {timeout:g} s "
                    "(a hung plugin); its worker was stopped and restarts on the next render"
                )
            try:
                reply = self._conn.recv()
            except (EOFError, OSError):
                proc = self._proc
                if proc is not None:
                    proc.join(2)
                code = None if proc is None else proc.exitcode
                self._stop()
                raise PluginHostError(
                    f"{where}: the plugin worker ended during the {what} (exit code {code}; "
                    "a crashing plugin); it restarts on the next render"
                ) from None
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "missing":
            return _MISSING
        _, name, text, key_path = reply
        if what == "load":
            self._stop()
        cls = ERRORS.get(name, RenderError)
        if cls is ProfileError:
            raise ProfileError(text, key_path)
        raise cls(text)

    def _exchange(self, op: str, args: tuple[Any, ...]) -> Any:
        """Send one request and wait for its answer (the lock is held)."""
        if self._proc is None or not self._proc.is_alive():
            self._stop()
            self._start()
        try:
            self._conn.send((op, args))
        except (OSError, ValueError):
            self._stop()
            raise PluginHostError(
                f"profile {self.profile.source}: the plugin worker is gone; it restarts on the next render"
            ) from None
        return self._wait(op, self.timeout_s)

    def _call(self, op: str, *args: Any) -> Any:
        with self._lock:
            return self._exchange(op, args)

    def _call_clip(self, op: str, audio: np.ndarray, rest: Any) -> Any:
        """A request about a clip: named by its hash when the worker holds it already (a
        session's input is sent once, not with every candidate), else sent with it."""
        clip = np.ascontiguousarray(audio, np.float32)
        key = f"{clip.shape}:{hashlib.sha1(clip.data).hexdigest()}"
        with self._lock:
            if key in self._clips.clips:
                out = self._exchange(op, (key, None, rest))
                if out is not _MISSING:
                    return out
            out = self._exchange(op, (key, clip, rest))
            self._clips.put(key, None)
            return out

    def close(self) -> None:
        """Stop the worker (it also stops with this process)."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.send(("close", ()))
                except (OSError, ValueError):
                    pass
            if self._proc is not None:
                self._proc.join(2)
            self._stop()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    # -- the Renderer protocol

    @property
    def presets(self) -> tuple[str, ...]:
        return self._presets

    def render(
        self, chain: Chain | Sequence[FX] = (), preset: str | None = None, *, note: int | None = None
    ) -> np.ndarray:
        """Mono float32 of ``preset`` (None: the profile's default) through ``chain``."""
        return np.asarray(self._call("render", chain_data(chain), preset, note), np.float32)

    def dry(self, preset: str | None = None, *, note: int | None = None) -> np.ndarray:
        """The synth alone (cached here too: it is the same every time)."""
        key = (preset, self.settings.note if note is None else int(note))
        if key not in self._dry:
            self._dry[key] = np.asarray(self._call("dry", preset, note), np.float32)
        return self._dry[key].copy()

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray:
        """A clip (a capture, a producer's file) through the chain's effect plugins."""
        out = self._call_clip("process", np.asarray(audio, np.float32), chain_data(chain))
        return np.asarray(out, np.float32)

    def render_batch(
        self,
        chains: Sequence[Chain | Sequence[FX]],
        *,
        preset: str | None = None,
        note: int | None = None,
        audio: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Several chains in one round trip to the worker (a verified step's candidates):
        from ``audio`` when given (as :meth:`process`), else from ``preset`` (as
        :meth:`render`). Each sound is what the single call returns."""
        data = [chain_data(c) for c in chains]
        if audio is None:
            out = self._call("render_many", data, preset, note)
        else:
            out = self._call_clip("process_many", np.asarray(audio, np.float32), data)
        return [np.asarray(a, np.float32) for a in out]


class HostPool:
    """One :class:`PluginHost` per (profile, settings), started on first use and kept: a
    server's sessions share the plugins instead of loading them per request."""

    def __init__(self, **host_options: Any):
        self._hosts: dict[str, PluginHost] = {}
        self._lock = threading.Lock()
        self._options = host_options

    @staticmethod
    def key(profile: Profile, settings: RenderSettings) -> str:
        return json.dumps([profile.source, profile.raw, settings.to_json()], sort_keys=True, default=str)

    def get(
        self, profile: Profile | str | os.PathLike[str], settings: RenderSettings | None = None
    ) -> PluginHost:
        """The host for ``profile``; a profile that fails to load raises and is not kept."""
        p = load_profile(profile)
        s = RenderSettings() if settings is None else settings
        k = self.key(p, s)
        with self._lock:
            host = self._hosts.get(k)
            if host is None:
                host = PluginHost(p, s, **self._options)
                self._hosts[k] = host
            return host

    def __len__(self) -> int:
        return len(self._hosts)

    def close(self) -> None:
        with self._lock:
            hosts, self._hosts = list(self._hosts.values()), {}
        for h in hosts:
            h.close()
