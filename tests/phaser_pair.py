"""A pair the steps leave a little short of: the target is a phaser, and scripted models
give the right effect with its notches a little off (their basin is narrow), so only a
fine-tune of the knobs closes the rest (tests/test_fine_tune.py, tests/test_tune_step.py)."""

from __future__ import annotations

from serumrnn.server.rack import FX

TRUTH = [FX("phaser", depth=0.47, freq=0.59, feedback=0.03)]
#: The phaser model's knobs: right effect, notches a little off.
KNOBS = {"phaser": {"depth": 0.53, "freq": 0.575, "feedback": 0.0}}
RANKING = ["phaser", "eq", "reverb", "distortion", "compressor"]


def render_target(rack):
    """The target sound: the truth on the open rack's saw."""
    return rack.render(TRUTH, "saw")


def preset_session(rack, target, **settings):
    """A preset session from the saw towards ``target``: the scripted models, the search loop,
    a fine-tune of 60 renders (``settings`` may change any of the assistant's)."""
    from stub_models import StubModels

    from serumrnn.server.assistant import Assistant

    return Assistant(
        StubModels(RANKING, KNOBS),
        target,
        **{"renderer": rack, "preset": "saw", "loop": "search", "fine_tune": 60, **settings},
    )
