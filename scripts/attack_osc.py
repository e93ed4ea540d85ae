#!/usr/bin/env python3
"""The first attack campaign, against a real ``serumrnn serve`` on loopback.

Starts the server (shipped models, one worker so replies come in order, the size rule
for every sender as for any sender off loopback), then from other sockets:

1. bad files and paths (FIFO, devices, /proc, sockets, symlink loops, hostile WAV
   headers, sparse multi-GB files, secret-bearing text, profiles outside the allowed
   folder, ...), each answered before the next is sent (a file rides on the session's
   own target or step, whose reply is awaited by its request id; a profile on a ``new``,
   fenced) and followed by a ping; the server's peak memory is reset before and read
   after each request (/proc/PID/clear_refs, VmHWM);
2. fuzzed datagrams (random bytes, mutated and truncated requests, bundles), each
   followed by a fence, while legitimate clients step sessions; paced within the
   server's gate for a stranger socket, so what is measured is the decoder, not the
   gate's drops;
3. the 64 kB bundle of 4,093 tiny messages, control characters for the log;
4. SIGTERM with steps in flight, timed.

Prints the counts the issue's goals are stated in. Usage::

    python scripts/attack_osc.py [--models DIR | --stub] [--datagrams 10000] [--seed 0]

``--goals`` runs instead the fairness campaign (a fair and bounded server), printing
its goal figures: a second client's ping p99 and whole-step time while one client floods
(bundles of heavy requests, ``new`` floods from many ports, loopback aliases); RSS against
``--session-memory`` and the budget's own count against measured growth; SIGTERM under
load, N runs; reply bytes against request bytes for an unproved sender. ``--stub`` serves
scripted stub models (tests/stub_models.py: real audio features, no TensorFlow) so the
figures measure the server, not the models::

    nice python scripts/attack_osc.py --goals --stub --flood-seconds 60 --sigterm-runs 20

Linux only (it reads /proc for the server's memory).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the hostile WAV builders the hardening tests use

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from hostile_wav import SR, saw, sparse_wav, wav_header  # noqa: E402

from serumrnn.server import osc, osc_gate  # noqa: E402
from serumrnn.server.osc_cli import OscClient  # noqa: E402

P = osc.PREFIX
SECRET = "SECRET-c0ffee-4b1d"  # planted in every file; must never appear in a reply
HANG_S = 5.0  # a pong later than this after a request counts as slow
LATE_S = 60.0  # and never coming within this, as a hang
#: A datagram with a message at least this long has room for any error reply.
ROOM = 64
#: Makes a ping or new longer than its reply: the size rule holds replies to a sender that
#: has not proved its address to the request's size (docs/protocol.md, "No amplification").
PAD = b"\0" * 64
#: The fence's group: a ``new`` for it is answered ``unknown_group`` (see :func:`fence`).
FENCE_GROUP = "fence-no-such-group"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def bad_files(d: Path, keep: list) -> dict[str, tuple[str, str]]:
    """kind -> (request, path). Requests: target, step (a capture) or profile (new)."""
    os.mkfifo(d / "fifo.wav")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock.wav"))
    keep.append(s)
    (d / "loop_a.wav").symlink_to(d / "loop_b.wav")
    (d / "loop_b.wav").symlink_to(d / "loop_a.wav")
    (d / "zero_link.wav").symlink_to("/dev/zero")
    (d / "dangling.wav").symlink_to(d / "nowhere.wav")
    secret_text = write(d / "secret.wav", f"root:x:0:0:{SECRET}\n".encode() * 50)
    sf.write(d / "silent.wav", np.zeros(SR, np.float32), SR)
    sf.write(d / "dc.wav", np.full(SR, 0.3, np.float32), SR, subtype="FLOAT")
    nan = saw()
    nan[100:110] = np.nan
    sf.write(d / "nan.wav", nan, SR, subtype="FLOAT")
    sf.write(d / "noise.wav", 0.3 * np.random.default_rng(0).normal(size=SR).astype(np.float32), SR)
    full = d / "full.wav"
    sf.write(full, saw(), SR)
    write(d / "truncated.wav", full.read_bytes()[:20000])
    write(d / "header_only.wav", full.read_bytes()[:30])
    write(d / "empty.wav", b"")
    write(d / "random.wav", os.urandom(8192) + SECRET.encode())
    (d / "dir.wav").mkdir()
    sparse_wav(d / "rate_max_int.wav", 256 << 20, 2**31 - 1)
    sparse_wav(d / "rate_7hz.wav", 1 << 20, 7)
    sparse_wav(d / "wide_384k_64ch.wav", 256 << 20, 384_000, 64)
    sparse_wav(d / "sparse_3gib.wav", 3 << 30, SR)
    write(d / "claims_4gib.wav", wav_header(SR, 0xFFFFFFF0) + bytes(4096))
    write(d / "zero_data.wav", wav_header(SR, 0))
    prof = d / "profiles"
    prof.mkdir()
    outside = d / "private"
    outside.mkdir()
    raw = json.loads((ROOT / "server/rack/profiles/debian_test.json").read_text())
    (outside / "secret.json").write_text(json.dumps({**raw, SECRET: SECRET}))
    # names long enough for their error reply under the size rule
    (prof / "leaky_profile.json").write_text(json.dumps({**raw, SECRET: SECRET}))
    (prof / "out_link.json").symlink_to(outside / "secret.json")
    write(prof / "binary_profile.json", b"\xff" + os.urandom(100) + SECRET.encode())
    (prof / "huge_profile.json").write_text('{"comment": "' + SECRET * 200_000 + '"}')
    (prof / "deep_profile.json").write_text("[" * 200_000 + "]" * 200_000)
    (prof / "list_profile.json").write_text(f'["{SECRET}"]')
    os.mkfifo(prof / "fifo.json")
    long_name = d / ("n" * 300 + ".wav")
    kinds = {
        "fifo": ("target", d / "fifo.wav"),
        "fifo_as_capture": ("step", d / "fifo.wav"),
        "dev_zero": ("target", "/dev/zero"),
        "dev_null": ("target", "/dev/null"),
        "dev_urandom": ("step", "/dev/urandom"),
        "dev_stdin": ("target", "/dev/stdin"),
        "proc_self_mem": ("target", "/proc/self/mem"),
        "proc_self_environ": ("target", "/proc/self/environ"),
        "proc_kcore": ("target", "/proc/kcore"),
        "sys_file": ("target", "/sys/kernel/uevent_seqnum"),
        "unix_socket": ("target", d / "sock.wav"),
        "symlink_loop": ("target", d / "loop_a.wav"),
        "symlink_to_dev_zero": ("target", d / "zero_link.wav"),
        "dangling_symlink": ("target", d / "dangling.wav"),
        "name_too_long": ("target", long_name),
        "path_too_long": ("target", "/" + "/".join(["abcdefgh"] * 600)),
        "missing": ("target", d / "nope.wav"),
        "missing_folder": ("step", d / "no/dir/x.wav"),
        "file_as_folder": ("target", secret_text / "x.wav"),
        "directory": ("target", d / "dir.wav"),
        "relative_path": ("target", "relative/path.wav"),
        "dot_dot_path": ("target", f"{d}/../{d.name}/../../etc/passwd"),
        "etc_passwd": ("target", "/etc/passwd"),
        "etc_shadow": ("target", "/etc/shadow"),
        "secret_text_as_wav": ("target", secret_text),
        "random_bytes": ("step", d / "random.wav"),
        "empty": ("target", d / "empty.wav"),
        "truncated": ("target", d / "truncated.wav"),
        "header_only": ("target", d / "header_only.wav"),
        "zero_data_chunk": ("target", d / "zero_data.wav"),
        "silent": ("target", d / "silent.wav"),
        "dc_only": ("target", d / "dc.wav"),
        "nan_samples": ("step", d / "nan.wav"),
        "noise_target": ("target", d / "noise.wav"),
        "rate_2e31_sparse_256MiB": ("target", d / "rate_max_int.wav"),
        "rate_7_hz": ("target", d / "rate_7hz.wav"),
        "384kHz_64ch_sparse_256MiB": ("target", d / "wide_384k_64ch.wav"),
        "sparse_3GiB": ("target", d / "sparse_3gib.wav"),
        "header_claims_4GiB": ("target", d / "claims_4gib.wav"),
        "non_utf8_missing": ("target", os.fsdecode(os.fsencode(d) + b"/caf\xe9\xff.wav")),
        "profile_outside_folder": ("profile", outside / "secret.json"),
        "profile_etc_passwd": ("profile", "/etc/passwd"),
        "profile_proc_environ": ("profile", "/proc/self/environ"),
        "profile_dot_dot": ("profile", f"{prof}/../private/secret.json"),
        "profile_symlink_out": ("profile", prof / "out_link.json"),
        "profile_secret_keys": ("profile", "leaky_profile"),
        "profile_binary": ("profile", "binary_profile"),
        "profile_huge": ("profile", "huge_profile"),
        "profile_nested": ("profile", "deep_profile"),
        "profile_list": ("profile", "list_profile"),
        "profile_fifo": ("profile", prof / "fifo.json"),
        "profile_relative": ("profile", "../private/secret.json"),
        "profile_unknown": ("profile", "no_such_profile_anywhere"),
    }
    return {k: (r, str(p)) for k, (r, p) in kinds.items()}


STUB_SERVE = """
import sys
sys.path.insert(0, sys.argv[1])
from stub_models import stub_models
from test_osc_hardening import StubRack
from serumrnn.server.cli import build_parser
from serumrnn.server.osc_cli import _cmd_serve
a = build_parser().parse_args(["serve", *sys.argv[3:]])
rack = StubRack() if sys.argv[2] == "stub-rack" else None  # None: the open rack, as serve loads it
sys.exit(_cmd_serve(a, models=stub_models(), rack=rack))
"""


class Server:
    """``serumrnn serve`` in a child process, with its log in a file (``stub``: the same
    command on scripted stub models; ``renders``: with them, the open rack renders the
    candidates of a step that needs a search, else a stub rack that refuses to render keeps
    the figures about the server alone)."""

    def __init__(
        self,
        models: str,
        log: Path,
        *extra: str,
        stub: bool = False,
        renders: bool = False,
        env: dict | None = None,
    ):
        self.log_path = log
        self.log = open(log, "w")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        head = (
            [sys.executable, "-c", STUB_SERVE, str(ROOT / "tests"), "open-rack" if renders else "stub-rack"]
            if stub
            else [sys.executable, "-m", "serumrnn.server.cli", "serve"]
        )
        self.proc = subprocess.Popen(
            [
                *head,
                "--port",
                str(self.port),
                "--reply-port",
                "0",
                "--models",
                models,
                "--workers",
                "1",
                "--size-rule",
                "all",
                *extra,
            ],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.address = ("127.0.0.1", self.port)
        try:
            with OscClient(self.address, timeout=1) as c:
                for _ in range(600):
                    if c.request("ping", 0, PAD, timeout=1):
                        return
                    if self.proc.poll() is not None:
                        raise SystemExit(f"the server died at start-up: see {log}")
            raise SystemExit("the server did not answer within 10 minutes")
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        """Stop the server however the campaign's part ended: a part that raises must not
        leave ``serve`` (and its front and watchdog) running after the script exits."""
        if self.alive():
            self.stop()
        self.log.close()

    def rss(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in bytes."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        get = lambda k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M).group(1)) * 1024  # noqa
        return get("VmRSS"), get("VmHWM")

    def settled_rss(self, step_s: float = 0.2, within: int = 2**20, limit_s: float = 5.0) -> int:
        """VmRSS once it has stopped falling: an ``end`` is answered before the worker lets
        go of the ended session's last job, so a read right after it can still hold that
        session (a baseline read then made the sessions' growth look about 8 MB smaller in
        half the runs)."""
        last, t0 = self.rss()[0], time.monotonic()
        while time.monotonic() - t0 < limit_s:
            time.sleep(step_s)
            now = self.rss()[0]
            if last - now < within:
                return now
            last = now
        return last

    def reset_peak(self) -> int:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        return self.rss()[0]

    def busy_workers(self) -> int:
        """Threads of the server using the CPU now (over 0.1 s): the workers under way."""

        def ticks() -> dict[str, int]:
            out = {}
            for t in Path(f"/proc/{self.proc.pid}/task").iterdir():
                try:
                    f = (t / "stat").read_text().rsplit(")", 1)[1].split()
                    out[t.name] = int(f[11]) + int(f[12])
                except (OSError, IndexError):
                    continue
            return out

        a = ticks()
        time.sleep(0.1)
        b = ticks()
        return sum(1 for k, v in b.items() if v - a.get(k, v) > 0)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> tuple[int, float]:
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        self.log.close()
        return rc, time.monotonic() - t0


def fence(c: OscClient, data: bytes, rid: int) -> tuple[list[bytes], float] | None:
    """Send ``data`` then a fence; the replies before the fence's answer and its delay, or
    None if none came within LATE_S (a hang); later than HANG_S is a slow answer. The fence
    is a ``new`` for no group: it runs in the light lane after every light request of this
    socket, and what needs no work is answered on arrival, so what comes before it answers
    ``data``. A request of a real session runs in the heavy lane and may answer after the
    fence, so the callers send only datagrams that name no session of theirs (fuzz,
    profiles on a ``new``, the amplification bundle) through it; a session's own requests
    go through :func:`own_reply`."""
    c.send_raw(data)
    t0 = time.monotonic()
    c.send(f"{P}/new", rid, FENCE_GROUP, PAD)
    got = []
    while True:
        c.sock.settimeout(max(0.01, LATE_S - (time.monotonic() - t0)))
        try:
            d = c.sock.recvfrom(65535)[0]
        except TimeoutError:
            return None
        m = osc.decode(d)[0]
        if m.address == f"{P}/error" and m.args[:2] == (rid, "unknown_group"):
            return got, time.monotonic() - t0
        got.append(d)


def own_reply(c: OscClient, data: bytes, rid: int) -> tuple[list[bytes], float] | None:
    """Send ``data``, a request naming the client's own session, and wait for its own
    reply (its final message); the datagrams and the delay, or None if none came within
    LATE_S (a hang). Why not :func:`fence`: a session's requests run in the heavy lane,
    path checks included, and a light fence is answered first (the fence then counted each
    answer for the request after it). Other messages are kept in ``c.stray``."""
    c.send_raw(data)
    t0 = time.monotonic()
    got: list[bytes] = []
    while (left := LATE_S - (time.monotonic() - t0)) > 0:
        c.sock.settimeout(max(0.01, left))
        try:
            d = c.sock.recvfrom(65535)[0]
        except TimeoutError:
            return None
        mine = [m for m in osc.decode(d) if osc.request_id_of(m) == rid]
        if not mine:
            c.stray.extend(osc.decode(d))
            continue
        got.append(d)
        if any(osc.is_final(m.address) for m in mine):
            return got, time.monotonic() - t0
    return None


# -- fuzz generation ----------------------------------------------------------------------

ADDRESSES = [a for a, _ in osc.REQUESTS.values()] + [f"{P}/nope", "/x", "/", f"{P}/"]
STRINGS = [
    "basic",
    "advanced",
    "modulating",
    "open",
    "serum",
    "debian_test",
    "preset:saw",
    "preset:nope",
    "/etc/passwd",
    "/dev/zero",
    "/proc/self/mem",
    "/",
    "",
    "../../x",
    "s" + "0" * 32,
    "\n\x1b[31mINJECT\x1b[0m",
    "é" * 30,
    "/tmp",
    "x" * 300,
]
#: Never a usable UDP port after the request id: replies must come back to the fuzzer.
LATER_INTS = [0, -1, 65536, 70000, 2**31 - 1, -(2**31)]


def fuzz_message(r: random.Random) -> bytes:
    args: list = []
    for i in range(r.randint(0, 6)):
        k = r.random()
        if k < 0.35:
            args.append(r.randint(-(10**9), 10**9) if i == 0 else r.choice(LATER_INTS))
        elif k < 0.7:
            args.append(
                r.choice(STRINGS)
                if r.random() < 0.7
                else "".join(chr(r.randint(1, 0x2FFF)) for _ in range(r.randint(0, 40)))
            )
        elif k < 0.85:
            args.append(r.uniform(-1e9, 1e9))
        else:
            args.append(r.randbytes(r.randint(1, 30)))
    try:
        return osc.encode(r.choice(ADDRESSES), args)
    except Exception:
        return osc.encode(r.choice(ADDRESSES), [])


def fuzz_datagram(r: random.Random) -> bytes:
    k = r.random()
    if k < 0.3:
        return fuzz_message(r)
    if k < 0.5:
        return r.randbytes(r.randint(1, 400))
    if k < 0.7:  # a request with bytes flipped, cut or appended
        m = bytearray(fuzz_message(r))
        for _ in range(r.randint(1, 4)):
            if m:
                m[r.randrange(len(m))] = r.randrange(256)
        op = r.random()
        if op < 0.3:
            m = m[: r.randint(1, len(m))]
        elif op < 0.5:
            m += r.randbytes(r.randint(1, 20))
        return bytes(m) or b"\x00"
    if k < 0.9:  # bundles, sometimes nested or with lying sizes
        parts = [fuzz_message(r) for _ in range(r.randint(1, 30))]
        body = b"".join(
            struct.pack(">i", len(p) if r.random() > 0.05 else r.randint(-5, 9999)) + p for p in parts
        )
        data = b"#bundle\x00" + r.randbytes(8) + body
        if r.random() < 0.2:
            data = b"#bundle\x00" + bytes(8) + struct.pack(">i", len(data)) + data
        return data[:65000]
    return b"#bundle\x00" + r.randbytes(r.randint(0, 100))


def needs_answer(data: bytes) -> bool:
    """Whether a datagram has room for an error reply: it, or one of its messages, is at
    least ROOM bytes (a shorter one may go unanswered by the size rule)."""
    try:
        msgs = osc.decode(data)
    except osc.DecodeError:
        return len(data) >= ROOM
    run = msgs[: osc.MAX_MESSAGES]
    return any(m.size >= ROOM for m in run) or sum(m.size for m in msgs[osc.MAX_MESSAGES :]) >= ROOM


# -- the campaign -------------------------------------------------------------------------


def legit_client(
    address, target: str, capture: str, ready: threading.Barrier, stop: threading.Event, tally: dict, lock
) -> None:
    """A producer stepping a session as the device does (each step sends the capture's
    path) until ``stop``: every step must be answered (within 60 s) and carry its own
    request id."""
    with OscClient(address, timeout=60) as c:
        sid = _new_sid(c)
        if sid is not None:
            c.request("target", sid, target)
        ready.wait(120)
        if sid is None:
            with lock:
                tally["errors"] += 1
            return
        while not stop.is_set():
            rid = c.next_id()
            reply = c.request("step", sid, capture, rid=rid)
            with lock:
                if not reply:
                    tally["lost"] += 1
                elif any(m.args[:1] != (rid,) for m in reply) or c.stray:
                    tally["misrouted"] += 1
                    c.stray.clear()
                elif reply[-1].address == f"{P}/error":
                    tally["errors"] += reply[-1].args[1] != "session_done"
                else:
                    tally["steps"] += 1
            if not reply or reply[-1].address == f"{P}/error" or reply[-1].args[4]:
                c.request("reset", sid)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=str(ROOT / "models"))
    ap.add_argument("--datagrams", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=3, help="legitimate clients during the fuzz")
    ap.add_argument(
        "--client-seconds", type=float, default=30.0, help="how long they step, from the start of the fuzz"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--sessions", type=int, default=16, help="sessions stepped to the end to measure their memory"
    )
    ap.add_argument("--goals", action="store_true", help="run the fairness campaign instead (see above)")
    ap.add_argument("--stub", action="store_true", help="serve scripted stub models instead of --models")
    ap.add_argument("--flood-seconds", type=float, default=60.0)
    ap.add_argument("--sigterm-runs", type=int, default=20)
    ap.add_argument("--session-memory", type=float, default=100.0, metavar="MB")
    ap.add_argument(
        "--only",
        action="append",
        choices=tuple(GOAL_PARTS),
        help="with --goals: run only these parts (repeatable; default all)",
    )
    ap.add_argument(
        "--json", metavar="PATH", help="with --goals: write every figure there (docs/results/attack_osc.json)"
    )
    a = ap.parse_args()
    if a.goals:
        return goals(a)
    return first_campaign(a)


@dataclass
class Tally:
    """What the first campaign counts across its phases (each adds to it)."""

    deaths: int = 0
    hangs: int = 0
    leaked: int = 0
    bad: list[str] = field(default_factory=list)  # the goals missed, by name


def bad_paths_phase(srv: Server, c: OscClient, files: dict, sid: str, target: Path, t: Tally) -> None:
    """1. Bad files and paths, each followed by a ping; the peak memory of each."""
    results, worst = {}, (0, "")
    for kind, (req, path) in files.items():
        rid = c.next_id()
        # A profile rides on a new (no session: the sender has proved nothing, and its
        # replies are held to the request's size); a file on the session's own target or
        # step, whose replies may be longer (the session id proves the address).
        unproved = req == "profile"
        data = (
            osc.encode(f"{P}/new", (rid, "basic", path, 0))
            if unproved
            else osc.encode(f"{P}/{req}", (rid, sid, path))
        )
        before = srv.reset_peak()
        got = fence(c, data, c.next_id()) if unproved else own_reply(c, data, rid)
        if got is not None and not unproved and not c.request("ping", 0, PAD, timeout=LATE_S):
            got = None  # answered, then the server stopped answering
        peak = srv.rss()[1] - before
        if got is None:
            t.hangs += 1
            results[kind] = ("HANG", 0, len(data), unproved)
            continue
        replies, _ = got
        t.leaked += sum(d.count(SECRET.encode()) * len(SECRET) + d.count(b"root:x:0:0") * 10 for d in replies)
        results[kind] = (reply_code(replies), sum(map(len, replies)), len(data), unproved)
        worst = max(worst, (peak, kind))
        if not srv.alive():
            t.deaths += 1
            break
    legit_peak = 0  # a legitimate target and step, for their own peak
    for req in ("target", "step"):
        before = srv.reset_peak()
        c.request(req, sid, str(target))
        legit_peak = max(legit_peak, srv.rss()[1] - before)
    internal = [k for k, v in results.items() if v[0] in ("internal", "no reply", "HANG")]
    over = [k for k, v in results.items() if v[3] and v[1] > v[2]]
    print(f"\nbad files and paths: {len(results)} kinds")
    for kind, (code, out, inp, unproved) in results.items():
        print(
            f"  {kind:28s} {code:18s} reply {out:4d} B / request {inp:5d} B"
            + ("  (unproved sender)" if unproved else "")
        )
    print(
        f"  specific code for every kind: {'yes' if not internal else internal}; "
        f"replies over request size to an unproved sender: {len(over)}; hangs: {t.hangs}; "
        f"file bytes in replies: {t.leaked}"
    )
    print(
        f"  peak memory above baseline, one request: {worst[0] / 2**20:.1f} MB "
        f"({worst[1]}); a legitimate target or step: {legit_peak / 2**20:.1f} MB"
    )
    t.bad += ["internal"] * bool(internal) + ["paths over size"] * bool(over)


def reply_code(replies: list[bytes]) -> str:
    """An error reply's code, else the first reply's address ("no reply" when none)."""
    msgs = [m for d in replies for m in osc.decode(d)]
    if not msgs:
        return "no reply"
    return msgs[0].args[1] if msgs[0].address == f"{P}/error" else msgs[0].address


def sessions_phase(srv: Server, c: OscClient, target: Path, capture: Path, sessions: int) -> None:
    """Sessions' memory: N sessions with a target, stepped as the device steps them (the
    capture's path each time) until done or five steps."""
    rss0 = srv.rss()[0]
    sids, steps = [], 0
    for _ in range(sessions):
        s2 = _must_new_sid(c)
        c.request("target", s2, str(target))
        sids.append(s2)
        for _ in range(5):
            reply = c.request("step", s2, str(capture))
            steps += reply[-1].address == f"{P}/step/end"
            if reply[-1].address != f"{P}/step/end" or reply[-1].args[4]:
                break
    grown = srv.rss()[0] - rss0
    print(
        f"\nsessions' memory: {sessions} sessions with a target and {steps} steps "
        f"in all: RSS +{grown / 2**20:.0f} MB, {grown / sessions / 2**20:.1f} MB "
        f"per session, {grown / (sessions + steps + sessions) / 2**20:.1f} MB per "
        "stored sound (target, input, one per step)"
    )
    for s2 in sids:
        c.request("end", s2)


