"""The OSC server on the producer's plugins: ``serve --profile`` makes a plugin profile the
sessions' renderer (pooled, loaded at start), ``new`` may name a profile or the open rack,
each offered step says which renderer simulated it, and a profile whose plugins do not
load refuses that session in one line while the server keeps serving."""

from __future__ import annotations

import json

import pytest
from stub_models import StubModels
from test_osc import expect_error, new_session, set_target

from serumrnn.server import audio_io, osc
from serumrnn.server.osc_cli import OscClient
from serumrnn.server.rack import FX, Chain
from serumrnn.server.rack import profile as PF

P = osc.PREFIX
CHAIN = Chain([FX("distortion", mode="Tube", drive=0.7)])


@pytest.fixture(scope="module")
def served(rack, tmp_path_factory):
    from serumrnn.server.osc_server import OscServer

    folder = tmp_path_factory.mktemp("profiles")
    raw = json.loads((PF.PROFILE_DIR / "debian_test.json").read_text())
    raw["effects"]["reverb"]["plugin"]["path"] = "/nowhere/reverb.so"
    (folder / "broken.json").write_text(json.dumps(raw))
    knobs = {"distortion": {"mode": 0, "drive": 0.7}}  # the target's own
    models = {"basic_shapes": StubModels(["distortion", "eq", "reverb", "phaser", "compressor"], knobs)}
    srv = OscServer(
        models, "127.0.0.1", 0, 0, rack=rack, profile="debian_test", profile_dirs=(folder,)
    ).start()
    assert len(srv.steps.hosts) == 1  # loaded at start, not by the first session
    with OscClient(srv.address, timeout=60.0) as c:
        yield c, srv
    srv.stop()
    assert len(srv.steps.hosts) == 0


def test_sessions_render_on_the_default_profile_and_say_so(served, tmp_path):
    from serumrnn.server.rack.plugin_host import PluginHost

    c, srv = served
    host = PluginHost("debian_test")
    try:
        audio_io.write_wav(tmp_path / "target.wav", host.render(CHAIN))
        audio_io.write_wav(tmp_path / "dry.wav", host.dry())
    finally:
        host.close()
    for options, renderer in (((), "plugins: debian_test"), (("open",), "open rack")):
        sid = new_session(c, *options)
        set_target(c, sid, tmp_path / "target.wav")
        msgs = c.request("step", sid, str(tmp_path / "dry.wav"))
        (r,) = [m for m in msgs if m.address == f"{P}/step/renderer"]
        assert r.args[2:] == (renderer, "capture")
        effect = [m for m in msgs if m.address == f"{P}/step/effect"][0].args[3]
        if renderer.startswith("plugins"):  # simulated on the target's own plugins: its effect
            assert effect == "distortion"
    assert len(srv.steps.hosts) == 1  # sessions share the pooled plugins


def test_a_profile_whose_plugins_do_not_load_refuses_the_session(served):
    c, _ = served
    text = expect_error(c.request("new", "basic", "broken", 0), "bad_profile")
    assert text == "the plugins of profile 'broken' cannot be loaded (the server's log says why)"
    assert new_session(c)  # the server goes on serving
