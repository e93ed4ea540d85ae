"""Loading a plugin file with DawDreamer: what is certainly not a plugin fails early with its
path, and what plugins print while they load is kept out of the terminal (and out of the
worker's pipe) but kept for the error message."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from serumrnn.server.rack.render import RenderError


class PluginLoadError(RenderError):
    """A plugin file is missing, is not a plugin, or DawDreamer cannot load it."""


_MAGIC = (
    b"\x7fELF",
    b"MZ",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
_BUNDLES = (".vst3", ".vst", ".component")


def check_plugin_file(path: str) -> None:
    """Fail early, with the path, on what is certainly not a plugin.

    DawDreamer 0.9 answers a missing file, a text file, a directory and a non-plugin shared
    library alike with "Unable to load plugin." (no crash seen); this check says which.
    """
    p = Path(path)
    if not p.exists():
        raise PluginLoadError(f"plugin not found: {path}")
    if p.is_dir():
        if p.suffix.lower() not in _BUNDLES:
            raise PluginLoadError(
                f"{path} is a directory, not a plugin (bundles end in {', '.join(_BUNDLES)})"
            )
        return
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise PluginLoadError(f"plugin {path} cannot be read: {e.strerror}") from None
    if not any(head.startswith(m) for m in _MAGIC):
        raise PluginLoadError(f"{path} is not a plugin: not a shared library (starts with {head!r})")


@contextmanager
def quiet_output(enabled: bool = True) -> Iterator[list[bytes]]:
    """Send C-level stdout/stderr to a file while a plugin loads (JUCE and Zyn chatter).

    Yields a list that holds the captured tail once the block ends, for error messages.
    """
    captured: list[bytes] = []
    if not enabled:
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(1), os.dup(2)
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            yield captured
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            captured.append(tmp.read()[-2000:])
