"""Real plugins behind the same renderer API: a JSON *profile* maps the spec onto plugins.

A profile says which plugin is the synth and, for each spec effect, which plugin hosts it
("synth" for the synth's own FX rack, as in Serum, or a separate effect plugin), which
parameter switches it on, which parameter each spec knob drives (and how a 0..1 spec value
becomes that parameter's 0..1 value), and which parameters are pinned to fixed values.
So one ``FX``/``Chain`` renders on the open rack, on Serum, or on free Debian plugins.

Rendering rules (see ``PluginRack``):

* Effects hosted by separate plugins run after the synth in rack order
  (``RenderSettings.rack_order``, Serum's FX rack by default), whatever order the chain
  lists them in, so a profile of separate plugins sounds like Serum's rack.
* Effects hosted inside the synth run in the synth's own order (Serum: its FX rack order,
  stored in the preset); pass the same order as ``rack_order`` so the open rack's
  simulation agrees with it. Every render sets every
  synth-hosted effect's enable parameter, off for those not in the chain, so nothing an
  earlier render switched on leaks into the next one.
* Each plugin sits in a DawDreamer engine of its own: an engine runs every processor it
  owns on each render, in the graph or not (measured: synth + distortion 3 ms, the same
  with four idle effect plugins owned by the engine 32 ms), so a chain costs only the
  plugins it uses.
* DawDreamer's per-render reset does not clear every plugin's DSP state (Dragonfly's
  reverb tail survives it; Zyn effects' LFOs keep running), so a plugin used by a render is
  reset before it is used again, as its ``"reset"`` says: ``"flush"`` renders silence until
  it is silent (cheap for short tails), ``"reload"`` loads a fresh instance (exact; the
  Dragonfly reverb: 49 ms per clip against 26 ms flushed, which still differed by 0.3),
  ``"none"``.

The profile format, its validator and the Serum profile generator live in
:mod:`serumrnn.server.rack.profile`; one plugin's engine, parameters and reset in
:mod:`serumrnn.server.rack.plugin_stage`; file checks in :mod:`serumrnn.server.rack.plugin_files`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.open_rack import PrefixCache, Source
from serumrnn.server.rack.plugin_files import PluginLoadError, check_plugin_file
from serumrnn.server.rack.plugin_stage import PluginStage
from serumrnn.server.rack.profile import (
    INIT_PRESET,
    ParamRef,
    PluginSpec,
    Profile,
    load_profile,
    resolve_file,
)
from serumrnn.server.rack.render import RenderError, RenderSettings

# Where these lived before the split; callers import them from here.
__all__ = ["PluginLoadError", "PluginRack", "PluginStage", "check_plugin_file"]


class PluginRack:
    """Render a chain on real plugins through a profile, with the open rack's API.

    >>> rack = PluginRack("debian_test")
    >>> audio = rack.render([FX("distortion", mode="Tube", drive=0.7)])

    Every plugin of the profile loads once, here (so a bad path or parameter name fails
    now, not mid-dataset). Separate effect plugins run in rack order after the synth;
    effects inside the synth run in the synth's own order (see the module docstring).
    ``plugin_path`` overrides the synth's path (Serum: else ``$SERUMRNN_SERUM_PATH``).
    ``quiet`` hides what plugins print while loading; ``strict_names=False`` lets a
    parameter given by index and name load when the plugin calls it something else.
    """

    def __init__(
        self,
        profile: str | os.PathLike[str] | Mapping[str, Any] | Profile,
        settings: RenderSettings | None = None,
        *,
        plugin_path: str | os.PathLike[str] | None = None,
        quiet: bool = True,
        strict_names: bool = True,
    ):
        self.profile = load_profile(profile)
        settings = RenderSettings() if settings is None else settings  # the spec's rack order now
        self.settings = settings
        p = self.profile
        override = None if plugin_path is None else os.fspath(plugin_path)
        self._synth: PluginStage | None = None
        self._host: PluginStage | None = None
        if p.synth is not None:
            path = self._plugin_path(p.synth, override)
            self._synth = self._stage("synth", path, p.synth, instrument=True, quiet=quiet)
        if p.fx_host is not None:
            path = self._plugin_path(p.fx_host, override if p.synth is None else None)
            self._host = self._stage("fx_host", path, p.fx_host, instrument=False, quiet=quiet)
        self._fx: dict[str, PluginStage] = {}
        for name, m in p.effects.items():
            if m.plugin is not None:
                self._fx[name] = self._stage(
                    name, self._plugin_path(m.plugin), m.plugin, instrument=False, quiet=quiet
                )
        self._index: dict[ParamRef, int] = {}
        for s in p.synth_fixed:
            assert self._synth is not None  # a profile without a synth has no synth.fixed
            self._index[s.ref] = self._synth.resolve(s.ref, p, strict_names)
        for name, m in p.effects.items():
            stage = self._stage_of(name)
            for ref in m.refs():
                self._index[ref] = stage.resolve(ref, p, strict_names)
            if stage.plugin.warmup_s > 0:  # the warm-up runs at the profile's fixed values
                stage.warm_settings += [(self._index[ref], value) for ref, value in m.settings_fixed()]
        self._dry: dict[tuple[str | None, int], np.ndarray] = {}
        self._use_dry_cache = not p.in_synth
        self._prefixes = PrefixCache()

    def _stage_of(self, effect: str | None) -> PluginStage:
        """The plugin that hosts ``effect`` (None: the synth)."""
        m = None if effect is None else self.profile.effect(effect)
        if m is None or m.in_synth:
            stage = self._synth
        else:
            stage = self._host if m.in_fx_host else self._fx[m.effect]
        if stage is None:
            raise RenderError(f"profile {self.profile.name!r} ({self.profile.source}) has no synth")
        return stage

    def _stage(
        self, label: str, path: str, plugin: PluginSpec, *, instrument: bool, quiet: bool
    ) -> PluginStage:
        """Load one plugin; a load error names the profile file and key (one line)."""
        try:
            return PluginStage(label, path, plugin, self.settings, instrument=instrument, quiet=quiet)
        except PluginLoadError as e:
            raise PluginLoadError(f"profile {self.profile.source}: {plugin.key}: {e}") from None

    def _plugin_path(self, plugin: PluginSpec, override: str | None = None) -> str:
        if override:
            return override
        if plugin.path_env and os.environ.get(plugin.path_env):
            return os.environ[plugin.path_env]
        if plugin.path:
            return resolve_file(plugin.path, self.profile.base_dir)
        raise PluginLoadError(
            f"profile {self.profile.name!r} ({self.profile.source}) gives no path for "
            f"{plugin.key}: pass plugin_path=... or set ${plugin.path_env}"
        )

    # -- facts

    @property
    def label(self) -> str:
        """What reports and replies call this renderer."""
        return f"plugins: {self.profile.name}"

    @property
    def presets(self) -> tuple[str, ...]:
        """The synth's presets; none for a profile without a synth (it processes audio)."""
        if self._synth is None:
            return ()
        return (INIT_PRESET,) + tuple(self.profile.presets)

    @property
    def order_follows_chain(self) -> bool:
        """False when some effects live inside the synth or an fx host (they keep that
        plugin's own order)."""
        return not (self.profile.in_synth or self.profile.in_fx_host)

    def load_times(self) -> dict[str, float]:
        """Seconds each plugin took to load (the last time it loaded)."""
        out = {} if self._synth is None else {"synth": self._synth.inst.load_s}
        if self._host is not None:
            out["fx_host"] = self._host.inst.load_s
        out.update({k: s.inst.load_s for k, s in self._fx.items()})
        return out

    def refill(self) -> bool:
        """Load one spare instance of a plugin that is reloaded before each use (see
        :mod:`~serumrnn.server.rack.plugin_stage`); False when every spare is loaded. The
        plugin worker calls this while it waits for a request."""
        stages = [s for s in (self._synth, self._host, *self._fx.values()) if s is not None]
        return any(s.refill() for s in stages)

    def parameter_names(self, effect: str | None = None) -> list[str]:
        """The synth's parameter names, or those of the plugin hosting ``effect``."""
        return list(self._stage_of(effect).param_names)

    def parameter(self, param: str | int, effect: str | None = None) -> float:
        """A parameter's current normalized value on the synth, or on ``effect``'s plugin
        (what the last render set: for checking a profile by hand)."""
        stage = self._stage_of(effect)
        ref = ParamRef(
            param if isinstance(param, int) else None,
            param if isinstance(param, str) else None,
            "parameter()",
        )
        return stage.get(stage.resolve(ref, self.profile))

    # -- rendering

    def _preset_file(self, preset: str | None) -> str | None:
        p = self.profile
        name = p.default_preset if preset is None else preset
        if name is None or name == INIT_PRESET:
            return None
        if name in p.presets:
            return p.presets[name]
        if Path(os.path.expanduser(name)).is_file():
            return str(Path(os.path.expanduser(name)).resolve())
        raise RenderError(
            f"unknown preset {name!r} for profile {p.name!r}; presets: "
            f"{', '.join(self.presets)} (or a preset file path)"
        )

    def extra_knobs(self, effect: str) -> tuple[str, ...]:
        """The effect's extra knobs (``spec.Fixed.extra``) this profile maps to a plugin
        parameter, so a search moves only those (``render.extra_knobs``)."""
        m = self.profile.effects.get(effect)
        return () if m is None else tuple(m.extra)

    def _check(self, chain: Chain) -> None:
        for fx in chain:
            self.profile.effect(fx.name)
            unmapped = sorted(set(fx.extra) - set(self.extra_knobs(fx.name)))
            if unmapped:
                raise RenderError(
                    f"profile {self.profile.name!r} maps no parameter for the {fx.name}'s extra "
                    f"knob{'s' if len(unmapped) > 1 else ''} {', '.join(unmapped)}: it sets "
                    f"{', '.join(self.extra_knobs(fx.name)) or 'only the Table 1 knobs'} on these plugins"
                )

    def _switch(self, stage: PluginStage, hosted: Sequence[str], chain: Sequence[FX]) -> None:
        """Every effect ``stage`` hosts: its settings when the chain has it, else its
        enable off (so nothing an earlier render switched on leaks into this one)."""
        on = {fx.name: fx for fx in chain}
        for name in hosted:
            m = self.profile.effects[name]
            if name in on:
                self._apply(stage, m.settings(on[name]))
            else:
                assert m.enable is not None and m.enable.off is not None
                stage.set(self._index[m.enable.ref], m.enable.off)

    def _apply(self, stage: PluginStage, pairs: Sequence[tuple[ParamRef, float]]) -> None:
        for ref, value in pairs:
            stage.set(self._index[ref], value)

    def _no_synth(self) -> RenderError:
        p = self.profile
        return RenderError(
            f"profile {p.name!r} ({p.source}) has no synth: it processes audio (captures, "
            "files) through its effects with process(), and renders no presets"
        )

    def _synth_audio(self, chain: Chain, preset_file: str | None, note: int) -> np.ndarray:
        p = self.profile
        key = (preset_file, note)
        if self._use_dry_cache and key in self._dry:
            return self._dry[key]
        st = self._synth
        if st is None:
            raise self._no_synth()
        st.prepare()
        st.use_preset(preset_file)
        self._apply(st, [(x.ref, x.value) for x in p.synth_fixed])
        self._switch(st, p.in_synth, chain)
        audio = st.play(note)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak <= 0:
            raise RenderError(
                f"the synth {st.path} rendered silence at note {note} (preset {preset_file or INIT_PRESET})"
            )
        if p.normalize_peak is not None:
            audio = audio * np.float32(p.normalize_peak / peak)
        if self._use_dry_cache:
            self._dry[key] = audio
        return audio

    def _effects(self, audio: np.ndarray, chain: Sequence[FX], source: Source | None = None) -> np.ndarray:
        """``audio`` (channels, n) through the chain's effect plugins. With ``source`` (what
        the audio is: a synth render or a clip's hash), the sound after each rack-order
        prefix is kept, so a search's candidates re-render only from the changed effect on
        (the plugins are reset before each use, so a prefix sounds the same every time)."""
        n = audio.shape[1]
        if self._host is not None:  # one plugin hosts every effect: switch each on or off, run once
            self._host.prepare()
            self._switch(self._host, self.profile.in_fx_host, chain)
            return self._host.run(audio, n)
        ordered = Chain(chain).in_rack_order(self.settings.rack_order)
        keys = [
            None if source is None else (source, ordered.prefix(i + 1).key()) for i in range(len(ordered))
        ]
        start = 0
        for i in range(len(ordered), 0, -1):
            key = keys[i - 1]
            hit = None if key is None else self._prefixes.get(key)
            if hit is not None:
                audio, start = hit, i
                break
        for i in range(start, len(ordered)):
            fx = ordered[i]
            st = self._fx[fx.name]
            st.prepare()
            self._apply(st, self.profile.effects[fx.name].settings(fx))
            audio = st.run(audio, n)
            key = keys[i]
            if key is not None:
                self._prefixes.put(key, audio)
        return audio

    def dry(self, preset: str | None = None, *, note: int | None = None) -> np.ndarray:
        """The synth alone: every effect inside it switched off."""
        return self.render((), preset, note=note)

    def render(
        self, chain: Chain | Sequence[FX] = (), preset: str | None = None, *, note: int | None = None
    ) -> np.ndarray:
        """Mono float32 audio (mean of the channels), exactly ``settings.n_samples`` long.

        ``preset``: a name from the profile, ``"init"``, or a preset file; None: the
        profile's default preset.
        """
        chain = chain if isinstance(chain, Chain) else Chain(chain)
        note = self.settings.note if note is None else int(note)
        if not 0 <= note <= 127:
            raise ValueError(f"MIDI note {note} is outside 0..127")
        self._check(chain)
        if self._synth is None:
            raise self._no_synth()
        audio = self._synth_audio(chain, self._preset_file(preset), note)
        pf = self._preset_file(preset)
        source = ("synth", pf, note) if self._use_dry_cache else None
        audio = self._effects(
            audio, [fx for fx in chain if not self.profile.effects[fx.name].in_synth], source
        )
        return _mono(audio, self.settings.n_samples)

    def process(self, audio: np.ndarray, chain: Chain | Sequence[FX]) -> np.ndarray:
        """Run any clip (mono, or channels x samples) through effects that are separate
        plugins, in rack order. Returns mono float32 of the same length."""
        chain = chain if isinstance(chain, Chain) else Chain(chain)
        self._check(chain)
        inside = [fx.name for fx in chain if self.profile.effects[fx.name].in_synth]
        if inside:
            raise RenderError(
                f"profile {self.profile.name!r}: {', '.join(inside)} live(s) "
                f"inside the synth plugin, so process() cannot run them on "
                f"audio; use render()"
            )
        x = np.asarray(audio, np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError(f"audio must be (samples,) or (channels, samples), got {x.shape}")
        n = x.shape[1]
        source = ("clip", x.shape, hashlib.sha1(np.ascontiguousarray(x).data).digest())
        return _mono(self._effects(x, list(chain), source), n)


def _mono(audio: np.ndarray, n: int) -> np.ndarray:
    out = np.asarray(audio, np.float32).mean(axis=0)[:n]
    if len(out) < n:
        out = np.pad(out, (0, n - len(out)))
    return np.asarray(out, np.float32)
