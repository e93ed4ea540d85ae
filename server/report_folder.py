"""The folder ``serumrnn match`` writes its report into: checked before anything slow
(on disk, writable, empty or an earlier report of ours, holding no input file) and
swapped in whole, so an earlier report is never left half overwritten."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from serumrnn.server.safe_open import refused_by_rule


class OutDirError(ValueError):
    """``--out`` names a folder the report may not be written into."""


#: Files of ours a report folder may hold besides those its steps.json lists (names the
#: report writer uses, and its temporary files).
_OURS = re.compile(
    r"(step\d+-[A-Za-z0-9_]+\.wav|target\.wav|mel_progression\.png|index\.html"
    r"|steps\.json|\.tmp-[^/]*\.wav|\.[^/]+\.tmp)"
)


def _listed_names(files: Any) -> Iterable[str]:
    """Every file name in a report's ``files`` entry (strings, nested lists and dicts)."""
    if isinstance(files, str):
        yield files
    elif isinstance(files, (list, tuple)):
        for f in files:
            yield from _listed_names(f)
    elif isinstance(files, dict):
        for f in files.values():
            yield from _listed_names(f)


def _check_writable(out: Path) -> None:
    """``out`` must lie on disk (not under /proc, /dev or /sys), and its nearest existing
    folder must be a folder this process may write in: checked before the models load, so
    a wrong ``--out`` costs nothing."""
    absolute = Path(os.path.abspath(out))
    if refused_by_rule(str(absolute)) or refused_by_rule(os.path.realpath(absolute)):
        raise OutDirError(f"--out {out} lies under /proc, /dev or /sys: choose a folder on disk")
    p = absolute.parent  # the report is written next to it first, then swapped in
    while not p.exists():
        if p.is_symlink():
            raise OutDirError(f"--out {out}: {p} is a broken symbolic link")
        p = p.parent
    if not p.is_dir():
        raise OutDirError(f"--out {out}: {p} is a file, not a folder: choose a folder for the report")
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutDirError(f"--out {out}: this user may not write in {p}")


def write_swapped(out: Path, write: Callable[[Path], Path]) -> Path:
    """Run ``write`` on a new temporary folder beside ``out``, then swap it in for ``out``
    (renames: an earlier report stays whole until the new one is complete, and comes back
    if the swap fails). Returns ``write``'s path, moved into ``out``. On any failure the
    temporary folder is removed and ``out`` is as it was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    old = tmp.with_name(tmp.name.replace(".tmp-", ".old-", 1))
    moved = False
    try:
        os.chmod(tmp, 0o755)
        page = write(tmp)
        if out.exists():
            os.rename(out, old)
            moved = True
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if moved and not out.exists():
            os.rename(old, out)
        raise
    if moved:
        shutil.rmtree(old, ignore_errors=True)
    return out / Path(page).relative_to(tmp)


def check_out_dir(out: str | Path, inputs: Sequence[str | Path | None] = ()) -> list[Path]:
    """Check that a report may be written into ``out``; return the files of an earlier
    report there, to remove before writing (so no stale step WAV survives).

    ``out`` may be missing, empty, or a report of ours (its ``steps.json`` lists its files)
    holding nothing else. A folder with anything else in it is refused, as is one that
    holds an input file: the report must never overwrite the user's files. Nothing is
    changed here, so a later failure leaves the folder as it was.
    """
    out = Path(out)
    _check_writable(out)
    if not out.exists():
        if out.is_symlink():
            raise OutDirError(f"--out {out} is a broken symbolic link")
        return []
    if not out.is_dir():
        raise OutDirError(f"--out {out} is a file, not a folder: choose a folder for the report")
    entries = sorted(os.scandir(out), key=lambda e: e.name)
    if not entries:
        return []
    _check_ours(out, entries)
    _check_no_input(out, entries, inputs)
    return [Path(e.path) for e in entries]


def _check_ours(out: Path, entries: list[os.DirEntry[str]]) -> None:
    """``out`` holds an earlier report of ours (its ``steps.json`` lists its files) and
    nothing else."""
    try:
        doc = json.loads((out / "steps.json").read_text(encoding="utf-8"))
        listed = set(_listed_names(doc.get("files"))) if isinstance(doc, dict) else set()
    except (OSError, ValueError):
        doc, listed = None, set()
    if not isinstance(doc, dict) or "files" not in doc:
        raise OutDirError(
            f"--out {out} is not empty and holds no earlier report of ours "
            f"(e.g. {entries[0].name!r}); choose an empty or new folder"
        )
    foreign = [
        e.name
        for e in entries
        if not (e.is_file(follow_symlinks=False) and (e.name in listed or _OURS.fullmatch(e.name)))
    ]
    if foreign:
        raise OutDirError(
            f"--out {out} holds an earlier report and other files "
            f"({', '.join(repr(n) for n in foreign[:3])}); choose an empty or "
            "new folder so they are not overwritten"
        )


def _check_no_input(out: Path, entries: list[os.DirEntry[str]], inputs: Sequence[str | Path | None]) -> None:
    """No file in ``out`` is one of the inputs (the report would overwrite it)."""
    for inp in inputs:
        if inp is None:
            continue
        for e in entries:
            try:
                same = os.path.samefile(e.path, inp)
            except OSError:
                same = False
            if same:
                raise OutDirError(
                    f"--out {out} holds an input file ({e.name}); the report "
                    "would overwrite it: choose another folder"
                )