class Pace:
    """Keeps a stranger socket within the server's gate (``osc_gate.STRANGER_RATE``): a
    datagram the gate drops unanswered is the gate working, not the decoder, and a dropped
    fence would wait LATE_S and count as a hang. A bucket of the gate's own kind, at its
    rate and prices, sleeps until a datagram and its fence can both be paid for."""

    def __init__(self) -> None:
        # half the burst: the gate's bucket for this client may be partly spent already
        self.bucket = osc_gate.Bucket(osc_gate.STRANGER_RATE[1] / 2, time.monotonic())

    def wait(self, *sizes: int) -> None:
        price = sum(map(osc_gate.cost, sizes))
        while not self.bucket.take(price, time.monotonic(), osc_gate.STRANGER_RATE):
            time.sleep((price - self.bucket.tokens) / osc_gate.STRANGER_RATE[0])


#: The fence's size, for :class:`Pace` (its ``new`` for no group, padded).
FENCE_BYTES = len(osc.encode(f"{P}/new", (0, FENCE_GROUP, PAD)))


def fuzz_one(f: OscClient, data: bytes, rid: int, srv: Server, t: Tally, n: Counter, pace: Pace) -> bool:
    """One fuzzed datagram and its fence, within the gate's rate; False when the server died."""
    pace.wait(len(data), FENCE_BYTES)
    got = fence(f, data, rid)
    if got is None:
        t.hangs += 1
        if not srv.alive():
            t.deaths += 1
            return False
        return True
    replies, delay = got
    n["slowest_ms"] = max(n["slowest_ms"], int(delay * 1e3))
    n["slow"] += delay > HANG_S
    errors = sum(len(d) for d in replies if osc.decode(d)[0].address == f"{P}/error")
    n["in"] += len(data)
    n["err_out"] += errors
    n["over_bytes"] += errors > len(data)
    t.leaked += sum(d.count(SECRET.encode()) for d in replies)
    n["answered" if replies else "lost" if needs_answer(data) else "short"] += 1
    return True


