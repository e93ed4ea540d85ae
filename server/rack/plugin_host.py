"""Real plugins hosted in a worker process, behind the same ``Renderer`` protocol.

Why a separate process: loading plugins can change the host process for good. Measured
with the Debian plugins: after ``PluginRack("debian_test").dry("saw")`` the float32 product
``5e-40 * 1`` is 0.0 (the FPU flushes denormals to zero), and an ``OpenRack`` built
afterwards in the same process aborts it inside Faust's compiler. A plugin can also hang
or crash. So :class:`PluginHost` runs a :class:`~serumrnn.server.rack.plugins.PluginRack`
in a child started with the *spawn* method (a fresh interpreter, nothing inherited), and
talks to it over a pipe:

* the plugins load once, when the host starts (errors then name the profile file and key);
* every call waits at most ``timeout_s``; a render that takes longer is a hung plugin: the
  child is killed and the call raises :class:`PluginHostError`;
* a child that dies (a crashing plugin) makes the call raise :class:`PluginHostError`;
* either way the next call starts a fresh child, so one bad render costs one error.

:class:`HostPool` keeps one host per (profile, settings) so a server loads a profile's
plugins once, not per request.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.plugins import PluginLoadError
from serumrnn.server.rack.profile import Profile, ProfileError, load_profile, parse_profile
from serumrnn.server.rack.render import RenderError, RenderSettings

#: A render (or the first render of a chain, which may warm a plugin up) that takes longer
#: than this is a hung plugin. Debian rack: 2-55 ms per render, the phaser's first 55 ms.
RENDER_TIMEOUT_S = 20.0
#: Starting the child (a fresh interpreter, DawDreamer's import) and loading every plugin.
LOAD_TIMEOUT_S = 60.0
#: What builds the renderer in the child: "module:function(profile, settings, **options)".
DEFAULT_FACTORY = "serumrnn.server.rack.plugin_host:plugin_rack"


class PluginHostError(RenderError):
    """The plugin worker hung, crashed or could not start; the next call restarts it."""


def plugin_rack(profile: Profile, settings: RenderSettings, **options: Any) -> Any:
    """The default factory: the plugins themselves (runs in the child)."""
    from serumrnn.server.rack.plugins import PluginRack

    return PluginRack(profile, settings, **options)


def _factory(dotted: str) -> Callable[..., Any]:
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def _chain_data(chain: Chain | Sequence[FX]) -> list[tuple[str, dict[str, float]]]:
    return [(fx.name, dict(fx.knobs)) for fx in chain]


def _chain(data: Sequence[tuple[str, Mapping[str, float]]]) -> Chain:
    return Chain([FX(name, knobs) for name, knobs in data])


#: Errors the child sends back by name, rebuilt as the same class in the parent.
_ERRORS: dict[str, type[Exception]] = {
    "ProfileError": ProfileError,
    "PluginLoadError": PluginLoadError,
    "RenderError": RenderError,
    "ValueError": ValueError,
    "KeyError": KeyError,
}


def _error_reply(e: BaseException) -> tuple[str, str, str, str | None]:
    name = type(e).__name__
    if name not in _ERRORS:
        name = next((n for n, c in _ERRORS.items() if isinstance(e, c)), "RenderError")
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return ("error", name, " ".join(str(text).split()), getattr(e, "key_path", None))


def _serve(conn: Any, factory: str, raw: dict, source: str, base: str, settings: dict, options: dict) -> None:
    """The child's loop: build the renderer, then answer (op, args) until told to stop."""
    try:
        profile = parse_profile(raw, source, Path(base))
        rack = _factory(factory)(profile, RenderSettings(**settings), **options)
        conn.send(("ok", {"presets": tuple(rack.presets)}))
    except BaseException as e:  # everything goes back to the parent as one line
        conn.send(_error_reply(e))
        return
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        if op == "close":
            return
        try:
            if op == "render":
                out: Any = rack.render(_chain(args[0]), args[1], note=args[2])
            elif op == "dry":
                out = rack.dry(args[0], note=args[1])
            elif op == "process":
                out = rack.process(args[0], _chain(args[1]))
            else:
                raise ValueError(f"unknown plugin-host request {op!r}")
            conn.send(("ok", np.asarray(out, np.float32)))
        except Exception as e:
            conn.send(_error_reply(e))


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
        profile: str | os.PathLike | Mapping[str, Any] | Profile,
        settings: RenderSettings | None = None,
        *,
        plugin_path: str | os.PathLike | None = None,
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
        self.starts = 0
        self.load_s = 0.0
        with self._lock:
            self._start()

    @property
    def label(self) -> str:
        """What reports and replies call this renderer."""
        return f"plugins: {self.profile.name}"

    # -- the worker

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        p = self.profile
        args = (child, self.factory, dict(p.raw), p.source, p.base_dir, asdict(self.settings), self._options)
        t = time.perf_counter()
        proc = ctx.Process(target=_serve, args=args, daemon=True, name=f"plugins-{p.name}")
        proc.start()
        child.close()
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
        where = f"profile {self.profile.source}"
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
        _, name, text, key_path = reply
        if what == "load":
            self._stop()
        cls = _ERRORS.get(name, RenderError)
        if cls is ProfileError:
            raise ProfileError(text, key_path)
        raise cls(text)

    def _call(self, op: str, *args: Any) -> np.ndarray:
        with self._lock:
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
        return self._call("render", _chain_data(chain), preset, note)

    def dry(self, preset: str | None = None, *, note: int | None = None) -> np.ndarray:
        """The synth alone (cached here too: it is the same every time)."""
        key = (preset, self.settings.note if note is None else int(note))
        if key not in self._dry:
            self._dry[key] = self._call("dry", preset, note)
        return self._dry[key].copy()

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray:
        """A clip (a capture, a producer's file) through the chain's effect plugins."""
        return self._call("process", np.asarray(audio, np.float32), _chain_data(chain))


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

    def get(self, profile: Profile | str | os.PathLike, settings: RenderSettings | None = None) -> PluginHost:
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
