"""A fair and bounded OSC server. Each defect the second attack found is reproduced
here and must stay fixed: starvation by a flood of heavy requests, the ``new`` lockout,
session exhaustion through loopback aliases, a memory budget blind to what sessions hold,
shutdown under load, amplified successful replies, out-of-order steps, impossible options,
NaN past the first second, absurd float samples, huge log lines and paths under /proc and
/dev. Scripted stub models (tests/stub_models.py) keep it fast; the speed figures live in
``scripts/attack_osc.py``."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hostile_wav import SR, saw
from stub_models import StubModels, stub_models
from test_osc_hardening import PAD, error_of, make_server, new_session

from serumrnn.server import audio_io, osc
from serumrnn.server.osc_cli import OscClient
from serumrnn.server.osc_reply_cache import NewReplies
from serumrnn.server.osc_schedule import Busy, FairQueue
from serumrnn.server.osc_sessions import client_of, held_bytes
from serumrnn.server.osc_transport import MAX_LOG_LINE, SafeLogFilter
from serumrnn.server.safe_open import FileRefused, open_regular

P = osc.PREFIX
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fair")
    sf.write(d / "target.wav", saw(), SR)
    return d


def bundle(*messages: bytes) -> bytes:
    return b"#bundle\x00" + b"\x00" * 8 + b"".join(struct.pack(">i", len(m)) + m for m in messages)


def wait_for(cond, what: str, limit_s: float = 120.0) -> None:
    """Poll ``cond`` (a generous bound: the property is that it happens, not how fast)."""
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"{what} did not happen within {limit_s} s"
        time.sleep(0.01)


# -- the fair queue itself ----------------------------------------------------------------


def _queue(**kw) -> FairQueue:
    kw.setdefault("per_key_jobs", 100)
    kw.setdefault("per_client_jobs", 100)
    kw.setdefault("total_jobs", 1000)
    return FairQueue(**kw)


def test_clients_are_served_round_robin_not_first_come():
    q = _queue(per_client_in_flight=10)
    for i in range(10):
        q.put("flooder", ("sock", i % 3), lambda job: None, kind=f"f{i}")
    order = [q.take(0).kind]  # the flooder is being served when the victim comes
    q.put("victim", "sock", lambda job: None, kind="v")
    order += [q.take(0).kind for _ in range(10)]
    assert order.index("v") == 1, order


def test_a_client_alone_gets_every_idle_worker():
    """The in-flight cap yields to others only: with no one else waiting, the client's
    second job does not leave a worker idle."""
    q = _queue(per_client_in_flight=1)
    q.put("a", "x", lambda job: None, kind="a1")
    q.put("a", "y", lambda job: None, kind="a2")
    assert [q.take(0).kind, q.take(0).kind] == ["a1", "a2"]


def test_keep_spare_holds_a_worker_back_from_a_client_alone():
    """The heavy lane's rule: a started job cannot be taken back, so a client never holds
    the last free worker; the next client's job starts at once."""
    q = _queue(per_client_in_flight=1, keep_spare=True)
    q.put("a", "x", lambda job: None, kind="a1")
    q.put("a", "y", lambda job: None, kind="a2")
    assert q.take(0).kind == "a1"
    assert q.take(0) is None  # a2 waits although a worker is free
    q.put("b", "z", lambda job: None, kind="b1")
    assert q.take(0).kind == "b1"


def test_a_key_runs_one_job_at_a_time_in_request_id_order():
    q = _queue(per_key_in_flight=1, per_client_in_flight=5)
    for rid in (7, 5, 6):
        q.put("c", "session", lambda job: None, order=rid, kind=str(rid))
    job = q.take(0)
    assert job.kind == "5" and q.take(0) is None  # 6 waits for 5
    q.done(job)
    assert q.take(0).kind == "6"