def fuzz_phase(srv: Server, a: argparse.Namespace, target: Path, capture: Path, t: Tally) -> None:
    """2. Fuzzed datagrams, each fenced, with legitimate clients stepping meanwhile."""
    r = random.Random(a.seed)
    stop, lock = threading.Event(), threading.Lock()
    tally = {"steps": 0, "lost": 0, "misrouted": 0, "errors": 0}
    ready = threading.Barrier(a.clients + 1)
    clients = [
        threading.Thread(
            target=legit_client,
            args=(srv.address, str(target), str(capture), ready, stop, tally, lock),
            daemon=True,
        )
        for _ in range(a.clients)
    ]
    for th in clients:
        th.start()
    ready.wait(300)  # their sessions exist before the fuzz starts
    threading.Timer(a.client_seconds, stop.set).start()
    n: Counter = Counter()
    before = srv.reset_peak()
    t0 = time.monotonic()
    pace = Pace()
    with OscClient(srv.address, timeout=10) as f:
        for i in range(a.datagrams):
            if not fuzz_one(f, fuzz_datagram(r), 2_000_000_000 - i, srv, t, n, pace):
                break
    took = time.monotonic() - t0
    fuzz_peak = max(0, srv.rss()[1] - before)
    stop.set()
    for th in clients:
        th.join(120)
    print(
        f"\nfuzzed datagrams: {a.datagrams} in {took:.0f} s: answered {n['answered']}, "
        f"too short to answer (< {ROOM} B, size rule) {n['short']}, lost {n['lost']}; "
        f"hangs {t.hangs}; pongs later than {HANG_S:.0f} s {n['slow']} (slowest {n['slowest_ms']} ms)"
    )
    print(
        f"  error bytes out {n['err_out']} for {n['in']} bytes in; datagrams whose "
        f"errors outgrew them: {n['over_bytes']}; server peak above baseline, legitimate "
        f"sessions included: {fuzz_peak / 2**20:.1f} MB"
    )
    print(
        f"  legitimate clients in the first {a.client_seconds:.0f} s: {a.clients}, "
        f"{tally['steps']} steps, lost {tally['lost']}, misrouted {tally['misrouted']}, errors {tally['errors']}"
    )
    t.bad += ["fuzz lost"] * bool(n["lost"]) + ["fuzz over size"] * bool(n["over_bytes"])
    t.bad += ["legitimate clients"] * bool(tally["lost"] or tally["misrouted"] or tally["errors"])


