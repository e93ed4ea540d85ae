"""The Max for Live device: its JavaScript against the real OSC server (end to end over
UDP on loopback, with a fake Live set), the patcher against Ableton's production
guidelines, the committed .amxd against a fresh build, and the panel picture.

The device's unit tests are node's (``node --test tests/`` in ``m4l_device/``); the first
test here runs them, so ``make test`` (pytest) covers the JavaScript too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serumrnn.device import build as device
from serumrnn.server import audio_io, spec

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIR = ROOT / "m4l_device"
E2E_SCRIPT = DEVICE_DIR / "tests" / "e2e_session.js"
PARAM_UI = {
    "live.text",
    "live.button",
    "live.menu",
    "live.drop",
    "live.dial",
    "live.numbox",
    "live.toggle",
    "live.tab",
    "live.slider",
}
#: Objects whose first argument is a name shared across Max (so local ones need ``---``).
NAMED = {
    "buffer~",
    "record~",
    "play~",
    "groove~",
    "poke~",
    "peek~",
    "index~",
    "wave~",
    "send",
    "s",
    "receive",
    "r",
    "send~",
    "receive~",
    "value",
    "v",
    "coll",
    "table",
    "dict",
    "pv",
    "polybuffer~",
}


def patcher() -> dict:
    return json.loads(device.PATCHER.read_text())


def boxes(p: dict | None = None) -> list[dict]:
    return [b["box"] for b in (p or patcher())["patcher"]["boxes"]]


def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not installed: run scripts/setup-system.sh (make test does)")
    return exe


# -- the JavaScript unit tests (node's test runner) -------------------------------------


def test_device_javascript_unit_tests_pass():
    """node --test over m4l_device/tests/: fake Live set, protocol, UI text, flow, ES5."""
    proc = subprocess.run(
        [node(), "--test", "tests/"], cwd=DEVICE_DIR, capture_output=True, text=True, timeout=300
    )
    counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", proc.stdout, re.M))
    print(f"node --test: {counts}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert int(counts.get("fail", -1)) == 0 and int(counts.get("tests", 0)) >= 40, counts


# -- end to end: the device's JavaScript and the real server ---------------------------


def _tiny_server(tiny_run, rack, loop: str):
    from serumrnn.server.osc_server import OscServer
    from serumrnn.server.startup import load_models, warm_up

    models = load_models(tiny_run[0] / "models")
    for m in models.values():
        warm_up(m)
    return OscServer(models, "127.0.0.1", 0, 0, rack=rack, loop=loop).start()


@pytest.fixture(scope="module")
def server(tiny_run, rack):
    """The real tiny models, the paper's loop (`serve --loop paper`)."""
    srv = _tiny_server(tiny_run, rack, "paper")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def verified_server(tiny_run, rack):
    """The real tiny models, the default loop (`serve`, verified)."""
    srv = _tiny_server(tiny_run, rack, "verified")
    assert srv.steps.loop == "verified"
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def stub_server(rack):
    """The verified loop with scripted stub models, so a take-back happens every run (the
    search loop, the default, would search the refused effect's knobs first)."""
    from device_fixtures import EFFECTS, KNOBS
    from stub_models import StubModels

    from serumrnn.server.osc_server import OscServer

    srv = OscServer(
        {"basic_shapes": StubModels(EFFECTS, KNOBS)},
        "127.0.0.1",
        0,
        0,
        rack=rack,
        loop="verified",
        fine_tune=0,
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tune_server(rack):
    """The stub server's models with the fine-tune step (`serve`'s default budget), on a
    renderer that is the producer's own plugins for the loop's rules (the open rack's sound
    under a profile's label): on the open rack itself Live gets no fine-tune step."""
    from device_fixtures import EFFECTS, KNOBS
    from own_plugins import OwnPlugins
    from stub_models import StubModels

    from serumrnn.server.loop_settings import FINE_TUNE_BUDGET
    from serumrnn.server.osc_server import OscServer

    srv = OscServer(
        {"basic_shapes": StubModels(EFFECTS, KNOBS)},
        "127.0.0.1",
        0,
        0,
        rack=OwnPlugins(rack.settings),
        loop="verified",
        fine_tune=FINE_TUNE_BUDGET,
    ).start()
    yield srv
    srv.stop()


def values_to_chain(values: dict[str, float]) -> list:
    """The open-rack chain for a fake Serum's knob values: each effect whose enable is on,
    with its knobs (a mode by the nearest of its Serum values), in Serum's effect order."""
    from serumrnn.server.rack import FX

    chain = []
    for eff in spec.EFFECTS:
        if values.get(eff.enable.serum_name, 0.0) < 0.5:
            continue
        knobs: dict[str, float] = {}
        for k in eff.knobs:
            v = values[k.serum_name]
            if k.categorical:
                slots = [k.to_serum(i) for i in range(len(k.choices))]
                knobs[k.name] = int(np.argmin([abs(s - v) for s in slots]))
            else:
                knobs[k.name] = v
        chain.append(FX(eff.name, knobs))
    return chain


def run_device_session(
    server,
    rack,
    tmp: Path,
    target: Path,
    bad_at: int | None = None,
    by_hand_on: str | None = None,
    capture_of=None,
) -> dict:
    """Run e2e_session.js; answer its capture requests by rendering the fake Serum's
    knobs on the open rack (the sound the device would record); return its result.
    Capture number ``bad_at`` (1-based) is a wrongly set Serum instead (EQ and phaser).
    ``by_hand_on``: a fake Live set exposing no knobs (e.g. "serum2"): instruction mode,
    the script sets each shown setting by hand and presses Done. ``capture_of``: the fake
    Serum's values -> the captured audio, instead of the open rack's saw (the Live twin)."""
    extra = ["--set", by_hand_on, "--by-hand"] if by_hand_on else []
    proc = subprocess.Popen(
        [
            node(),
            str(E2E_SCRIPT),
            "--port",
            str(server.address[1]),
            "--target",
            str(target),
            "--group",
            "basic",
            *extra,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=DEVICE_DIR,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None  # all piped
    capture = tmp / "capture.wav"
    chains = []
    try:
        for line in proc.stdout:
            msg = json.loads(line)
            if "capture" in msg:
                chain = values_to_chain(msg["values"])
                chains.append([fx.name for fx in chain])
                if msg["capture"] == bad_at:
                    from device_fixtures import KNOBS

                    from serumrnn.server.rack import FX

                    chain = [FX("eq", KNOBS["eq"]), FX("phaser", KNOBS["phaser"])]
                audio = (
                    capture_of(msg["values"])
                    if capture_of is not None and msg["capture"] != bad_at
                    else rack.render(chain, "saw")
                )
                audio_io.write_wav(capture, audio)
                proc.stdin.write(json.dumps({"capture": msg["capture"], "path": str(capture)}) + "\n")
                proc.stdin.flush()
            elif "result" in msg:
                proc.wait(30)
                return {**msg["result"], "chains": chains}
            elif "error" in msg:
                pytest.fail("device script failed: " + msg["error"])
        pytest.fail("device script ended without a result: " + proc.stderr.read())
    finally:
        if proc.poll() is None:
            proc.kill()
    raise AssertionError("unreachable")


def _target(rack, tmp: Path, drive: float = 0.8, mix: float = 0.5) -> Path:
    from serumrnn.server.rack import FX

    target = tmp / "target.wav"
    audio_io.write_wav(
        target,
        rack.render(
            [FX("distortion", mode=2, drive=drive), FX("reverb", mix=mix, low_cut=0.2, high_cut=0.7)], "saw"
        ),
    )
    return target


def _near_target(rack, tmp: Path) -> Path:
    """The stub models' effects, with knobs a little off theirs: the steps leave a distance
    that only the fine-tune closes."""
    return _target(rack, tmp, drive=0.7, mix=0.6)


def _on(serum: dict[str, float]) -> list[str]:
    return [e.name for e in spec.EFFECTS if serum[e.enable.serum_name] == 1.0]


def check_session(r: dict, confidence: str) -> list[dict]:
    """What holds for every device session, whatever the models chose: the requests, the
    values on the fake Serum, the panel's lines, done, undo, reset. Returns the steps."""
    assert r["status"] == "Server ready (basic_shapes)"
    assert r["serumShown"] == "Serum found: every knob SerumRNN sets is configured"
    assert r["targetShown"].startswith("Target set")
    assert r["console"] == [], "nothing reached Max's console"
    sent = [s[0].rsplit("/", 1)[1] for s in r["sent"]]
    assert sent[:3] == ["ping", "new", "target"]
    assert sent[-3:] == ["undo", "reset", "end"]
    # request ids and reply ports go as OSC ints (the server refuses anything else)
    assert all(s[1] == "number" for s in r["sent"])
    # an id names one request: a resend after a slow reply repeats that request's id (the
    # protocol's retry), never another request's
    by_id: dict[int, set[str]] = {}
    for sent_msg, rid in zip(r["sent"], r["sentIds"]):
        by_id.setdefault(rid, set()).add(sent_msg[0])
    assert all(len(addresses) == 1 for addresses in by_id.values()), by_id
    assert list(by_id) == sorted(by_id), "each new request takes a new, larger id"
    assert "/serumrnn/new/reply" in r["received"] and "/serumrnn/end/reply" in r["received"]

    steps = r["steps"]
    assert steps and all(s["complete"] for s in steps)
    tune_on = False  # a fine-tune step is applied (it counts as a step, with no effect of its own)
    for i, s in enumerate(steps):
        if i > 0 and steps[i - 1]["tune"] is not None:  # this capture judged the fine-tune
            tune_on = bool(s["judged"]["improved"])
            assert (s["takeback"] is not None) == (not tune_on) and s["done"] is True
        if s["tune"] is not None:
            tune_on = True
            assert s["endEffect"] == "fine_tune" and not s["effect"] and s["tune"]["step"] == s["step"]
            assert _on(s["serumAfter"]) == _on(s["serumBefore"]), "a fine-tune switches nothing"
            for name, value, before in s["tune"]["knobs"]:  # the fake Serum holds the tune
                assert s["serumBefore"][name] == pytest.approx(before, abs=1e-6), name
                assert s["serumAfter"][name] == pytest.approx(value, abs=1e-6), name
            assert "Fine-tune" in s["instruction"]
        if s["effect"]:
            eff = spec.effect(s["effect"])
            names = [n for n, _ in s["values"]]
            assert names[0] == eff.enable.serum_name
            assert set(names) == (
                {eff.enable.serum_name}
                | {k.serum_name for k in eff.knobs}
                | {f.serum_name for f in eff.fixed}
            )
            for name, value in s["values"]:  # the fake Serum holds what the server said
                assert s["serumAfter"][name] == pytest.approx(value, abs=1e-6), name
            assert s["instruction"].startswith(f"Step {s['step']}. Turn on {eff.label}")
            assert re.search(confidence, s["confidence"]), s["confidence"]
        if i > 0:  # captured flow: each capture judged the step before it
            assert s["judged"] is not None and s["judged"]["step"] == steps[i - 1]["step"]
        # Serum holds what the server's chain holds after every reply
        assert len(_on(s["serumAfter"])) + tune_on == s["step"]
    # the captures were the fake Serum's sound: the first dry, then with each step on
    assert r["chains"][0] == []
    assert len(r["chains"]) == r["captures"] == len(steps)

    last = steps[-1]
    assert last["done"] is True and not last["effect"]
    assert r["afterDone"]["state"]["done"] is True
    assert len(_on(r["afterDone"]["serum"])) + tune_on == r["afterDone"]["state"]["applied"] == last["step"]
    assert r["afterDone"]["detail"].startswith("Done: ")
    assert r["nextAfterDone"]["sent"] == 0 and "Undo or Reset" in r["nextAfterDone"]["detail"]

    # undo restores the last applied step's knobs at once; reset restores everything
    applied_now = r["afterDone"]["state"]["applied"]
    assert r["afterUndo"]["state"]["applied"] == max(applied_now - 1, 0)
    assert len(_on(r["undoLocal"])) == max(applied_now - 1, 0)
    assert r["afterReset"]["serum"] == r["serumStart"]
    assert r["afterReset"]["state"]["applied"] == 0
    return steps


def test_device_session_against_the_real_server_paper_loop(server, rack, tmp_path):
    """`serve --loop paper`: new, target, capture, steps applied on the fake Serum until
    done (worse or all effects), undo, reset, end."""
    r = run_device_session(server, rack, tmp_path, _target(rack, tmp_path))
    steps = check_session(r, r"^(Step \d+ .*\. )?Selector \d+ % sure\.$")
    assert steps[-1]["reason"] in ("worse", "all_effects")
    assert steps[0]["effect"], "the paper's loop always applies a first step"
    assert all(s["takeback"] is None for s in steps)


def test_device_session_against_the_real_server_verified_loop(verified_server, rack, tmp_path):
    """`serve` (the verified loop) with the real tiny models: whatever they choose, a kept
    step is never a worse one, the best step is the current one, and the panel reads the
    expected improvement."""
    r = run_device_session(verified_server, rack, tmp_path, _target(rack, tmp_path))
    steps = check_session(r, r"Expected to remove \d+ % of the difference\.$")
    assert steps[-1]["reason"] in ("reached", "no_closer", "all_effects")
    assert all(s["bestStep"] == s["step"] for s in steps)
    for s in steps:  # a take-back comes exactly with a judged step that did not improve
        assert (s["takeback"] is not None) == (s["judged"] is not None and not s["judged"]["improved"])


def test_serum2_session_in_instruction_mode_against_the_real_server(stub_server, rack, tmp_path):
    """Serum 2 exposes none of the knobs: every step is shown in Serum's words, the producer
    makes it by hand and presses Done, and that capture (rendered from the hand-made
    values) is judged by the real server; undo and reset are asked for by hand too. The
    device sets nothing on Live."""
    r = run_device_session(stub_server, rack, tmp_path, _target(rack, tmp_path), by_hand_on="serum2")
    assert r["status"] == "Server ready (basic_shapes)"
    assert r["serumShown"].startswith("Serum 2 (Serum 2) found: it shows its effects to Live only as FX Main")
    assert r["console"] == [] and r["liveSets"] == 0, "nothing was set on Live"
    steps = r["steps"]
    assert steps[-1]["done"] is True
    effect_steps = [s for s in steps if s["effect"]]
    assert effect_steps, "the models offered at least one step"
    for s in effect_steps:
        label = spec.effect(s["effect"]).label
        assert s["instruction"].startswith(f"Step {s['step']}, in Serum's FX tab: {label}: switch it on")
    for i, s in enumerate(steps[1:], 1):  # each hand-made step was captured and judged
        assert s["judged"] is not None and s["judged"]["step"] == steps[i - 1]["step"]
    made = [vals for _, vals in r["handMade"]]
    for s, vals in zip(effect_steps, made, strict=False):
        assert dict(vals) == pytest.approx(dict(s["values"])), "the producer set what was shown"
    # the captures were the hand-made sound: dry first, then with each step switched on
    assert r["chains"][0] == [] and len(r["chains"]) == r["captures"] == len(steps)
    assert r["afterDone"]["state"]["applied"] == len(_on(r["afterDone"]["serum"]))
    assert r["resetShown"].startswith("Reset by hand, in Serum's FX tab: ")
    assert _on(r["afterReset"]["serum"]) == []


def test_device_takes_back_a_worse_step_at_once_against_the_real_server(stub_server, rack, tmp_path):
    """Scripted stub models, the default loop: step 1 is Distortion; the producer's next
    capture is worse (Serum set wrongly), so the server takes it back and the device
    switches Distortion off before it applies the next candidate, Hall Reverb; the capture
    with reverb is closer, and no remaining effect brings it closer still."""
    r = run_device_session(stub_server, rack, tmp_path, _target(rack, tmp_path), bad_at=2)
    steps = check_session(r, r"Expected to remove \d+ % of the difference\.$")
    assert [(s["effect"], s["step"], s["reason"]) for s in steps] == [
        ("distortion", 1, ""),
        ("reverb", 1, ""),
        ("", 1, "no_closer"),
    ]
    back = steps[1]["takeback"]
    assert back == {
        "step": 1,
        "effect": "distortion",
        "enable": "Dist Enable",
        "value": 0.0,
        "text": back["text"],
    }
    assert "turn Distortion off" in back["text"]
    assert steps[1]["serumBefore"]["Dist Enable"] == 1.0
    assert steps[1]["serumAfter"]["Dist Enable"] == 0.0
    assert steps[1]["serumAfter"]["Dist_Drv"] == steps[0]["serumBefore"]["Dist_Drv"]
    assert _on(steps[1]["serumAfter"]) == ["reverb"]
    assert steps[1]["confidence"].startswith(back["text"])
    assert steps[2]["judged"] == {"step": 1, "improved": True}
    assert r["afterDone"]["detail"] == "Done: no remaining effect brings it closer."
    assert r["chains"] == [[], ["distortion"], ["reverb"]]


# -- captures at the models' note ------------------------------------------------------


def test_capture_to_model_note_uses_matchs_rule():
    """A capture at the note is returned as it is (fast check); at another note it is moved
    by to_model_note, with match's wording; a sub octave below is left alone."""
    from serumrnn.server import pitch
    from serumrnn.server.rack import OpenRack

    rack = OpenRack()
    at = rack.dry("saw")
    same = pitch.capture_to_model_note(at, "c.wav", 48)
    assert same.shift == 0.0 and same.message is None and np.array_equal(same.audio, at)
    moved = pitch.capture_to_model_note(rack.dry("saw", note=50), "c.wav", 48)
    assert moved.shift == pytest.approx(-2.0, abs=0.1)
    assert moved.message.startswith("capture transposed by -2.0 semitones")
    sub = pitch.capture_to_model_note(rack.dry("saw", note=36), "c.wav", 48)
    assert sub.shift == 0.0


def test_server_hears_a_capture_at_another_note_at_the_models_note(server, rack, tmp_path, monkeypatch):
    """The step's distance of the capture to the target: a capture played two semitones
    high measures like one played at the note once moved, unlike the same capture unmoved."""
    from serumrnn.server import pitch
    from serumrnn.server.osc_cli import OscClient
    from serumrnn.server.rack import FX

    target = tmp_path / "target.wav"
    audio_io.write_wav(target, rack.render([FX("distortion", mode=2, drive=0.8)], "saw"))

    def distances(audio) -> dict[str, float]:
        capture = tmp_path / "capture.wav"
        audio_io.write_wav(capture, audio)
        with OscClient(server.address, timeout=120.0) as c:
            sid = c.request("new", "basic", 0)[0].args[1]
            c.request("target", sid, str(target))
            msgs = c.request("step", sid, str(capture))
            c.request("end", sid)
        return {m.args[2]: m.args[3] for m in msgs if m.address == "/serumrnn/step/distance"}

    at_note = distances(rack.dry("saw"))
    high = rack.dry("saw", note=50)
    moved = distances(high)
    monkeypatch.setattr(
        pitch, "capture_to_model_note", lambda audio, *a, **k: pitch.NoteMatch(audio, None, None, 0.0)
    )
    unmoved = distances(high)
    assert set(at_note) == {"mse", "mae", "lsd", "mfccd", "pcc", "mssmae"}
    for metric in ("mse", "lsd", "pcc", "mssmae"):  # (MFCC distance barely moves either way)
        assert abs(moved[metric] - at_note[metric]) < 0.5 * abs(unmoved[metric] - at_note[metric]), (
            metric,
            at_note[metric],
            moved[metric],
            unmoved[metric],
        )


# -- the patcher against the production guidelines ------------------------------------


def test_live_ui_objects_are_parameters_with_the_right_visibility():
    """Next and Done are Automated and Stored so they can be MIDI-mapped (guidelines: Hidden
    parameters cannot be mapped); Capture, Undo and Reset are Hidden, the guidelines' choice
    for button-mode live.text (no Live undo entries, no automation lanes); the group menu,
    the drop zone and the server port are Stored Only (saved with the set, not automatable)."""
    seen = set()
    ui = [b for b in boxes() if b["maxclass"] in PARAM_UI]
    assert {b["maxclass"] for b in ui} >= {"live.text", "live.menu", "live.drop", "live.numbox"}
    expected = {"Next": 0, "Done": 0, "Capture": 2, "Undo": 2, "Reset": 2, "Group": 1, "Target": 1, "Port": 1}
    assert {b.get("varname") for b in ui} == set(expected)
    for b in ui:
        assert b.get("parameter_enable") == 1, b["id"]
        v = b["saved_attribute_attributes"]["valueof"]
        assert v["parameter_longname"] and v["parameter_shortname"], b["id"]
        assert v["parameter_longname"] not in seen, "long names are unique"
        seen.add(v["parameter_longname"])
        assert not v["parameter_longname"].startswith(b["maxclass"]), "a meaningful name"
        assert v["parameter_invisible"] == expected[b["varname"]], b["varname"]
        assert b.get("presentation") == 1, f"{b['id']} is on the device's face"
        assert b.get("annotation"), f"{b['id']} has info text for Live's Info View"
        if b["maxclass"] == "live.text":
            assert b.get("mode", 0) == 0, "a button, not a toggle"


def test_mappable_buttons_fire_once_per_press_and_reset_themselves():
    """live.text in button mode sends bang on a click (Max reference, live.text); Live sets a
    MIDI-mapped button to 1 (a note toggles it, a CC sets 1 then 0). So Next and Done go
    through [route bang 0]: bang fires, 0 does nothing, any other value fires after
    [assign 0] puts the button back (so a toggling note mapping is 0 -> 1 on every press)."""
    p = patcher()
    by_id = {b["id"]: b for b in boxes(p)}

    def outs(src: str, outlet: int) -> list[list[Any]]:
        return [
            line["patchline"]["destination"]
            for line in p["patcher"]["lines"]
            if line["patchline"]["source"] == [src, outlet]
        ]

    for name in ("Next", "Done"):
        button = next(b for b in boxes(p) if b.get("varname") == name)
        [[route, _]] = outs(button["id"], 0)
        assert by_id[route]["text"] == "route bang 0", name
        assert outs(route, 1) == [], f"{name}: a 0 (a release, or our own reset) does nothing"
        [[fire, _]] = outs(route, 0)
        assert by_id[fire]["text"] == name.lower(), name
        [[trig, _]] = outs(route, 2)
        assert by_id[trig]["text"] == "t b b"
        assert outs(trig, 0) == [[fire, 0]]
        [[reset, _]] = outs(trig, 1)
        assert by_id[reset]["text"] == "assign 0" and outs(reset, 0) == [[button["id"], 0]]


def _all_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _all_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _all_strings(v)


def test_names_are_local_and_paths_are_not_absolute():
    named = 0
    for b in boxes():
        if b["maxclass"] != "newobj":
            continue
        words = b["text"].split()
        if words[0] in NAMED:
            named += 1
            assert words[1].startswith("---"), f"{b['text']!r}: a device-local name starts with ---"
    assert named >= 2
    absolute = re.compile(r"(^|\s)(/[^\s/]+/|[A-Za-z]:[\\/]|~/)")
    for s in _all_strings(patcher()):
        assert not absolute.search(s), f"absolute path in the patcher: {s!r}"


def test_js_files_ship_beside_the_patcher():
    js = [b["text"].split()[1] for b in boxes() if b["maxclass"] == "newobj" and b["text"].startswith("js ")]
    assert js == ["serumrnn_device.js"]
    required = set()
    for name in js:
        glue = DEVICE_DIR / name
        assert glue.is_file()
        for req in re.findall(r'part\("([^"]+)"\)', glue.read_text()):
            assert (DEVICE_DIR / f"{req}.js").is_file(), req
            required.add(req)
    assert "serumrnn_spec" in required, "the spec is a module, not a Dict read at run time"
    assert "Dict" not in (DEVICE_DIR / "serumrnn_device.js").read_text()
    assert (DEVICE_DIR / "serumrnn_spec.json").read_text() == spec.export_json()
    assert device.SPEC_MODULE.read_text() == device.spec_module(spec.export_json(), 48), (
        "run `serumrnn device build`"
    )


def test_spec_module_is_the_spec_and_refuses_an_empty_one():
    text = device.spec_module(spec.export_json(), 48)
    body = text.split("exports.spec = ", 1)[1].rsplit(";\nexports.model_note", 1)[0]
    assert json.loads(body) == json.loads(spec.export_json())
    assert text.rstrip().endswith("exports.model_note = 48;")
    assert text.isascii()
    with pytest.raises(ValueError, match="no effects"):
        device.spec_module(json.dumps({"effects": []}), 48)


def test_fixed_knobs_at_serums_default_need_no_configure():
    """44 Serum parameters may be set; the producer configures 20 (5 switches, 14 knobs
    and CmpMBnd), the other 24 fixed knobs are the paper's value at Serum's default."""
    every = (
        [(e.enable, "enable") for e in spec.EFFECTS]
        + [(k, "knob") for e in spec.EFFECTS for k in e.knobs]
        + [(f, "fixed") for e in spec.EFFECTS for f in e.fixed]
    )
    assert len(every) == 44
    to_configure = [x for x, role in every if role != "fixed" or not x.at_default]
    assert len(to_configure) == 20
    assert [f.serum_name for e in spec.EFFECTS for f in e.fixed if not f.at_default] == ["CmpMBnd"]
    assert all(f.serum_default is not None for e in spec.EFFECTS for f in e.fixed)
    assert all(not e.enable.at_default for e in spec.EFFECTS), "Serum starts with effects off"


def test_group_menu_offers_the_server_groups():
    from serumrnn.server.rack import presets

    menu = next(b for b in boxes() if b["maxclass"] == "live.menu")
    items = menu["saved_attribute_attributes"]["valueof"]["parameter_enum"]
    assert [presets.resolve_group(i) for i in items] == list(presets.GROUPS)


def test_patcher_wiring_is_consistent():
    """Every cord joins existing boxes at existing inlets and outlets; udpsend goes to the
    server's default port; udpreceive starts on no fixed port (the js picks one per
    instance, away from the server's); the recorder rings and holds the onset in the signal
    path; the displays the flow writes to exist; every presentation box fits Live's view."""
    from serumrnn.server.osc_server import DEFAULT_PORT, DEFAULT_REPLY_PORT

    p = patcher()
    by_id = {b["id"]: b for b in boxes(p)}
    for line in p["patcher"]["lines"]:
        (src, so), (dst, di) = line["patchline"]["source"], line["patchline"]["destination"]
        assert so < by_id[src]["numoutlets"] and di < by_id[dst]["numinlets"], line
    texts = [b.get("text", "") for b in boxes(p) if b["maxclass"] == "newobj"]
    assert f"udpsend 127.0.0.1 {DEFAULT_PORT}" in texts
    assert "udpreceive 0" in texts
    proto = (DEVICE_DIR / "osc_protocol.js").read_text()
    first = int(re.search(r"REPLY_PORT_FIRST = (\d+);", proto).group(1))
    count = int(re.search(r"REPLY_PORT_COUNT = (\d+);", proto).group(1))
    assert not first <= DEFAULT_PORT < first + count and not first <= DEFAULT_REPLY_PORT < first + count
    assert {
        "buffer~ ---ring 4000 1",
        "buffer~ ---capture 1000 1",
        "record~ ---ring 1 @loop 1",
        "sah~ 0.5",
        "snapshot~",
        "sig~",
        "change~",
    } <= set(texts)
    assert {"plugin~", "plugout~", "live.thisdevice", "node.script server_launcher.js @autostart 1"} <= set(
        texts
    )
    port_box = next(b for b in boxes(p) if b.get("varname") == "Port")
    assert port_box["saved_attribute_attributes"]["valueof"]["parameter_initial"] == [DEFAULT_PORT]
    server_port = int(re.search(r"SERVER_PORT = (\d+);", proto).group(1))
    assert server_port == DEFAULT_PORT, "osc_protocol.js names the server's default port"
    route = next(t for t in texts if t.startswith("route status"))
    shown = set(re.findall(r'show\("(\w+)"', (DEVICE_DIR / "device_flow.js").read_text()))
    assert shown and shown <= set(route.split()[1:])
    control = next(t for t in texts if t.startswith("route port"))
    glue = (DEVICE_DIR / "serumrnn_device.js").read_text()
    sent = set(re.findall(r'outlet\(OUT_CONTROL, "(\w+)"', glue))
    assert sent == set(control.split()[1:]), "every control message has its outlet"
    width = p["patcher"]["devicewidth"]
    for b in boxes(p):
        if b.get("presentation"):
            x, y, w, h = b["presentation_rect"]
            assert x >= 0 and y >= 0 and x + w <= width and y + h <= device.DEVICE_HEIGHT, b["id"]


# -- build products -------------------------------------------------------------------


def test_committed_amxd_is_a_fresh_build_of_the_patcher():
    fresh = device.build_amxd(device.PATCHER.read_bytes())
    assert device.AMXD.read_bytes() == fresh, "run `serumrnn device build` and commit"
    assert device.build_amxd(device.PATCHER.read_bytes()) == fresh, "deterministic"
    chunks = device.read_amxd(fresh)
    assert [t for t, _ in chunks] == ["ampf", "meta", "ptch"]
    assert chunks[0][1] == b"aaaa", "an audio effect"
    ptch = chunks[2][1]
    assert ptch.endswith(b"\x00") and json.loads(ptch[:-1]) == patcher()
    with pytest.raises(ValueError):
        device.read_amxd(fresh[:-3])
    with pytest.raises(ValueError):
        device.build_amxd(b"{ not json")


def test_device_build_check_command(tmp_path):
    from serumrnn.server.cli import main

    assert main(["device", "build", "--check"]) == 0
    stale = tmp_path / "old.amxd"
    stale.write_bytes(device.AMXD.read_bytes()[:-1])
    assert main(["device", "build", "--check", "--out", str(stale)]) == 1
    old_spec = tmp_path / "old_spec.js"
    old_spec.write_text(device.SPEC_MODULE.read_text().replace('"2.0"', '"1.0"'))
    assert main(["device", "build", "--check", "--spec-module", str(old_spec)]) == 1
    out, mod = tmp_path / "new.amxd", tmp_path / "new_spec.js"
    assert (
        main(
            [
                "device",
                "build",
                "--out",
                str(out),
                "--spec-module",
                str(mod),
                "--frozen-out",
                str(tmp_path / "f.amxd"),
            ]
        )
        == 0
    )
    assert out.read_bytes() == device.AMXD.read_bytes()
    assert mod.read_text() == device.SPEC_MODULE.read_text()


# -- the frozen (self-contained) device --------------------------------------------------

FROZEN_READER = DEVICE_DIR / "tests" / "frozen_reader.js"
FROZEN_RUN = DEVICE_DIR / "tests" / "frozen_device.js"
REFERENCE_LAYOUT = DEVICE_DIR / "tests" / "fixtures" / "frozen_reference_layout.json"


def _node_json(*args: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is needed for the device tests (scripts/setup-system.sh installs it)"
    done = subprocess.run([node, *args], capture_output=True, text=True, timeout=300, cwd=DEVICE_DIR)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def frozen_amxd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serumrnn.server.cli import main

    out = tmp_path_factory.mktemp("frozen")
    assert (
        main(
            [
                "device",
                "build",
                "--out",
                str(out / "unfrozen.amxd"),
                "--spec-module",
                str(out / "spec.js"),
                "--frozen-out",
                str(out / "SerumRNN.amxd"),
            ]
        )
        == 0
    )
    return out / "SerumRNN.amxd"


def test_frozen_device_round_trips_through_both_readers(frozen_amxd):
    """The writer's own reader and the tests' separate JavaScript reader find the same
    files, and they are the device's sources (the js bundled, the launcher as it is)."""
    from serumrnn.device import bundle, frozen

    data = frozen_amxd.read_bytes()
    chunks = device.read_amxd(data)
    assert [t for t, _ in chunks] == ["ampf", "meta", "ptch"] and chunks[0][1] == b"aaaa"
    files = frozen.unpack_ptch(chunks[2][1])
    assert [f.name for f in files] == ["SerumRNN.amxd", "serumrnn_device.js", "server_launcher.js"]
    assert files[1].data.decode() == bundle.bundle(device.GLUE.read_text(), DEVICE_DIR)
    assert files[2].data == device.LAUNCHER.read_bytes()
    own = json.loads(files[0].data.rstrip(b"\x00"))
    assert own == frozen.freeze_patcher(patcher(), files[1:])
    assert {d["name"] for d in own["patcher"]["dependency_cache"]} == {
        "serumrnn_device.js",
        "server_launcher.js",
    }
    js_layout = _node_json(str(FROZEN_READER), "layout", str(frozen_amxd))
    assert [(f["name"], f["type"], f["flag"]) for f in js_layout["files"]] == [
        (f.name, f.kind, f.flag) for f in files
    ]
    assert device.build_frozen_amxd(device.PATCHER.read_bytes()) == data, "the same bytes every build"
    broken = bytearray(chunks[2][1])
    broken[-3] ^= 0xFF  # the last entry's mdat: harmless; its size field is what must add up
    frozen.unpack_ptch(bytes(broken))
    with pytest.raises(ValueError):
        frozen.unpack_ptch(chunks[2][1][:-5])


def _name_field_size(name: str) -> int:
    """fnam: 8-byte head, the name, a NUL, padded to 4 bytes (as in Ableton's example)."""
    return 8 + (len(name) + 1 + 3) // 4 * 4


def test_frozen_device_is_laid_out_like_abletons_frozen_example(frozen_amxd):
    """Chunk by chunk against the layout of maxdevtools' FrozenTest.amxd (recorded in
    tests/fixtures/frozen_reference_layout.json by `node frozen_reader.js layout`)."""
    ref = json.loads(REFERENCE_LAYOUT.read_text())
    ours = _node_json(str(FROZEN_READER), "layout", str(frozen_amxd))
    assert [c[0] for c in ours["chunks"]] == [c[0] for c in ref["chunks"]] == ["ampf", "meta", "ptch"]
    assert ours["chunks"][1] == ref["chunks"][1], "the same meta chunk"
    for key in ("ptchHead", "headerSize", "footerFollowsFiles", "contiguous", "deviceLast2"):
        assert ours[key] == ref[key], key
    for f in ref["files"] + ours["files"]:
        assert f["fields"] == ["type", "fnam", "sz32", "of32", "vers", "flag", "mdat"], f["name"]
        assert f["fieldSizes"] == [12, _name_field_size(f["name"]), 12, 12, 12, 12, 12], f["name"]
    by_name = {f["name"]: f for f in ref["files"]}
    own, js_file, node_file = ours["files"]
    assert (own["type"], own["flag"]) == (ref["files"][0]["type"], ref["files"][0]["flag"])
    js_ref = by_name["VisibleBang.js"]  # a js object's file in Ableton's example
    node_ref = by_name["my-maxnode-basic.js"]  # its node.script file
    assert (js_file["type"], js_file["flag"]) == (js_ref["type"], js_ref["flag"])
    assert (node_file["type"], node_file["flag"]) == (node_ref["type"], node_ref["flag"])


def test_frozen_device_works_after_collect_all_and_save(frozen_amxd):
    """Only the built file, copied into a new folder: the device loads, finds Serum, and a
    step lands on Serum (patcher simulator, fake Live, scripted server)."""
    r = _node_json(str(FROZEN_RUN), str(frozen_amxd))
    assert r["folder"] == ["SerumRNN.amxd"]
    assert r["es5"] == {"serumrnn_device.js": True}
    assert r["afterLoad"]["serum"].startswith("Serum found")
    assert r["steps"] == 1 and r["distEnable"] == 1
    assert r["instruction"].startswith("Step 1. Turn on Distortion")
    assert r["liveConsole"] == [] and r["maxConsole"] == []


def test_frozen_device_missing_its_launcher_says_damaged(frozen_amxd):
    r = _node_json(str(FROZEN_RUN), str(frozen_amxd), "--without", "server_launcher.js", "--server-down")
    assert r["status"] == (
        "SerumRNN is damaged: its server launcher (server_launcher.js in node.script) did not start. "
        "Reinstall the device"
    )
    whole = _node_json(str(FROZEN_RUN), str(frozen_amxd), "--server-down")
    assert whole["status"] == "Server running", "with its launcher the device says what the launcher says"


def test_panel_is_drawn_from_the_presentation_layout(tmp_path):
    from PIL import Image

    p = patcher()
    out = tmp_path / "panel.png"
    items = device.draw_panel(p, out)
    shown = [b for b in boxes(p) if b.get("presentation")]
    assert [(i.maxclass, list(i.rect)) for i in items] == [
        (b["maxclass"], b["presentation_rect"]) for b in shown
    ]
    labels = {i.name: i.label for i in items}
    assert labels["Next"] == "Next" and labels["Group"] == "basic"
    assert labels["Target"] == "Drop target sound"
    size = (int(p["patcher"]["devicewidth"] * 2), device.DEVICE_HEIGHT * 2)
    assert Image.open(out).size == size
    assert Image.open(device.PANEL_PNG).size == size, "run `serumrnn device panel` and commit"
    # the picture is not blank: the Next button's colour is where the patcher puts it
    x, y, w, h = next(i.rect for i in items if i.name == "Next")
    px = Image.open(out).convert("RGB").getpixel((int((x + w / 2) * 2), int((y + 3) * 2)))
    assert px == tuple(int(device.ACCENT[k : k + 2], 16) for k in (1, 3, 5))


def _serum_values(fxs) -> dict[str, float]:
    """The Serum values that switch on ``fxs`` (open-rack FX) with their knobs."""
    out: dict[str, float] = {}
    for fx in fxs:
        eff = spec.effect(fx.name)
        out[eff.enable.serum_name] = 1.0
        for k in eff.knobs:
            out[k.serum_name] = k.to_serum(fx.knobs[k.name])
    return out


#: The fake Live sets with no knob the device can reach, and how the panel names each Serum.
BY_HAND_SHOWN = {
    "serum2": "Serum 2 (Serum 2) found",
    "unconfigured": "Serum found: 20 knobs are not configured, so SerumRNN tells you those",
}


@pytest.mark.parametrize("by_hand_on", [None, *BY_HAND_SHOWN])
def test_live_twin_a_whole_session_on_the_debian_plugins(tmp_path, by_hand_on):
    """The Live twin: the device's own JS flow (target, steps, take-backs, done, undo,
    reset) against the real server whose sessions verify on the ``debian_test`` plugins,
    with a fake Live whose Serum renders through the same plugins: every capture is real
    plugin audio (Zyn's saw through Zyn/LSP/Dragonfly, hosted in a worker process). With
    Serum 2 or a Serum 1 none of whose knobs is configured (no knob reachable) the whole
    session runs in instruction mode: the script sets each shown setting by hand and
    presses Done."""
    from device_fixtures import EFFECTS, KNOBS
    from stub_models import StubModels

    from serumrnn.server.osc_server import OscServer
    from serumrnn.server.rack import FX
    from serumrnn.server.rack.capture import plugin_capture
    from serumrnn.server.rack.plugin_host import PluginHost

    host = PluginHost("debian_test")
    srv = None
    try:
        dry = host.dry()
        target = tmp_path / "target.wav"
        want = [FX("distortion", mode=2, drive=0.8), FX("reverb", mix=0.5, low_cut=0.2, high_cut=0.7)]
        audio_io.write_wav(target, plugin_capture(dry, _serum_values(want), renderer=host))
        captured: list[dict[str | int, float]] = []

        def capture_of(values: dict[str | int, float]):
            captured.append(dict(values))
            return plugin_capture(dry, values, renderer=host)

        srv = OscServer(
            {"basic_shapes": StubModels(EFFECTS, KNOBS)},
            "127.0.0.1",
            0,
            0,
            loop="verified",
            profile="debian_test",
        ).start()
        r = run_device_session(srv, None, tmp_path, target, by_hand_on=by_hand_on, capture_of=capture_of)
    finally:
        if srv is not None:
            srv.stop()
        host.close()
    if by_hand_on is None:
        steps = check_session(r, r"\d+ %")
    else:
        steps = r["steps"]
        assert r["serumShown"].startswith(BY_HAND_SHOWN[by_hand_on]), r["serumShown"]
        assert r["console"] == [] and r["liveSets"] == 0, "nothing was set on Live"
        for s in steps:
            if s["effect"]:
                assert s["instruction"].startswith(f"Step {s['step']}, in Serum's FX tab: ")
    assert steps[-1]["done"] is True
    assert len(captured) == len(r["chains"]) >= 2, "the first capture and at least one judged step"
    assert [s for s in steps if s["effect"]], "at least one effect was applied on the fake Serum"
    assert "/serumrnn/step/renderer" in r["received"]
    assert steps[-1]["reason"] != "", "the session ends with a stop reason"


def test_device_session_with_the_fine_tune_step_against_the_real_server(tune_server, rack, tmp_path):
    """`serve`'s default budget: once no effect brings the sound closer, the server offers
    the fine-tune; the device sets its knobs on the fake Serum (switching nothing), the next
    capture keeps it, and Undo takes it back before the last effect."""
    r = run_device_session(tune_server, rack, tmp_path, _near_target(rack, tmp_path))
    steps = check_session(r, r"Expected to remove \d+ % of the difference\.$")
    tuned = [i for i, s in enumerate(steps) if s["tune"] is not None]
    assert len(tuned) == 1 and tuned[0] == len(steps) - 2, [s["endEffect"] for s in steps]
    t, verdict = steps[tuned[0]], steps[-1]
    assert t["tune"]["knobs"] and not t["done"] and t["bestStep"] == t["step"]
    assert verdict["judged"] == {"step": t["step"], "improved": True} and verdict["takeback"] is None
    assert verdict["done"] is True and verdict["step"] == t["step"] and verdict["reason"] == "no_closer"
    # Undo took the fine-tune back: every effect stays on, its knobs back where they were
    assert _on(r["undoLocal"]) == _on(verdict["serumAfter"])
    for name, _, before in t["tune"]["knobs"]:
        assert r["undoLocal"][name] == pytest.approx(before, abs=1e-6), name


def test_a_fine_tune_whose_capture_is_worse_is_set_back_against_the_real_server(tune_server, rack, tmp_path):
    """The capture after the fine-tune is a wrongly set Serum: the server takes the tune
    back and the device puts each of its knobs back, switching nothing off."""
    (tmp_path / "plain").mkdir()
    (tmp_path / "bad").mkdir()
    plain = run_device_session(tune_server, rack, tmp_path / "plain", _near_target(rack, tmp_path))
    at = next(i for i, s in enumerate(plain["steps"]) if s["tune"] is not None) + 2  # 1-based capture
    r = run_device_session(tune_server, rack, tmp_path / "bad", _near_target(rack, tmp_path), bad_at=at)
    steps = check_session(r, r"Expected to remove \d+ % of the difference\.$")
    t, verdict = steps[at - 2], steps[at - 1]
    assert t["tune"] is not None and verdict["judged"]["improved"] is False
    back = verdict["takeback"]
    assert back["effect"] == "fine_tune" and back["enable"] == "" and "back to" in back["text"]
    assert _on(verdict["serumAfter"]) == _on(t["serumAfter"]), "nothing switched off"
    for name, _, before in t["tune"]["knobs"]:
        assert verdict["serumAfter"][name] == pytest.approx(before, abs=1e-6), name
    assert verdict["done"] is True and verdict["step"] == t["step"] - 1
