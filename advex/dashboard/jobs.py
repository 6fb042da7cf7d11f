"""A server-wide queue of training jobs: a room of students training at once cannot exhaust memory.

``JobQueue`` runs at most ``max_running`` jobs at a time in background threads (one by default:
a CNN, its data and its optimizer live in memory only while their job runs), accepts at most
``max_queued`` waiting jobs (a clear error beyond that), and keeps only the last
``keep_finished`` finished jobs with bounded logs and only the latest picture (the live IG map),
so memory stays bounded as sessions come and go. Every job can be stopped; the runner polls
``job.should_stop()``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from advex.errors import AdvexError

LOGGER = logging.getLogger("advex.dashboard.jobs")
MAX_LOG_POINTS = 400
ACTIVE = ("queued", "running")


@dataclass
class Job:
    """One training request and what is known about it so far."""

    id: int
    owner: str
    settings: dict
    status: str = "queued"  # queued, running, done, stopped, failed
    progress: float = 0.0
    message: str = "waiting for a free slot"
    log: list[dict] = field(default_factory=list)
    picture: dict | None = None  # the latest live picture (e.g. the probe's IG map), replaced by the next
    result: dict | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def report(self, fraction: float, message: str, metrics: dict | None = None) -> None:
        """Progress from the runner: fraction done, a line of text, and optionally a point of the curves."""
        self.progress = min(max(float(fraction), 0.0), 1.0)
        self.message = message
        if metrics is not None:
            self.log.append(dict(metrics))
            if len(self.log) > MAX_LOG_POINTS:  # keep the curve's shape with half the points
                self.log = self.log[::2]

    def show(self, picture: dict) -> None:
        """A new live picture from the runner (it replaces the previous one)."""
        self.picture = dict(picture)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


Runner = Callable[[Job], dict]


class JobQueue:
    """First-in first-out job queue with ``max_running`` worker threads."""

    def __init__(self, runner: Runner, max_running: int = 1, max_queued: int = 8, keep_finished: int = 20) -> None:
        if max_running < 1 or max_queued < 0:
            raise ValueError("max_running must be >= 1 and max_queued >= 0")
        self._runner = runner
        self.max_running, self.max_queued, self.keep_finished = max_running, max_queued, keep_finished
        self._lock = threading.Condition()
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []
        self._finished: deque[Job] = deque(maxlen=keep_finished)
        self._ids = itertools.count(1)
        self._workers = [threading.Thread(target=self._work, name=f"advex-job-{i}", daemon=True)
                         for i in range(max_running)]
        for worker in self._workers:
            worker.start()

    def submit(self, owner: str, settings: dict) -> Job:
        """Queue a job; AdvexError when the queue is full or the owner already has one waiting or running."""
        with self._lock:
            if any(job.owner == owner for job in [*self._waiting, *self._running]):
                raise AdvexError("you already have a training job queued or running; stop it or wait for it to finish")
            if len(self._waiting) >= self.max_queued:
                raise AdvexError(f"the training queue is full ({self.max_queued} jobs waiting); try again in a few minutes")
            job = Job(next(self._ids), owner, dict(settings))
            self._waiting.append(job)
            self._lock.notify()
            return job

    def stop(self, job_id: int, owner: str | None = None) -> bool:
        """Ask job ``job_id`` to stop (a waiting job is dropped at once); only its owner may, when given."""
        with self._lock:
            for job in self._waiting:
                if job.id == job_id and (owner is None or job.owner == owner):
                    self._waiting.remove(job)
                    job.status, job.message, job.finished = "stopped", "stopped before it started", time.time()
                    self._finished.append(job)
                    return True
            for job in self._running:
                if job.id == job_id and (owner is None or job.owner == owner):
                    job._stop.set()
                    job.message = "stopping after the current step"
                    return True
        return False

    def jobs(self, owner: str | None = None) -> list[Job]:
        """Running, then waiting, then finished jobs (newest first), optionally only ``owner``'s."""
        with self._lock:
            everything = [*self._running, *self._waiting, *reversed(self._finished)]
        return [job for job in everything if owner is None or job.owner == owner]

    def position(self, job: Job) -> int:
        """0 when running, else 1 + the number of jobs queued before it."""
        with self._lock:
            if job in self._running:
                return 0
            return 1 + list(self._waiting).index(job) if job in self._waiting else -1

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._lock.wait()
                job = self._waiting.popleft()
                self._running.append(job)
                job.status, job.started, job.message = "running", time.time(), "starting"
            try:
                job.result = self._runner(job)
                job.status = "stopped" if job.should_stop() else "done"
                job.progress = 1.0 if job.status == "done" else job.progress
                job.message = "stopped early; the model so far was saved" if job.status == "stopped" else "finished"
            except AdvexError as error:
                job.status, job.error, job.message = "failed", str(error), str(error)
            except Exception as error:  # noqa: BLE001 - a failed job must not kill the worker
                LOGGER.exception("training job %s failed", job.id)
                job.status, job.error = "failed", f"{type(error).__name__}: {error}"
                job.message = "the job failed; details are in the server log"
            finally:
                job.finished = time.time()
                with self._lock:
                    self._running.remove(job)
                    self._finished.append(job)
