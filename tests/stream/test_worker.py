"""The model worker: batching equal shapes, results independent of the batch, shedding."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from sewstream.stream.worker import ModelWorker


@pytest.fixture
def torch_threads():
    """Set torch's CPU thread count for one test; the process default comes back after."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
def test_batches_equal_shapes_and_rows_match_single_runs(recognizer, torch_threads, threads):
    """One thread: a batched row is bitwise the same input alone. More threads: oneDNN may
    split a matmul's reduction differently for another batch size, so rows agree to ~1e-5."""
    torch_threads(threads)
    worker = recognizer.worker
    items = [torch.randn(8080, generator=torch.Generator().manual_seed(i)) for i in range(12)]
    alone = [worker.run("logits", x) for x in items]
    futures = [worker.submit("logits", x) for x in items]  # queued faster than one forward takes
    batched = [f.result(10) for f in futures]
    for expected, got in zip(alone, batched):
        if threads == 1:
            assert torch.equal(expected, got)
        else:
            assert (expected - got).abs().max() < 1e-4
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


def test_partials_are_bounded_and_stable_jobs_never_refused():
    gate = threading.Event()
    worker = ModelWorker({"double": lambda x: (gate.wait(10), x * 2)[1]}, max_wait_ms=0, max_partial_backlog=1)
    try:
        worker.submit("double", torch.zeros(1))  # blocks the thread until the gate opens
        while worker.stable_backlog:  # ... once the worker has taken it
            time.sleep(0.002)
        stable = [worker.submit("double", torch.ones(1)) for _ in range(20)]
        assert worker.stable_backlog == 20  # all queued, none refused
        kept = worker.submit("double", torch.ones(1), priority="partial")
        shed = worker.submit("double", torch.ones(1), priority="partial")
        assert shed.cancelled() and not kept.cancelled()
        gate.set()
        assert all(torch.equal(f.result(10), torch.full((1,), 2.0)) for f in stable)  # none lost
        assert kept.result(10) is not None and worker.stats.shed_partials == 1
    finally:
        gate.set()
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
