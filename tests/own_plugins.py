"""A renderer that plays the producer's own plugins for the loop's rules (a profile's label)
with the open rack's exact sound, so a test can run Live's flow where the renderer is not
a stand-in for Serum (``judge.offers_tune``) without hosting plugins."""

from __future__ import annotations

from serumrnn.server.rack import OpenRack


class OwnPlugins(OpenRack):
    label = "plugins: own (the open rack's sound)"
