"""``bench_osc(follow=True)``: the bench's client plays the device with the open rack as
Serum, so its round trips time steps that are offered and captures that judge them.

Scripted stub models propose exactly the follow target's knobs, so every step is offered and
every capture (the render of what the reply set) is judged closer: a client that did not set
what the replies ask, or sent the dry saw again, would have its steps taken back."""

from __future__ import annotations

import numpy as np
from stub_models import StubModels

from serumrnn.server import osc
from serumrnn.server.audio_io import load_clip
from serumrnn.server.osc_bench import FOLLOW_TARGET, _Serum, bench_osc, note_audio
from serumrnn.server.osc_wire import Message
from serumrnn.server.rack import FX, OpenRack

P = f"{osc.PREFIX}/step"


def _stub() -> StubModels:
    names = [n for n, _ in FOLLOW_TARGET]
    rest = [n for n in StubModels().ranking if n not in names]
    return StubModels(ranking=names + rest, knobs=dict(FOLLOW_TARGET))


def test_the_follow_client_steps_to_its_target_and_starts_again():
    r = bench_osc(
        None, 1, 3.0, models={"basic_shapes": _stub()}, loop="verified", follow=True, malloc=False, at_least=9
    )
    assert r["lost"] == 0 and r["wrong"] == 0 and r["errors"] == 0
    # Each session: one reply per effect of the target, then the one that judges the last
    # capture and ends it (the target reached), so two of every three replies offer a step.
    # (A client that sent the dry saw again had nearly every reply offer a step: 10 of 11.)
    assert r["steps"] >= 9
    assert abs(r["offered"] / r["steps"] - len(FOLLOW_TARGET) / (len(FOLLOW_TARGET) + 1)) < 0.1


def test_the_follow_clients_serum_sets_what_replies_ask_and_records_it(tmp_path):
    dry = note_audio()
    serum = _Serum(dry, str(tmp_path / "capture.wav"))
    serum.reset()
    np.testing.assert_allclose(load_clip(serum.path), dry, atol=1e-4)
    sid, fx = "s1", FX("distortion", mode=1, drive=0.6)
    reply = [
        Message(f"{P}/effect", (1, sid, 1, "distortion", "Distortion", "Dist Enable", 1.0, 0.3)),
        *[
            Message(f"{P}/knob", (1, sid, k, v, "", ""))
            for k, v in fx.serum_values().items()
            if k != "Dist Enable"
        ],
        Message(f"{P}/end", (1, sid, 1, "distortion", 0, "", 1, "", 0)),
    ]
    serum.apply(reply)
    want = OpenRack().process(dry, [fx])
    np.testing.assert_allclose(load_clip(serum.path), want, atol=1e-4)
    serum.apply([Message(f"{P}/takeback", (2, sid, 1, "distortion", "Dist Enable", 0.0, ""))])
    np.testing.assert_allclose(load_clip(serum.path), dry, atol=1e-4)
