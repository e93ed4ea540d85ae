"""Plugin profiles: the JSON format that maps the spec onto real plugins, and its checks.

A profile names the synth plugin and, per spec effect, the plugin that hosts it, the
parameter that switches it on, how each spec knob drives a plugin parameter and what is
pinned. :class:`serumrnn.server.rack.plugins.PluginRack` hosts the plugins it names.
This module is JSON only (no DawDreamer), so checks and the device tooling stay light.

Profile format (``profiles/*.json``; relative paths resolve against the file's folder)::

    {"name": "...", "notes": ["..."], "unverified": "why (optional)",
     "fx_host": {"path": ..., "path_env": "VAR", "reset": "flush"},   # optional
     "synth": {"path": "/x/Synth.so" | null, "path_env": "VAR", "reset": "flush",
               "presets": {"saw": "saw.fxp"}, "preset": "saw", "normalize_peak": 0.5,
               "fixed": [{"param": ..., "value": 0.3}]},
     "effects": {"<spec effect>": {
        "plugin": "synth" | "fx_host" | {"path": ..., "reset": "flush"|"reload"|"none",
                             "flush_max_s": 5, "warmup_s": 0},
        "enable": {"param": "bypass", "on": 0.0, "off": 1.0},
        "knobs": {"<spec knob>": {"param": "Drive"}                    # identity
                               | {"param": 3, "map": "lin", "range": [lo, hi]}
                               | {"index": 99, "name": "Dist_Mode", "map": "table",
                                  "values": [one per choice]}
                               | {"param": "f_0", "map": "unit",
                                  "unit": {"unit": "Hz", "lo": 10, "hi": 24000,
                                           "curve": "log"}}
                               | [several of these, all driven by the one knob]},
        "fixed": [{"param": ..., "value": ...}]}}}

Where an effect lives: ``"synth"`` (inside the synth plugin, as in Serum), ``"fx_host"`` (one
effect plugin hosting several effects, as SerumFX hosts Serum's whole FX rack: then every
effect lives there), or a plugin of its own. ``synth`` is optional: a profile without one
processes audio (captures, files) and renders no presets. ``unverified`` says the
profile was never checked against its plugin (written from documentation, not a machine).

A parameter is ``"param"`` (a name or an index) or ``"index"`` and/or ``"name"`` (both:
they must agree). Values are the plugin's normalized 0..1. ``"unit"`` converts through the
spec knob's display unit: spec 0..1 -> Hz/dB/Q (``serumrnn.server.spec``) -> the plugin's 0..1.
``load_profile`` validates a profile against the spec and names the file and key on any
error; parameter names are checked against the plugin when ``PluginRack`` loads it.
"""

from __future__ import annotations

# The profile's parts, importable from here (what the rest of the code does):
# profile_data (the validated objects), profile_check (JSON -> objects), profile_files
# (finding and reading files), serum_profiles (the profiles generated from the spec).
from serumrnn.server.rack.profile_check import parse_profile as parse_profile
from serumrnn.server.rack.profile_check import resolve_file as resolve_file
from serumrnn.server.rack.profile_data import INIT_PRESET as INIT_PRESET
from serumrnn.server.rack.profile_data import MAPS as MAPS
from serumrnn.server.rack.profile_data import PROFILE_DIR as PROFILE_DIR
from serumrnn.server.rack.profile_data import RESET_MODES as RESET_MODES
from serumrnn.server.rack.profile_data import SERUM_PATH_ENV as SERUM_PATH_ENV
from serumrnn.server.rack.profile_data import SHARED_HOSTS as SHARED_HOSTS
from serumrnn.server.rack.profile_data import EffectMap as EffectMap
from serumrnn.server.rack.profile_data import Enable as Enable
from serumrnn.server.rack.profile_data import ParamRef as ParamRef
from serumrnn.server.rack.profile_data import PluginSpec as PluginSpec
from serumrnn.server.rack.profile_data import Profile as Profile
from serumrnn.server.rack.profile_data import ProfileError as ProfileError
from serumrnn.server.rack.profile_data import Setting as Setting
from serumrnn.server.rack.profile_data import Target as Target
from serumrnn.server.rack.profile_files import PROFILE_MAX_BYTES as PROFILE_MAX_BYTES
from serumrnn.server.rack.profile_files import find_profile as find_profile
from serumrnn.server.rack.profile_files import load_profile as load_profile
from serumrnn.server.rack.profile_files import redacted_key_path as redacted_key_path
from serumrnn.server.rack.profile_files import shipped_profiles as shipped_profiles
from serumrnn.server.rack.serum_profiles import SERUMFX_PATH_ENV as SERUMFX_PATH_ENV
from serumrnn.server.rack.serum_profiles import serum_profile as serum_profile
from serumrnn.server.rack.serum_profiles import serum_profile_json as serum_profile_json
from serumrnn.server.rack.serum_profiles import serumfx_profile as serumfx_profile
from serumrnn.server.rack.serum_profiles import serumfx_profile_json as serumfx_profile_json
