"""Finding and reading profile files: the shipped ones, a file a client names (only inside
the folders the operator chose), size- and depth-limited JSON reading, and key paths
redacted for a client."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from serumrnn.server import spec
from serumrnn.server.rack.profile_check import parse_profile
from serumrnn.server.rack.profile_data import PROFILE_DIR, Profile, ProfileError
from serumrnn.server.safe_open import FileRefused, open_regular


def shipped_profiles() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.json")))


#: Largest profile file read (the shipped ones are under 20 kB).
PROFILE_MAX_BYTES = 1 << 20

#: Key-path words that are the schema's or the spec's own, never the file's data.
_SCHEMA_WORDS = frozenset(
    {
        "name",
        "notes",
        "synth",
        "fx_host",
        "unverified",
        "effects",
        "comment",
        "path",
        "path_env",
        "reset",
        "flush_max_s",
        "warmup_s",
        "presets",
        "preset",
        "normalize_peak",
        "fixed",
        "plugin",
        "enable",
        "knobs",
        "extra",
        "param",
        "index",
        "value",
        "map",
        "range",
        "values",
        "unit",
        "lo",
        "hi",
        "curve",
        "on",
        "off",
        "(top level)",
    }
)


def redacted_key_path(key_path: str) -> str:
    """``key_path`` with every word that is not the schema's or the spec's (an unknown key
    or effect name from the file) shown as ``<key>``: safe to send to a client."""
    known = (
        _SCHEMA_WORDS
        | set(spec.EFFECT_NAMES)
        | {k.name for e in spec.EFFECTS for k in e.knobs}
        | {f.name for e in spec.EFFECTS for f in e.extra}
    )
    out = []
    for part in key_path.split("."):
        word, bracket, rest = part.partition("[")
        idx = (
            bracket + rest
            if bracket
            and all(seg[:-1].isdigit() for seg in (bracket + rest).split("[")[1:] if seg.endswith("]"))
            else ""
        )
        out.append((word if word in known else "<key>") + (idx if len(idx) <= 12 else ""))
    return ".".join(out)


def _read_profile_json(path: Path, shown: str) -> Any:
    """A profile file's JSON: a regular file of at most :data:`PROFILE_MAX_BYTES`, UTF-8,
    not nested past the parser's depth. Errors never quote the file's bytes."""
    try:
        f, _ = open_regular(str(path), PROFILE_MAX_BYTES)
    except FileRefused as e:
        raise ProfileError(f"profile {shown}: {e.reason}") from None
    try:
        with f:
            data = f.read(PROFILE_MAX_BYTES + 1)
    except OSError as e:
        raise ProfileError(f"profile {shown}: cannot be read ({e.strerror})") from None
    if len(data) > PROFILE_MAX_BYTES:
        raise ProfileError(f"profile {shown}: over the {PROFILE_MAX_BYTES >> 10} kB limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProfileError(
            f"profile {shown}: not UTF-8 text (byte {e.start}); a profile is a JSON file"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ProfileError(f"profile {shown}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise ProfileError(f"profile {shown}: JSON nested too deeply") from None


def load_profile(path_or_name: str | os.PathLike[str] | Mapping[str, Any] | Profile) -> Profile:
    """A profile from a shipped name ("serum", "debian_test"), a JSON file, or a dict."""
    if isinstance(path_or_name, Profile):
        return path_or_name
    if isinstance(path_or_name, Mapping):
        return parse_profile(path_or_name)
    text = os.fspath(path_or_name)
    path = Path(os.path.expanduser(text))
    shipped = PROFILE_DIR / f"{text}.json"
    if not path.is_file() and os.sep not in text and not text.endswith(".json") and shipped.is_file():
        path = shipped
    if not path.exists():
        raise ProfileError(
            f"profile {text}: no such file, and no shipped profile of that "
            f"name (shipped: {', '.join(shipped_profiles())})"
        )
    raw = _read_profile_json(path, str(path))
    try:
        return parse_profile(raw, str(path), path.parent)
    except RecursionError:
        raise ProfileError(f"profile {path}: JSON nested too deeply") from None


def find_profile(name: str, folders: Sequence[str | os.PathLike[str]] = ()) -> Path:
    """The profile file a client may name: a bare name (``serum``, ``mine.json``) in the
    shipped folder or one of ``folders``, or an absolute path inside one of them.

    A server reads profiles only from folders its operator chose, so a client cannot make
    it read (and describe) any other file. Symbolic links are followed before the check.
    """
    roots = [os.path.realpath(d) for d in (PROFILE_DIR, *folders)]

    def inside(p: str) -> bool:
        real = os.path.realpath(p)
        return any(real != r and os.path.commonpath([real, r]) == r for r in roots)

    if os.path.isabs(name):
        if inside(name):
            return Path(os.path.realpath(name))
        raise ProfileError(
            f"profile {name}: outside the profile folders; a server reads "
            "the shipped profiles and those in folders named by serve "
            "--profiles DIR"
        )
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        raise ProfileError(
            f"profile {name}: not a profile name (a name, or an absolute path inside a profile folder)"
        )
    file = name if name.endswith(".json") else f"{name}.json"
    for r in roots:
        p = os.path.join(r, file)
        if os.path.lexists(p) and inside(p):
            return Path(os.path.realpath(p))
    names = sorted({p.stem for r in roots for p in Path(r).glob("*.json")})
    raise ProfileError(f"profile {name}: no such profile (available: {', '.join(names)})")
