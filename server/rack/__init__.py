"""Renderers: the open Faust rack (default) and real plugins through a profile.

The API in four nouns: ``FX`` (an effect and its knobs), ``Chain`` (effects in order),
``OpenRack`` / ``PluginRack`` (renderers with one ``render(chain, preset)`` call).
"""

from serumrnn.server.rack.chain import FX, Chain
from serumrnn.server.rack.open_rack import OpenRack
from serumrnn.server.rack.plugins import PluginLoadError, PluginRack
from serumrnn.server.rack.profile import ProfileError, load_profile
from serumrnn.server.rack.render import DEFAULT_NOTE, Renderer, RenderError, RenderSettings, renderer_label

__all__ = [
    "FX",
    "Chain",
    "DEFAULT_NOTE",
    "RenderError",
    "Renderer",
    "RenderSettings",
    "renderer_label",
    "OpenRack",
    "PluginRack",
    "load_profile",
    "ProfileError",
    "PluginLoadError",
]
