#!/usr/bin/env python3
"""The attack campaign of issue 13, against a real ``serumrnn serve`` on loopback.

Starts the server (shipped models, one worker so replies come in order, the size rule
for every sender as for any sender off loopback), then from other sockets:

1. bad files and paths (FIFO, devices, /proc, sockets, symlink loops, hostile WAV
   headers, sparse multi-GB files, secret-bearing text, profiles outside the allowed
   folder, ...), each followed by a ping; the server's peak memory is reset before and
   read after each request (/proc/PID/clear_refs, VmHWM);
2. fuzzed datagrams (random bytes, mutated and truncated requests, bundles), each
   followed by a ping, while legitimate clients step sessions;
3. the 64 kB bundle of 4,093 tiny messages, control characters for the log;
4. SIGTERM with steps in flight, timed.

Prints the counts the issue's goals are stated in. Usage::

    python scripts/attack_osc.py [--models DIR] [--datagrams 10000] [--seed 0]

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the hostile WAV builders the hardening tests use

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from hostile_wav import SR, saw, sparse_wav, wav_header  # noqa: E402

from serumrnn.server import osc  # noqa: E402
from serumrnn.server.osc_cli import OscClient  # noqa: E402

P = osc.PREFIX
SECRET = "SECRET-c0ffee-4b1d"  # planted in every file; must never appear in a reply
HANG_S = 5.0  # a pong later than this after a request counts as slow
LATE_S = 60.0  # and never coming within this, as a hang
#: A datagram with a message at least this long has room for any error reply.
ROOM = 64


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


class Server:
    """``serumrnn serve`` in a child process, with its log in a file."""

    def __init__(self, models: str, log: Path, *extra: str):
        self.log_path = log
        self.log = open(log, "w")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "serumrnn.server.cli",
                "serve",
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
        )
        self.address = ("127.0.0.1", self.port)
        with OscClient(self.address, timeout=1) as c:
            for _ in range(600):
                if c.request("ping", 0, timeout=1):
                    return
                if self.proc.poll() is not None:
                    raise SystemExit(f"the server died at start-up: see {log}")
        raise SystemExit("the server did not answer within 10 minutes")

    def rss(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in bytes."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        get = lambda k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M).group(1)) * 1024  # noqa
        return get("VmRSS"), get("VmHWM")

    def reset_peak(self) -> int:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        return self.rss()[0]

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
    """Send ``data`` then a ping; the replies before the pong and the pong's delay, or None
    if no pong came within LATE_S (a hang). A pong later than HANG_S is a slow answer."""
    c.send_raw(data)
    t0 = time.monotonic()
    c.send(f"{P}/ping", rid, 0)
    got = []
    while True:
        c.sock.settimeout(max(0.01, LATE_S - (time.monotonic() - t0)))
        try:
            d = c.sock.recvfrom(65535)[0]
        except TimeoutError:
            return None
        m = osc.decode(d)[0]
        if m.address == f"{P}/pong" and m.args[0] == rid:
            return got, time.monotonic() - t0
        got.append(d)


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
    address, target: str, ready: threading.Barrier, stop: threading.Event, tally: dict, lock
) -> None:
    """A producer stepping a preset session until ``stop``: every step must be answered
    (within 60 s) and carry its own request id."""
    with OscClient(address, timeout=60) as c:
        new = c.request("new", "basic", "preset:saw", 0)
        sid = new[0].args[1] if new and new[0].address == f"{P}/new/reply" else None
        if sid is not None:
            c.request("target", sid, target)
        ready.wait(120)
        if sid is None:
            with lock:
                tally["errors"] += 1
            return
        while not stop.is_set():
            rid = c.next_id()
            reply = c.request("step", sid, rid=rid)
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
    a = ap.parse_args()
    r = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp(prefix="serumrnn-attack-"))
    keep: list = []
    try:
        files = bad_files(tmp, keep)
        target = tmp / "target.wav"
        sf.write(target, saw(midi=48) * np.linspace(1, 0.6, SR, dtype=np.float32), SR)
        srv = Server(a.models, tmp / "serve.log", "--profiles", str(tmp / "profiles"))
        deaths = hangs = 0
        print(
            f"server pid {srv.proc.pid} on {srv.address[1]} (models {a.models}, 1 worker, "
            "size rule for every sender)"
        )
        with OscClient(srv.address, timeout=60) as c:
            # warm up: a legitimate target and step, then the baseline
            sid = c.request("new", "basic", 0)[0].args[1]
            c.request("target", sid, str(target))
            c.request("step", sid, str(target))
            base = srv.reset_peak()
            print(f"baseline RSS after warm-up: {base / 2**20:.0f} MB")

            # 1. bad files and paths
            results, worst = {}, (0, "")
            leaked = 0
            for kind, (req, path) in files.items():
                rid = c.next_id()
                if req == "profile":
                    data = osc.encode(f"{P}/new", (rid, "basic", path, 0))
                else:
                    data = osc.encode(f"{P}/{req}", (rid, sid, path))
                before = srv.reset_peak()
                got = fence(c, data, c.next_id())
                peak = srv.rss()[1] - before
                if got is None:
                    hangs += 1
                    results[kind] = ("HANG", 0, len(data))
                    continue
                replies, _ = got
                leaked += sum(
                    d.count(SECRET.encode()) * len(SECRET) + d.count(b"root:x:0:0") * 10 for d in replies
                )
                msgs = [m for d in replies for m in osc.decode(d)]
                code = (
                    msgs[0].args[1]
                    if msgs and msgs[0].address == f"{P}/error"
                    else (msgs[0].address if msgs else "no reply")
                )
                results[kind] = (code, sum(map(len, replies)), len(data))
                if peak > worst[0]:
                    worst = (peak, kind)
                if not srv.alive():
                    deaths += 1
                    break
            # a legitimate target and step, for their own peak
            legit_peak = 0
            for req in ("target", "step"):
                before = srv.reset_peak()
                c.request(req, sid, str(target))
                legit_peak = max(legit_peak, srv.rss()[1] - before)
            internal = [k for k, v in results.items() if v[0] in ("internal", "no reply", "HANG")]
            over = [k for k, v in results.items() if v[1] > v[2]]
            print(f"\nbad files and paths: {len(results)} kinds")
            for kind, (code, out, inp) in results.items():
                print(f"  {kind:28s} {code:18s} reply {out:4d} B / request {inp:5d} B")
            print(
                f"  specific code for every kind: {'yes' if not internal else internal}; "
                f"replies over request size: {len(over)}; hangs: {hangs}; "
                f"file bytes in replies: {leaked}"
            )
            print(
                f"  peak memory above baseline, one request: {worst[0] / 2**20:.1f} MB "
                f"({worst[1]}); a legitimate target or step: {legit_peak / 2**20:.1f} MB"
            )

            # sessions' memory: N sessions with a target, stepped until done
            rss0 = srv.rss()[0]
            sids, steps = [], 0
            for _ in range(a.sessions):
                s2 = c.request("new", "basic", "preset:saw", 0)[0].args[1]
                c.request("target", s2, str(target))
                sids.append(s2)
                for _ in range(5):
                    reply = c.request("step", s2)
                    steps += reply[-1].address == f"{P}/step/end"
                    if reply[-1].address != f"{P}/step/end" or reply[-1].args[4]:
                        break
            grown = srv.rss()[0] - rss0
            print(
                f"\nsessions' memory: {a.sessions} sessions with a target and {steps} steps "
                f"in all: RSS +{grown / 2**20:.0f} MB, {grown / a.sessions / 2**20:.1f} MB "
                f"per session, {grown / (a.sessions + steps + a.sessions) / 2**20:.1f} MB per "
                "stored sound (target, input, one per step)"
            )
            for s2 in sids:
                c.request("end", s2)

            # 2. fuzz, with legitimate clients stepping meanwhile
            stop, lock = threading.Event(), threading.Lock()
            tally = {"steps": 0, "lost": 0, "misrouted": 0, "errors": 0}
            ready = threading.Barrier(a.clients + 1)
            clients = [
                threading.Thread(
                    target=legit_client,
                    args=(srv.address, str(target), ready, stop, tally, lock),
                    daemon=True,
                )
                for _ in range(a.clients)
            ]
            for t in clients:
                t.start()
            ready.wait(300)  # their sessions exist before the fuzz starts
            threading.Timer(a.client_seconds, stop.set).start()
            answered = short = lost = over_bytes = slow = 0
            slowest, fuzz_peak, fuzz_in, fuzz_err_out = 0.0, 0, 0, 0
            before = srv.reset_peak()
            t0 = time.monotonic()
            with OscClient(srv.address, timeout=10) as f:
                for i in range(a.datagrams):
                    data = fuzz_datagram(r)
                    got = fence(f, data, 2_000_000_000 - i)
                    if got is None:
                        hangs += 1
                        if not srv.alive():
                            deaths += 1
                            break
                        continue
                    replies, delay = got
                    slowest = max(slowest, delay)
                    slow += delay > HANG_S
                    errors = [d for d in replies if osc.decode(d)[0].address == f"{P}/error"]
                    fuzz_in += len(data)
                    fuzz_err_out += sum(map(len, errors))
                    over_bytes += sum(map(len, errors)) > len(data)
                    leaked += sum(d.count(SECRET.encode()) for d in replies)
                    if replies:
                        answered += 1
                    elif needs_answer(data):
                        lost += 1
                    else:
                        short += 1
            took = time.monotonic() - t0
            fuzz_peak = max(0, srv.rss()[1] - before)
            stop.set()
            for t in clients:
                t.join(120)
            print(
                f"\nfuzzed datagrams: {a.datagrams} in {took:.0f} s: answered {answered}, "
                f"too short to answer (< {ROOM} B, size rule) {short}, lost {lost}; "
                f"hangs {hangs}; pongs later than {HANG_S:.0f} s {slow} (slowest "
                f"{slowest * 1e3:.0f} ms)"
            )
            print(
                f"  error bytes out {fuzz_err_out} for {fuzz_in} bytes in; datagrams whose "
                f"errors outgrew them: {over_bytes}; server peak above baseline, legitimate "
                f"sessions included: {fuzz_peak / 2**20:.1f} MB"
            )
            print(
                f"  legitimate clients in the first {a.client_seconds:.0f} s: {a.clients}, "
                f"{tally['steps']} steps, lost {tally['lost']}, misrouted "
                f"{tally['misrouted']}, errors {tally['errors']}"
            )

            # 3. amplification bundle and log injection
            tiny = b"/serumrnn/x\x00"
            n = (65507 - 16) // (4 + len(tiny))
            bundle = (
                b"#bundle\x00" + bytes(8) + b"".join(struct.pack(">i", len(tiny)) + tiny for _ in range(n))
            )
            got = fence(c, bundle, c.next_id())
            out = got[0] if got else []
            print(
                f"\namplification bundle: {n} messages, {len(bundle)} B in -> {len(out)} "
                f"datagrams, {sum(map(len, out))} B out"
            )
            c.send(f"{P}/x\n2099-01-01 00:00:00 INFO ready: forged\x1b[2J", 1, "y" * 64)
            c.request("target", "s" + "0" * 32 + "\n\x1b]0;pwned\x07", "/a\nb", timeout=5)
            c.request("ping")

            # 4. SIGTERM with steps in flight
            for _ in range(4):
                c.send(f"{P}/step", c.next_id(), sid, str(target))
        rc, stop_s = srv.stop()
        log = srv.log_path.read_text(errors="replace")
        raw_controls = sum(
            1 for line in log.splitlines() for ch in line if ord(ch) < 32 and ch != "\t" or ch == "\x7f"
        )
        forged = sum(1 for line in log.splitlines() if line.startswith("2099-01-01"))
        secrets_in_log_ids = len(re.findall(r"s[0-9a-f]{32}", log))
        print(
            f"log: raw control characters {raw_controls}, forged lines {forged}, whole "
            f"session ids {secrets_in_log_ids}"
        )
        print(f"\nSIGTERM with 4 steps in flight: exit code {rc} after {stop_s:.2f} s")
        print(f"server deaths: {deaths + (rc not in (0,))}; hangs: {hangs}")
        bad = (
            deaths
            or hangs
            or lost
            or leaked
            or over
            or over_bytes
            or internal
            or rc
            or stop_s > 5
            or tally["lost"]
            or tally["misrouted"]
            or tally["errors"]
        )
        return 1 if bad else 0
    finally:
        for s in keep:
            s.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
