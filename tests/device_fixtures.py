"""The step replies the device's node tests replay, recorded from the real server.

The node tests' scripted server (``m4l_device/tests/helpers.js``) must speak the real
server's contract, so it does not write step replies by hand: it replays the ones in
``m4l_device/tests/fixtures/step_replies.json``, which this module records by running
scripted scenarios through a real :class:`serumrnn.server.osc_server.OscServer` (scripted stub
models, the open rack, OSC over loopback). ``tests/test_device_fixtures.py`` fails when the
committed file is out of sync with what the server answers now.

Write the file again after a change to the server's replies::

    python tests/device_fixtures.py
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # run as a script: the worktree's packages and the test helpers
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from serumrnn.server import (  # noqa: E402
    audio_io,
    native,  # noqa: F401,E402  (DawDreamer before TensorFlow)
    osc,
    spec,
)
from serumrnn.server.rack import FX  # noqa: E402

FIXTURE = ROOT / "m4l_device" / "tests" / "fixtures" / "step_replies.json"
#: Stands for the session id (random per run) in the recorded messages.
SESSION = "SESSION"
P = osc.PREFIX
#: The stub's knobs for every effect: the "good" ones build targets, the "bad" ones a
#: capture that Serum was set wrongly (as in tests/test_osc_verified.py).
KNOBS = {
    "distortion": {"mode": 2, "drive": 0.8},
    "reverb": {"mix": 0.5, "low_cut": 0.2, "high_cut": 0.7},
    "eq": {"freq": 0.5, "q": 0.0, "gain": 1.0},
    "phaser": {"depth": 1.0, "freq": 0.05, "feedback": 1.0},
    "compressor": {"low": 1.0, "mid": 1.0, "high": 1.0},
}
EFFECTS = ["distortion", "reverb", "eq", "phaser", "compressor"]
#: Requests a scenario may take: one step per effect, and one more for a take-back.
MAX_REQUESTS = spec.MAX_STEPS + 1


def _fx(name: str) -> FX:
    return FX(name, KNOBS[name])


class Recorder:
    """Drives one session over OSC like the device does and keeps every step reply."""

    def __init__(self, client: Any, rack: Any, tmp: Path, name: str):
        self.c, self.rack, self.tmp, self.name = client, rack, tmp, name
        self.rid = 0
        self.replies: list[list[list[Any]]] = []
        self.capture = tmp / f"{name}-capture.wav"

    def request(self, name: str, *args: Any) -> list[osc.Message]:
        self.rid += 1
        return self.c.request(name, *args, rid=self.rid)

    def start(self, target_chain: list[str]) -> str:
        sid = self.request("new", "basic", 0)[0].args[1]
        target = self.tmp / f"{self.name}-target.wav"
        audio_io.write_wav(target, self.rack.render([_fx(e) for e in target_chain], "saw"))
        reply = self.request("target", sid, str(target))
        assert reply[0].address == f"{P}/target/reply", reply
        return sid

    def step(self, sid: str, chain: list[str]) -> list[osc.Message]:
        """Capture the sound of ``chain`` on Serum (rendered on the open rack), send it."""
        audio_io.write_wav(self.capture, self.rack.render([_fx(e) for e in chain], "saw"))
        msgs = self.request("step", sid, str(self.capture))
        assert msgs and msgs[-1].address == f"{P}/step/end", msgs
        self.replies.append([_plain(m, sid) for m in msgs])
        return msgs


def _plain(m: osc.Message, sid: str) -> list[Any]:
    """[address, request id, SESSION, args...] with floats as JSON numbers."""
    args = [SESSION if a == sid else (float(a) if isinstance(a, float) else a) for a in m.args]
    return [m.address, *args]


def _follow(rec: Recorder, sid: str, chain: list[str], *, bad_at: int | None = None) -> None:
    """Step until done, the capture following what the device applied; at step ``bad_at``
    (1-based request number) the capture is a wrongly set Serum instead."""
    for n in range(1, MAX_REQUESTS + 1):
        capture = ["eq", "phaser"] if n == bad_at else chain
        msgs = rec.step(sid, capture)
        by = {m.address: m for m in msgs}
        if f"{P}/step/takeback" in by:
            chain.remove(by[f"{P}/step/takeback"].args[3])
        if f"{P}/step/effect" in by:
            chain.append(by[f"{P}/step/effect"].args[3])
        if by[f"{P}/step/end"].args[4] == 1:
            return
    raise AssertionError(f"scenario {rec.name}: not done after {MAX_REQUESTS} requests")


# -- the scenarios: name -> (loop, selector ranking, target chain, how to drive) --------


def _takeback(rec: Recorder, sid: str) -> None:
    """The applied step made the sound worse: take-back and the next candidate."""
    _follow(rec, sid, [], bad_at=2)


def _follow_all(rec: Recorder, sid: str) -> None:
    _follow(rec, sid, [])


def _paper_worse(rec: Recorder, sid: str) -> None:
    """The paper's loop: two captures worse than the sound before them stop it."""
    chain: list[str] = []
    for n in range(1, MAX_REQUESTS + 1):
        msgs = rec.step(sid, chain if n == 1 else ["eq", "phaser"])
        end = msgs[-1]
        if end.args[4] == 1:
            return
        chain.append(end.args[3])
    raise AssertionError("the paper scenario did not stop")


