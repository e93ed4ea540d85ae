"""The OSC server's sessions: who owns each, how many one client may keep, how much memory
they may hold, and the replies kept for retried requests.

Ownership: a session belongs to the IP address that made it, and its id is a 128-bit
secret sent only to that address (the creator's reply port). A request acts on a session
only when it comes from the owner's address *and* names the id; anything else is
answered as if the session did not exist. The device (``udpsend`` from a random port,
``udpreceive`` on a fixed one) keeps working: the port plays no part in ownership.

Bounds, so no client can push out another's state or grow the server without limit:

* sessions: at most ``per_client`` per address and ``max_total`` in all; at the cap, an
  *idle* session (unused for ``idle_s``) is closed to make room, never an active one,
  else the new one is refused (``too_many_sessions``);
* memory: the sounds sessions keep (about 4.5 MB each, up to ``MAX_SOUNDS`` per session) are
  counted; a request that would pass ``memory_bytes`` closes idle sessions, else is
  refused the same way;
* retried requests: each session keeps its own last replies (``per_session`` of them);
  a ``new`` is remembered per sender (address and port). Only the owner's own requests
  can push out its entries, and an entry still running is never pushed out (the retry is
  refused as ``busy`` instead), so a retried id never runs twice.
"""

from __future__ import annotations

import enum
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np

from serumrnn.server import spec
from serumrnn.server.osc import ProtocolError

if TYPE_CHECKING:
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.profile import Profile

log = logging.getLogger("serumrnn.osc")

#: How long a reply is kept for a retried request id.
REPLY_TTL_S = 120.0
#: Upper bound of one stored sound: the dB Mel, MFCC, samples and multi-scale spectra of a
#: one-second clip (4.52 MB measured, ``tests/test_osc_hardening.py`` checks the bound).
SOUND_BYTES = 5 << 20
#: Sounds a session keeps at most: the target, and the states before and after the most
#: steps a session takes (one per effect).
MAX_SOUNDS = spec.MAX_STEPS + 2
#: A session unused for this long may be closed to make room for another.
IDLE_S = 600.0

#: A reply kept for a retried request: where it went and its datagrams.
CachedReply = tuple[tuple[str, int], list[bytes]]


class Running(enum.Enum):
    """The mark of a request whose reply is not known yet (a retry of it is ignored)."""

    RUNNING = "running"


RUNNING: Final = Running.RUNNING


def new_session_id() -> str:
    """'s' and 32 hex digits (128 random bits): the id is the session's secret. The
    leading letter keeps Max from reading it as a number."""
    return "s" + secrets.token_hex(16)


def short_id(sid: str) -> str:
    """What the log shows of a session id: enough to follow it, too little to use it."""
    return sid[:9] + ("…" if len(sid) > 9 else "")


def array_bytes(obj: object, depth: int = 0) -> int:
    """Bytes of the NumPy arrays in ``obj`` (nested lists, tuples, dicts)."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if depth > 4:
        return 0
    if isinstance(obj, dict):
        obj = obj.values()
    if isinstance(obj, (list, tuple, type({}.values()))):
        return sum(array_bytes(x, depth + 1) for x in obj)
    return 0


class _Replies:
    """Replies by request id for :data:`REPLY_TTL_S`, at most ``capacity`` of them."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.items: OrderedDict[int, tuple[float, CachedReply | Running]] = OrderedDict()

    def expire(self, now: float) -> None:
        for rid in [r for r, (t, v) in self.items.items() if now - t >= REPLY_TTL_S and v is not RUNNING]:
            del self.items[rid]

    def claim(self, rid: int, now: float) -> CachedReply | Running | None:
        """None: run it (now marked running); :data:`RUNNING`; the cached reply; or
        raises ``busy`` when every kept entry is still running."""
        self.expire(now)
        hit = self.items.get(rid)
        if hit is not None:
            return hit[1]
        if len(self.items) >= self.capacity:
            done = next((r for r, (_, v) in self.items.items() if v is not RUNNING), None)
            if done is None:
                raise ProtocolError(
                    "busy",
                    f"{len(self.items)} requests of this session or sender are still running; retry shortly",
                    rid,
                )
            del self.items[done]
        self.items[rid] = (now, RUNNING)
        return None

    def store(self, rid: int, value: CachedReply, now: float) -> None:
        self.items[rid] = (now, value)
        self.items.move_to_end(rid)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class OscSession:
    """A device's session: its group's models, its owner, where replies go, the step loop."""

    id: str
    group: str
    models: GroupModels
    reply_to: tuple[str, int]
    profile: Profile | None = None  # a plugin's profile, None = open rack
    preset: str | None = None  # demo input rendered by the server
    assistant: Assistant | None = None  # the step loop, once a target is set
    target_audio: np.ndarray | None = None
    last_path: str | None = None  # the latest capture (a MIDI step re-reads it)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    owner: str = ""  # the IP address that made it
    nbytes: int = 0  # the sounds it holds, as last measured
    replies: _Replies = field(default_factory=lambda: _Replies(8))

    def measure(self) -> int:
        """Count the arrays the session holds now (target, each state's features)."""
        a = self.assistant
        held: list[object] = [self.target_audio]
        if a is not None:
            held += [a.target, a.states, getattr(a, "input_audio", None)]
        self.nbytes = array_bytes(held)
        return self.nbytes