def test_work_past_the_bound_is_refused_with_a_retry_after():
    q = _queue(bound_s=10.0)
    q.put("c", "s1", lambda job: None, cost_s=4.0)
    q.put("c", "s2", lambda job: None, cost_s=4.0)
    with pytest.raises(Busy) as e:
        q.put("c", "s3", lambda job: None, cost_s=4.0)
    assert e.value.retry_after_s == pytest.approx(2.0)
    q.put("other", "s4", lambda job: None, cost_s=4.0)  # another client's share is untouched
    jobs = [q.take(0) for _ in range(3)]
    q.done(next(j for j in jobs if j.client == "c"))  # its cost is paid back: room again
    q.put("c", "s3", lambda job: None, cost_s=4.0)


def test_closing_drops_what_is_queued():
    q = _queue()
    for i in range(5):
        q.put("c", i, lambda job: None)
    assert q.close() == 5 and len(q) == 0 and q.take(0) is None
    with pytest.raises(Busy):
        q.put("c", 9, lambda job: None)


# -- light requests never wait behind heavy ones ---------------------------------------------


def _stuck_server(**kw):
    """A server whose every model call waits on ``gate`` once it is cleared: a step then
    holds its worker."""
    gate = threading.Event()
    gate.set()
    models = {"basic_shapes": StubModels(gate=gate)}
    return make_server(models=models, **kw), gate, models["basic_shapes"]


def test_light_requests_are_answered_while_every_worker_is_stuck(files):
    srv, gate, stub = _stuck_server(workers=1)
    try:
        with OscClient(srv.address, timeout=120) as owner, OscClient(srv.address, timeout=120) as other:
            sid = new_session(owner)
            assert owner.request("target", sid, str(files / "target.wav"))[0].address == f"{P}/target/reply"
            gate.clear()
            owner.send(f"{P}/step", 50, sid, str(files / "target.wav"))
            wait_for(lambda: stub.calls["selector"] == 1, "the step reaching the model")
            assert other.request("ping", 0)[0].address == f"{P}/pong"
            assert other.request("status", 0)[0].address == f"{P}/status/reply"
            sid2 = new_session(other)
            assert other.request("end", sid2)[0].address == f"{P}/end/reply"
    finally:
        gate.set()
        srv.stop()


def test_a_flooding_client_does_not_make_another_wait_for_its_backlog(files):
    """One address floods steps over many sessions; another address's step runs after at
    most one of them per worker, not after the whole backlog."""
    srv, gate, stub = _stuck_server(workers=1, sessions_per_client=64, queue_bound_s=1000.0)
    ran: list[str] = []
    step = srv.handlers["step"]

    def recording(req, call):
        ran.append(call.sess.owner)
        return step(req, call)

    srv.handlers["step"] = recording
    try:
        flood = OscClient(srv.address, timeout=30, host="127.0.0.2")
        victim = OscClient(srv.address, timeout=120)
        with flood, victim:
            path = str(files / "target.wav")
            sids = [new_session(flood) for _ in range(12)]
            for s in sids:
                assert flood.request("target", s, path)[0].address == f"{P}/target/reply"
            mine = new_session(victim)
            assert victim.request("target", mine, path)[0].address == f"{P}/target/reply"
            gate.clear()
            before = stub.calls["selector"]
            flood.send_raw(bundle(*(osc.encode(f"{P}/step", (100 + i, s, path)) for i, s in enumerate(sids))))
            wait_for(lambda: stub.calls["selector"] == before + 1, "the first flood step reaching the model")
            wait_for(lambda: len(srv.heavy) == len(sids) - 1, "the flood's steps being queued")
            victim.send(f"{P}/step", 7, mine, path)
            wait_for(lambda: len(srv.heavy) == len(sids), "the victim's step being queued")
            gate.set()
            reply = victim.collect(7, timeout=120)
            assert reply and reply[-1].address == f"{P}/step/end"
            wait_for(lambda: len(ran) == len(sids) + 1, "every step running")
    finally:
        gate.set()
        srv.stop()
    assert ran.index("127.0.0.1") <= 1, ran  # after the step under way, at most