def bundle_and_log_phase(c: OscClient) -> None:
    """3. The amplification bundle, and control characters for the log."""
    tiny = b"/serumrnn/x\x00"
    n = (65507 - 16) // (4 + len(tiny))
    bundle = b"#bundle\x00" + bytes(8) + b"".join(struct.pack(">i", len(tiny)) + tiny for _ in range(n))
    got = fence(c, bundle, c.next_id())
    out = got[0] if got else []
    print(
        f"\namplification bundle: {n} messages, {len(bundle)} B in -> {len(out)} "
        f"datagrams, {sum(map(len, out))} B out"
    )
    c.send(f"{P}/x\n2099-01-01 00:00:00 INFO ready: forged\x1b[2J", 1, "y" * 64)
    c.request("target", "s" + "0" * 32 + "\n\x1b]0;pwned\x07", "/a\nb", timeout=5)
    c.request("ping", 0, PAD)  # answered once the lines above are logged (padded: the size rule)


def log_report(srv: Server) -> None:
    log = srv.log_path.read_text(errors="replace")
    raw_controls = sum(
        1 for line in log.splitlines() for ch in line if ord(ch) < 32 and ch != "\t" or ch == "\x7f"
    )
    forged = sum(1 for line in log.splitlines() if line.startswith("2099-01-01"))
    secrets_in_log_ids = len(re.findall(r"s[0-9a-f]{32}", log))
    print(
        f"log: raw control characters {raw_controls}, forged lines {forged}, whole session ids {secrets_in_log_ids}"
    )


