"""The model worker: batching equal shapes, results independent of the batch, shedding."""

from __future__ import annotations

import time

import pytest
import torch

from sewstream.stream.worker import ModelWorker, WorkerOverloaded


def test_batches_equal_shapes_and_rows_match_single_runs(recognizer):
    worker = recognizer.worker
    items = [torch.randn(8080, generator=torch.Generator().manual_seed(i)) for i in range(12)]
    alone = [worker.run("logits", x) for x in items]
    futures = [worker.submit("logits", x) for x in items]  # queued faster than one forward takes
    batched = [f.result(10) for f in futures]
    for expected, got in zip(alone, batched):  # bitwise: a batched row equals the same input alone
        assert torch.equal(expected, got)
    assert max(worker.stats.batch_sizes) > 1, worker.stats.batch_sizes  # something was batched


def _slow_worker(**kwargs) -> ModelWorker:
    def slow(x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.05)
        return x * 2
    return ModelWorker({"double": slow}, max_wait_ms=0, **kwargs)


def test_stale_partials_are_shed_and_counted():
    worker = _slow_worker()
    try:
        blocker = worker.submit("double", torch.ones(3))  # occupies the thread
        latest = {"job": 0}
        futures = [worker.submit("double", torch.full((2,), float(i)), priority="partial",
                                 is_stale=lambda i=i: latest["job"] != i) for i in range(5)]
        latest["job"] = 4
        blocker.result(5)
        assert torch.equal(futures[4].result(5), torch.full((2,), 8.0))
        assert all(f.cancelled() for f in futures[:4])
        assert worker.stats.shed_partials == 4
    finally:
        worker.close()


def test_bounded_queues():
    worker = _slow_worker(max_queue=2, max_partial_backlog=1)
    try:
        worker.submit("double", torch.ones(1))
        time.sleep(0.01)  # the first job is running; the queue is empty again
        worker.submit("double", torch.ones(1))
        worker.submit("double", torch.ones(1))
        with pytest.raises(WorkerOverloaded, match="queue is full"):
            worker.submit("double", torch.ones(1))
        kept = worker.submit("double", torch.ones(1), priority="partial")
        shed = worker.submit("double", torch.ones(1), priority="partial")
        assert shed.cancelled() and not kept.cancelled()
    finally:
        worker.close()


def test_a_failing_batch_fails_its_jobs_only():
    def picky(x: torch.Tensor) -> torch.Tensor:
        if (x < 0).any():
            raise ValueError("negative input")
        return x

    worker = ModelWorker({"picky": picky}, max_wait_ms=0)
    try:
        bad = worker.submit("picky", -torch.ones(2))
        with pytest.raises(ValueError, match="negative input"):
            bad.result(5)
        assert torch.equal(worker.run("picky", torch.ones(2), timeout=5), torch.ones(2))
        assert worker.stats.errors == 1
        with pytest.raises(KeyError, match="unknown runner"):
            worker.submit("nope", torch.ones(1))
    finally:
        worker.close()