def test_heavy_work_past_a_clients_bound_is_busy_with_retry_after(files):
    srv, gate, stub = _stuck_server(workers=1, queue_bound_s=5.0)  # a step is estimated at 3 s
    try:
        with OscClient(srv.address, timeout=120) as c:
            path = str(files / "target.wav")
            a, b = new_session(c), new_session(c)
            for s in (a, b):
                gate.set()
                assert c.request("target", s, path)[0].address == f"{P}/target/reply"
            gate.clear()
            # no step has run yet: each is estimated at the prior, 3 s (the shipped models')
            c.send(f"{P}/step", 20, a, path)
            wait_for(lambda: stub.calls["selector"] >= 1, "the first step running")
            err = error_of(c.request("step", b, path, rid=21), "busy")
            assert len(err.args) == 6 and err.args[5] > 0  # retry after, in seconds
            assert "retry" in err.args[2]
            gate.set()
            assert c.collect(20)[-1].address == f"{P}/step/end"
            assert c.request("step", b, path, rid=22)[-1].address == f"{P}/step/end"  # retried later: runs
    finally:
        gate.set()
        srv.stop()


def test_a_sessions_steps_run_in_request_id_order(files):
    srv, gate, stub = _stuck_server(workers=2, tolerance=10)
    try:
        with OscClient(srv.address, timeout=120) as c:
            path = str(files / "target.wav")
            sid = new_session(c)
            gate.set()
            assert c.request("target", sid, path)[0].address == f"{P}/target/reply"
            gate.clear()
            # a later step and then an earlier one: the earlier is refused, never run second
            c.send_raw(
                bundle(osc.encode(f"{P}/step", (31, sid, path)), osc.encode(f"{P}/step", (30, sid, path)))
            )
            error_of(c.collect(30), "bad_args")
            gate.set()
            assert c.collect(31)[-1].args[2] == 1
            # two workers, one session: its steps still run one at a time, in order
            for rid in (40, 41, 42):
                c.send(f"{P}/step", rid, sid, path)
            steps = [c.collect(rid)[-1].args[2] for rid in (40, 41, 42)]
            assert steps == [2, 3, 4]
    finally:
        gate.set()
        srv.stop()


# -- caches and caps ------------------------------------------------------------------------


def test_failed_news_are_not_kept_and_a_flood_of_them_locks_no_one_out():
    srv = make_server()
    try:
        socks = []
        for i in range(300):  # one-shot news from 300 source ports
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.sendto(osc.encode(f"{P}/new", (i, "no-such-group", 0)), srv.address)
            socks.append(s)
        with OscClient(srv.address, timeout=120) as c:
            wait_for(lambda: srv.counts["errors"] >= 300, "the flood being answered")
            assert len(srv.sessions.news) == 0
            new_session(c)
            assert len(srv.sessions.news) == 1
        for s in socks:
            s.close()
    finally:
        srv.stop()


def test_one_client_cannot_push_out_another_clients_new_replies():
    news = NewReplies(per_client=4, total=8)
    news.claim("victim", ("10.0.0.1", 5), 1, 0.0)
    news.store(("10.0.0.1", 5), 1, (("10.0.0.1", 5), [b"reply"]), 0.0)
    for port in range(1000):
        sender = ("10.0.0.2", port)
        assert news.claim("flooder", sender, 1, 1.0) is None
        news.store(sender, 1, ((sender[0], port), [b"x"]), 1.0)
    assert news.counts["flooder"] == 4
    assert news.claim("victim", ("10.0.0.1", 5), 1, 2.0) == (("10.0.0.1", 5), [b"reply"])


def test_every_loopback_address_is_one_client_for_the_caps():
    srv = make_server(sessions_per_client=4, max_sessions=100)
    try:
        made = []
        for host in ("127.0.0.1", "127.0.0.3", "127.0.0.5", "127.0.0.7", "127.0.0.9"):
            with OscClient(srv.address, timeout=30, host=host) as c:
                made.append(c.request("new", "basic", 0)[0])
        assert [m.address for m in made] == [f"{P}/new/reply"] * 4 + [f"{P}/error"]
        assert made[-1].args[1] == "too_many_sessions"
    finally:
        srv.stop()
    assert client_of("127.4.5.6") == client_of("::1") == "loopback"
    assert client_of("127.4.5.6", collapse_loopback=False) == "127.4.5.6"
    assert client_of("192.0.2.7") == "192.0.2.7"


