"""The stop codes the server sends (judge.STOP_REASONS) are the ones the device and the
report have words for: a new code without its text fails here, not in front of a producer."""

import re
from pathlib import Path

from serumrnn.server import judge as J
from serumrnn.server.report import stop_text
from serumrnn.server.steps import Result

UI_TEXT = Path(__file__).resolve().parent.parent / "m4l_device" / "ui_text.js"


def device_stop_codes() -> set[str]:
    """The keys of ``DONE_REASONS`` in the device's ui_text.js."""
    src = UI_TEXT.read_text()
    body = re.search(r"var DONE_REASONS = \{(.*?)\};", src, re.S)
    assert body is not None, "ui_text.js no longer defines DONE_REASONS"
    return set(re.findall(r"^\s*(\w+)\s*:", body.group(1), re.M))


def test_the_device_has_words_for_every_stop_code_and_no_other():
    assert device_stop_codes() == set(J.STOP_REASONS)


def test_the_report_has_its_own_words_for_every_stop_code():
    for code, server_text in J.STOP_REASONS.items():
        res = Result([], None, 0, [], None, stop={"reason": code, "text": server_text, "best_step": 0})
        words = stop_text(res)
        assert words and words != server_text, code  # the report's sentence, not the fallback
