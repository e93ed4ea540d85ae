"""Fair scheduling for the OSC server: no client can starve the others.

Work is queued per client (the sender's IP address) and, within a client, per *key* (a
sending socket for light requests, a session for heavy ones). Workers take jobs
round-robin: first across clients, then across that client's keys, so a client with a
thousand queued requests waits its turn like one with a single request. A key runs at
most ``per_key_in_flight`` jobs at once (a session's steps run one at a time, in request-id
order), and a client at most ``per_client_in_flight`` while another client has work
waiting (when nobody else waits, an idle worker still takes the job: the queue never
leaves a worker idle for fairness' sake), or always with ``keep_spare``: the heavy lane
keeps a worker free for the next client to come, since a job once started cannot be
taken back (a step running for seconds would make a newcomer wait that long).

Each job carries a cost estimate in seconds (:class:`CostBook`: the mean measured time of
its kind). A client whose queued and running work would pass ``bound_s`` seconds is refused
with :class:`Busy`, which says when to retry, instead of queueing work that could not be
served in time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


class Busy(Exception):
    """Work refused for now: ``retry_after_s`` says when the client's queue will have room."""

    def __init__(self, why: str, retry_after_s: float):
        super().__init__(why)
        self.retry_after_s = max(0.1, retry_after_s)


@dataclass(order=True)
class Job:
    """One queued request: run ``fn``; ordered within its key by ``order`` (a request id
    for a session's requests, the arrival count otherwise)."""

    order: tuple[int, int]
    fn: Callable[[Job], None] = field(compare=False)
    client: str = field(compare=False, default="")
    key: Hashable = field(compare=False, default="")
    cost_s: float = field(compare=False, default=0.0)
    kind: str = field(compare=False, default="")
    finished: bool = field(compare=False, default=False)


class _Client:
    """A client's queues by key (in round-robin order) and its running jobs."""

    def __init__(self) -> None:
        self.keys: OrderedDict[Hashable, list[Job]] = OrderedDict()  # key -> heap of jobs
        self.running: dict[Hashable, int] = {}
        self.queued = 0
        self.cost_s = 0.0  # queued and running

    @property
    def in_flight(self) -> int:
        return sum(self.running.values())


