"""The simulated sounds of candidate chains: rendered from the input through the rack
(the open rack, or a plugin profile standing in for Serum) and judged, once per chain.

A verified step renders several candidates, and the refinement many settings of one;
every one of them shares the chain so far, so each chain's judged sound is kept until
the loop moves on (:meth:`Simulator.prune`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serumrnn.server import judge as J
from serumrnn.server.judge import Sound
from serumrnn.server.rack.chain import Chain, ChainKey
from serumrnn.server.rack.render import Renderer


class Simulator:
    """Renders chains from the input and keeps their judged sounds.

    The input is a preset (``preset``), an input clip (``input_audio``), or, in Live, the
    first capture (:attr:`base`, set when it arrives). ``renders`` counts every render.
    """

    def __init__(
        self, renderer: Renderer, preset: str | None, input_audio: np.ndarray | None, target: Sound
    ) -> None:
        self.renderer, self.preset, self.input_audio, self.target = renderer, preset, input_audio, target
        self.base: np.ndarray | None = None
        self.renders = 0
        self._sounds: dict[ChainKey, Sound] = {}

    @property
    def rendered_flow(self) -> bool:
        """The current sound comes from the renderer (a preset or an input clip), not
        from captures."""
        return self.input_audio is not None or self.preset is not None

    def input_sound(self) -> np.ndarray:
        """The rendered flow's input (not counted as a render: it is the loop's start)."""
        self.base = (
            self.input_audio if self.input_audio is not None else self.renderer.render(Chain(), self.preset)
        )
        return self.base

    def start(self, sound: Sound) -> None:
        """The input is known: it is the empty chain's sound."""
        self._sounds = {Chain().key(): sound}

    def render(self, chain: Chain) -> np.ndarray:
        """The sound of ``chain`` from the input (rack order is the renderer's)."""
        self.renders += 1
        if self.preset is not None and self.input_audio is None:
            return self.renderer.render(chain, self.preset)
        if self.base is None:
            raise RuntimeError("no input sound to simulate from yet: pass the first capture")
        return self.renderer.process(self.base, chain)

    def render_all(self, chains: Sequence[Chain]) -> list[np.ndarray]:
        """The sounds of several chains; a renderer that takes a batch (``render_batch``: the
        plugin worker, one round trip for a step's candidates) gets them at once."""
        batch = getattr(self.renderer, "render_batch", None)
        if batch is None or len(chains) < 2:
            return [self.render(c) for c in chains]
        if self.preset is not None and self.input_audio is None:
            out = batch(chains, preset=self.preset)
        elif self.base is None:
            raise RuntimeError("no input sound to simulate from yet: pass the first capture")
        else:
            out = batch(chains, audio=self.base)
        self.renders += len(chains)
        return [np.asarray(a, np.float32) for a in out]

    def sounds(self, chains: Sequence[Chain], *, exact: bool = False) -> list[Sound]:
        """Judged sounds of several chains (cached per chain, features batched).
        ``exact=False``: the search's fast estimate (see ``judge.Sound``)."""
        keys = [c.key() for c in chains]
        todo = [i for i, k in enumerate(keys) if k not in self._sounds]
        if todo:
            made = J.measure(self.render_all([chains[i] for i in todo]), self.target, exact=exact)
            for i, s in zip(todo, made):
                self._sounds[keys[i]] = s
        if exact:
            for k in keys:
                self._sounds[k] = J.exactly(self._sounds[k], self.target)
        return [self._sounds[k] for k in keys]

    def prune(self, chain: Chain) -> None:
        """Forget simulated sounds that are not on ``chain``'s path."""
        keep = {chain.prefix(n).key() for n in range(len(chain) + 1)}
        self._sounds = {k: v for k, v in self._sounds.items() if k in keep}