def first_campaign(a: argparse.Namespace) -> int:
    """The first attack campaign (see the module's doc): exit 1 when a goal is missed."""
    tmp = Path(tempfile.mkdtemp(prefix="serumrnn-attack-"))
    keep: list = []
    t = Tally()
    try:
        files = bad_files(tmp, keep)
        target = tmp / "target.wav"
        sf.write(target, saw(midi=48) * np.linspace(1, 0.6, SR, dtype=np.float32), SR)
        capture = tmp / "capture.wav"  # the producer's sound as the device captures it
        sf.write(capture, saw(midi=48), SR)
        # renders: its sessions step as the device's do, and a step searches by rendering
        with Server(
            a.models, tmp / "serve.log", "--profiles", str(tmp / "profiles"), stub=a.stub, renders=True
        ) as srv:
            print(
                f"server pid {srv.proc.pid} on {srv.address[1]} "
                f"({'stub models' if a.stub else f'models {a.models}'}, 1 worker, size rule for every sender)"
            )
            with OscClient(srv.address, timeout=60) as c:
                # warm up: a legitimate target and step, then the baseline
                sid = _must_new_sid(c)
                c.request("target", sid, str(target))
                c.request("step", sid, str(target))
                print(f"baseline RSS after warm-up: {srv.reset_peak() / 2**20:.0f} MB")
                bad_paths_phase(srv, c, files, sid, target, t)
                sessions_phase(srv, c, target, capture, a.sessions)
                fuzz_phase(srv, a, target, capture, t)
                bundle_and_log_phase(c)
                for _ in range(4):  # 4. SIGTERM with steps in flight
                    c.send(f"{P}/step", c.next_id(), sid, str(target))
            rc, stop_s = srv.stop()
        log_report(srv)
        print(f"\nSIGTERM with 4 steps in flight: exit code {rc} after {stop_s:.2f} s")
        print(f"server deaths: {t.deaths + (rc not in (0,))}; hangs: {t.hangs}")
        return 1 if (t.deaths or t.hangs or t.leaked or t.bad or rc or stop_s > 5) else 0
    finally:
        for s in keep:
            s.close()
        shutil.rmtree(tmp, ignore_errors=True)


