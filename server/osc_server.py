"""The OSC server: the step loop for the Max for Live device, over UDP.

One receive thread (python-osc's UDP server) hands every datagram to a small worker pool,
so a slow step never blocks a ping. Sessions are keyed by an id the server makes; each
has a lock, so one session's requests run one at a time while different sessions step in
parallel. Every request is answered, and every failure is an ``/serumrnn/error`` reply
with a stable code: no input can stop the server. The wire format lives in
:mod:`server.osc`; ``docs/protocol.md`` is the reference.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import socket
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import OSCUDPServer

from server import osc
from server.osc import NO_REQUEST, PREFIX, ProtocolError, Reply, Request

log = logging.getLogger("serumrnn.osc")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9870
DEFAULT_REPLY_PORT = 9871
#: Requests handled at once. More than the cores only adds contention: on 2 busy cores,
#: 20 clients got 48 steps/s with 2 workers and 32 with 4.
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))
#: How long a reply is kept for a retried request id.
REPLY_TTL_S = 120.0
OPEN_RACK_NAMES = ("", "open", "open_rack")
PRESET_PREFIX = "preset:"


# -- models ---------------------------------------------------------------------------

def tune_malloc(threshold: int = 32 << 20) -> bool:
    """Keep per-request temporaries (arrays under ``threshold`` bytes) on the heap.

    glibc may otherwise hand each one a fresh mmap, so a step pays page faults for every
    array it makes: measured in a process that had trained models, a step took 3x longer
    (176 page faults per 700 kB array; none after this). glibc only; False elsewhere.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, int(threshold)))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def load_models(models_dir: Path | str | None = None, groups: list[str] | None = None
                ) -> dict[str, Any]:
    """Every group found in ``models_dir`` (or just ``groups``), loaded and verified once.

    Only the models the step loop uses are loaded (the selector and the five parameter
    models). A folder with no group at all is a ``ModelError`` (missing_group).
    """
    from server.models import DEFAULT_MODELS_DIR, PARAM_MODELS, ModelError, load_group
    from server.rack import presets as P

    root = Path(models_dir or DEFAULT_MODELS_DIR)
    wanted = [P.resolve_group(g) for g in groups] if groups else [
        g for g in P.GROUPS if (root / g / "manifest.json").is_file()]
    if not wanted:
        raise ModelError("missing_group", f"no trained models in {root}: train a group with "
                         "`serumrnn train --group basic` or pass --models DIR")
    return {g: load_group(g, root, which=("selector",) + PARAM_MODELS) for g in wanted}


def warm_up(models: Any) -> None:
    """Trace each model and touch features, metrics and pitch once, so the first real
    step is as fast as the rest (the first call of each costs up to seconds)."""
    from server import features as F
    from server.assistant import Session
    from server.pitch import detect_pitch

    tf_log = logging.getLogger("tensorflow")
    level = tf_log.level
    tf_log.setLevel(logging.ERROR)  # tracing every model in a row reads as "retracing"
    try:
        for name, model in models.models.items():
            models.predict(name, {t.name.split(":")[0]: np.zeros((1, *t.shape[1:]), np.float32)
                                  for t in model.inputs})
    finally:
        tf_log.setLevel(level)
    t = np.arange(F.SAMPLE_RATE) / F.SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 130.81 * t)).astype(np.float32)
    Session(models, tone, loop="paper").step(current=np.sign(tone) * np.float32(0.3))
    detect_pitch(tone)


# -- reply cache ----------------------------------------------------------------------

class ReplyCache:
    """Replies by (scope, request id) for a while, so a retried request (UDP drops
    packets) gets the same reply without being run twice."""

    IN_FLIGHT = object()

    def __init__(self, ttl_s: float = REPLY_TTL_S, capacity: int = 8192):
        self.ttl_s, self.capacity = ttl_s, capacity
        self._items: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: tuple) -> Any:
        """None if the caller should run the request (it is now in flight), else the
        cached datagrams, or :attr:`IN_FLIGHT` when the first copy is still running."""
        now = time.monotonic()
        with self._lock:
            while self._items:
                k, (t, _) = next(iter(self._items.items()))
                if now - t < self.ttl_s and len(self._items) <= self.capacity:
                    break
                self._items.popitem(last=False)
            hit = self._items.get(key)
            if hit is not None:
                return hit[1]
            self._items[key] = (now, self.IN_FLIGHT)
            return None

    def store(self, key: tuple, datagrams: list[bytes]) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), datagrams)