Scenario = tuple[str, list[str], list[str], Callable[[Recorder, str], None], str]
SCENARIOS: dict[str, Scenario] = {
    "verified_steps": (
        "verified",
        EFFECTS,
        ["distortion", "reverb"],
        _follow_all,
        "each capture follows the step: distortion, reverb, then reached",
    ),
    "verified_takeback": (
        "verified",
        EFFECTS,
        ["distortion", "reverb"],
        _takeback,
        "the second capture is worse: take-back, the next candidate",
    ),
    "already_matches": ("verified", EFFECTS, [], _follow_all, "the target is the dry sound: no step"),
    "eq_first": (
        "verified",
        ["eq", "phaser", "distortion", "reverb", "compressor"],
        ["eq"],
        _follow_all,
        "an EQ step first",
    ),
    "reverb_compressor": (
        "verified",
        ["reverb", "compressor", "eq", "phaser", "distortion"],
        ["reverb", "compressor"],
        _follow_all,
        "reverb, then compressor",
    ),
    "phaser_first": (
        "verified",
        ["phaser", "eq", "reverb", "distortion", "compressor"],
        ["phaser"],
        _follow_all,
        "a phaser step first",
    ),
    "paper_worse": (
        "paper",
        EFFECTS,
        ["distortion", "reverb"],
        _paper_worse,
        "the paper's loop: two worse captures, done with reason worse",
    ),
}


def record(rack: Any) -> dict[str, Any]:
    """Run every scenario against real servers; the fixture's content."""
    from stub_models import StubModels

    from serumrnn.server.osc_cli import OscClient
    from serumrnn.server.osc_server import OscServer

    stub = StubModels(EFFECTS, KNOBS)
    out: dict[str, Any] = {
        "protocol": osc.PROTOCOL_VERSION,
        "session": SESSION,
        "generator": "tests/device_fixtures.py",
        "scenarios": {},
    }
    # The stub implements models.StepModels, what the server uses; OscServer's signature
    # names GroupModels (server/osc_server.py), hence Any here.
    models: dict[str, Any] = {"basic_shapes": stub}
    # The scenarios are effect steps: no fine-tune step (tests/test_device.py runs the
    # real server with one; the device's tests script its replies in tests/helpers.js).
    servers = {
        loop: OscServer(models, "127.0.0.1", 0, 0, rack=rack, loop=loop, fine_tune=0).start()
        for loop in ("verified", "paper")
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, (loop, ranking, target, drive, about) in SCENARIOS.items():
                stub.ranking = list(ranking)
                with OscClient(servers[loop].address, timeout=60.0) as c:
                    rec = Recorder(c, rack, Path(tmp), name)
                    if "pong" not in out:
                        out["pong"] = _plain(rec.request("ping", 0)[0], "")
                    sid = rec.start(target)
                    drive(rec, sid)
                    rec.request("end", sid)
                out["scenarios"][name] = {"loop": loop, "about": about, "replies": rec.replies}
    finally:
        for srv in servers.values():
            srv.stop()
    return out


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=True) + "\n"


def same(a: Any, b: Any, rel: float = 1e-3, abs_: float = 1e-5) -> bool:
    """Equal, with floats (rendered distances) equal within a tolerance: renders may differ
    in the last bits between machines."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_)
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, rel, abs_) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel, abs_) for k in a)
    return a == b


def main() -> int:
    from serumrnn.server.rack import OpenRack

    data = record(OpenRack())
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(dumps(data))
    n = sum(len(s["replies"]) for s in data["scenarios"].values())
    print(f"wrote {FIXTURE.relative_to(ROOT)}: {len(data['scenarios'])} scenarios, {n} step replies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