# -- the fairness campaign: a fair and bounded server --------------------------------------------------


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def _new_sid(c: OscClient, *options: str, wait_s: float = 600.0) -> str | None:
    """A new Basic session's id (``options``: the input, e.g. ``preset:saw``), or None when
    the server refuses one (the memory budget). A server answers before its models are
    loaded and refuses a ``new`` for a group still loading with the error ``loading`` ("ask
    again"): asked again every 0.5 s, up to ``wait_s``, as the device does, so that real
    models count as loaded, not as refused."""
    deadline = time.monotonic() + wait_s
    while True:
        got = c.request("new", "basic", *options, 0, PAD, timeout=30)
        if got and got[0].address == f"{P}/new/reply":
            return got[0].args[1]
        loading = bool(got) and got[0].address == f"{P}/error" and got[0].args[1] == "loading"
        if not loading or time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def _must_new_sid(c: OscClient, *options: str) -> str:
    """``_new_sid`` where a campaign cannot go on without a session: a clear stop, not a
    ``None`` sent over OSC."""
    sid = _new_sid(c, *options)
    if sid is None:
        raise SystemExit("the server gave no session for a new Basic session: see its log")
    return sid


def _heavy_flood(address, target: str, until, out, ready) -> None:
    """Bundles of 16 heavy requests over 8 sessions from 127.0.0.2, as fast as they go
    (``ready`` is set once its sessions have their targets: the other floods start then;
    ``until``: a shared value, the end of the flood, set then)."""
    n = size = 0
    with OscClient(address, timeout=5, host="127.0.0.2") as f:
        sids = [x for x in (_new_sid(f) for _ in range(8)) if x]
        for x in sids:
            f.request("target", x, target, timeout=120)
        ready.set()
        f.sock.setblocking(False)
        rid = 10
        while time.monotonic() < until.value and sids:
            msgs = []
            for i in range(16):
                rid += 1
                x = sids[i % len(sids)]
                msgs.append(osc.encode(f"{P}/step" if i % 2 else f"{P}/target", (rid, x, target)))
            data = b"#bundle\x00" + bytes(8) + b"".join(struct.pack(">i", len(m)) + m for m in msgs)
            try:
                f.sock.sendto(data, address)
            except OSError:
                pass
            n, size = n + 1, size + len(data)
            try:
                while f.sock.recv(65535):
                    pass
            except OSError:
                pass
            time.sleep(0.005)
    out.put(("bundles", n, size))


def _new_flood(address, until: float, out) -> None:
    """One-shot news, each from a new source port on 127.0.0.1."""
    n = 0
    while time.monotonic() < until:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as one:
            one.bind(("127.0.0.1", 0))
            one.sendto(osc.encode(f"{P}/new", (n, "basic", 0)), address)
        n += 1
    out.put(("news", n, 0))


def _alias_flood(address, until: float, out) -> None:
    """News and cheap undos from 9 loopback aliases (127.0.0.3-11)."""
    socks = []
    for k in range(3, 12):
        x = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        x.bind((f"127.0.0.{k}", 0))
        x.setblocking(False)
        socks.append(x)
    n = 0
    while time.monotonic() < until:
        for x in socks:
            n += 1
            try:
                x.sendto(osc.encode(f"{P}/new", (n, "basic", 0)), address)
                x.sendto(osc.encode(f"{P}/undo", (n, "s" + "1" * 32)), address)
                while x.recv(65535):
                    pass
            except OSError:
                pass
        time.sleep(0.002)
    out.put(("aliases", 2 * n, 0))


class Victim:
    """The second client: pings every 0.1 s from one socket and steps its session from
    another, until ``stop``; what it measured."""

    def __init__(self, address, target: str):
        self.address, self.target = address, target
        self.stop = threading.Event()
        self.pings: list[float] = []
        self.lost_pings = 0
        self.steps: list[float] = []
        self.step_errors: list[str] = []

    def pinger(self) -> None:
        with OscClient(self.address, timeout=5) as c:
            while not self.stop.is_set():
                t0 = time.monotonic()
                got = c.request("ping", 0, PAD, timeout=5)
                if got and got[0].address == f"{P}/pong":
                    self.pings.append(time.monotonic() - t0)
                else:
                    self.lost_pings += 1
                time.sleep(0.1)

    def stepper(self, sid: str, c: OscClient) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            got = c.request("step", sid, self.target, timeout=60)
            if got and got[-1].address == f"{P}/step/end":
                self.steps.append(time.monotonic() - t0)
                if got[-1].args[4]:
                    c.request("reset", sid, timeout=60)
                continue
            self.step_errors.append(got[-1].args[1] if got else "lost")
            if got and got[-1].args[1] == "session_done":
                c.request("reset", sid, timeout=60)
            time.sleep(0.2)

    def figures(self) -> dict:
        return {
            "ping_p50": _pct(self.pings, 50),
            "ping_p99": _pct(self.pings, 99),
            "ping_max": max(self.pings, default=float("nan")),
            "pings": len(self.pings),
            "lost_pings": self.lost_pings,
            "steps": len(self.steps),
            "step_p50": _pct(self.steps, 50),
            "step_max": max(self.steps, default=float("nan")),
            "step_errors": self.step_errors,
        }


