"""Opening a file that someone else named, without blocking and without special files.

The server reads files whose paths arrive over the network (audio, plugin profiles). A
plain ``open()`` of a FIFO blocks until a writer appears, which once hung every worker
of the server; a device such as ``/dev/zero`` never ends; ``/proc`` files pretend to be
regular files of size 0 and may read as secrets. So a named file must be a regular file
on a real file system. Paths under ``/proc``, ``/dev`` and ``/sys`` are refused by rule,
before anything is looked up (as named and once symbolic links are resolved), so the
error cannot tell a client whether such a file exists. The rest is open-then-verify:
symbolic links are resolved once, then the resolved path is walked one folder at a time
with ``O_NOFOLLOW`` (a link swapped in meanwhile is refused, not followed), the file's
kind is checked before it is opened (a FIFO or device is never opened), and the opened
descriptor is checked again with ``fstat``. The open never blocks (``O_NONBLOCK``) and
never adopts a terminal (``O_NOCTTY``).

Every refusal is a :class:`FileRefused` with a stable ``code``; callers turn it into
their own error type (``AudioInputError``, ``ProfileError``).
"""

from __future__ import annotations

import errno
import functools
import io
import os
import stat

#: FileRefused.code values, with what each means (callers document them further).
CODES = {
    "missing": "the file does not exist",
    "is_directory": "the path is a folder",
    "permission": "the file may not be read",
    "not_regular": "not a regular file: a FIFO, socket, device, or any path under /proc, /dev or /sys",
    "bad_path": "the path cannot be followed (a symbolic link loop, a name too long)",
    "too_large": "the file is over the size limit",
    "io_error": "the operating system could not open the file",
}

#: Pseudo file systems whose "regular" files are kernel state, not user data.
_PSEUDO_ROOTS = ("/proc", "/sys")
#: Folders no path the server reads may lie in (refused by rule, before any lookup).
REFUSED_ROOTS = ("/proc", "/dev", "/sys")
_PATH_MAX = 4096

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class FileRefused(Exception):
    """A path that will not be read. ``code`` is a key of :data:`CODES`."""

    def __init__(self, code: str, reason: str):
        if code not in CODES:
            raise ValueError(f"unknown FileRefused code {code!r}")
        super().__init__(reason)
        self.code, self.reason = code, reason


@functools.lru_cache(maxsize=1)
def _pseudo_devices() -> frozenset[int]:
    devs = set()
    for root in _PSEUDO_ROOTS:
        try:
            st = os.stat(root)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            devs.add(st.st_dev)
    return frozenset(devs)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _check(st: os.stat_result, max_bytes: int | None) -> int:
    if stat.S_ISDIR(st.st_mode):
        raise FileRefused("is_directory", "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused("not_regular", f"is {_kind(st.st_mode)}, not a regular file")
    if st.st_dev in _pseudo_devices():
        raise FileRefused("not_regular", "is a kernel file (/proc or /sys), not a regular file on disk")
    if max_bytes is not None and st.st_size > max_bytes:
        raise FileRefused(
            "too_large",
            f"file is {st.st_size / 1024**2:.0f} MiB, over the {max_bytes / 1024**2:.0f} MiB limit",
        )
    return st.st_size


def _refusal(e: OSError, doing: str) -> FileRefused:
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
        return FileRefused("missing", "file does not exist")
    if isinstance(e, PermissionError):
        return FileRefused("permission", f"permission denied (cannot {doing} the file)")
    if isinstance(e, IsADirectoryError):
        return FileRefused("is_directory", "is a directory, not a file")
    if e.errno in (errno.ELOOP, errno.ENAMETOOLONG):
        return FileRefused("bad_path", f"cannot {doing} the path ({e.strerror})")
    if e.errno in (errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):  # sockets, gone devices
        return FileRefused("not_regular", "is not a regular file")
    return FileRefused("io_error", f"cannot {doing} the file ({e.strerror})")


def refused_by_rule(path: str) -> bool:
    """Whether ``path`` lies under a folder of :data:`REFUSED_ROOTS` (checked on the text)."""
    p = os.path.normpath(path)
    return any(p == r or p.startswith(r + os.sep) for r in REFUSED_ROOTS)


_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Whether the folder-by-folder walk is possible (Linux: O_PATH and openat).
_WALK = os.open in os.supports_dir_fd and hasattr(os, "O_PATH")


def _open_walk(real: str, max_bytes: int | None) -> int:
    """Open the resolved absolute path ``real`` one folder at a time, never following a
    link; check the file's kind before opening it. Returns the file's descriptor."""
    parts = [p for p in real.split(os.sep) if p]
    if not parts:
        raise FileRefused("is_directory", "is a directory, not a file")
    fd = os.open(os.sep, _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
        st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):  # resolved a moment ago: a loop, or swapped since
            raise FileRefused("bad_path", "cannot follow the path (a symbolic link loop, or it changed)")
        _check(st, max_bytes)  # a FIFO or device is refused before it is opened
        return os.open(parts[-1], _OPEN_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
    finally:
        os.close(fd)


def _opener(path: str, flags: int) -> int:
    return os.open(path, flags | _OPEN_FLAGS | getattr(os, "O_NOFOLLOW", 0))


def open_regular(path: str, max_bytes: int | None = None) -> tuple[io.BufferedReader, int]:
    """Open ``path`` for binary reading if it is a regular file; return (file, size).

    Never blocks on the open, never opens a FIFO or device. Raises :class:`FileRefused`
    for anything else.
    """
    rule = FileRefused("not_regular", "lies under /proc, /dev or /sys: the server reads no file there")
    try:
        if "\0" in path:
            raise ValueError
        if refused_by_rule(os.path.abspath(path)):
            raise rule
        real = os.path.realpath(path)
        if refused_by_rule(real):
            raise rule
        if len(os.fsencode(real)) >= _PATH_MAX:
            raise FileRefused("bad_path", "cannot follow the path (File name too long)")
        if _WALK:
            fd = _open_walk(real, max_bytes)
            f = open(fd, "rb", closefd=True)  # noqa: SIM115 - returned to the caller
        else:  # no O_PATH (macOS): the final link is refused, the folders are trusted
            _check(os.stat(real), max_bytes)
            f = open(real, "rb", opener=_opener)  # noqa: SIM115 - returned to the caller
    except OSError as e:
        raise _refusal(e, "open") from None
    except ValueError:  # an embedded NUL byte
        raise FileRefused("bad_path", "the path contains a NUL byte") from None
    try:
        size = _check(os.fstat(f.fileno()), max_bytes)  # the file actually opened
    except BaseException:
        f.close()
        raise
    return f, size