# -- sessions -------------------------------------------------------------------------

@dataclass
class OscSession:
    """A device's session: its group's models, where replies go, and the step loop."""

    id: str
    group: str
    models: Any
    reply_to: tuple[str, int]
    profile: Any = None                 # server.rack.plugins.Profile, None = open rack
    preset: str | None = None           # demo input rendered by the server
    assistant: Any = None               # server.assistant.Session once a target is set
    target_audio: np.ndarray | None = None
    last_path: str | None = None        # the latest capture (a MIDI step re-reads it)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)


class _LockedRenderer:
    """A shared renderer (one DawDreamer engine set) used by one thread at a time."""

    def __init__(self, rack: Any):
        self.rack, self.settings, self._lock = rack, rack.settings, threading.Lock()

    def render(self, chain=(), preset=None, *, note=None):
        with self._lock:
            return self.rack.render(chain, preset, note=note)

    def process(self, audio, chain):
        with self._lock:
            return self.rack.process(audio, chain)


class _Transport(OSCUDPServer):
    """python-osc's UDP server, passing every datagram, OSC or not, to the app: a garbage
    datagram deserves an error reply rather than silence."""

    max_packet_size = 65535

    def __init__(self, address: tuple[str, int], on_datagram: Callable[[bytes, tuple], None]):
        self._on_datagram = on_datagram
        super().__init__(address, Dispatcher())
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:  # pragma: no cover - some systems cap the buffer
            pass

    def verify_request(self, request, client_address) -> bool:
        return True

    def process_request(self, request, client_address) -> None:
        self._on_datagram(request[0], client_address)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (resolving a name if needed)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except socket.gaierror:
            return False
        return all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _new_session_id() -> str:
    """'s' and 8 hex digits: a leading letter keeps Max from reading the id as a number."""
    return "s" + secrets.token_hex(4)


def _limit_blas(threads: int | None) -> Any:
    """Cap BLAS threads while serving. Requests already run in parallel on the worker
    pool; a multi-threaded GEMM per request only oversubscribes the cores (measured on 2
    busy cores: a feature pass takes 33 ms with 2 BLAS threads and 1 ms with one)."""
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn, a librosa dependency
        return None
    return threadpool_limits(threads, user_api="blas")


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


def best_step(a: Any) -> int:
    """The step to roll back to (0 = the input), as ``Session.result`` says, without
    recomputing the initial distance: it is the first step's "before"."""
    from server.assistant import STOP_METRIC

    if not a.steps:
        return 0
    d = [a.steps[0].before[STOP_METRIC]] + [
        s.after[STOP_METRIC] if s.after else np.inf for s in a.steps]
    return int(np.argmin(d))


def _code_of(e: BaseException) -> str | None:
    """The stable code of an error the server knows how to explain."""
    from server.audio_io import AudioInputError
    from server.models import ModelError
    from server.rack.plugins import ProfileError
    from server.rack.render import RenderError

    if isinstance(e, ProtocolError):
        return e.code
    if isinstance(e, (AudioInputError, ModelError)):
        return e.code
    if isinstance(e, ProfileError):
        return "bad_profile"
    if isinstance(e, RenderError):
        return "render_error"
    return None