# -- memory ------------------------------------------------------------------------------------


def test_held_bytes_matches_what_a_real_session_allocates():
    """The budget's one count against tracemalloc, on a step loop with a target and three
    judged steps (real features, scripted models): within 10 %."""
    from serumrnn.server.assistant import Assistant as Session

    m = stub_models()["basic_shapes"]
    Session(m, saw(), loop="paper")  # warm the caches (Mel filters, windows) first
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        s = Session(m, saw().copy(), loop="paper")
        for i in range(3):
            s.step(current=(saw() * (0.9 - 0.1 * i)).astype(np.float32))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    counted = held_bytes(s)
    assert counted > 8 << 20  # the target's spectra are counted (they were once 0 bytes)
    assert abs(counted - grown) <= 0.1 * grown, (counted, grown)


def test_an_ended_session_is_freed_while_the_workers_wait(files):
    """A worker waiting for its next job held the last one, whose closure holds its session:
    an ended session's 10 MB stayed alive, and the next session's growth hid in it (RSS
    grew one session less than the budget counted)."""
    import weakref

    srv = make_server(workers=1)
    try:
        with OscClient(srv.address, timeout=60) as c:
            sid = new_session(c)
            assert c.request("target", sid, str(files / "target.wav"))[0].address == f"{P}/target/reply"
            assert c.request("step", sid, str(files / "target.wav"))[-1].address == f"{P}/step/end"
            ref = weakref.ref(srv.sessions.get(sid))
            assert c.request("end", sid)[0].address == f"{P}/end/reply"
            wait_for(lambda: gc.collect() is not None and ref() is None, "the ended session being freed", 10)
    finally:
        srv.stop()


def test_a_target_that_would_pass_the_budget_is_refused_before_it_runs(files):
    srv = make_server(session_memory_mb=4)  # less than one target holds
    try:
        with OscClient(srv.address, timeout=120) as c:
            sid = new_session(c)
            error_of(c.request("target", sid, str(files / "target.wav")), "too_many_sessions")
        assert srv.models["basic_shapes"].calls == {}
        assert srv.sessions.total_bytes() == 0
    finally:
        srv.stop()


def test_idle_sessions_are_closed_oldest_first_under_memory_pressure(files):
    srv = make_server(session_memory_mb=30)
    try:
        with OscClient(srv.address, timeout=120) as c:
            path = str(files / "target.wav")
            sids = []
            for _ in range(2):
                sids.append(new_session(c))
                assert c.request("target", sids[-1], path)[0].address == f"{P}/target/reply"
            for s in sids:
                srv.sessions.get(s).last_used -= srv.sessions.idle_s + 1
            third = new_session(c)
            assert c.request("target", third, path)[0].address == f"{P}/target/reply"
            assert srv.sessions.get(sids[0]) is None and srv.sessions.get(sids[1]) is not None
            assert srv.sessions.total_bytes() <= srv.sessions.memory_bytes
    finally:
        srv.stop()


# -- no amplification -----------------------------------------------------------------------------


def test_no_reply_to_an_unproved_address_outgrows_its_request():
    srv = make_server(size_rule="all")
    try:
        with OscClient(srv.address, timeout=3) as c:
            for name, args in (("ping", (1, 0)), ("status", (2, 0)), ("new", (3, "basic", 0))):
                data = osc.encode(osc.REQUESTS[name][0], args)
                c.send_raw(data)
                while (d := _recv(c.sock, 1.0)) is not None:
                    assert len(d) <= len(data), (name, len(d), len(data))
            assert len(srv.sessions) == 0  # a new whose id could not go out made no session
            # padded with a blob, the same requests are answered in full
            (pong,) = c.request("ping", 0, PAD)
            assert pong.address == f"{P}/pong"
            (made,) = c.request("new", "basic", 0, PAD)
            assert made.address == f"{P}/new/reply" and len(srv.sessions) == 1
            # a bundle of sixteen is answered within the bundle's own size
            data = bundle(*(osc.encode(f"{P}/ping", (i, 0)) for i in range(16)))
            c.send_raw(data)
            got = []
            while (d := _recv(c.sock, 1.0)) is not None:
                got.append(d)
            assert sum(map(len, got)) <= len(data)
    finally:
        srv.stop()


