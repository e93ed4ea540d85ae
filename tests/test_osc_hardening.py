"""The OSC server under attack. Each defect the attack found is reproduced here
and must stay fixed: special files and hostile headers, profiles outside the allowed
folders, a retry cache flushed by another client, sessions driven by strangers, reply
amplification, log injection, a stuck request at shutdown, a used port. Then
property-based fuzzing of the decoder and the request handlers, each example followed by
a ping. Scripted stub models (tests/stub_models.py) keep it fast and TensorFlow-free."""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import cast

import pytest
import soundfile as sf
from hostile_wav import SR, saw, sparse_wav, wav_header
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stub_models import StubModels, stub_models

from serumrnn.server import audio_io, osc, spec
from serumrnn.server.models import GroupModels
from serumrnn.server.osc_cli import OscClient
from serumrnn.server.osc_server import OscServer
from serumrnn.server.osc_sessions import MAX_SOUNDS, SOUND_BYTES, TARGET_BYTES, held_bytes
from serumrnn.server.rack.render import RenderSettings

P = osc.PREFIX
ROOT = Path(__file__).resolve().parent.parent
SECRET = "SECRET-7f3a9c"  # planted in files the server must never quote
NO_SUCH_SESSION = "s" + "0" * 32


class StubRack:
    """The server's shared renderer, never used by captured-sound sessions."""

    settings = RenderSettings()

    def render(self, *a, **k):
        raise AssertionError("the stub rack does not render")

    process = render


def reply_text(msgs: list[osc.Message]) -> str:
    return " ".join(str(a) for m in msgs for a in m.args)


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hardening")
    sf.write(d / "target.wav", saw(), SR)
    return d


@pytest.fixture(scope="module")
def profile_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """(a folder the server may read profiles from, a folder outside it)."""
    from serumrnn.server.rack.profile import PROFILE_DIR

    allowed, outside = tmp_path_factory.mktemp("profiles"), tmp_path_factory.mktemp("private")
    raw = json.loads((PROFILE_DIR / "debian_test.json").read_text())
    (allowed / "mine.json").write_text(json.dumps({**raw, "name": "mine"}))
    secret = {**raw, SECRET + "-key": SECRET + "-value"}
    (outside / "secret.json").write_text(json.dumps(secret))
    (allowed / "leaky.json").write_text(json.dumps(secret))  # invalid: an unknown key
    (allowed / "link.json").symlink_to(outside / "secret.json")
    (allowed / "binary.json").write_bytes(b"\xff\xfe" + os.urandom(64) + SECRET.encode())
    (allowed / "huge.json").write_text('{"comment": "' + "x" * (2 << 20) + '"}')
    (allowed / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (allowed / "list.json").write_text("[1, 2, 3]")
    os.mkfifo(allowed / "fifo.json")
    return allowed, outside


def make_server(**kw) -> OscServer:
    kw.setdefault("rack", StubRack())
    # The paper's loop steps whatever it hears, so every request here runs its full path
    # (the verified loop would stop at once on these stub sounds).
    kw.setdefault("loop", "paper")
    # The stubs implement what the server calls of a group (tests/stub_models.py); OscServer
    # names the concrete class.
    models = cast("dict[str, GroupModels]", kw.pop("models", None) or stub_models())
    return OscServer(models, "127.0.0.1", 0, kw.pop("reply_port", 0), **kw).start()


@pytest.fixture(scope="module")
def server(profile_dirs):
    srv = make_server(profile_dirs=(profile_dirs[0],), workers=2)
    yield srv
    srv.stop()


#: Where each test's client starts its request ids: apart, so that a test whose client gets
#: an earlier test's port back (the OS may hand it out again) is never answered with the
#: earlier client's cached ``new`` reply to the same id.
FIRST_IDS = itertools.count(1, 10_000)


@pytest.fixture
def client(server):
    with OscClient(server.address, timeout=60.0, first_id=next(FIRST_IDS)) as c:
        yield c


def new_session(c: OscClient, *options) -> str:
    (m,) = c.request("new", "basic", *options, 0)
    assert m.address == f"{P}/new/reply", m
    return m.args[1]


#: A blob that makes a ping longer than its pong: a server holding every sender to the size
#: rule answers a reply to an address not proved only when it is no longer than the request.
PAD = b"\0" * 64


def alive(c: OscClient) -> None:
    """The server still answers a ping (15 s: the machine may be busy; the attack
    campaign, scripts/attack_osc.py, measures the real delay)."""
    (pong,) = c.request("ping", 0, PAD, timeout=15.0)
    assert pong.address == f"{P}/pong"


def error_of(reply: list[osc.Message], code: str) -> osc.Message:
    assert len(reply) == 1 and reply[0].address == f"{P}/error", reply
    assert reply[0].args[1] == code, reply[0].args
    return reply[0]


# -- defects 1, 2, 10: files that are not sound files -----------------------------------


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "fifo.wav")
    return d / "fifo.wav"


