"""``serumrnn eval-plugins``'s pieces with scripted models: every row runs on one target
drawn on the Debian plugins and counts what it spent (the figures come from the command)."""

from __future__ import annotations

import numpy as np
from stub_models import StubModels

from serumrnn.server import spec
from serumrnn.server.rack import FX, Chain
from serumrnn.training import plugin_eval as PE


def test_pairs_cover_every_length_in_turn_from_their_own_stream():
    chains = PE.draw_plugin_pairs("basic_shapes", 2 * spec.MAX_STEPS)
    assert [len(c) for c in chains] == [1 + i % spec.MAX_STEPS for i in range(2 * spec.MAX_STEPS)]
    assert PE.draw_plugin_pairs("basic_shapes", 3) == chains[:3]  # a longer run extends a shorter one
    assert len({tuple(sorted(f.name for f in c)) + tuple(c[0].knobs.values()) for c in chains}) == len(chains)


def test_every_row_runs_and_counts(rack, host):
    truth = Chain([FX("distortion", mode="Tube", drive=0.5), FX("eq", freq=0.6, q=0.5, gain=0.9)])
    models = StubModels(ranking=["distortion", "eq", "reverb", "compressor", "phaser"])
    pair = PE.run_pair(models, rack, host, truth, k=2, refine_budget=6)
    rows = pair["rows"]
    assert set(rows) == set(PE.ROWS)
    assert rows["open"]["open_renders"] > 0 and rows["open"]["plugin_renders"] == 1
    assert rows["device"]["captures"] >= 2 and rows["device"]["plugin_renders"] == 1
    assert rows["plugins"]["open_renders"] == 0 and rows["plugins"]["plugin_renders"] > 2
    assert rows["plugins_refine"]["plugin_renders"] > rows["plugins"]["plugin_renders"]
    for name in ("device_search", "plugins_search"):  # the server's default loop: the knob search
        assert rows[name]["steps_offered"] >= 1
    assert rows["device_search"]["captures"] >= 2 and rows["plugins_search"]["open_renders"] == 0
    # the server given the profile simulates on the plugins; the captures still judge
    bp = rows["device_plugins"]
    assert bp["open_renders"] == 0 and bp["plugin_renders"] > 2 and bp["captures"] >= 2
    assert rows["device_search"]["open_renders"] > 0 and rows["device_search"]["plugin_renders"] == 1
    for name in ("device", "device_search", "device_plugins", "plugins", "plugins_refine", "plugins_search"):
        assert not rows[name]["worse_any"], name  # never worse
    # the fine-tune step (a server on the plugins): the same steps, then one capture more when
    # it is offered, and a tune is kept only when that capture (the plugins' sound) is closer
    plain, tuned = rows["device_plugins"], rows["device_plugins_tune"]
    assert not tuned["worse_any"] and tuned["captures"] >= plain["captures"]
    assert tuned["end"]["mse"] <= plain["end"]["mse"]
    for name in ("plugins", "plugins_refine"):
        assert rows[name]["end"]["mse"] < pair["start"]["mse"], name
    assert rows["device"]["steps_offered"] == rows["device"]["captures"] - 1  # one capture per offer
    # the stub's mid knobs overshoot on the plugins: a capture takes the step back, and the
    # retry with knobs corrected by that capture is what brings the sound closer
    assert rows["device"]["taken_back"] >= 1 and rows["device"]["end"]["mse"] < pair["start"]["mse"]
    # the ceiling: the truth rendered again; with no phaser the plugins render it exactly
    assert rows["oracle"]["chain"] == truth.to_json() and rows["oracle"]["steps_offered"] == 0
    assert rows["oracle"]["end"]["mse"] < 1e-6 * pair["start"]["mse"]
    assert all(rows["oracle"]["end"]["mse"] <= r["end"]["mse"] for r in rows.values())
    assert PE.summarize([pair], "oracle")["ms_per_step"] is None  # it offers no step
    s = PE.summarize([pair], "plugins")
    assert s["pairs"] == 1 and s["mse_pct"] < 0 and np.isfinite(s["ms_per_step"])
    text = PE.markdown(
        {
            "group": "basic_shapes",
            "profile": "debian_test",
            "pairs": 1,
            "k": 2,
            "refine_budget": 6,
            "pairs_done": [pair],
        }
    )
    assert all(label in text for label in PE.ROWS.values()) and "1 of 1 pairs done" in text