def _start_floods(ctx, address, target: str, seconds: float, out) -> list:
    """The heavy flood first (its sessions made and their targets set), then the others."""
    ready = ctx.Event()
    until = ctx.Value("d", time.monotonic() + seconds + 600)
    heavy = ctx.Process(target=_heavy_flood, args=(address, target, until, out, ready), daemon=True)
    heavy.start()
    if not ready.wait(600):
        print("  (the heavy flood's sessions were not ready within 600 s)")
    until.value = end = time.monotonic() + seconds + 5
    procs = [
        heavy,
        ctx.Process(target=_new_flood, args=(address, end, out), daemon=True),
        ctx.Process(target=_alias_flood, args=(address, end, out), daemon=True),
    ]
    for p in procs[1:]:
        p.start()
    return procs


def flood_figures(srv: Server, target: str, seconds: float) -> dict:
    """One client floods (heavy bundles from 127.0.0.2, one-shot news from many ports,
    news and undos from loopback aliases), each flood in a process of its own so that
    the measuring client shares no interpreter with it, while a second client on
    127.0.0.1 pings every 0.1 s and steps its session."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    out = ctx.Queue()
    v = Victim(srv.address, target)
    with OscClient(srv.address, timeout=60) as victim:
        sid = _must_new_sid(victim)
        victim.request("target", sid, target, timeout=300)
        procs = _start_floods(ctx, srv.address, target, seconds, out)
        time.sleep(5.0)  # the flood is on before the victim starts
        t_start = time.monotonic()
        watchers = [
            threading.Thread(target=v.pinger, daemon=True),
            threading.Thread(target=v.stepper, args=(sid, victim), daemon=True),
        ]
        for t in watchers:
            t.start()
        time.sleep(seconds)
        v.stop.set()
        took = time.monotonic() - t_start
        for t in watchers:
            t.join(70)
        sent = {"bundles": 0, "bundle_bytes": 0, "news": 0, "aliases": 0}
        for p in procs:
            p.join(120)
        while not out.empty():
            k, n, size = out.get()
            sent[k] = n
            if k == "bundles":
                sent["bundle_bytes"] = size
    return {"seconds": took, **v.figures(), **sent}


#: ``status``' padding: its reply names every group and how far each has loaded, so with the
#: three shipped groups it outgrows ``PAD`` (the stub models have one), and the size rule
#: refuses an unproved sender a reply longer than its request.
STATUS_PAD = b"\0" * 512


def status_of(c: OscClient) -> osc.Message:
    (st,) = c.request("status", 0, STATUS_PAD, timeout=30)
    if st.address != f"{P}/status/reply":
        raise SystemExit(f"status was refused: {st.args}")
    return st


def memory_figures(srv: Server, target: str, budget_mb: float, sessions: int) -> dict:
    """Sessions with a target and steps until the budget refuses; RSS growth against the
    budget's own count (status' session_mb) and against --session-memory."""
    refused = made = 0
    with OscClient(srv.address, timeout=120) as c:
        warm = _must_new_sid(c)  # first use loads the feature code: not what sessions hold
        c.request("target", warm, target)
        for _ in range(3):
            c.request("step", warm, target)
        c.request("end", warm)
        rss0 = srv.settled_rss()
        count0 = status_of(c).args[7]
        for _ in range(sessions):
            sid = _new_sid(c)
            if sid is None:
                refused += 1
                continue
            got = c.request("target", sid, target)
            if not got or got[0].address != f"{P}/target/reply":
                refused += 1
                continue
            made += 1
            for _ in range(3):
                c.request("step", sid, target)
        grown = srv.rss()[0] - rss0
        count = status_of(c).args[7] - count0
    return {
        "made": made,
        "refused": refused,
        "rss_mb": grown / 2**20,
        "count_mb": count,
        "budget_mb": budget_mb,
    }


def sigterm_figures(models: str, target: str, runs: int, stub: bool, tmp: Path) -> dict:
    """SIGTERM with requests running: seconds to exit, /serumrnn/stopped received, files
    left in the server's TMPDIR."""
    times, stopped, left, codes, busy = [], 0, 0, [], 0
    for i in range(runs):
        tdir = tmp / f"tmpdir{i}"
        tdir.mkdir()
        env = {**os.environ, "TMPDIR": str(tdir)}
        with (
            Server(models, tmp / f"sigterm{i}.log", "--workers", "2", stub=stub, env=env) as srv,
            OscClient(srv.address, timeout=120) as c,
        ):
            sids = [x for x in (_new_sid(c) for _ in range(4)) if x]
            for x in sids:
                c.request("target", x, target)
            for x in sids:  # keep both workers busy: targets take seconds, steps follow
                c.send(f"{P}/target", c.next_id(), x, target)
                for _ in range(2):
                    c.send(f"{P}/step", c.next_id(), x, target)
            time.sleep(0.3)
            busy += srv.busy_workers()
            rc, took = srv.stop()
            got = []
            while m := c.receive(0.5):
                got += m
            stopped += any(m.address == f"{P}/stopped" for m in got)
        times.append(took)
        codes.append(rc)
        left += sum(1 for _ in tdir.rglob("*"))
    return {
        "runs": runs,
        "max_s": max(times),
        "under_5s": sum(t <= 5 for t in times),
        "stopped": stopped,
        "left": left,
        "codes": sorted(set(codes)),
        "busy": busy,
    }


def amplification_figures(srv: Server) -> dict:
    """Every request an unproved sender can make without a session, bare and padded, and
    bundles of them: the largest reply-to-request byte ratio."""
    worst, rows = 0.0, []
    cases = {
        "ping": osc.encode(f"{P}/ping", (1, 0)),
        "status": osc.encode(f"{P}/status", (2, 0)),
        "new": osc.encode(f"{P}/new", (3, "basic", 0)),
        "ping_padded": osc.encode(f"{P}/ping", (4, 0, PAD)),
        "new_padded": osc.encode(f"{P}/new", (5, "basic", 0, PAD)),
        "bundle_16_pings": b"#bundle\x00"
        + bytes(8)
        + b"".join(
            struct.pack(">i", len(m)) + m for m in [osc.encode(f"{P}/ping", (i, 0)) for i in range(16)]
        ),
        "bundle_16_padded_news": b"#bundle\x00"
        + bytes(8)
        + b"".join(
            struct.pack(">i", len(m)) + m
            for m in [osc.encode(f"{P}/new", (100 + i, "basic", 0, PAD)) for i in range(16)]
        ),
    }
    with OscClient(srv.address, timeout=2) as c:
        for name, data in cases.items():
            c.send_raw(data)
            out = 0
            c.sock.settimeout(1.0)
            try:
                while True:
                    out += len(c.sock.recvfrom(65535)[0])
            except TimeoutError:
                pass
            rows.append((name, len(data), out))
            worst = max(worst, out / len(data))
    return {"rows": rows, "worst": worst}


