"""The device's node tests replay step replies recorded from the real server
(``m4l_device/tests/fixtures/step_replies.json``); this fails when the committed file no
longer matches what the server answers, so the fake server cannot drift from the real one.
Rewrite it with ``python tests/device_fixtures.py``."""

from __future__ import annotations

import json

from device_fixtures import FIXTURE, SCENARIOS, record, same

from serumrnn.server import osc


def test_committed_step_replies_match_the_real_server(rack):
    committed = json.loads(FIXTURE.read_text())
    fresh = record(rack)
    assert committed["protocol"] == osc.PROTOCOL_VERSION == fresh["protocol"]
    assert list(committed["scenarios"]) == list(SCENARIOS)
    for name in SCENARIOS:
        want, got = committed["scenarios"][name], fresh["scenarios"][name]
        assert same(want, got), (
            f"scenario {name} is out of sync with the server: run `python tests/device_fixtures.py`",
            want,
            got,
        )
    assert same(committed, fresh)


def test_the_fixture_covers_what_the_device_must_handle():
    """A take-back, each verified stop reason the scenarios reach and the paper's, and
    expected improvements (0..1) as the verified loop's confidence."""
    data = json.loads(FIXTURE.read_text())
    P = osc.PREFIX
    msgs = {name: [m for r in s["replies"] for m in r] for name, s in data["scenarios"].items()}
    reasons = {name: s["replies"][-1][-1][6] for name, s in data["scenarios"].items()}
    assert reasons == {
        "verified_steps": "reached",
        "verified_takeback": "no_closer",
        "already_matches": "already_matches",
        "eq_first": "reached",
        "reverb_compressor": "reached",
        "phaser_first": "reached",
        "paper_worse": "worse",
    }
    back = [m for m in msgs["verified_takeback"] if m[0] == f"{P}/step/takeback"]
    assert len(back) == 1 and back[0][3:7] == [1, "distortion", "Dist Enable", 0.0]
    effects = [
        m for name, ms in msgs.items() if name != "paper_worse" for m in ms if m[0] == f"{P}/step/effect"
    ]
    assert effects and all(0.0 < m[8] <= 1.0 for m in effects)
    assert data["pong"][2] == osc.PROTOCOL_VERSION


def test_every_audio_error_code_re_arms_the_capture_on_the_device():
    """Each audio-file error the server can send for a capture makes the device record
    again (ui_text.js FILE_CODES), and the protocol's own errors it may meet have words."""
    import re

    from serumrnn.server.audio_io import CODES

    text = (FIXTURE.parents[2] / "ui_text.js").read_text()
    block = re.search(r"var FILE_CODES = \{(.*?)\};", text, re.S).group(1)
    file_codes = set(re.findall(r"(\w+): 1", block))
    assert set(CODES) <= file_codes, sorted(set(CODES) - file_codes)
    for code in ("too_many_sessions", "too_many_messages", "busy", "session_done"):
        assert f'case "{code}"' in text, code
