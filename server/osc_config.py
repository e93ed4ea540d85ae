"""What ``serumrnn serve`` decides about the OSC server: its defaults, its bounds, and
:class:`ServerConfig`, checked at start so an impossible option is one clear line."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from serumrnn.server import osc
from serumrnn.server.loop_settings import DEFAULT_K, DEFAULT_LOOP, REFINE_BUDGET
from serumrnn.server.osc_memory import SOUND_BYTES, TARGET_BYTES
from serumrnn.server.osc_sessions import IDLE_S
from serumrnn.server.osc_transport import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9870
DEFAULT_REPLY_PORT = 9871
#: Requests handled at once. More than the cores only adds contention: on 2 busy cores,
#: 20 clients got 48 steps/s with 2 workers and 32 with 4.
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))
#: The memory the sessions may hold in all (serve --session-memory).
DEFAULT_SESSION_MEMORY_MB = 1024
#: How long ``stop`` waits for the requests under way before giving up on them. Under
#: load (2 workers computing targets, load average 12), 3 s left too little of serve's
#: 4.5 s limit for the signal to reach the main thread and the process to exit: 18 of 20
#: SIGTERM runs ended past 5 s, killed by the watchdog (attack_osc.py --goals).
STOP_WAIT_S = 1.5
#: Requests waiting in all before new ones are refused as ``busy``.
MAX_PENDING = 512
#: The most estimated seconds of heavy work one client may have queued and running; more
#: is refused ``busy`` with a retry-after (the client could not be served in time).
QUEUE_BOUND_S = 20.0
#: Light requests one socket, and one address, may have waiting.
LIGHT_PER_SOCKET, LIGHT_PER_ADDRESS = 2 * osc.MAX_MESSAGES, 256
#: Heavy requests one session may have waiting (its reply cache holds 8).
HEAVY_PER_SESSION = 4
#: Requests by lane: light ones never wait behind a heavy one (``ping`` and ``status`` are
#: answered on the receive thread itself; ``new`` and ``end`` have a thread of their own).
LIGHT = frozenset({"ping", "status", "new", "end"})
HEAVY = frozenset({"target", "step", "undo", "reset"})
#: What a heavy request costs before any was measured (seconds; a step on the shipped
#: models takes 2.6-3.9 s of a worker on 2 cores), and the bytes it may add to a session
#: before any was measured (a target: its features, the input; a step: one sound).
COST_PRIOR_S = {"target": 1.5, "step": 3.0, "undo": 0.05, "reset": 0.5}
GROWTH_PRIOR = {"target": TARGET_BYTES + SOUND_BYTES, "step": SOUND_BYTES, "undo": 0, "reset": SOUND_BYTES}
#: Reply ports remembered per sender socket (from ping, status and new).
MAX_ROUTES = 4096
#: Ranges of the options ``serve`` checks at start (see :meth:`ServerConfig.check`).
PORT_RANGE, REPLY_PORT_RANGE = (0, 65535), (0, 65535)


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``serve`` decides about the server (see ``serumrnn serve --help``).

    ``reply_port``: where replies go by default (the device's ``udpreceive`` port, at the
    sender's IP); 0 means "to the port the request came from". ``size_rule``: whose replies
    are held to their request's size: ``"remote"`` (the default) senders off loopback, the
    only ones a forged source address could turn the server into a reflector against;
    ``"all"`` every sender (the attack campaign and the tests measure the rule this way).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    reply_port: int = DEFAULT_REPLY_PORT
    workers: int = DEFAULT_WORKERS
    bundles: bool = True
    datagram_limit: int = osc.MAX_DATAGRAM
    max_sessions: int = 256
    sessions_per_client: int = 32
    session_memory_mb: float = DEFAULT_SESSION_MEMORY_MB
    idle_s: float = IDLE_S
    max_pending: int = MAX_PENDING
    queue_bound_s: float = QUEUE_BOUND_S
    tolerance: int = 1
    blas_threads: int | None = 1
    loop: str = DEFAULT_LOOP
    k: int = DEFAULT_K
    refine_budget: int = REFINE_BUDGET
    #: Renders of the fine-tune offered as the last step; None: the loop's default
    #: (``loop_settings.fine_tune_for``: as ``match``'s, none for the paper's loop).
    fine_tune: int | None = None
    extra: bool = True  # the search loop may move extra knobs (serve --no-extra-knobs: no)
    rack_order: tuple[str, ...] | None = None
    profile_dirs: tuple[str | os.PathLike[str], ...] = ()
    size_rule: str = "remote"
    profile: str | None = None  # serve --profile: the sessions' default plugin profile
    #: read the socket in a process of its own (server/osc_front.py; serve does, off Windows)
    front: bool = False

    @property
    def remote(self) -> bool:
        """Whether the server listens beyond this machine (then loopback senders are no
        longer the only ones, and each address counts as its own client)."""
        return not is_loopback(self.host)

    def check(self) -> None:
        """Raise ``ValueError`` with one line naming the first option out of its range."""
        from serumrnn.server.loop_settings import LOOPS

        def need(ok: bool, text: str) -> None:
            if not ok:
                raise ValueError(text)

        need(PORT_RANGE[0] <= self.port <= PORT_RANGE[1], f"--port {self.port} is not a UDP port (0-65535)")
        need(
            REPLY_PORT_RANGE[0] <= self.reply_port <= REPLY_PORT_RANGE[1],
            f"--reply-port {self.reply_port} is not a UDP port (0-65535; 0: the port a request came from)",
        )
        need(self.workers >= 1, f"--workers {self.workers}: at least 1")
        need(self.max_sessions >= 1, f"--max-sessions {self.max_sessions}: at least 1")
        need(self.sessions_per_client >= 1, f"--sessions-per-client {self.sessions_per_client}: at least 1")
        need(
            math.isfinite(self.session_memory_mb) and self.session_memory_mb > 0,
            f"--session-memory {self.session_memory_mb}: a positive number of MB",
        )
        need(self.tolerance >= 0, f"--tolerance {self.tolerance}: 0 or more")
        need(self.k >= 1, f"--k {self.k}: at least 1")
        need(self.refine_budget >= 0, f"--refine-budget {self.refine_budget}: 0 or more")
        need(self.fine_tune is None or self.fine_tune >= 0, f"--fine-tune {self.fine_tune}: 0 or more")
        need(self.loop != "paper" or not self.fine_tune, "--fine-tune: the paper's loop has none (use 0)")
        need(self.size_rule in ("remote", "all"), f"size_rule is 'remote' or 'all', not {self.size_rule!r}")
        need(self.loop in LOOPS, f"loop is one of {', '.join(LOOPS)}, not {self.loop!r}")
        need(
            self.idle_s > 0 and self.queue_bound_s > 0 and self.max_pending >= 1,
            "idle, queue bounds: positive",
        )
        need(256 <= self.datagram_limit <= 65507, f"datagram_limit {self.datagram_limit}: 256-65507")
