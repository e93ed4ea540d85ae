"""The plugin worker's side of :class:`~serumrnn.server.rack.plugin_host.PluginHost`: it
builds the renderer in a fresh interpreter, then answers one request at a time over the
pipe, and loads spare plugin instances while no request waits.

Requests are ``(op, args)``: ``render``/``render_many`` (chains from a preset), ``dry``,
``process``/``process_many`` (chains from a clip named by its hash, sent along only when
the worker does not hold it yet). Answers are ``("ok", audio or [audio, ...])``,
``("missing",)`` for a clip the worker does not hold, or ``("error", class, text, key)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.plugin_files import PluginLoadError
from serumrnn.server.rack.profile import Profile, ProfileError, parse_profile
from serumrnn.server.rack.render import RenderError, RenderSettings


def plugin_rack(profile: Profile, settings: RenderSettings, **options: Any) -> Any:
    """The default factory: the plugins themselves (runs in the child)."""
    from serumrnn.server.rack.plugins import PluginRack

    return PluginRack(profile, settings, **options)


def _factory(dotted: str) -> Callable[..., Any]:
    module, _, name = dotted.partition(":")
    made: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return made


def chain_data(chain: Chain | Sequence[FX]) -> list[dict[str, Any]]:
    """A chain as it crosses to the worker: ``Chain.to_json``, so an FX's extra knobs
    travel with its knobs (a pair of name and knobs once dropped them on the way)."""
    return [fx.to_json() for fx in chain]


def _chain(data: Sequence[Mapping[str, Any]]) -> Chain:
    return Chain.from_json(data)


#: Errors the child sends back by name, rebuilt as the same class in the parent.
ERRORS: dict[str, type[Exception]] = {
    "ProfileError": ProfileError,
    "PluginLoadError": PluginLoadError,
    "RenderError": RenderError,
    "ValueError": ValueError,
    "KeyError": KeyError,
}


def _error_reply(e: BaseException) -> tuple[str, str, str, str | None]:
    name = type(e).__name__
    if name not in ERRORS:
        name = next((n for n, c in ERRORS.items() if isinstance(e, c)), "RenderError")
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return ("error", name, " ".join(str(text).split()), getattr(e, "key_path", None))


#: Input clips the worker keeps (a session's input, its captures): a clip it holds is named
#: by its hash instead of sent again. The parent mirrors the same first-in-first-out store.
CLIPS = 8


class ClipStore:
    """Clips by key, the oldest dropped past :data:`CLIPS` (the worker's and the parent's
    copies follow the same rule, so the parent knows what the worker holds)."""

    def __init__(self) -> None:
        self.clips: dict[str, np.ndarray | None] = {}

    def put(self, key: str, audio: np.ndarray | None) -> None:
        self.clips.pop(key, None)
        self.clips[key] = audio
        while len(self.clips) > CLIPS:
            self.clips.pop(next(iter(self.clips)))


class _MissingClip(Exception):
    """The worker does not hold a clip the parent named (the parent then sends it)."""


def _clip(store: ClipStore, key: str, audio: np.ndarray | None) -> np.ndarray:
    if audio is not None:
        store.put(key, audio)
        return audio
    held = store.clips.get(key)
    if held is None:
        raise _MissingClip(key)
    return held


def _answer(rack: Any, store: ClipStore, op: str, args: Sequence[Any], tick: Callable[[], None]) -> Any:
    """One request, in the worker. Batches come back as a list (one pipe round trip), with a
    ``tick`` after each sound, so the parent bounds each render, not the whole batch."""
    if op == "render":
        return rack.render(_chain(args[0]), args[1], note=args[2])
    if op == "render_many":
        return [_ticked(rack.render(_chain(c), args[1], note=args[2]), tick) for c in args[0]]
    if op == "dry":
        return rack.dry(args[0], note=args[1])
    if op in ("process", "process_many"):
        audio = _clip(store, args[0], args[1])
        if op == "process":
            return rack.process(audio, _chain(args[2]))
        return [_ticked(rack.process(audio, _chain(c)), tick) for c in args[2]]
    raise ValueError(f"unknown plugin-host request {op!r}")


def _ticked(audio: np.ndarray, tick: Callable[[], None]) -> np.ndarray:
    tick()
    return audio


def _refill_while_idle(conn: Any, refill: Callable[[], bool] | None) -> Callable[[], bool] | None:
    """While no request waits, load spare plugin instances (``PluginRack.refill``), one at a
    time so a request waits for at most one load. Returns the refill to use next time:
    None once one failed (a spare that does not load is loaded on use, and fails there)."""
    while refill is not None and not conn.poll(0):
        try:
            if not refill():
                break
        except Exception:
            return None
    return refill


def serve(
    conn: Any,
    factory: str,
    raw: dict[str, Any],
    source: str,
    base: str,
    settings: dict[str, Any],
    options: dict[str, Any],
) -> None:
    """The child's loop: build the renderer, then answer (op, args) until told to stop."""
    try:
        profile = parse_profile(raw, source, Path(base))
        rack = _factory(factory)(profile, RenderSettings(**settings), **options)
        conn.send(("ok", {"presets": tuple(rack.presets)}))
    except BaseException as e:  # everything goes back to the parent as one line
        conn.send(_error_reply(e))
        return
    store = ClipStore()
    refill = getattr(rack, "refill", None)
    while True:
        refill = _refill_while_idle(conn, refill)
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        if op == "close":
            return
        try:
            out = _answer(rack, store, op, args, lambda: conn.send(("progress",)))
            conn.send(("ok", out if isinstance(out, list) else np.asarray(out, np.float32)))
        except _MissingClip:
            conn.send(("missing",))
        except Exception as e:
            conn.send(_error_reply(e))