class FairQueue:
    """Bounded per-client, per-key queues served round-robin (see the module's doc)."""

    def __init__(
        self,
        *,
        per_key_jobs: int,
        per_client_jobs: int,
        total_jobs: int,
        bound_s: float = math.inf,
        per_client_in_flight: int = 1,
        per_key_in_flight: int | None = None,
        keep_spare: bool = False,
    ):
        self.per_key_jobs, self.per_client_jobs, self.total_jobs = per_key_jobs, per_client_jobs, total_jobs
        self.bound_s = bound_s
        self.per_client_in_flight, self.per_key_in_flight = per_client_in_flight, per_key_in_flight
        self._passes = (True,) if keep_spare else (True, False)  # capped; then uncapped
        self._clients: OrderedDict[str, _Client] = OrderedDict()  # round-robin order
        self._queued = 0
        self._arrivals = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return self._queued

    def backlog_s(self, client: str) -> float:
        """The estimated seconds of work the client has queued and running."""
        with self._cond:
            c = self._clients.get(client)
            return 0.0 if c is None else c.cost_s

    def put(
        self,
        client: str,
        key: Hashable,
        fn: Callable[[Job], None],
        *,
        cost_s: float = 0.0,
        order: int | None = None,
        kind: str = "",
    ) -> None:
        """Queue ``fn``, or raise :class:`Busy` when a bound would be passed."""
        with self._cond:
            if self._closed:
                raise Busy("the server is stopping", 5.0)
            known = self._clients.get(client)
            c = known or _Client()
            heap = c.keys.get(key, [])
            if len(heap) >= self.per_key_jobs:
                raise Busy(f"{len(heap)} requests of this session or socket are queued", c.cost_s or 1.0)
            if c.queued >= self.per_client_jobs:
                raise Busy(f"{c.queued} requests of this address are queued", c.cost_s or 1.0)
            if c.cost_s + cost_s > self.bound_s and c.cost_s > 0:
                raise Busy(
                    f"this address has about {c.cost_s:.0f} s of work queued, the most "
                    f"one client may have is {self.bound_s:.0f} s",
                    c.cost_s + cost_s - self.bound_s,
                )
            if self._queued >= self.total_jobs:
                raise Busy(f"{self._queued} requests are queued in all", 1.0)
            arrival = next(self._arrivals)
            job = Job((arrival if order is None else order, arrival), fn, client, key, cost_s, kind)
            heapq.heappush(heap, job)
            c.keys[key] = heap
            c.queued += 1
            c.cost_s += cost_s
            if known is None:  # a client with nothing under way goes first: it has waited for no one
                self._clients[client] = c
                self._clients.move_to_end(client, last=False)
            self._queued += 1
            self._cond.notify()

    def _eligible(self, c: _Client, *, capped: bool) -> Hashable | None:
        if capped and c.in_flight >= self.per_client_in_flight:
            return None
        for key, heap in c.keys.items():
            if heap and (self.per_key_in_flight is None or c.running.get(key, 0) < self.per_key_in_flight):
                return key
        return None

    def _pick(self) -> Job | None:
        for capped in self._passes:  # fair first; then any waiting job rather than an idle worker
            for name, c in self._clients.items():
                key = self._eligible(c, capped=capped)
                if key is None:
                    continue
                heap = c.keys[key]
                job = heapq.heappop(heap)
                del c.keys[key]  # to the back of the client's keys...
                if heap:
                    c.keys[key] = heap
                self._clients.move_to_end(name)  # ...and the client to the back of the round
                c.queued -= 1
                c.running[key] = c.running.get(key, 0) + 1
                self._queued -= 1
                return job
        return None

    def take(self, timeout: float | None = None) -> Job | None:
        """The next job by the round, waiting up to ``timeout`` s; None when closed or timed out."""
        with self._cond:
            while not self._closed:
                job = self._pick()
                if job is not None:
                    return job
                if not self._cond.wait(timeout):
                    return None
            return None

    def done(self, job: Job) -> None:
        """A taken job has finished: its key and client may run the next. A job calls it
        itself before it sends its reply (so a client's next request never finds the
        answered one still counted); the worker calls it again after, which changes nothing."""
        with self._cond:
            if job.finished:
                return
            job.finished = True
            c = self._clients.get(job.client)
            if c is None:
                return
            n = c.running.get(job.key, 0) - 1
            if n > 0:
                c.running[job.key] = n
            else:
                c.running.pop(job.key, None)
            c.cost_s = max(0.0, c.cost_s - job.cost_s)
            if not c.running and not c.queued:
                del self._clients[job.client]
            self._cond.notify_all()

    def close(self) -> int:
        """Drop every queued job and wake the workers; returns how many were dropped."""
        with self._cond:
            self._closed = True
            dropped = self._queued
            for c in self._clients.values():
                c.keys.clear()
                c.queued = 0
            self._queued = 0
            self._cond.notify_all()
            return dropped


class CostBook:
    """Seconds each kind of request takes: the running mean of the last measurements,
    starting from a prior (a ``target`` or ``step`` on the shipped models takes seconds)."""

    def __init__(self, prior_s: dict[str, float], weight: float = 0.2):
        self._mean = dict(prior_s)
        self._weight = weight
        self._lock = threading.Lock()

    def estimate(self, kind: str) -> float:
        with self._lock:
            return self._mean.get(kind, 0.0)

    def record(self, kind: str, seconds: float) -> None:
        with self._lock:
            old = self._mean.get(kind)
            self._mean[kind] = seconds if old is None else old + self._weight * (seconds - old)


class WorkerPool:
    """Daemon threads taking jobs from a :class:`FairQueue`.

    Daemon threads (unlike ``ThreadPoolExecutor``'s, which the interpreter joins at exit):
    a worker stuck in a system call can neither keep the process alive nor stall
    :meth:`stop` past its deadline.
    """

    def __init__(self, queue: FairQueue, n: int, name: str, on_error: Callable[[BaseException], None]):
        self.queue, self._on_error = queue, on_error
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(max(1, n))
        ]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        me = threading.current_thread().name
        while (job := self.queue.take()) is not None:
            with self._lock:
                self._busy.add(me)
            try:
                job.fn(job)
            except BaseException as e:  # a job's own handler logs; this is the last net
                self._on_error(e)
            finally:
                with self._lock:
                    self._busy.discard(me)
                self.queue.done(job)
            # Let go of it before waiting for the next: its closure holds its session, and
            # an ended session's 10 MB stayed alive while this worker waited.
            del job

    def stop(self, timeout: float) -> list[str]:
        """Drop queued jobs, wait up to ``timeout`` s for running ones; the names of the
        workers still busy (daemons: the process may exit without them)."""
        import time

        self.queue.close()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]
