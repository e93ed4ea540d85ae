"""Keep TensorFlow's start-up chatter off the terminal, before it is first imported.

TensorFlow's C++ runtime logs (oneDNN notices, CPU feature lines, absl's "before
InitializeLog" banner) go straight to stderr ahead of a command's own output. The level
is read once, when TensorFlow loads, so this must run before any import of it. A user
who wants the logs sets ``TF_CPP_MIN_LOG_LEVEL`` themselves; we never override theirs.
"""

from __future__ import annotations

import os


def tensorflow() -> None:
    """Only fatal TensorFlow C++ logs, unless the user chose a level."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
