"""One plugin in a DawDreamer engine of its own: loading it, resolving a profile's parameter
names on it, clearing what a render left in it, and rendering audio through it.

A plugin whose profile says ``"reset": "reload"`` (Dragonfly Hall: its tail survives a
flush, and a flushed instance still differed by 0.3 from a fresh one; ZynPhaser: its LFO
runs on across renders) needs a fresh instance before every use. Loading one costs as
much as a render (about 30 ms), so the stage keeps :data:`SPARES` fresh instances loaded
ahead: :meth:`PluginStage.refill` loads one when the plugin worker has nothing else to do,
and a reset takes a spare instead of loading on the render's path. A spare renders nothing
but its warm-up before it is used, so it is as fresh as a load.

A plugin with ``warmup_s`` first runs that much silence with :attr:`PluginStage.warm_settings`
(the profile's fixed values, never a render's knobs), so every instance starts its renders
from one state. ZynPhaser needs this: its effect LFO starts at a random depth drawn from
Zyn's process-wide generator and settles after two cycles at the fixed LFO settings, and
its phase after the warm-up is then the same on every fresh instance. So a reloaded and
warmed ZynPhaser renders a clip bit for bit the same every time, in any process.

A ``"flush"`` plugin is flushed in the worker's idle time too, so a render finds it clear.
"""

from __future__ import annotations

import difflib
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server.rack.plugin_files import PluginLoadError, check_plugin_file, quiet_output
from serumrnn.server.rack.profile import ParamRef, PluginSpec, Profile, ProfileError
from serumrnn.server.rack.render import RenderError, RenderSettings, daw

#: Output below this peak counts as silence when flushing a plugin's tail.
SILENCE = 1e-6
FLUSH_CHUNK_S = 0.25
#: Length of the test tone every effect plugin must answer when it loads.
PROBE_S = 0.1
#: Fresh instances a ``"reload"`` plugin keeps loaded ahead: one per candidate of a
#: verified step (k = 3) and one more, so a whole step's renders take spares.
SPARES = 4


@dataclass
class Instance:
    """One loaded copy of a plugin: DawDreamer's (untyped) engine, processor and player."""

    engine: Any
    proc: Any
    player: Any
    n_params: int
    n_in: int
    n_out: int
    latency: int
    load_s: float
    preset_file: str | None


def _match(want: str, have: str) -> bool:
    """Names equal up to case and spaces, or ``have`` is ``want`` cut short (VST2 truncates
    names, e.g. ZynDistortion's "High-Pass Filte")."""
    w, h = " ".join(want.split()).casefold(), " ".join(have.split()).casefold()
    return w == h or (len(h) >= 8 and w.startswith(h))


