"""Training batches: length-bucketed, augmented, and a pure function of the step.

The batch for step ``s`` depends only on (seed, s), never on what came before, so a run
resumed from a checkpoint sees exactly the batches an uninterrupted run would have, with
no sampler state to save.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

SAMPLE_RATE = 16000


class Utterances(Protocol):
    """What the batcher needs from a corpus split."""

    durations: np.ndarray  # seconds per utterance

    def __len__(self) -> int: ...
    def text(self, index: int) -> str: ...
    def audio(self, index: int) -> np.ndarray: ...


@dataclass
class Batch:
    step: int
    input_values: torch.Tensor    # (B, S) float32 audio
    attention_mask: torch.Tensor  # (B, S) long
    labels: torch.Tensor          # (B, U) long, -100 padded
    seconds: float                # real (unpadded) audio in the batch


class Batcher:
    """Builds the batch of any step: a contiguous run of similar-length utterances."""

    def __init__(self, data: Utterances, encode: Callable[[str], list[int]], *, seed: int,
                 batch_seconds: float, max_seconds: Callable[[int], float],
                 augment: Callable[[np.ndarray, np.random.Generator, int], np.ndarray] | None = None) -> None:
        self.data, self.encode, self.seed = data, encode, seed
        self.batch_samples = int(batch_seconds * SAMPLE_RATE)
        self.max_seconds, self.augment = max_seconds, augment
        lengths = np.round(np.asarray(data.durations) * SAMPLE_RATE).astype(np.int64)
        self.order = np.argsort(lengths, kind="stable")
        self.sorted_lengths = lengths[self.order]

    def indices(self, step: int, rng: np.random.Generator) -> list[int]:
        limit = int(self.max_seconds(step) * SAMPLE_RATE)
        allowed = int(np.searchsorted(self.sorted_lengths, limit, side="right"))
        if allowed == 0:
            allowed = 1
        start = int(rng.integers(0, allowed))
        picked = []
        # walk towards longer utterances while the padded batch still fits
        for pos in range(start, allowed):
            if picked and (len(picked) + 1) * self.sorted_lengths[pos] > self.batch_samples:
                break
            picked.append(int(self.order[pos]))
        return picked

    def __call__(self, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, step])
        audios, labels = [], []
        for index in self.indices(step, rng):
            audio = self.data.audio(index)
            if self.augment is not None:
                audio = self.augment(audio, rng, step)
            audios.append(audio.astype(np.float32, copy=False))
            labels.append(self.encode(self.data.text(index)))
        longest = max(len(a) for a in audios)
        x = torch.zeros(len(audios), longest)
        mask = torch.zeros(len(audios), longest, dtype=torch.long)
        for row, audio in enumerate(audios):
            x[row, : len(audio)] = torch.from_numpy(audio)
            mask[row, : len(audio)] = 1
        y = torch.full((len(labels), max(map(len, labels))), -100, dtype=torch.long)
        for row, label in enumerate(labels):
            y[row, : len(label)] = torch.tensor(label)
        return Batch(step, x, mask, y, sum(map(len, audios)) / SAMPLE_RATE)


_make: Callable[[int], Batch] | None = None  # what a forked batch worker builds with


def _init_worker(make: Callable[[int], Batch]) -> None:
    global _make
    _make = make
    torch.set_num_threads(1)  # one process per core already


def _build(step: int) -> Batch:
    assert _make is not None
    return _make(step)


class Prefetcher:
    """Builds the next few batches ahead of the training loop: on one background thread
    (bounded queue), or with ``workers`` > 0 in that many forked processes, for a GPU that
    consumes batches faster than one core augments them. A batch is a pure function of its
    step, so the order and content are the same either way."""

    def __init__(self, make: Callable[[int], Batch], first_step: int, depth: int = 3, workers: int = 0) -> None:
        self.make, self.queue = make, queue.Queue(maxsize=depth)
        self.stopped = threading.Event()
        self.pool: ProcessPoolExecutor | None = None
        if workers > 0:
            # fork: the workers inherit ``make`` (corpus map, augmenter) instead of unpickling it
            self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"),
                                            initializer=_init_worker, initargs=(make,))
            self.pending: deque[Future] = deque(self.pool.submit(_build, first_step + i)
                                                for i in range(max(depth, 2 * workers)))
            self.next_step = first_step + len(self.pending)
            return
        self.thread = threading.Thread(target=self._run, args=(first_step,), daemon=True, name="batches")
        self.thread.start()

    def _run(self, step: int) -> None:
        while not self.stopped.is_set():
            try:
                item: Batch | BaseException = self.make(step)
            except BaseException as exc:  # hand the error to the training loop
                item = exc
            while not self.stopped.is_set():
                try:
                    self.queue.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            step += 1

    def next(self) -> Batch:
        if self.pool is not None:
            batch = self.pending.popleft().result()
            self.pending.append(self.pool.submit(_build, self.next_step))
            self.next_step += 1
            return batch
        item = self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop and wait for the thread: one still inside torch when the interpreter exits
        aborts the process ("terminate called without an active exception", exit 134)."""
        self.stopped.set()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            return
        self.thread.join(timeout_s)