def _recv(sock: socket.socket, timeout: float) -> bytes | None:
    sock.settimeout(timeout)
    try:
        return sock.recvfrom(65535)[0]
    except TimeoutError:
        return None


# -- shutdown ----------------------------------------------------------------------------------------


def test_stop_tells_the_devices_and_the_stuck_step_starts_no_further_stage(files):
    gate = threading.Event()
    stub = StubModels(gate=gate)
    srv = make_server(models={"basic_shapes": stub}, workers=1)
    with OscClient(srv.address, timeout=120) as c:
        sid = new_session(c)
        gate.set()
        assert c.request("target", sid, str(files / "target.wav"))[0].address == f"{P}/target/reply"
        gate.clear()
        c.send(f"{P}/step", 9, sid, str(files / "target.wav"))
        wait_for(lambda: stub.calls["selector"] == 1, "the step reaching the model")
        assert srv.stop(wait_s=0.2) is False
        got = c.receive(5)
        assert [m.address for m in got] == [f"{P}/stopped"]
        calls = dict(stub.calls)
        gate.set()  # the stuck model call returns; the next stage sees the stop flag
        workers = [t for pool in srv._pools for t in pool._threads]
        wait_for(lambda: not any(t.is_alive() for t in workers), "the workers ending")
    assert dict(stub.calls) == calls  # no parameter model ran after the stop


WATCHED = """
import os, signal, sys, tempfile, time
from serumrnn.server import osc_cli
osc_cli.WATCHDOG_LIMIT_S = 1.0
osc_cli._CLEANUP.append(osc_cli._private_tmp())
signal.signal(signal.SIGTERM, lambda n, f: None)  # a handler that never gets to stop anything
osc_cli._start_watchdog()
open(os.path.join(tempfile.gettempdir(), "__autograph_generated_file1234.py"), "w").write("x")
print(tempfile.gettempdir(), flush=True)
time.sleep(120)
"""