class PluginStage:
    """One plugin in a DawDreamer engine of its own, with a player in front for effects."""

    def __init__(
        self,
        label: str,
        path: str,
        plugin: PluginSpec,
        settings: RenderSettings,
        *,
        instrument: bool,
        quiet: bool = True,
    ):
        self.label = label
        self.path = path
        self.plugin = plugin
        self.settings = settings
        self.instrument = instrument
        self.quiet = quiet
        self.preset_file: str | None = None
        self.dirty = False
        self._spares: list[Instance] = []
        #: (parameter index, value) pairs the warm-up sets: the rack fills it with the
        #: profile's fixed values once it has resolved them.
        self.warm_settings: list[tuple[int, float]] = []
        #: The loaded copy in use; a reset swaps in a fresh one (a spare, or loaded now).
        self.inst = self._open()
        #: A fresh instance is cold until :meth:`prepare` warms it up.
        self.cold = plugin.warmup_s > 0
        self.param_names = [self.inst.proc.get_parameter_name(i) for i in range(self.inst.n_params)]
        if not instrument:
            self._probe()

    def _open(self) -> Instance:
        """Load a fresh copy of the plugin (with the current preset file, if any)."""
        check_plugin_file(self.path)
        t = time.perf_counter()
        s = self.settings
        engine = daw().RenderEngine(s.sample_rate, s.block_size)
        err: Exception | None = None
        with quiet_output(self.quiet) as log:
            try:
                proc = engine.make_plugin_processor(self.label, self.path)
            except Exception as e:  # DawDreamer raises RuntimeError("Unable to load plugin.")
                err = e
        if err is not None:
            said = log[0].decode(errors="replace").strip().splitlines()[-1:] if log else []
            raise PluginLoadError(
                f"DawDreamer could not load the plugin {self.path}: {err}" + (f" [{said[0]}]" if said else "")
            ) from None
        n_in, n_out = int(proc.get_num_input_channels()), int(proc.get_num_output_channels())
        if n_out < 1:
            raise PluginLoadError(f"{self.path} has no audio output: it does not process audio")
        player = None
        if self.instrument:
            engine.load_graph([(proc, [])])
        else:
            if n_in < 1:
                raise PluginLoadError(f"{self.path} has no audio input: it cannot be an effect")
            player = engine.make_playback_processor("player", np.zeros((n_in, 1), np.float32))
            engine.load_graph([(player, []), (proc, ["player"])])
        if self.preset_file is not None:
            _load_preset_file(proc, self.path, self.preset_file, self.quiet)
        n_params = int(proc.get_plugin_parameter_size())
        latency = max(0, int(proc.get_latency_samples()))
        return Instance(
            engine, proc, player, n_params, n_in, n_out, latency, time.perf_counter() - t, self.preset_file
        )

    def _load(self) -> None:
        """A fresh, warm instance: a spare loaded ahead (same preset), else loaded now."""
        spares = [s for s in self._spares if s.preset_file == self.preset_file]
        self._spares = spares[1:]
        self.inst = spares[0] if spares else self._warm(self._open())
        self.cold = False

    def refill(self) -> bool:
        """Idle work, one piece per call (the plugin worker calls this while no request
        waits): clear what the last render left (flush, or swap in a spare), else load a
        spare if this plugin is reloaded before use and has fewer than :data:`SPARES`.
        True when it did something, so the next render finds the plugin ready."""
        reload = self.plugin.reset == "reload"
        if (
            self.dirty
            and (self.plugin.reset == "flush" or (reload and self._spares))
            or (self.cold and not self.dirty)
        ):
            self.prepare()
            return True
        if not reload or len(self._spares) >= SPARES:
            return False
        self._spares.append(self._warm(self._open()))
        return True

    def _probe(self) -> None:
        """Refuse an effect that answers a test tone with silence at its default settings
        (an instrument loaded as an effect, a plugin whose audio path is dead)."""
        sr = self.settings.sample_rate
        n = int(PROBE_S * sr)
        tone = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(n) / sr)
        out = self.run(np.tile(tone.astype(np.float32), (self.inst.n_in, 1)), n)
        if float(np.max(np.abs(out))) < SILENCE:
            raise PluginLoadError(f"{self.path} answers a test tone with silence: it does not process audio")

    # -- parameters

    def resolve(self, ref: ParamRef, profile: Profile, strict: bool = True) -> int:
        """The parameter index ``ref`` means on this plugin, checked against its names.

        With ``strict=False`` an index whose name differs only warns (an escape hatch for
        a plugin version that renamed a parameter the profile names by index too)."""

        def fail(msg: str) -> ProfileError:
            return ProfileError(
                f"profile {profile.source}: {ref.where}: {msg} "
                f"(plugin {self.path}, {self.inst.n_params} parameters)",
                ref.where,
            )

        if ref.index is not None:
            if ref.index >= self.inst.n_params:
                raise fail(f"parameter index {ref.index} is out of range")
            have = self.param_names[ref.index]
            if ref.name is not None and not _match(ref.name, have):
                if strict:
                    raise fail(
                        f"parameter #{ref.index} is {have!r}, not {ref.name!r}; if "
                        f"the index is right, PluginRack(..., strict_names=False)"
                    )
                warnings.warn(
                    f"profile {profile.source}: {ref.where}: parameter "
                    f"#{ref.index} is {have!r}, not {ref.name!r}; using the index",
                    stacklevel=2,
                )
            return ref.index
        assert ref.name is not None
        hits = [
            i
            for i, n in enumerate(self.param_names)
            if " ".join(n.split()).casefold() == " ".join(ref.name.split()).casefold()
        ]
        if not hits:
            hits = [i for i, n in enumerate(self.param_names) if _match(ref.name, n)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise fail(f"parameter name {ref.name!r} is ambiguous (indices {hits}); give 'index'")
        close = difflib.get_close_matches(ref.name, self.param_names, n=3)
        raise fail(
            f"parameter {ref.name!r} not found" + (f"; close: {', '.join(map(repr, close))}" if close else "")
        )

    def set(self, index: int, value: float) -> None:
        self.inst.proc.set_parameter(int(index), float(value))

    def get(self, index: int) -> float:
        return float(self.inst.proc.get_parameter(int(index)))

    # -- presets

    def use_preset(self, path: str | None) -> None:
        """Load a preset file, or go back to the plugin's own state (``None``: reload)."""
        if path == self.preset_file:
            return
        if path is None:
            self.preset_file = None
            self._load()
        else:
            _load_preset_file(self.inst.proc, self.path, path, self.quiet)
            self.preset_file = path
        self.dirty = False

    # -- audio

    def prepare(self) -> None:
        """Clear what the last render left in the plugin (tails, LFO phases) if needed,
        and warm a cold instance up. Call before setting a render's parameters."""
        if self.dirty:
            if self.plugin.reset == "reload":
                self._load()
            elif self.plugin.reset == "flush":
                self._flush()
            self.dirty = False
        if self.cold:
            self._warm(self.inst)
            self.cold = False

    def _flush(self) -> None:
        sr = self.settings.sample_rate
        n = int(round(FLUSH_CHUNK_S * sr))
        if self.instrument:
            self.inst.proc.clear_midi()
        else:
            self.inst.player.set_data(np.zeros((self.inst.n_in, n), np.float32))
        done = 0.0
        while done < self.plugin.flush_max_s:
            self.inst.engine.render((n + 0.5) / sr)
            done += FLUSH_CHUNK_S
            out = self.inst.engine.get_audio()
            if out.size == 0 or float(np.max(np.abs(out))) < SILENCE:
                break

    def _warm(self, inst: Instance) -> Instance:
        """Run ``warmup_s`` of silence through ``inst`` with :attr:`warm_settings` set, so
        its start-up randomness settles the same way every time (see the module
        docstring). Instruments: before a note is added."""
        n = int(round(self.plugin.warmup_s * self.settings.sample_rate))
        if n <= 0:
            return inst
        for index, value in self.warm_settings:
            inst.proc.set_parameter(int(index), float(value))
        if self.instrument:
            inst.proc.clear_midi()
        else:
            inst.player.set_data(np.zeros((inst.n_in, n), np.float32))
        inst.engine.render((n + 0.5) / self.settings.sample_rate)
        return inst

    def play(self, note: int) -> np.ndarray:
        """An instrument's ``note``, held for the settings' note length and rendered for
        their render length: (channels, n) float32."""
        s = self.settings
        self.inst.proc.clear_midi()
        self.inst.proc.add_midi_note(int(note), s.velocity, 0.0, s.note_s)
        return self.run(None, s.n_samples)

    def run(self, audio: np.ndarray | None, n: int) -> np.ndarray:
        """Render ``n`` samples: the instrument's MIDI, or ``audio`` (channels, n) through
        the effect. Returns (channels, n) float32."""
        sr = self.settings.sample_rate
        lat = self.inst.latency
        if audio is not None:
            x = _channels(audio, self.inst.n_in)
            if lat:
                x = np.concatenate([x, np.zeros((x.shape[0], lat), np.float32)], axis=1)
            self.inst.player.set_data(np.ascontiguousarray(x, np.float32))
        self.inst.engine.render((n + lat + 0.5) / sr)
        self.dirty = True
        out = np.asarray(self.inst.engine.get_audio(), np.float32)[:, lat : lat + n]
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1])))
        if not np.isfinite(out).all():
            raise RenderError(f"the plugin {self.path} ({self.plugin.key}) produced NaN or infinite samples")
        return out


def _channels(audio: np.ndarray, n: int) -> np.ndarray:
    """Fit (channels, samples) audio to a plugin's ``n`` inputs: mix down or copy up."""
    c = audio.shape[0]
    if c == n:
        return audio
    if n == 1:
        return np.asarray(audio.mean(axis=0, keepdims=True))
    if c == 1:
        return np.repeat(audio, n, axis=0)
    return np.concatenate([audio, np.zeros((n - c, audio.shape[1]), audio.dtype)])[:n] if c < n else audio[:n]


def _load_preset_file(proc: Any, plugin_path: str, path: str, quiet: bool) -> None:
    if not Path(path).is_file():
        raise RenderError(f"preset file not found: {path}")
    loader = proc.load_vst3_preset if path.lower().endswith(".vstpreset") else proc.load_preset
    with quiet_output(quiet):
        ok = loader(path)
    if not ok:
        raise RenderError(f"the plugin {plugin_path} refused the preset {path}")
