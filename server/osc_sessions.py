"""The OSC server's sessions: who owns each, how many one client may keep, how much memory
they may hold, and the replies kept for retried requests.

Ownership: a session belongs to the IP address that made it, and its id is a 128-bit
secret sent only to that address (the creator's reply port). A request acts on a session
only when it comes from the owner's address *and* names the id; anything else is
answered as if the session did not exist. The device (``udpsend`` from a random port,
``udpreceive`` on a fixed one) keeps working: the port plays no part in ownership.

Bounds, so no client can push out another's state or grow the server without limit:

* sessions: at most ``per_client`` per client and ``max_total`` in all; at the cap, an
  *idle* session (unused for ``idle_s``) is closed to make room, never an active one,
  else the new one is refused (``too_many_sessions``). A client is an IP address, and every
  loopback address (127.0.0.0/8, ::1) is one client, since one local process can send from
  all of them (:func:`client_of`);
* memory: every array a session holds is counted by one function, :func:`held_bytes`; a
  request that would pass ``memory_bytes`` closes idle sessions, least recently used
  first, else is refused the same way;
* retried requests: each session keeps its own last replies (``per_session`` of them);
  a successful ``new`` is remembered per sender socket (:class:`NewReplies`), at most
  ``per_client_news`` per client, so one client cannot fill the cache for the others, and a
  failed ``new`` is not kept at all. Only the owner's own requests can push out its
  entries, and an entry still running is never pushed out (the retry is refused as
  ``busy`` instead), so a retried id never runs twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from serumrnn.server.osc import ProtocolError
from serumrnn.server.osc_memory import MAX_SOUNDS, SOUND_BYTES, TARGET_BYTES, held_bytes
from serumrnn.server.osc_reply_cache import (
    REPLY_TTL_S,
    RUNNING,
    CachedReply,
    NewReplies,
    Running,
    SessionReplies,
)
from serumrnn.server.osc_transport import client_of as client_of

if TYPE_CHECKING:
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.profile import Profile

log = logging.getLogger("serumrnn.osc")

__all__ = [
    "MAX_SOUNDS",
    "REPLY_TTL_S",
    "RUNNING",
    "SOUND_BYTES",
    "TARGET_BYTES",
    "CachedReply",
    "NewReplies",
    "OscSession",
    "Sessions",
    "held_bytes",
]

#: A session unused for this long may be closed to make room for another.
IDLE_S = 600.0


def new_session_id() -> str:
    """'s' and 32 hex digits (128 random bits): the id is the session's secret. The
    leading letter keeps Max from reading it as a number."""
    return "s" + secrets.token_hex(16)


def short_id(sid: str) -> str:
    """What the log shows of a session id: enough to follow it, too little to use it."""
    return sid[:9] + ("…" if len(sid) > 9 else "")


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
    replies: SessionReplies = field(default_factory=lambda: SessionReplies(8))

    #: the highest request id admitted for the session's heavy requests (their order)
    last_rid: int | None = None

    def measure(self) -> int:
        """Count every array the session holds now (:func:`held_bytes`)."""
        self.nbytes = held_bytes(self.target_audio, self.assistant, skip=(self.models,))
        return self.nbytes


def is_older(rid: int, than: int) -> bool:
    """Whether request id ``rid`` comes before ``than`` (serial-number order: an id counter
    that wraps from 2**31 - 1 to 1 still counts as going forward)."""
    d = (than - rid) % (1 << 31)
    return 0 < d < (1 << 30)


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
        per_client_news: int = 64,
        max_news: int = 4096,
        collapse_loopback: bool = True,
    ):
        self.max_total, self.per_client, self.memory_bytes = max_total, per_client, memory_bytes
        self.idle_s = idle_s
        self.per_session_replies = per_session_replies
        self.collapse_loopback = collapse_loopback
        self._open: OrderedDict[str, OscSession] = OrderedDict()  # least recently used first
        self.news = NewReplies(per_client_news, max_news)
        self._ended: OrderedDict[str, tuple[str, SessionReplies, float]] = OrderedDict()
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

    def client(self, ip: str) -> str:
        """The client ``ip`` counts as for the caps (:func:`client_of`)."""
        return client_of(ip, collapse_loopback=self.collapse_loopback)

    # -- adding and closing -----------------------------------------------------------
    def _idle(self, now: float, client: str | None = None, spare: str = "") -> OscSession | None:
        """The least recently used idle session (of ``client`` if given), not ``spare``."""
        for s in self._open.values():
            if now - s.last_used < self.idle_s:
                return None  # in LRU order: the rest were used more recently
            if s.id != spare and (client is None or self.client(s.owner) == client):
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
            client = self.client(sess.owner)
            if sum(self.client(s.owner) == client for s in self._open.values()) >= self.per_client:
                idle = self._idle(now, client)
                if idle is None:
                    raise ProtocolError(
                        "too_many_sessions",
                        f"this client{' (loopback: every 127.x address)' if client == 'loopback' else ''} has "
                        f"{self.per_client} open sessions, none idle for "
                        f"{self.idle_s:.0f} s: end one first",
                        rid,
                    )
                self._close(idle, f"{client} has {self.per_client} sessions")
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
            sess.replies = SessionReplies(self.per_session_replies)
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

    def discard(self, sid: str) -> None:
        """Forget a session at once, leaving no replies (a ``new`` whose reply could not go out)."""
        with self.lock:
            self._open.pop(sid, None)

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
    def claim(self, sess: OscSession, rid: int) -> CachedReply | Running | None:
        """Mark request ``rid`` of a session as running; see :meth:`SessionReplies.claim`."""
        now = time.monotonic()
        with self.lock:
            return sess.replies.claim(rid, now)

    def store(self, sess: OscSession, rid: int, value: CachedReply) -> None:
        now = time.monotonic()
        with self.lock:
            sess.replies.store(rid, value, now)

    def release(self, sess: OscSession, rid: int) -> None:
        """Forget a claimed request that never ran (refused before it started)."""
        with self.lock:
            hit = sess.replies.items.get(rid)
            if hit is not None and hit[1] is RUNNING:
                del sess.replies.items[rid]

    def claim_new(self, sender: tuple[str, int], rid: int) -> CachedReply | Running | None:
        """Mark a sender socket's ``new`` ``rid`` as running (see :class:`NewReplies`)."""
        now = time.monotonic()
        with self.lock:
            return self.news.claim(self.client(sender[0]), sender, rid, now)

    def store_new(self, sender: tuple[str, int], rid: int, value: CachedReply | None) -> None:
        """Keep a successful ``new``'s reply; forget a failed one (``value`` None)."""
        now = time.monotonic()
        with self.lock:
            if value is None:
                self.news.release(sender, rid)
            else:
                self.news.store(sender, rid, value, now)
