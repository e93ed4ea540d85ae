"""Keep TensorFlow's start-up chatter off the terminal.

TensorFlow's C++ runtime writes to stderr ahead of a command's own output: the oneDNN
notice, CPU feature lines and absl's "before InitializeLog" banner. The last two ignore
``TF_CPP_MIN_LOG_LEVEL`` (TensorFlow 2.18+ logs them through absl while it loads), so the
import itself runs with the process's stderr sent to a temporary file, which is shown only
if the import fails. Every TensorFlow import in the project goes through
:func:`import_tensorflow`; a user who wants the logs sets ``TF_CPP_MIN_LOG_LEVEL`` and
``SERUMRNN_TF_LOGS=1``.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from types import ModuleType


def tensorflow() -> None:
    """Only fatal TensorFlow C++ logs, unless the user chose a level.

    Level 3, not 2: TensorFlow logs harmless notices at error level on this CPU ("oneDNN
    supports DT_BOOL only on platforms with AVX-512. Falling back..."), and a real failure
    reaches us as a Python exception anyway."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def import_tensorflow() -> ModuleType:
    """``import tensorflow`` (and Keras) with the start-up banner kept off stderr."""
    from serumrnn.server import native  # noqa: F401  (DawDreamer before TensorFlow, see native.py)

    if "tensorflow" in sys.modules or os.environ.get("SERUMRNN_TF_LOGS") == "1":
        return importlib.import_module("tensorflow")
    tensorflow()
    sys.stderr.flush()
    tf: ModuleType
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            import keras  # noqa: F401  (loads TensorFlow too)

            tf = importlib.import_module("tensorflow")
        except BaseException:
            os.dup2(saved, 2)
            tmp.seek(0)
            sys.stderr.write(tmp.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tf