class OscServer:
    """The SerumRNN OSC server. ``models``: group id -> loaded ``GroupModels``.

    ``reply_port`` is where replies go by default (the device's ``udpreceive`` port, at the
    sender's IP); 0 means "to the port the request came from". ``start`` binds and returns
    at once; ``stop`` ends cleanly.
    """

    def __init__(self, models: dict[str, Any], host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT, reply_port: int = DEFAULT_REPLY_PORT, *,
                 workers: int = DEFAULT_WORKERS, bundles: bool = True,
                 datagram_limit: int = osc.MAX_DATAGRAM,
                 max_sessions: int = 256, max_pending: int = 512, tolerance: int = 1,
                 blas_threads: int | None = 1, rack: Any = None):
        if not models:
            raise ValueError("the server needs the models of at least one group")
        self.models, self.host, self.port, self.reply_port = models, host, port, reply_port
        self.bundles, self.limit, self.tolerance = bundles, datagram_limit, tolerance
        self.max_sessions, self.max_pending = max_sessions, max_pending
        self.sessions: OrderedDict[str, OscSession] = OrderedDict()
        self.cache = ReplyCache()
        self.counts = {"requests": 0, "errors": 0}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="osc-worker")
        self._lock = threading.Lock()          # sessions, counters, pending
        self._pending = 0
        self._rack = None if rack is None else _LockedRenderer(rack)
        self.blas_threads = blas_threads
        self._blas_limits: Any = None
        self._transport: _Transport | None = None
        self._thread: threading.Thread | None = None
        self.started = time.monotonic()

    # -- life cycle -------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port): the real port when started with port 0."""
        if self._transport is None:
            return self.host, self.port
        return self._transport.server_address[:2]

    @property
    def groups(self) -> str:
        return ",".join(self.models)

    def start(self) -> "OscServer":
        if not is_loopback(self.host):
            log.warning("listening on %s, not loopback: anyone who can reach this address "
                        "can make the server read audio files on this machine", self.host)
        if self._rack is None:
            from server.rack import OpenRack

            # Made here, on the caller's thread: DawDreamer hangs rendering on an engine made
            # on a different thread from an earlier one, so never make one in a worker.
            self._rack = _LockedRenderer(OpenRack())
        self._blas_limits = _limit_blas(self.blas_threads)
        self._transport = _Transport((self.host, self.port), self._receive)
        self._thread = threading.Thread(target=self._transport.serve_forever,
                                        kwargs={"poll_interval": 0.1}, name="osc-receive",
                                        daemon=True)
        self._thread.start()
        host, port = self.address
        log.info("ready: listening on %s:%d (protocol %s, groups %s), replies to port %s",
                 host, port, osc.PROTOCOL_VERSION, self.groups, self.reply_port or "of sender")
        if self.reply_port:
            ready_host = "127.0.0.1" if _is_unspecified(host) else host
            self._send([(f"{PREFIX}/ready", (osc.PROTOCOL_VERSION, self.groups, port))],
                       (ready_host, self.reply_port))
        return self

    def stop(self) -> None:
        """Stop receiving, finish the requests under way, tell the devices, close."""
        if self._transport is None:
            return
        self._transport.shutdown()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            dests = {s.reply_to for s in self.sessions.values()}
        for d in dests:
            self._send([(f"{PREFIX}/stopped", ())], d)
        self._transport.server_close()
        self._transport = None
        if self._blas_limits is not None:
            self._blas_limits.restore_original_limits()
        log.info("stopped")

    def __enter__(self) -> "OscServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- receiving --------------------------------------------------------------------
    def _receive(self, data: bytes, sender: tuple[str, int]) -> None:
        with self._lock:
            busy = self._pending >= self.max_pending
            if not busy:
                self._pending += 1
        if busy:
            self._send(osc.error_reply(NO_REQUEST, "busy", "too many requests queued; retry "
                                       "shortly"), (sender[0], self.reply_port or sender[1]))
            return
        try:
            self._pool.submit(self._handle_datagram, data, sender)
        except RuntimeError:  # the pool is shutting down
            with self._lock:
                self._pending -= 1

    def _handle_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
            try:
                messages = osc.decode(data)
            except osc.DecodeError as e:
                first = e.partial_args[0] if e.partial_args else None
                rid = first if type(first) is int else NO_REQUEST
                self._answer_error(rid, "bad_packet",
                                   f"not an OSC datagram ({len(data)} bytes): {e}",
                                   e.address or "", "", self._default_dest(sender))
                return
            for m in messages:
                self.handle_message(m, sender)
        except Exception:  # never let a worker die silently
            log.exception("unexpected fault handling a datagram from %s", sender)
        finally:
            with self._lock:
                self._pending -= 1

    def handle_message(self, msg: osc.Message, sender: tuple[str, int]) -> None:
        """Answer one message: from the cache for a retried id, else by running it."""
        t0 = time.perf_counter()
        with self._lock:
            self.counts["requests"] += 1
        try:
            req = osc.parse_request(msg)
        except ProtocolError as e:
            sess = self._named_session(msg)
            self._answer_error(e.request_id, e.code, str(e), msg.address,
                               sess.id if sess else "",
                               sess.reply_to if sess else self._default_dest(sender), t0)
            return
        key = None
        if req.name in osc.MUTATING:
            key = (("session", req.session) if req.name != "new" else ("sender", *sender),
                   req.request_id)
            cached = self.cache.claim(key)
            if cached is ReplyCache.IN_FLIGHT:
                log.info("%s rid=%d session=%s duplicate while running: ignored %.1f ms",
                         req.name, req.request_id, req.session or "-",
                         (time.perf_counter() - t0) * 1e3)
                return
            if cached is not None:
                dest, datagrams = cached
                self._send_datagrams(datagrams, dest)
                log.info("%s rid=%d session=%s replayed from cache %.1f ms", req.name,
                         req.request_id, req.session or "-", (time.perf_counter() - t0) * 1e3)
                return
        dest = self._default_dest(sender)
        try:
            reply, dest, sid, outcome = self._run(req, sender)
            datagrams = osc.to_datagrams(reply, self.limit, bundles=self.bundles)
        except Exception:  # a fault while encoding: still answer, and log it
            log.exception("%s rid=%d: cannot encode the reply", req.name, req.request_id)
            sid, outcome = req.session, "error internal"
            datagrams = osc.to_datagrams(osc.error_reply(
                req.request_id, "internal", "internal error while encoding the reply; the "
                "server logged it and keeps running", req.address, req.session), self.limit)
        if key is not None:  # cached before sending: a retry may follow the reply at once
            self.cache.store(key, (dest, datagrams))
        self._send_datagrams(datagrams, dest)
        log.info("%s rid=%d session=%s %s %.1f ms", req.name, req.request_id, sid or "-",
                 outcome, (time.perf_counter() - t0) * 1e3)

    def _run(self, req: Request, sender: tuple[str, int]) -> tuple[Reply, tuple, str, str]:
        """(reply, destination, session id, outcome for the log) of a parsed request."""
        port = req.args.get("reply_port")
        valid_port = port is None or 0 <= port <= 65535
        dest = self._default_dest(sender, port if valid_port else None)
        sid = req.session
        try:
            if not valid_port:
                raise ProtocolError("bad_args", f"reply_port {port} is not a UDP port "
                                    "(0-65535; 0 = the port the request came from)",
                                    req.request_id)
            if req.name == "new":
                reply, sess = self._on_new(req, sender)
                sid, dest = sess.id, sess.reply_to
            elif "session" in req.args:
                sess = self._session(sid, req.request_id)
                dest = sess.reply_to
                reply = getattr(self, f"_on_{req.name}")(req, sess)
            else:
                reply = getattr(self, f"_on_{req.name}")(req)
            return reply, dest, sid, "ok"
        except Exception as e:
            code = _code_of(e)
            if code is None:
                log.exception("%s rid=%d session=%s: internal fault", req.name,
                              req.request_id, sid or "-")
                code, text = "internal", (f"internal error ({type(e).__name__}); the server "
                                          "logged it and keeps running")
            else:
                text = str(e)
            with self._lock:
                self.counts["errors"] += 1
            return (osc.error_reply(req.request_id, code, text, req.address, sid), dest, sid,
                    f"error {code}")

    def _named_session(self, msg: osc.Message) -> OscSession | None:
        """The open session a malformed message names (its second argument), if any: its
        error then goes to that session's reply port, where the device listens."""
        if len(msg.args) > 1 and isinstance(msg.args[1], str):
            with self._lock:
                return self.sessions.get(msg.args[1])
        return None

    def _answer_error(self, rid: int, code: str, text: str, address: str, sid: str,
                      dest: tuple[str, int], t0: float | None = None) -> None:
        with self._lock:
            self.counts["errors"] += 1
        self._send(osc.error_reply(rid, code, text, address, sid), dest)
        took = f" {(time.perf_counter() - t0) * 1e3:.1f} ms" if t0 else ""
        log.info("%s rid=%d session=%s error %s%s", osc.printable(address) or "<garbage>", rid,
                 sid or "-", code, took)

    def _default_dest(self, sender: tuple[str, int], reply_port: int | None = None
                      ) -> tuple[str, int]:
        port = self.reply_port if reply_port is None else reply_port
        return sender[0], port or sender[1]

    # -- sending ----------------------------------------------------------------------
    def _send(self, reply: Reply, dest: tuple[str, int]) -> list[bytes]:
        datagrams = osc.to_datagrams(reply, self.limit, bundles=self.bundles)
        self._send_datagrams(datagrams, dest)
        return datagrams

    def _send_datagrams(self, datagrams: list[bytes], dest: tuple[str, int]) -> None:
        if self._transport is None:
            return
        for d in datagrams:
            try:
                self._transport.socket.sendto(d, dest)
            except (OSError, OverflowError) as e:  # a bad or gone device must not stop us
                log.warning("cannot send to %s:%d: %s", dest[0], dest[1], e)

    # -- sessions ---------------------------------------------------------------------
    def _session(self, sid: str, rid: int) -> OscSession:
        with self._lock:
            sess = self.sessions.get(sid)
            if sess is None:
                raise ProtocolError("unknown_session", f"no session {osc.printable(sid)!r} "
                                    "(ended, expired or from an earlier server run); start "
                                    f"one with {PREFIX}/new", rid)
            self.sessions.move_to_end(sid)
            sess.last_used = time.monotonic()
            return sess

    def most_recent_session(self) -> str | None:
        with self._lock:
            return next(reversed(self.sessions), None)

    # -- handlers: each returns the reply or raises -----------------------------------
    def _on_ping(self, req: Request) -> Reply:
        return [(f"{PREFIX}/pong", (req.request_id, osc.PROTOCOL_VERSION, self.groups,
                                    len(self.sessions)))]

    def _on_status(self, req: Request) -> Reply:
        with self._lock:
            n, c = len(self.sessions), dict(self.counts)
        return [(f"{PREFIX}/status/reply", (
            req.request_id, osc.PROTOCOL_VERSION, self.groups, n, c["requests"], c["errors"],
            float(time.monotonic() - self.started)))]

    def _on_new(self, req: Request, sender: tuple[str, int]) -> tuple[Reply, OscSession]:
        from server.rack import presets as P

        try:
            group = P.resolve_group(req.args["group"])
        except KeyError as e:
            raise ProtocolError("unknown_group", e.args[0], req.request_id) from None
        if group not in self.models:
            raise ProtocolError("missing_group", f"no models loaded for {group}; this server "
                                f"has {self.groups} (start it with --models DIR holding "
                                f"{group}/)", req.request_id)
        profile, preset = None, None
        for opt in req.args["options"]:
            if opt.startswith(PRESET_PREFIX):
                preset = opt[len(PRESET_PREFIX):]
            elif opt not in OPEN_RACK_NAMES:
                profile = self._load_profile(opt, req.request_id)
        if preset is not None:
            if profile is not None:
                raise ProtocolError("bad_args", f"preset:{preset} renders on the open rack; "
                                    f"with the {profile.name} profile the device sends "
                                    "captures of the plugin instead", req.request_id)
            if preset not in P.PRESETS:
                raise ProtocolError("unknown_preset", f"unknown preset {preset!r}; presets: "
                                    f"{', '.join(P.PRESETS)}", req.request_id)
        sess = OscSession(_new_session_id(), group, self.models[group],
                          self._default_dest(sender, req.args.get("reply_port")), profile,
                          preset)
        with self._lock:
            while sess.id in self.sessions:
                sess.id = _new_session_id()
            self.sessions[sess.id] = sess
            while len(self.sessions) > self.max_sessions:
                old, _ = self.sessions.popitem(last=False)
                log.info("session %s closed: the least recently used of %d", old,
                         self.max_sessions)
        return [(f"{PREFIX}/new/reply", (req.request_id, sess.id, group,
                                         "open" if profile is None else profile.name,
                                         f"{PRESET_PREFIX}{preset}" if preset else ""))], sess

    @staticmethod
    def _load_profile(name: str, rid: int) -> Any:
        from server.rack.plugins import load_profile

        if (os.sep in name or name.endswith(".json")) and not os.path.isabs(name):
            raise ProtocolError("relative_path", f"profile path {osc.printable(name)!r} must "
                                "be absolute", rid)
        return load_profile(name)

    @staticmethod
    def _check_path(path: str, rid: int) -> str:
        if not os.path.isabs(path):
            raise ProtocolError("relative_path", f"{osc.printable(path)!r} is not an absolute "
                                "path; the server's working folder is not the device's, so "
                                "send the full path (Max: absolutepath)", rid)
        return path

    def _assistant(self, sess: OscSession) -> Any:
        """A fresh step loop towards the session's target (the chain starts empty)."""
        from server.assistant import Session

        renderer = None if sess.preset is None else self._rack
        # The paper's loop until the take-back replies are wired (issue 11): its replies
        # are the ones docs/protocol.md and the device know.
        return Session(sess.models, sess.target_audio, renderer=renderer, preset=sess.preset,
                       tolerance=self.tolerance, loop="paper")

    def _on_target(self, req: Request, sess: OscSession) -> Reply:
        from server.audio_io import load_clip
        from server.pitch import to_model_note

        path = self._check_path(req.args["path"], req.request_id)
        moved = to_model_note(load_clip(path), Path(path).name, "target",
                              sess.models.render_settings.note)
        with sess.lock:
            sess.target_audio = moved.audio
            sess.assistant = self._assistant(sess)
        midi = -1.0 if moved.midi is None else float(moved.midi)
        return [(f"{PREFIX}/target/reply",
                 (req.request_id, sess.id, midi, float(moved.shift), moved.message or ""))]

    def _on_step(self, req: Request, sess: OscSession) -> Reply:
        from server.audio_io import load_clip

        path = req.args.get("path") or None
        current = None
        if path is not None:
            if sess.preset is not None:
                raise ProtocolError("bad_args", f"session {sess.id} renders preset "
                                    f"{sess.preset}: send the step without a path",
                                    req.request_id)
            current = load_clip(self._check_path(path, req.request_id))
        with sess.lock:
            a = sess.assistant
            if a is None:
                raise ProtocolError("no_target", f"session {sess.id} has no target yet: send "
                                    f"{PREFIX}/target first", req.request_id)
            if a.done:
                raise ProtocolError("session_done", self._done_text(a), req.request_id)
            if current is None and sess.preset is None:
                raise ProtocolError("no_current", "give the path of the captured current sound "
                                    "(the session has no preset input)", req.request_id)
            if path is not None:
                sess.last_path = path
            prev = a.steps[-1] if a.steps else None
            unjudged = prev is not None and prev.after is None
            report = a.step(current=current)
            judged = prev if unjudged and prev.after is not None else None
            if judged is not None and a.bad_steps > a.tolerance:
                a.undo()  # the capture showed the last step made it worse: stop here
                report = None
            done, reason = self._done(a)
            return osc.step_reply(req.request_id, sess.id, report, step=len(a.chain),
                                  done=done, reason=reason, best_step=best_step(a),
                                  judged=judged)

    @staticmethod
    def _done(a: Any) -> tuple[bool, str]:
        if not a.done:
            return False, ""
        return True, "worse" if a.bad_steps > a.tolerance else "all_effects"

    def _done_text(self, a: Any) -> str:
        _, reason = self._done(a)
        why = ("all five effects are on" if reason == "all_effects" else
               f"{a.bad_steps} steps made the sound worse (the stopping rule)")
        return (f"the session is done: {why}; the best result is after step "
                f"{best_step(a)}. Undo or reset to go on")

    def _on_undo(self, req: Request, sess: OscSession) -> Reply:
        with sess.lock:
            a = sess.assistant
            if a is None or not a.steps:
                raise ProtocolError("nothing_to_undo", "no step to undo", req.request_id)
            last = a.steps[-1]
            a.undo()
            return [(f"{PREFIX}/undo/reply", (req.request_id, sess.id, len(a.chain), last.effect,
                                              last.enable.serum_name, 0.0))]

    def _on_reset(self, req: Request, sess: OscSession) -> Reply:
        from server import spec

        with sess.lock:
            off = [] if sess.assistant is None else list(sess.assistant.chain.order)
            if sess.target_audio is not None:
                sess.assistant = self._assistant(sess)
        names = tuple(spec.effect(e).enable.serum_name for e in off)
        return [(f"{PREFIX}/reset/reply", (req.request_id, sess.id, *names))]

    def _on_end(self, req: Request, sess: OscSession) -> Reply:
        with self._lock:
            self.sessions.pop(sess.id, None)
        return [(f"{PREFIX}/end/reply", (req.request_id, sess.id))]

    # -- steps the server starts (MIDI) -----------------------------------------------
    def trigger_step(self, session_id: str | None = None) -> bool:
        """Run "next step" for a session (default: the most recently used), as if the
        device had asked with its latest capture; the reply carries request id -1."""
        sid = session_id or self.most_recent_session()
        if sid is None:
            log.info("MIDI step: no session yet")
            return False
        with self._lock:
            sess = self.sessions.get(sid)
        if sess is None:
            return False
        args: tuple = (NO_REQUEST, sid) + ((sess.last_path,) if sess.last_path else ())
        msg = osc.Message(osc.REQUESTS["step"][0], args, "is" + "s" * (len(args) - 2))
        with self._lock:
            self._pending += 1
        try:
            self._pool.submit(self._handle_trigger, msg, sess.reply_to)
        except RuntimeError:
            with self._lock:
                self._pending -= 1
            return False
        return True

    def _handle_trigger(self, msg: osc.Message, dest: tuple[str, int]) -> None:
        try:
            req = osc.parse_request(msg)
            reply, dest, sid, outcome = self._run(req, dest)
            self._send(reply, dest)
            log.info("step (MIDI) session=%s %s", sid, outcome)
        except Exception:
            log.exception("MIDI step failed")
        finally:
            with self._lock:
                self._pending -= 1
