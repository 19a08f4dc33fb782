"""The model worker: one thread owns the model and its device and runs every forward pass.

Streams submit jobs (a window of audio or of cached features) and get a Future back.
The worker batches jobs that have the same runner and the same input shape, so a batch
is a plain stack of equal tensors: no padding, and each row's result is exactly what
it would be alone (checked by tests), whatever else was in the batch.

Two priorities: ``stable`` jobs (windows whose output is committed) are never dropped
nor refused -- a stream that lost one would have a hole in its transcript; they are
bounded by each stream's ``max_backlog_s`` (a stream refuses audio beyond it) times the
number of streams, and ``backlog`` lets servers stop reading input before that.
``partial`` jobs (provisional tails, redone later anyway) are skipped when stale or when
more than ``max_partial_backlog`` wait, and every skip is counted.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Job:
    runner: str
    input: torch.Tensor                       # one item, no batch dimension
    priority: str = "stable"                  # "stable" | "partial"
    is_stale: Callable[[], bool] | None = None  # partial jobs: True once a newer one exists
    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple:
        return self.runner, tuple(self.input.shape), self.input.dtype


@dataclass
class WorkerStats:
    jobs: collections.Counter = field(default_factory=collections.Counter)
    shed_partials: int = 0
    batches: int = 0
    batch_sizes: collections.Counter = field(default_factory=collections.Counter)
    busy_seconds: float = 0.0
    busy_by_priority: collections.Counter = field(default_factory=collections.Counter)
    errors: int = 0
    started: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict:
        return {"jobs": dict(self.jobs), "shed_partials": self.shed_partials, "batches": self.batches,
                "batch_sizes": dict(sorted(self.batch_sizes.items())), "busy_seconds": round(self.busy_seconds, 3),
                "busy_by_priority": {k: round(v, 3) for k, v in self.busy_by_priority.items()},
                "errors": self.errors,
                "utilisation": round(self.busy_seconds / max(1e-9, time.monotonic() - self.started), 3)}


class ModelWorker:
    """Runs registered runners (batched functions) on one thread, in priority order."""

    def __init__(self, runners: dict[str, Runner], *, max_batch: int = 16, max_wait_ms: float = 5.0,
                 max_partial_backlog: int = 64, name: str = "model-worker") -> None:
        self.runners = dict(runners)
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.max_partial_backlog = max_partial_backlog
        self.queues: dict[str, collections.deque[Job]] = {"stable": collections.deque(), "partial": collections.deque()}
        self.cond = threading.Condition()
        self.stats = WorkerStats()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ client
    def add_runner(self, name: str, runner: Runner) -> None:
        """Register another batched function (e.g. a keyword classifier) on this thread."""
        with self.cond:
            self.runners[name] = runner

    def submit(self, runner: str, item: torch.Tensor, *, priority: str = "stable",
               is_stale: Callable[[], bool] | None = None) -> Future:
        if runner not in self.runners:
            raise KeyError(f"unknown runner {runner!r}; have {sorted(self.runners)}")
        job = Job(runner, item, priority, is_stale)
        with self.cond:
            if self.closed:
                raise RuntimeError("model worker is closed")
            shed = priority == "partial" and len(self.queues["partial"]) >= self.max_partial_backlog
            if shed:
                self.stats.shed_partials += 1  # partials can be redone later: shed, never block
            else:
                self.queues[priority].append(job)
                self.cond.notify()
        if shed:
            # Futures run their callbacks synchronously: never resolve one while holding
            # self.cond, or a callback that takes a stream lock can deadlock with a pushing thread.
            job.future.cancel()
        return job.future

    def run(self, runner: str, item: torch.Tensor, timeout: float | None = None) -> torch.Tensor:
        """Submit a stable job and wait for its result."""
        return self.submit(runner, item).result(timeout)

    @property
    def backlog(self) -> int:
        """Jobs waiting (both priorities): servers pause input when this grows."""
        return len(self.queues["stable"]) + len(self.queues["partial"])

    @property
    def stable_backlog(self) -> int:
        return len(self.queues["stable"])

    def close(self, timeout: float = 10.0) -> None:
        """Finish queued stable work, then stop the thread."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join(timeout)

    # ------------------------------------------------------------------ thread
    def _take_batch(self) -> list[Job] | None:
        stale: list[Job] = []
        try:
            with self.cond:
                return self._take_batch_locked(stale)
        finally:
            for job in stale:  # resolved outside the lock (see submit)
                job.future.cancel()

    def _take_batch_locked(self, stale: list[Job]) -> list[Job] | None:
        while True:
            stale += self._drop_stale()
            head = self._head()
            if head is not None:
                break
            if self.closed:
                return None
            self.cond.wait(0.5)
        batch = [head]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            batch += self._take_matching(head.key, self.max_batch - len(batch))
            remaining = deadline - time.monotonic()
            if len(batch) >= self.max_batch or remaining <= 0 or self.closed:
                break
            self.cond.wait(remaining)  # a moment for other streams' windows of the same shape
        return batch

    def _head(self) -> Job | None:
        for priority in ("stable", "partial"):
            if self.queues[priority]:
                return self.queues[priority].popleft()
        return None

    def _take_matching(self, key: tuple, limit: int) -> list[Job]:
        taken = []
        for priority in ("stable", "partial"):
            queue, keep = self.queues[priority], collections.deque()
            while queue:
                job = queue.popleft()
                (taken if job.key == key and len(taken) < limit else keep).append(job)
            self.queues[priority] = keep
        return taken

    def _drop_stale(self) -> list[Job]:
        """Remove partial jobs that a newer one has made pointless; the caller cancels them."""
        queue, keep, stale = self.queues["partial"], collections.deque(), []
        for job in queue:
            (stale if job.is_stale is not None and job.is_stale() else keep).append(job)
        self.queues["partial"] = keep
        self.stats.shed_partials += len(stale)
        return stale

    def _run(self) -> None:
        with torch.inference_mode():
            while (batch := self._take_batch()) is not None:
                batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
                if not batch:
                    continue
                started = time.monotonic()
                try:
                    out = self.runners[batch[0].runner](torch.stack([job.input for job in batch]))
                except Exception as exc:  # a bad batch must not kill the worker: fail its jobs
                    self.stats.errors += 1
                    for job in batch:
                        job.future.set_exception(exc)
                    continue
                elapsed = time.monotonic() - started
                self.stats.busy_seconds += elapsed
                for job in batch:  # a batch's time, shared by its jobs
                    self.stats.busy_by_priority[job.priority] += elapsed / len(batch)
                self.stats.batches += 1
                self.stats.batch_sizes[len(batch)] += 1
                for row, job in enumerate(batch):
                    self.stats.jobs[job.runner] += 1
                    job.future.set_result(out[row])
