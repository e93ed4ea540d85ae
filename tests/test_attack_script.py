"""``scripts/attack_osc.py`` must keep speaking the server's protocol as it changes.

Why: both campaigns measure the hardened server (docs/protocol.md, developer-guide.md),
and each rotted once without a test noticing. The fair scheduler put a session's path
checks in the heavy lane, after the light fence the first campaign waited on, so every
bad file's answer was counted for the next one; the size rule for every sender refused
its unpadded ``new``s, whose error code it then used as a session id; and the goals
campaign took the server's ``loading`` answer for a refusal. Here both run, small, on
the scripted stub models (tests/stub_models.py), and must end with every goal met."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "attack_osc.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--stub", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_first_campaign_gets_a_specific_answer_for_each_bad_file_and_meets_its_goals():
    r = run("--datagrams", "60", "--sessions", "2", "--clients", "1", "--client-seconds", "3")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "specific code for every kind: yes" in out, out[-3000:]
    assert "replies over request size to an unproved sender: 0; hangs: 0; file bytes in replies: 0" in out
    # each bad file is answered for itself: a missing file says missing, a FIFO not_regular
    rows = {
        line.split()[0]: line.split()[1]
        for line in out.splitlines()
        if line.startswith("  ") and " reply " in line
    }
    assert rows["missing"] == "missing", rows
    assert rows["fifo"] == "not_regular", rows
    assert rows["relative_path"] == "relative_path", rows
    assert "sessions' memory: 2 sessions" in out


def test_the_fairness_campaign_meets_its_goals():
    r = run("--goals", "--flood-seconds", "3", "--sigterm-runs", "1", "--sessions", "4")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "goals missed: none" in out, out[-3000:]