class Sessions:
    """The open sessions, their caps and their reply caches; thread-safe."""

    def __init__(
        self,
        *,
        max_total: int = 256,
        per_client: int = 32,
        memory_bytes: int = 1 << 30,
        idle_s: float = IDLE_S,
        per_session_replies: int = 8,
        per_sender_replies: int = 8,
        max_senders: int = 4096,
    ):
        self.max_total, self.per_client, self.memory_bytes = max_total, per_client, memory_bytes
        self.idle_s = idle_s
        self.per_session_replies, self.per_sender_replies = per_session_replies, per_sender_replies
        self.max_senders = max_senders
        self._open: OrderedDict[str, OscSession] = OrderedDict()  # least recently used first
        self._new_replies: OrderedDict[tuple[str, int], _Replies] = OrderedDict()
        self._ended: OrderedDict[str, tuple[str, _Replies, float]] = OrderedDict()
        self.lock = threading.RLock()
        self.closed_idle = 0

    # -- lookup -----------------------------------------------------------------------
    def __len__(self) -> int:
        with self.lock:
            return len(self._open)

    def __iter__(self) -> Iterator[OscSession]:
        with self.lock:
            return iter(list(self._open.values()))

    def owned(self, sid: str, ip: str, *, touch: bool = True) -> OscSession | None:
        """The session ``sid`` if ``ip`` owns it, else None (also for a stranger)."""
        with self.lock:
            sess = self._open.get(sid)
            if sess is None or sess.owner != ip:
                return None
            if touch:
                self._open.move_to_end(sid)
                sess.last_used = time.monotonic()
            return sess

    def get(self, sid: str) -> OscSession | None:
        """The session whatever its owner (the server's own MIDI-triggered steps)."""
        with self.lock:
            return self._open.get(sid)

    def most_recent(self) -> str | None:
        with self.lock:
            return next(reversed(self._open), None)

    def total_bytes(self) -> int:
        with self.lock:
            return sum(s.nbytes for s in self._open.values())

    def of_client(self, ip: str) -> int:
        with self.lock:
            return sum(s.owner == ip for s in self._open.values())

    # -- adding and closing -----------------------------------------------------------
    def _idle(self, now: float, owner: str | None = None, spare: str = "") -> OscSession | None:
        """The least recently used idle session (of ``owner`` if given), not ``spare``."""
        for s in self._open.values():
            if now - s.last_used < self.idle_s:
                return None  # in LRU order: the rest were used more recently
            if s.id != spare and (owner is None or s.owner == owner):
                return s
        return None

    def _close(self, sess: OscSession, why: str) -> None:
        self._open.pop(sess.id, None)
        self.closed_idle += 1
        log.info("session %s closed: idle, %s", short_id(sess.id), why)

    def add(self, sess: OscSession, rid: int) -> None:
        """Open ``sess`` (its ``owner`` set), closing idle sessions at a cap, or refuse."""
        now = time.monotonic()
        with self.lock:
            while sess.id in self._open or sess.id in self._ended:
                sess.id = new_session_id()
            if sum(s.owner == sess.owner for s in self._open.values()) >= self.per_client:
                idle = self._idle(now, sess.owner)
                if idle is None:
                    raise ProtocolError(
                        "too_many_sessions",
                        f"this address has "
                        f"{self.per_client} open sessions, none idle for "
                        f"{self.idle_s:.0f} s: end one first",
                        rid,
                    )
                self._close(idle, f"{sess.owner} has {self.per_client} sessions")
            if len(self._open) >= self.max_total:
                idle = self._idle(now)
                if idle is None:
                    raise ProtocolError(
                        "too_many_sessions",
                        f"the server has "
                        f"{self.max_total} open sessions, none idle for "
                        f"{self.idle_s:.0f} s; retry later",
                        rid,
                    )
                self._close(idle, f"the server has {self.max_total} sessions")
            sess.replies = _Replies(self.per_session_replies)
            self._open[sess.id] = sess

    def make_room(self, sess: OscSession, grow: int, rid: int) -> None:
        """Before ``sess`` keeps up to ``grow`` more bytes: close idle sessions until the
        total fits the memory budget, or refuse."""
        now = time.monotonic()
        with self.lock:
            while sum(s.nbytes for s in self._open.values()) + grow > self.memory_bytes:
                idle = self._idle(now, spare=sess.id)
                if idle is None:
                    raise ProtocolError(
                        "too_many_sessions",
                        f"the server's sessions hold "
                        f"{self.memory_bytes / 2**20:.0f} MB of sounds, its "
                        "budget (serve --session-memory), and none is idle; "
                        "end unused sessions or retry later",
                        rid,
                    )
                self._close(idle, "the memory budget is full")

    def end(self, sid: str) -> None:
        """Close a session; its replies stay for a retried ``end``."""
        now = time.monotonic()
        with self.lock:
            sess = self._open.pop(sid, None)
            if sess is None:
                return
            self._ended[sid] = (sess.owner, sess.replies, now)
            while self._ended and (
                len(self._ended) > self.max_total or now - next(iter(self._ended.values()))[2] >= REPLY_TTL_S
            ):
                self._ended.popitem(last=False)

    def replay_ended(self, sid: str, ip: str, rid: int) -> CachedReply | None:
        """The kept reply to request ``rid`` of a session ``ip`` ended lately (a retried
        ``end``), or None."""
        with self.lock:
            hit = self._ended.get(sid)
            if hit is None or hit[0] != ip:
                return None
            entry = hit[1].items.get(rid)
            value = None if entry is None else entry[1]
            return value if isinstance(value, tuple) else None

    # -- retried requests ---------------------------------------------------------------
    def claim(self, scope: OscSession | _Replies | tuple[str, int], rid: int) -> CachedReply | Running | None:
        """Mark request ``rid`` of a session (or of a sender's ``new``) as running; see
        :meth:`_Replies.claim`."""
        now = time.monotonic()
        with self.lock:
            return self._replies(scope, now, rid).claim(rid, now)

    def store(self, scope: OscSession | _Replies | tuple[str, int], rid: int, value: CachedReply) -> None:
        now = time.monotonic()
        with self.lock:
            self._replies(scope, now, rid).store(rid, value, now)

    def _replies(self, scope: OscSession | _Replies | tuple[str, int], now: float, rid: int) -> _Replies:
        if isinstance(scope, OscSession):
            return scope.replies
        if isinstance(scope, _Replies):
            return scope
        r = self._new_replies.get(scope)
        if r is None:
            if len(self._new_replies) >= self.max_senders:
                for v in self._new_replies.values():
                    v.expire(now)
                for k in [k for k, v in self._new_replies.items() if not len(v)]:
                    del self._new_replies[k]
            if len(self._new_replies) >= self.max_senders:
                raise ProtocolError(
                    "busy",
                    f"{self.max_senders} senders made sessions in the "
                    f"last {REPLY_TTL_S:.0f} s; retry shortly",
                    rid,
                )
            r = self._new_replies[scope] = _Replies(self.per_sender_replies)
        self._new_replies.move_to_end(scope)
        return r