def test_the_watchdog_ends_a_server_whose_own_shutdown_never_comes_and_removes_its_temp_folder():
    proc = subprocess.Popen([sys.executable, "-c", WATCHED], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        d = proc.stdout.readline().strip()
        assert os.path.basename(d).startswith("serumrnn-serve-") and os.listdir(d)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == -signal.SIGKILL
        assert not os.path.exists(d)  # removed before the kill: nothing is left once it has exited
    finally:
        proc.kill()


def test_the_watchdog_removes_the_temp_folder_of_a_server_killed_from_outside():
    proc = subprocess.Popen([sys.executable, "-c", WATCHED], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        d = proc.stdout.readline().strip()
        assert os.listdir(d)
        proc.kill()
        proc.wait(60)
        wait_for(lambda: not os.path.exists(d), "the watchdog removing the folder", 30)
    finally:
        proc.kill()


FORCED = """
import os, sys, tempfile
from serumrnn.server import osc_cli
d = osc_cli._private_tmp()
osc_cli._CLEANUP.append(d)
open(os.path.join(tempfile.gettempdir(), "__autograph_generated_file1234.py"), "w").write("x")
print(d, flush=True)
osc_cli._force_exit(0, "test")
"""


def test_a_forced_exit_leaves_no_temporary_file():
    proc = subprocess.run(
        [sys.executable, "-c", FORCED], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    d = proc.stdout.strip()
    assert proc.returncode == 0 and os.path.basename(d).startswith("serumrnn-serve-"), proc.stderr
    assert not os.path.exists(d)


# -- options, log lines, paths, audio ---------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ["--port", "70001"],
        ["--reply-port", "70000"],
        ["--max-sessions", "0"],
        ["--sessions-per-client", "-3"],
    ],
)
def test_impossible_options_fail_at_start_with_one_line(option, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "serumrnn.server.cli", "serve", *option, "--models", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and option[0] in lines[0], proc.stderr


def test_a_log_line_is_capped_whatever_the_client_sends(caplog):
    log = logging.getLogger("serumrnn.osc")
    caplog.set_level(logging.INFO, "serumrnn.osc")
    log.info("%s error %s", "\x01" * 60_000, "y" * 10_000)
    (record,) = [r for r in caplog.records if r.name == "serumrnn.osc"]
    line = logging.Formatter("%(message)s").format(record)
    assert len(line) <= MAX_LOG_LINE + 20 and "\x01" not in line
    assert SafeLogFilter().filter(record)  # a second handler's filter changes nothing
    assert logging.Formatter("%(message)s").format(record) == line


@pytest.mark.parametrize(
    "path", ["/proc/self/fd/1", "/dev/stdout", "/proc/self/root/etc/passwd", "/proc/no/such"]
)
def test_proc_and_dev_are_refused_by_rule_whether_or_not_the_file_exists(path):
    with pytest.raises(FileRefused) as e:
        open_regular(path)
    assert e.value.code == "not_regular" and "/proc, /dev or /sys" in str(e.value)


def test_a_link_to_proc_is_refused_and_a_link_to_a_file_is_read(tmp_path):
    (tmp_path / "real.wav").write_bytes(b"RIFF")
    (tmp_path / "ok.wav").symlink_to(tmp_path / "real.wav")
    (tmp_path / "env.wav").symlink_to("/proc/self/environ")
    f, size = open_regular(str(tmp_path / "ok.wav"))
    f.close()
    assert size == 4
    with pytest.raises(FileRefused) as e:
        open_regular(str(tmp_path / "env.wav"))
    assert e.value.code == "not_regular"


def test_a_fifo_swapped_in_after_the_check_is_never_opened(tmp_path, monkeypatch):
    """The time-of-check race: the path is a regular file when resolved, then a link to a
    FIFO when opened. The walk opens with O_NOFOLLOW: a link found there is refused."""
    from serumrnn.server import safe_open

    os.mkfifo(tmp_path / "fifo.wav")
    (tmp_path / "x.wav").write_bytes(b"RIFF")
    real_realpath = os.path.realpath

    def swap_after_resolving(p, *a, **k):
        out = real_realpath(p, *a, **k)
        os.unlink(tmp_path / "x.wav")
        os.symlink(tmp_path / "fifo.wav", tmp_path / "x.wav")
        return out

    monkeypatch.setattr(safe_open.os.path, "realpath", swap_after_resolving)
    opened = []
    real_open = os.open
    monkeypatch.setattr(
        safe_open.os, "open", lambda p, *a, **k: opened.append(str(p)) or real_open(p, *a, **k)
    )
    with pytest.raises(FileRefused) as e:
        open_regular(str(tmp_path / "x.wav"))
    assert e.value.code in ("bad_path", "not_regular")
    assert "fifo.wav" not in " ".join(opened)


def test_nan_past_the_first_second_of_a_48k_file_is_refused(tmp_path):
    sr = 48_000
    x = 0.4 * np.sin(2 * np.pi * 130.81 * np.arange(int(sr * 1.2)) / sr).astype(np.float32)
    x[sr + 100] = np.nan  # in the margin the resampler reads past the first second
    sf.write(tmp_path / "nan.wav", x, sr, subtype="FLOAT")
    with pytest.raises(audio_io.AudioInputError) as e:
        audio_io.load_clip(tmp_path / "nan.wav")
    assert e.value.code == "non_finite"


def test_absurd_float_samples_are_a_clear_error(tmp_path):
    x = saw()
    x[500], x[600] = 3e38, -3e38
    sf.write(tmp_path / "huge.wav", x, SR, subtype="FLOAT")
    with pytest.raises(audio_io.AudioInputError) as e:
        audio_io.load_clip(tmp_path / "huge.wav")
    assert e.value.code == "corrupt" and "3e+38" in str(e.value)


def test_a_flood_of_failing_requests_costs_the_log_a_few_lines(caplog):
    caplog.set_level(logging.INFO, "serumrnn.osc")
    srv = make_server()
    try:
        with OscClient(srv.address, timeout=30) as c:
            for i in range(500):
                c.send(f"{P}/undo", i, "s" + "1" * 32)
            wait_for(lambda: srv.counts["errors"] >= 500, "the flood being answered")
    finally:
        srv.stop()
    errors = [r.getMessage() for r in caplog.records if "error unknown_session" in r.getMessage()]
    assert 0 < len(errors) <= 60, len(errors)  # the burst, and what the rate allows meanwhile


# -- the gate before decoding ------------------------------------------------------------------


def _name(host: str, port: int) -> bytes:
    from serumrnn.server.osc_fastio import sockaddr

    return sockaddr(socket.AF_INET, host, port)


def test_the_gate_bounds_one_shot_strangers_but_not_a_proved_socket_or_a_ping():
    from serumrnn.server import osc_gate
    from serumrnn.server.osc_gate import Gate

    now = [0.0]
    gate = Gate(client_of, clock=lambda: now[0])
    gate.prove(("127.0.0.1", 5000))
    new, ping = osc.encode(f"{P}/new", (1, "basic", 0)), osc.encode(f"{P}/ping", (1, 0))
    passed = sum(gate.admit(_name("127.0.0.1", 10000 + i), len(new), new[:16]) for i in range(5000))
    assert passed == osc_gate.STRANGER_RATE[1]  # the burst, then nothing at this instant
    assert gate.dropped == 5000 - passed
    # the flood's strangers share one bucket; the proved device and a new ping do not
    assert gate.admit(_name("127.0.0.1", 5000), len(new), new[:16])
    assert gate.admit(_name("127.0.0.9", 7), len(ping), ping[:16])
    now[0] += 1.0  # a second later: the strangers' rate, no more
    passed = sum(gate.admit(_name("127.0.0.3", 20000 + i), len(new), new[:16]) for i in range(5000))
    assert passed == int(osc_gate.STRANGER_RATE[0])
    # a big datagram costs by its size: a bundle of requests pays for each
    gate2 = Gate(client_of, clock=lambda: 0.0)
    gate2.prove(("10.0.0.1", 1))
    big = bytes(osc_gate.UNIT_BYTES * 99)
    assert sum(gate2.admit(_name("10.0.0.1", 1), len(big), big[:16]) for _ in range(20)) == int(
        osc_gate.PROVED_RATE[1] // 100
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="recvmmsg is Linux's")
def test_fast_io_reads_a_batch_and_sends_without_blocking():
    from serumrnn.server.osc_fastio import fast_io, sender_of

    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
    ):
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.5", 0))
        fast = fast_io(a, 8, 65535)
        assert fast is not None and fast.receive() == [] and not fast.ready()
        for i in range(10):
            b.sendto(bytes([i]) * (i + 1), a.getsockname())
        wait_for(fast.ready, "the datagrams arriving")
        got = fast.receive() + fast.receive()
        assert [fast.data(slot, n) for _, n, slot in got[8:]] == [b"\x08" * 9, b"\x09" * 10]
        assert {sender_of(name) for name, _, _ in got} == {b.getsockname()}
        assert fast.send(b"back", b.getsockname())
        assert b.recvfrom(16) == (b"back", a.getsockname())
        assert not fast.send(b"x", ("localhost", 9))  # a name, not an address: the socket's own sendto


def test_a_flood_from_thousands_of_ports_is_dropped_before_decoding_and_a_device_is_answered(files):
    srv = make_server()
    try:
        with OscClient(srv.address, timeout=30) as device:
            sid = new_session(device)
            socks = []
            for i in range(3000):  # one-shot news from 3,000 source ports
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
                s.sendto(osc.encode(f"{P}/new", (i, "no-such-group", 0)), srv.address)
                socks.append(s)
            wait_for(lambda: srv.gate.dropped + srv.counts["errors"] >= 3000, "the flood being received")
            assert srv.gate.dropped >= 1000  # the strangers' burst passed, the rest did not
            assert device.request("ping", 0)[0].address == f"{P}/pong"
            assert device.request("end", sid)[0].address == f"{P}/end/reply"  # its session's requests too
            for s in socks:
                s.close()
    finally:
        srv.stop()


# -- the front process: the socket read beside the workers, not behind them -----------------------


PINGER = """
import socket, sys, time
from serumrnn.server import osc
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
time.sleep(float(sys.argv[2]))
t0 = time.monotonic()
s.sendto(osc.encode("/serumrnn/ping", (77, 0)), ("127.0.0.1", int(sys.argv[1])))
assert osc.decode(s.recv(65535))[0].address == "/serumrnn/pong"
print(time.monotonic() - t0, flush=True)
"""


@pytest.mark.parametrize("front", [True, False])
def test_a_ping_is_answered_while_a_worker_holds_the_interpreter_only_with_the_front(front, files):
    """A worker inside a long C call that keeps the interpreter's lock (here ``usleep``
    through ``ctypes.PyDLL``) stalls every thread of its process: a ping from another
    process is answered at once only when the front process reads the socket."""
    import ctypes

    srv = make_server(workers=1, front=front)
    try:
        with OscClient(srv.address, timeout=30) as c:
            sid = new_session(c)
            assert c.request("ping", 0)[0].args[3] == 1  # the front's pong counts the new session
            pinger = subprocess.Popen(
                [sys.executable, "-c", PINGER, str(srv.address[1]), "1.0"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            ctypes.PyDLL(None).usleep(3_000_000)  # the pinger sends its ping about 1 s into this
            took = float(pinger.communicate(timeout=60)[0])
            if front:
                assert took < 0.5, took
            else:
                assert took > 1.0, took  # the receive thread waited for the lock
            assert c.request("end", sid)[0].address == f"{P}/end/reply"
            assert c.request("ping", 0)[0].args[3] == 0
            assert c.request("status", 0)[0].args[4] >= 4  # the front's pongs are counted
    finally:
        srv.stop()


def test_a_step_goes_through_the_front_and_a_dead_front_is_restarted(files, caplog):
    srv = make_server(workers=1, front=True)
    try:
        with OscClient(srv.address, timeout=60) as c:
            sid = new_session(c)
            assert c.request("target", sid, str(files / "target.wav"))[0].address == f"{P}/target/reply"
            assert c.request("step", sid, str(files / "target.wav"))[-1].address == f"{P}/step/end"
            first = srv._link.proc
            with caplog.at_level(logging.ERROR, logger="serumrnn.osc"):
                first.kill()
                wait_for(lambda: srv._link.proc is not first, "a new front process", 30)
            assert "the front process ended" in caplog.text
            assert c.request("ping", 0, timeout=10)[0].address == f"{P}/pong"
            assert c.request("step", sid, str(files / "target.wav"))[-1].address == f"{P}/step/end"
        proc = srv._link.proc
    finally:
        srv.stop()
    assert proc.poll() is not None  # stop ends the front too


def test_a_server_killed_takes_its_front_with_it(tmp_path):
    code = (
        "import sys, time; sys.path.insert(0, 'tests')\n"
        "from test_osc_hardening import make_server\n"
        "srv = make_server(workers=1, front=True)\n"
        "print(srv._link.proc.pid, flush=True); time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        front = int(proc.stdout.readline())
        proc.kill()
        proc.wait(30)
        wait_for(
            lambda: (
                not Path(f"/proc/{front}").exists()
                or "Z" in Path(f"/proc/{front}/stat").read_text().split()[2]
            ),
            "the front exiting",
            30,
        )
    finally:
        proc.kill()
