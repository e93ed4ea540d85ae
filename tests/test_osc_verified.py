"""The verified loop over OSC, with scripted stub models: every reply here is the same every
run. A capture that shows the applied step made the sound worse is taken back in the same
reply that offers the next candidate; a target the input already matches takes no step."""

from __future__ import annotations

import pytest
from stub_models import StubModels
from test_osc import check_step, new_session, only, set_target
from test_verified import BAD, GOOD

from serumrnn.server import audio_io, osc
from serumrnn.server.osc_cli import OscClient
from serumrnn.server.rack import FX

P = osc.PREFIX


@pytest.fixture(scope="module")
def client(rack):
    from serumrnn.server.osc_server import OscServer

    models = {
        "basic_shapes": StubModels(["distortion", "reverb", "eq", "phaser", "compressor"], {**GOOD, **BAD})
    }
    srv = OscServer(models, "127.0.0.1", 0, 0, rack=rack, loop="verified").start()
    assert srv.steps.loop == "verified"
    with OscClient(srv.address, timeout=30.0) as c:
        yield c
    srv.stop()


def step(c: OscClient, sid: str, capture) -> dict:
    rid = c.next_id()
    return check_step(c.request("step", sid, str(capture), rid=rid), rid, sid)


def test_a_worse_capture_is_taken_back_and_the_next_candidate_offered(client, rack, tmp_path):
    target, capture = tmp_path / "target.wav", tmp_path / "capture.wav"
    audio_io.write_wav(
        target, rack.render([FX("distortion", **GOOD["distortion"]), FX("reverb", **GOOD["reverb"])], "saw")
    )
    sid = new_session(client)
    set_target(client, sid, target)
    audio_io.write_wav(capture, rack.dry("saw"))  # the first capture: the dry sound
    parts = step(client, sid, capture)
    assert not parts["judged"] and parts["effect"][0].args[3] == "distortion"
    assert 0 < parts["effect"][0].args[7] <= 1  # expected improvement, not p
    assert parts["end"].args[2:5] == (1, "distortion", 0)
    # Serum was set wrongly: the capture is further from the target than the dry sound
    audio_io.write_wav(capture, rack.render([FX("eq", **BAD["eq"]), FX("phaser", **BAD["phaser"])], "saw"))
    msgs = client.request("step", sid, str(capture))
    addresses = [m.address for m in msgs]
    assert addresses[:3] == [f"{P}/step/judged", f"{P}/step/takeback", f"{P}/step/effect"]
    judged, back, effect = msgs[:3]
    assert judged.args[2:4] == (1, 0)  # step 1, not improved
    assert back.args[2:6] == (1, "distortion", "Dist Enable", 0.0)
    assert "turn Distortion off" in back.args[6]
    assert effect.args[2:4] == (1, "reverb")  # the next candidate, still step 1
    assert msgs[-1].args[2:5] == (1, "reverb", 0)
    # the capture follows the simulation: judged closer, kept
    audio_io.write_wav(capture, rack.render([FX("reverb", **GOOD["reverb"])], "saw"))
    rid = client.next_id()
    msgs = client.request("step", sid, str(capture), rid=rid)
    (j,) = check_step(msgs, rid, sid)["judged"]
    assert j.args[2:4] == (1, 1)
    assert f"{P}/step/takeback" not in [m.address for m in msgs]


def test_a_target_the_input_already_matches_takes_no_step(client, rack, tmp_path):
    dry = tmp_path / "dry.wav"
    audio_io.write_wav(dry, rack.dry("saw"))
    sid = new_session(client)
    set_target(client, sid, dry)
    rid = client.next_id()
    msgs = client.request("step", sid, str(dry), rid=rid)
    end = only(msgs, f"{P}/step/end")
    assert end.args[2:6] == (0, "", 1, "already_matches")
    err = client.request("step", sid, str(dry))
    assert only(err, f"{P}/error").args[1] == "session_done"
    assert "already matches" in err[0].args[2]


def test_a_gain_only_target_takes_no_step(client, rack, tmp_path):
    quieter, dry = tmp_path / "quieter.wav", tmp_path / "dry.wav"
    audio_io.write_wav(quieter, rack.dry("saw") * 10 ** (-1 / 20))  # 1 dB quieter
    audio_io.write_wav(dry, rack.dry("saw"))
    sid = new_session(client)
    set_target(client, sid, quieter)
    end = only(client.request("step", sid, str(dry)), f"{P}/step/end")
    assert end.args[4:6] == (1, "already_matches")
    assert end.args[3] == ""  # no effect to switch on