def _flood_part(a: argparse.Namespace, tmp: Path, target: Path) -> tuple[bool, dict]:
    with Server(a.models, tmp / "flood.log", "--workers", "2", stub=a.stub) as srv:
        f = flood_figures(srv, str(target), a.flood_seconds)
    print(
        f"\nflood {f['seconds']:.0f} s: {f['bundles']} bundles of 16 heavy requests "
        f"({f['bundle_bytes'] / 1e3:.0f} kB), {f['news']} one-shot news from new ports, "
        f"{f['aliases']} news/undos from 9 loopback aliases"
    )
    print(
        f"  second client's ping: p50 {f['ping_p50'] * 1e3:.1f} ms, p99 {f['ping_p99'] * 1e3:.1f} ms, "
        f"max {f['ping_max'] * 1e3:.1f} ms ({f['pings']} answered, {f['lost_pings']} lost)"
    )
    print(
        f"  second client's whole step: {f['steps']} steps, p50 {f['step_p50']:.2f} s, "
        f"max {f['step_max']:.2f} s; errors {sorted(set(f['step_errors'])) or 'none'} "
        f"({len(f['step_errors'])})"
    )
    print(f"  load average after: {os.getloadavg()[0]:.2f} (1 min)")
    ms = {f"{k}_ms": 1e3 * f[k] for k in ("ping_p50", "ping_p99", "ping_max")}
    return bool(f["ping_p99"] > 0.5 or f["lost_pings"] or not f["steps"] or f["step_max"] > 10), {**f, **ms}


def _memory_part(a: argparse.Namespace, tmp: Path, target: Path) -> tuple[bool, dict]:
    with Server(a.models, tmp / "memory.log", "--session-memory", str(a.session_memory), stub=a.stub) as srv:
        m = memory_figures(srv, str(target), a.session_memory, a.sessions)
    off = (m["count_mb"] - m["rss_mb"]) / max(m["rss_mb"], 1e-9)
    print(
        f"\nmemory, --session-memory {m['budget_mb']:.0f} MB: {m['made']} sessions with a target and "
        f"3 steps, {m['refused']} refused; RSS +{m['rss_mb']:.0f} MB (bound {m['budget_mb'] + 300:.0f}); "
        f"the budget's count +{m['count_mb']:.1f} MB, {100 * off:+.0f} % of RSS growth"
    )
    return bool(m["rss_mb"] > m["budget_mb"] + 300 or abs(off) > 0.10), {**m, "count_off_pct": 100 * off}


def _sigterm_part(a: argparse.Namespace, tmp: Path, target: Path) -> tuple[bool, dict]:
    s = sigterm_figures(a.models, str(target), a.sigterm_runs, a.stub, tmp)
    print(
        f"\nSIGTERM under load: {s['under_5s']} of {s['runs']} runs stopped within 5 s (slowest "
        f"{s['max_s']:.2f} s), /serumrnn/stopped received in {s['stopped']}, files left in TMPDIR "
        f"{s['left']}, exit codes {s['codes']}; server threads on the CPU in the 0.1 s before each signal: {s['busy']} in all"
    )
    return bool(s["under_5s"] < s["runs"] or s["stopped"] < s["runs"] or s["left"]), s


def _amplification_part(a: argparse.Namespace, tmp: Path, target: Path) -> tuple[bool, dict]:
    with Server(a.models, tmp / "amp.log", stub=a.stub) as srv:
        r = amplification_figures(srv)
    print("\nreplies to an unproved sender (size rule for every sender):")
    for name, inp, out in r["rows"]:
        print(f"  {name:24s} request {inp:5d} B -> replies {out:5d} B")
    print(f"  largest reply/request ratio: {r['worst']:.2f}")
    return bool(r["worst"] > 1.0), r


#: The parts of the fairness campaign, in the order they run (``--only`` picks some).
GOAL_PARTS = {
    "flood": _flood_part,
    "memory": _memory_part,
    "sigterm": _sigterm_part,
    "amplification": _amplification_part,
}


def _finite(x):
    """``x`` with NaN and infinities as None (JSON has no NaN)."""
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def goals(a: argparse.Namespace) -> int:
    """The fairness campaign: each part prints its figures; exit 1 when a goal is missed.
    ``--json PATH`` also writes every part's figures there, with the command and the load."""
    tmp = Path(tempfile.mkdtemp(prefix="serumrnn-goals-"))
    load0 = os.getloadavg()
    try:
        target = tmp / "target.wav"
        sf.write(target, saw(midi=48) * np.linspace(1, 0.6, SR, dtype=np.float32), SR)
        kind = "stub models" if a.stub else f"models {a.models}"
        print(f"fairness goals, {kind}, 2 workers, size rule for every sender; load average {load0[0]:.2f}")
        parts: dict[str, dict] = {}
        missed = []
        for name, part in GOAL_PARTS.items():
            if a.only and name not in a.only:
                continue
            miss, figures = part(a, tmp, target)
            parts[name] = {"met": not miss, **figures}
            if miss:
                missed.append(name)
        print(f"\ngoals missed: {', '.join(missed) or 'none'}")
        if a.json:
            record = {
                "measured_by": ".venv/bin/python scripts/attack_osc.py " + " ".join(sys.argv[1:]),
                "date": time.strftime("%Y-%m-%d"),
                "load_average_1min": {"start": load0[0], "end": os.getloadavg()[0]},
                "cores": os.cpu_count(),
                "note": "the fairness goals of docs/protocol.md (Fairness and busy): a flooding "
                "client against a second client's pings and steps, the memory budget's count "
                "against RSS, SIGTERM under load, reply sizes for an unproved sender",
                **_finite(parts),
            }
            Path(a.json).write_text(json.dumps(record, indent=1) + "\n")
            print(f"figures written to {a.json}")
        return 1 if missed else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