_SOCKETS: list[socket.socket] = []


def _unix_socket(d: Path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock.wav"))
    _SOCKETS.append(s)
    return d / "sock.wav"


def _link(d: Path, name: str, to: str | Path) -> Path:
    (d / name).symlink_to(to)
    return d / name


def _loop(d: Path) -> Path:
    _link(d, "a.wav", d / "b.wav")
    return _link(d, "b.wav", d / "a.wav")


def _secret_text(d: Path) -> Path:
    (d / "passwords.wav").write_text(f"root:{SECRET}:0:0\n" * 40)
    return d / "passwords.wav"


#: kind -> (make the path in a folder, expected code). Every one was `internal`, a hang,
#: or gigabytes of memory before the hardening, or must stay a clear refusal.
BAD_PATHS = {
    "fifo": (_fifo, "not_regular"),
    "dev_zero": (lambda d: Path("/dev/zero"), "not_regular"),
    "dev_null": (lambda d: Path("/dev/null"), "not_regular"),
    "dev_urandom": (lambda d: Path("/dev/urandom"), "not_regular"),
    "proc_self_mem": (lambda d: Path("/proc/self/mem"), "not_regular"),
    "proc_self_environ": (lambda d: Path("/proc/self/environ"), "not_regular"),
    "sys_file": (lambda d: Path("/sys/kernel/mm/transparent_hugepage/enabled"), "not_regular"),
    "unix_socket": (_unix_socket, "not_regular"),
    "symlink_to_dev_zero": (lambda d: _link(d, "zero.wav", "/dev/zero"), "not_regular"),
    "symlink_to_fifo": (lambda d: _link(d, "to_fifo.wav", _fifo(d)), "not_regular"),
    "symlink_loop": (_loop, "bad_path"),
    "dangling_symlink": (lambda d: _link(d, "gone.wav", d / "nowhere.wav"), "missing"),
    "name_too_long": (lambda d: d / ("a" * 300 + ".wav"), "bad_path"),
    "path_too_long": (lambda d: Path("/" + "/".join(["abcdefgh"] * 600)), "bad_path"),
    "huge_rate_header": (lambda d: sparse_wav(d / "rate.wav", 256 << 20, 2**31 - 1), "bad_rate"),
    "rate_below_1k": (lambda d: sparse_wav(d / "slow.wav", 1 << 20, 7), "bad_rate"),
    "sparse_3_gib_file": (lambda d: sparse_wav(d / "big.wav", 3 << 30, 44100), "too_large"),
    "header_claims_4_gib": (
        lambda d: (
            (d / "claims.wav").write_bytes(wav_header(44100, 0xFFFFFFF0) + b"\x00" * 4096)
            and d / "claims.wav"
        ),
        "corrupt",
    ),
    "secret_text_file": (_secret_text, "not_audio"),
    "etc_passwd": (lambda d: Path("/etc/passwd"), "not_audio"),
    "folder": (lambda d: d, "is_directory"),
    "not_a_folder_in_path": (lambda d: d / "passwords.wav" / "x.wav", "missing"),
}


@pytest.mark.parametrize("kind", list(BAD_PATHS))
def test_bad_path_is_refused_without_hanging_or_quoting_it(kind, client, tmp_path):
    make, code = BAD_PATHS[kind]
    if kind == "not_a_folder_in_path":
        _secret_text(tmp_path)
    path = make(tmp_path)
    if str(path).startswith(("/proc", "/sys", "/dev")) and not os.path.exists(path):
        pytest.fail(f"{path}: this machine lacks it (Linux has it)")
    sid = new_session(client)
    for req in ("target", "step"):  # sent twice: the FIFO hung the second worker too
        reply = client.request(req, sid, str(path))
        err = error_of(reply, code)
        assert SECRET not in reply_text(reply)
        assert err.args[0] != osc.NO_REQUEST
        alive(client)


def test_huge_header_loads_in_bounded_memory(tmp_path):
    """A 256 MiB sparse WAV at 384 kHz with 64 channels: only the clip's head is read, in
    float32 blocks, so numpy's peak stays within the computed worst case."""
    path = sparse_wav(tmp_path / "wide.wav", 256 << 20, 384_000, channels=64)
    tracemalloc.start()
    try:
        with pytest.raises(audio_io.AudioInputError) as e:
            audio_io.load_clip(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert e.value.code == "silent"  # read and judged, not refused for its size
    assert peak <= audio_io.worst_case_bytes(), peak


# -- defect 3: profiles ------------------------------------------------------------------

PROFILES = {
    "outside_the_folders": (lambda a, o: str(o / "secret.json"), "bad_profile"),
    "etc_passwd": (lambda a, o: "/etc/passwd", "bad_profile"),
    "dot_dot_out_of_the_folder": (lambda a, o: f"{a}/../{o.name}/secret.json", "bad_profile"),
    "symlink_out_of_the_folder": (lambda a, o: str(a / "link.json"), "bad_profile"),
    "symlink_by_name": (lambda a, o: "link", "bad_profile"),
    "binary_file": (lambda a, o: "binary", "bad_profile"),
    "huge_file": (lambda a, o: "huge", "bad_profile"),
    "nested_past_the_parser": (lambda a, o: "deep", "bad_profile"),
    "a_list_not_an_object": (lambda a, o: "list", "bad_profile"),
    "fifo": (lambda a, o: str(a / "fifo.json"), "bad_profile"),
    "secret_keys_and_values": (lambda a, o: "leaky", "bad_profile"),
    "relative_path": (lambda a, o: f"../{o.name}/secret.json", "relative_path"),
    "proc_file": (lambda a, o: "/proc/self/environ", "bad_profile"),
    "unknown_name": (lambda a, o: "no_such_synth", "bad_profile"),
}


@pytest.mark.parametrize("kind", list(PROFILES))
def test_profile_from_anywhere_else_is_refused_without_its_contents(kind, client, profile_dirs):
    name, code = PROFILES[kind][0](*profile_dirs), PROFILES[kind][1]
    reply = client.request("new", "basic", name, 0)
    text = error_of(reply, code).args[2]
    assert SECRET not in reply_text(reply) and "root:" not in text
    if kind == "secret_keys_and_values":
        assert "<key>" in text  # the key path, with the file's own key shown as <key>
    alive(client)


def test_profiles_from_the_named_folder_and_the_shipped_ones_work(client, profile_dirs):
    # The shipped `serum` profile is checked the same way, but Serum's plugins are not on
    # this machine, so its session is refused like any profile whose plugins do not load
    # (tests/test_osc_plugins.py).
    for name, shown in (
        ("debian_test", "debian-test"),
        ("mine", "mine"),
        (str(profile_dirs[0] / "mine.json"), "mine"),
    ):
        (m,) = client.request("new", "basic", name, 0)
        assert m.address == f"{P}/new/reply" and m.args[3].startswith(shown[:5]), m.args


# -- defects 4 and 5: sessions belong to their client ------------------------------------


def _stepping_session(c: OscClient, files: Path) -> str:
    sid = new_session(c)
    (t,) = c.request("target", sid, str(files / "target.wav"))
    assert t.address == f"{P}/target/reply"
    return sid


def test_a_stranger_cannot_step_or_end_a_session(server, files):
    with OscClient(server.address, timeout=60) as owner, OscClient(server.address, timeout=60) as listener:
        sid = _stepping_session(owner, files)
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind(("127.0.0.2", 0))  # another address on this machine
        stranger.settimeout(5)
        try:
            for name, args in (
                ("step", (sid, str(files / "target.wav"))),
                ("end", (sid,)),
                ("undo", (sid,)),
                ("reset", (sid,)),
            ):
                stranger.sendto(osc.encode(osc.REQUESTS[name][0], (900, *args)), server.address)
                (m,) = osc.decode(stranger.recvfrom(65535)[0])  # answered to the asker
                assert m.args[:2] == (900, "unknown_session"), m
        finally:
            stranger.close()
        assert listener.receive(0.3) == [] and owner.receive(0.3) == []
        reply = owner.request("step", sid, str(files / "target.wav"))
        assert reply[-1].address == f"{P}/step/end" and reply[-1].args[2] == 1


def test_unknown_session_errors_go_to_the_asker_not_the_devices_port(profile_dirs):
    with OscClient(("127.0.0.1", 9), timeout=5) as device:
        srv = make_server(reply_port=device.port)  # replies go to "the device" by default
        try:
            assert device.receive()[0].address == f"{P}/ready"
            with OscClient(srv.address, timeout=5) as other:
                other.send(f"{P}/step", 77, NO_SUCH_SESSION)
                error_of(other.collect(77), "unknown_session")
                other.send(f"{P}/explode", 78, "x" * 40)
                error_of(other.collect(78), "unknown_address")
            assert device.receive(0.3) == []
        finally:
            srv.stop()


def test_one_client_making_many_sessions_evicts_no_one_else(files):
    srv = make_server(sessions_per_client=8, max_sessions=12)
    try:
        with OscClient(srv.address, timeout=60) as victim:
            sid = _stepping_session(victim, files)
            flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            flood.bind(("127.0.0.2", 0))
            flood.settimeout(5)
            codes = []
            for rid in range(1, 258):  # the reported 257 /new requests
                flood.sendto(osc.encode(f"{P}/new", (rid, "basic", 0)), srv.address)
                codes.append(osc.decode(flood.recvfrom(65535)[0])[0].args[1])
            flood.close()
            made = [c for c in codes if c.startswith("s")]
            # every loopback address is one client: the victim's session counts in its 8
            assert len(made) == 8 - 1 and set(codes) - set(made) == {"too_many_sessions"}
            reply = victim.request("step", sid, str(files / "target.wav"))
            assert reply[-1].address == f"{P}/step/end"
    finally:
        srv.stop()


def _make_idle(srv: OscServer, sid: str) -> None:
    """As if the session had not been used for longer than the server's idle time."""
    sess = srv.sessions.get(sid)
    assert sess is not None
    sess.last_used -= srv.sessions.idle_s + 1


def test_only_idle_sessions_are_closed_to_make_room(files):
    srv = make_server(sessions_per_client=2)
    try:
        with OscClient(srv.address, timeout=60) as c:
            a, b = new_session(c), new_session(c)
            error_of(c.request("new", "basic", 0), "too_many_sessions")  # both active
            _make_idle(srv, a)
            d = new_session(c)  # a was idle: closed for d; b untouched
            error_of(c.request("step", a, str(files / "target.wav")), "unknown_session")
            for sid in (b, d):
                assert c.request("target", sid, str(files / "target.wav"))[0].address == f"{P}/target/reply"
    finally:
        srv.stop()


def test_a_session_holds_at_most_max_sounds_bounded_sounds(files):
    srv = make_server(tolerance=10)  # every step stands, however the capture sounds
    try:
        with OscClient(srv.address, timeout=60) as c:
            sid = _stepping_session(c, files)
            for _ in range(1, spec.MAX_STEPS + 2):
                c.request("step", sid, str(files / "target.wav"))
        sess = srv.sessions.get(sid)
        a = sess.assistant
        sounds = [a.target, *a.states]
        # the target and the captures before each step, one step per effect (a preset
        # session also renders the sound after the last: MAX_SOUNDS)
        n = spec.MAX_STEPS
        assert len(a.chain) == n and len(sounds) == n + 1 and MAX_SOUNDS == n + 2
        assert held_bytes(a.target) <= TARGET_BYTES
        assert all(held_bytes(s) <= SOUND_BYTES for s in a.states)
        assert sess.nbytes == sess.measure() <= TARGET_BYTES + MAX_SOUNDS * SOUND_BYTES
    finally:
        srv.stop()


def test_session_memory_is_bounded_by_the_budget(files):
    """Sounds that would pass the memory budget are refused unless an idle session can
    be closed to make room."""
    srv = make_server(session_memory_mb=(TARGET_BYTES + SOUND_BYTES) / 2**20 + 1)
    try:
        with OscClient(srv.address, timeout=60) as c:
            first = _stepping_session(c, files)
            assert c.request("step", first, str(files / "target.wav"))[-1].args[2] == 1
            # a budget just short of another target's three sounds, whatever the loop keeps
            srv.sessions.memory_bytes = srv.sessions.total_bytes() + 3 * SOUND_BYTES - 1
            other = new_session(c)
            error_of(c.request("target", other, str(files / "target.wav")), "too_many_sessions")
            assert srv.sessions.get(first) is not None  # an active session stays
            _make_idle(srv, first)
            assert c.request("target", other, str(files / "target.wav"))[0].address == f"{P}/target/reply"
            assert srv.sessions.get(first) is None
            assert srv.sessions.total_bytes() <= srv.sessions.memory_bytes
    finally:
        srv.stop()


def _request_until_answered(c: OscClient, name: str, *args, rid: int) -> list[osc.Message]:
    """Send, and resend with the same id until a reply comes (as the device does; a
    flood may fill the server's queue, which answers ``busy`` without the id)."""
    for _ in range(20):
        reply = c.request(name, *args, rid=rid, timeout=10)
        if reply:
            return reply
    raise AssertionError(f"{name} rid={rid}: no reply in 20 tries")


def test_a_retried_step_never_runs_twice_under_a_cache_flood(files):
    """The owner retries every step id while other sockets flood the server with the
    requests that used to fill the shared cache (unknown sessions, new, end)."""
    models = stub_models()
    srv = make_server(models=models, workers=2, tolerance=10)
    stop = threading.Event()
    sent = [0]

    def flood(bind: str) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((bind, 0))
        rid = 0
        while not stop.is_set():
            rid += 1
            for msg in (
                osc.encode(f"{P}/step", (rid, NO_SUCH_SESSION, "/x.wav")),
                osc.encode(f"{P}/new", (rid, "basic", 0)),
                osc.encode(f"{P}/end", (rid, NO_SUCH_SESSION)),
            ):
                s.sendto(msg, srv.address)
                sent[0] += 1
            time.sleep(0.001)
        s.close()

    floods = [threading.Thread(target=flood, args=(ip,), daemon=True) for ip in ("127.0.0.1", "127.0.0.2")]
    try:
        with OscClient(srv.address, timeout=60) as c:
            sid = _stepping_session(c, files)
            for t in floods:
                t.start()
            selector = models["basic_shapes"]
            for n in range(1, 6):
                rid = c.next_id()
                before = selector.calls.get("selector", 0)
                first = _request_until_answered(c, "step", sid, str(files / "target.wav"), rid=rid)
                time.sleep(0.2)
                again = _request_until_answered(c, "step", sid, str(files / "target.wav"), rid=rid)
                assert first == again and first[-1].args[2] == n, (n, first[-1:], again[-1:])
                assert selector.calls["selector"] == before + 1  # the step ran once
    finally:
        stop.set()
        for t in floods:
            t.join(5)
        srv.stop()
    assert sent[0] > 1000


def test_a_retry_of_a_step_still_running_is_answered_working_and_the_step_runs_once(files):
    """A step blocked in its models: the device's resend of the same id gets ``working``
    (the request arrived; not lost, not stuck in the network), and the step still runs once."""
    gate = threading.Event()
    gate.set()
    stub = StubModels(gate=gate)
    srv = make_server(models={"basic_shapes": stub}, workers=2)
    try:
        with OscClient(srv.address, timeout=60) as c:
            sid = _stepping_session(c, files)
            before = stub.calls["selector"]
            gate.clear()
            rid = c.next_id()
            for _ in range(2):  # the first copy, then the device's resend after its timeout
                c.send(f"{P}/step", rid, sid, str(files / "target.wav"))
            (w,) = c.receive(10)
            assert w.address == osc.WORKING == f"{P}/working" and tuple(w.args) == (rid, "step", sid)
            assert not osc.is_final(w.address)
            gate.set()
            reply = c.collect(rid, 30)
            assert reply[-1].address == f"{P}/step/end" and all(m.address != osc.WORKING for m in reply)
            assert stub.calls["selector"] == before + 1
            again = c.request("step", sid, str(files / "target.wav"), rid=rid)  # finished: the cached reply
            assert again == reply
    finally:
        gate.set()
        srv.stop()


# -- defect 6: amplification -------------------------------------------------------------


def test_a_bundle_of_thousands_of_messages_gets_few_small_replies():
    srv = make_server(size_rule="all")
    try:
        tiny = b"/serumrnn/x\x00"  # 12 bytes: an unknown address, no arguments
        n = (65507 - 16) // (4 + len(tiny))  # 4,093 in the largest datagram
        bundle = (
            b"#bundle\x00" + b"\x00" * 8 + b"".join(struct.pack(">i", len(tiny)) + tiny for _ in range(n))
        )
        with OscClient(srv.address, timeout=60) as c:
            c.send_raw(bundle)
            got = []
            while d := _recv_raw(c.sock, 1.0):
                got.append(d)
            assert n > 4000 and len(got) <= osc.MAX_MESSAGES + 1
            assert sum(map(len, got)) <= len(bundle)
            alive(c)
    finally:
        srv.stop()


def _recv_raw(sock: socket.socket, timeout: float) -> bytes | None:
    sock.settimeout(timeout)
    try:
        return sock.recvfrom(65535)[0]
    except TimeoutError:
        return None


def replies_before_pong(c: OscClient, data: bytes, wait_s: float = 15.0) -> list[bytes]:
    """Send ``data``, then a fence; return the datagrams that came before the fence's
    answer. The fence is a ``new`` for no group: it runs in the light lane after every
    light request of this socket, and what needs no work is answered on arrival, so the
    datagrams before its answer are exactly the replies to ``data``. It names reply port 0
    (this socket's own): ``data`` may have named another port for this socket's errors."""
    c.send_raw(data)
    rid = 2_000_000_000
    c.send(f"{P}/new", rid, "fence-no-such-group", 0, PAD)
    got: list[bytes] = []
    while True:
        d = _recv_raw(c.sock, wait_s)
        assert d is not None, f"no answer to the fence within {wait_s} s: the server hung"
        m = osc.decode(d)[0]
        if m.address == f"{P}/error" and m.args[:2] == (rid, "unknown_group"):
            return got
        got.append(d)


@pytest.fixture(scope="module")
def strict_server():
    """One worker (replies in order) and the size rule for every sender, as for any
    sender off loopback."""
    srv = make_server(workers=1, size_rule="all", sessions_per_client=1000, max_sessions=1000)
    yield srv
    srv.stop()


#: kind -> (request, the error code it gets when there is room for one).
BAD_REQUESTS = {
    "unknown_address": (osc.encode(f"{P}/explode", (1,)), "unknown_address"),
    "bad_port": (osc.encode(f"{P}/ping", (2, 70000)), "bad_args"),
    "unknown_session": (osc.encode(f"{P}/step", (3, NO_SUCH_SESSION)), "unknown_session"),
    "short_garbage": (b"garbage!" * 3, "bad_packet"),
    "long_garbage": (b"garbage!" * 30, "bad_packet"),
    "missing_target": (
        osc.encode(f"{P}/target", (4, NO_SUCH_SESSION, "/nowhere/at/all.wav")),
        "unknown_session",
    ),
    "unknown_group": (osc.encode(f"{P}/new", (5, "no-such-group-of-presets", 0)), "unknown_group"),
    "profile_outside": (osc.encode(f"{P}/new", (6, "basic", "/etc/passwd", 0)), "bad_profile"),
}


@pytest.mark.parametrize("kind", list(BAD_REQUESTS))
def test_error_replies_are_never_longer_than_the_request(kind, strict_server):
    request, code = BAD_REQUESTS[kind]
    with OscClient(strict_server.address) as c:
        got = replies_before_pong(c, request)
    assert sum(map(len, got)) <= len(request)
    if len(request) >= osc.min_error_bytes(code):  # room for the error: it is sent
        assert [osc.decode(d)[0].args[1] for d in got] == [code]
    else:
        assert got == []  # too short to answer without amplifying; the log says so


def test_off_loopback_warning_says_anyone_can_drive_the_server(caplog):
    caplog.set_level(logging.WARNING, "serumrnn.osc")
    srv = OscServer(stub_models(), "0.0.0.0", 0, 0, rack=StubRack()).start()
    srv.stop()
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "not loopback: anyone on the network" in text and "127.0.0.1" in text


# -- defect 7: log injection -------------------------------------------------------------


def test_control_characters_from_a_client_are_escaped_in_the_log(server, client, caplog, monkeypatch):
    caplog.set_level(logging.INFO, "serumrnn.osc")
    evil = "\n2099-01-01 INFO ready: forged line\x1b[2J\x1b]0;pwned\x07\u2028"
    client.send(f"{P}/explode{evil}", 1, "x" * 64)
    error_of(client.collect(1), "unknown_address")
    client.request("target", NO_SUCH_SESSION + evil, "/a" + evil)

    def boom(req):
        raise RuntimeError("client said: " + evil)

    monkeypatch.setattr(server, "_on_status", boom)
    error_of(client.request("status"), "internal")
    handler = logging.StreamHandler()
    lines = [handler.format(r) for r in caplog.records if r.name == "serumrnn.osc"]
    assert any("forged line" in ln for ln in lines) and any("RuntimeError" in ln for ln in lines)
    for ln in lines:
        body = ln.replace("\nTraceback", " Traceback")  # a traceback's own lines are fine
        if "Traceback" in body:
            body = body.split(" Traceback")[0] + body.rsplit("\n", 1)[-1]
        assert not any(ch in body for ch in "\n\r\x1b\x07\u2028"), repr(ln)


# -- defect 8: a used port ---------------------------------------------------------------


def test_serve_on_a_used_port_fails_at_once_with_one_line(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "serumrnn.server.cli",
                "serve",
                "--port",
                str(port),
                "--models",
                str(tmp_path / "no_models_here"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and "cannot listen on 127.0.0.1" in err[0] and "another serumrnn serve" in err[0], (
        err
    )  # bound before the (missing) models load


# -- shutdown with a request stuck -------------------------------------------------------


def test_stop_returns_with_a_request_stuck(files):
    gate = threading.Event()
    srv = make_server(models={"basic_shapes": StubModels(gate=gate)}, workers=1)
    try:
        with OscClient(srv.address, timeout=60) as c:
            sid = new_session(c)
            c.send(f"{P}/target", 1, sid, str(files / "target.wav"))
            c.send(f"{P}/step", 2, sid, str(files / "target.wav"))
            deadline = time.monotonic() + 10
            while srv.models["basic_shapes"].calls.get("selector", 0) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            t0 = time.monotonic()
            assert srv.stop(wait_s=1.0) is False  # reports the stuck request
            assert time.monotonic() - t0 < 5.0
    finally:
        gate.set()


STUCK_SERVER = """
import sys, time
sys.path.insert(0, "tests")
import threading
from stub_models import StubModels
from serumrnn.server.osc_cli import OscClient
from serumrnn.server.osc_server import OscServer
from test_osc_hardening import StubRack
srv = OscServer({"basic_shapes": StubModels(gate=threading.Event())}, "127.0.0.1", 0, 0,
                rack=StubRack(), workers=1, loop="paper").start()
with OscClient(srv.address, timeout=60) as c:
    sid = c.request("new", "basic", 0)[0].args[1]
    c.request("target", sid, sys.argv[1], timeout=30)
    c.send("/serumrnn/step", 9, sid, sys.argv[1])
    deadline = time.monotonic() + 60  # until the step is stuck in the model (not a fixed sleep)
    while srv.models["basic_shapes"].calls.get("selector", 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
t0 = time.monotonic()
print("clean" if srv.stop(wait_s=1.0) else "stuck", flush=True)
"""


def test_the_process_exits_with_a_request_stuck(files):
    """Workers are daemon threads: the interpreter does not wait for a stuck one."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", STUCK_SERVER, str(files / "target.wav")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "stuck", proc.stderr[-2000:]
    assert time.monotonic() - t0 < 60


# -- fuzzing -----------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, database=None)
@given(st.binary(max_size=600))
def test_fuzz_decoder_raises_only_decode_errors(data):
    try:
        msgs = osc.decode(data)
    except osc.DecodeError:
        return
    assert all(m.address.startswith("/") and len(m.types) == len(m.args) for m in msgs)


_ADDRESSES = [a for a, _ in osc.REQUESTS.values()] + [f"{P}/nope", "/x", "/"]
_PATHS = [
    "/etc/passwd",
    "/dev/zero",
    "/proc/self/mem",
    "/",
    "relative.wav",
    "",
    "/tmp",
    "/nonexistent/x.wav",
    "/dev/null",
    "/proc/self/environ",
]
# allow_subnormal=False: a library loaded earlier in the suite (DawDreamer, TensorFlow) may
# turn on flush-to-zero for the process, and hypothesis then refuses subnormal floats.
_ARG = st.one_of(
    st.sampled_from([0, -1, 1, 70000, 2**31 - 1, -(2**31), 2**40]),
    st.sampled_from(
        _PATHS
        + ["basic", "advanced", "open", "serum", "preset:saw", "preset:nope", NO_SUCH_SESSION, "../../x.json"]
    ),
    st.text(max_size=40),
    st.floats(allow_nan=True, width=32, allow_subnormal=False),
    st.booleans(),
    st.binary(max_size=24),
    st.none(),
)


def _message(address: str, args: list) -> bytes:
    try:
        return osc.encode(address, args)
    except Exception:  # python-osc refuses some values (an empty blob)
        return osc.encode(address, [])


_MESSAGE = st.builds(_message, st.sampled_from(_ADDRESSES), st.lists(_ARG, max_size=5))
_DATAGRAM = st.one_of(
    _MESSAGE,
    st.binary(min_size=1, max_size=200),
    st.lists(_MESSAGE, min_size=1, max_size=20).map(
        lambda ms: b"#bundle\x00" + b"\x00" * 8 + b"".join(struct.pack(">i", len(m)) + m for m in ms)
    ),
    st.tuples(_MESSAGE, st.integers(1, 40)).map(lambda t: t[0][: -t[1]] or t[0]),  # cut short
)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(_DATAGRAM)
# Found by the fuzzer: a ping naming reply port 1 sends this socket's later errors there.
@example(osc.encode(f"{P}/ping", (7, 1)))
def test_fuzz_handlers_answer_within_size_and_keep_serving(strict_server, data):
    """Any datagram: the server answers a ping right after it, and nothing it sent (error
    or not) is longer than the datagram."""
    with OscClient(strict_server.address) as c:
        replies = replies_before_pong(c, data)
    assert sum(map(len, replies)) <= len(data)
