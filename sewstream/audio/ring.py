"""Bounded, thread-safe float32 sample ring between audio sources and the engine.

Sample positions
----------------
Every sample offered to :meth:`RingBuffer.write` gets an absolute *stream index*
(0, 1, 2, ... in offer order, at the ring's sample rate). Drops never renumber
samples, so ``index / sample_rate`` is the stream time of a sample even after
overflows:

* ``drop_oldest`` (live audio: prefer fresh data): a full ring evicts its oldest
  unread samples. The reader sees a *jump*: the next sample it reads has a larger
  index than the one it expected. Oversized writes keep their newest
  ``capacity`` samples.
* ``drop_newest`` (keep what is queued): the part of a write that does not fit
  is rejected. The stored data then has a *hole* between the last accepted
  sample and the next accepted write; :meth:`RingBuffer.read_with_position`
  never returns data across such a hole. An oversized write into an empty ring
  keeps its first ``capacity`` samples (the policy wins).
* :meth:`RingBuffer.skip` lets a producer declare samples lost *upstream*
  (e.g. a capture stage overflowed) so later indices stay aligned with time.

Counters satisfy, at every moment::

    total_written == total_read + available + dropped_samples + gap_samples

Use ``write(..., block=True)`` for lossless producers (files): it waits for
space instead of dropping, and only counts what it actually stored.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Literal

import numpy as np

__all__ = ["RingBuffer", "OverflowPolicy"]

OverflowPolicy = Literal["drop_oldest", "drop_newest"]
_POLICIES = ("drop_oldest", "drop_newest")


class RingBuffer:
    """Fixed-capacity single-channel float32 FIFO with drop accounting.

    Memory is preallocated once. One lock protects the state; it is held only
    for bookkeeping and the memcpy into / out of the buffer. Two conditions on
    that lock wake blocked readers (data arrived / closed) and blocked writers
    (space freed / closed).
    """

    def __init__(self, capacity_samples: int, *, overflow: OverflowPolicy = "drop_oldest") -> None:
        capacity_samples = int(capacity_samples)
        if capacity_samples <= 0:
            raise ValueError(f"capacity_samples must be positive, got {capacity_samples}")
        if overflow not in _POLICIES:
            raise ValueError(f"overflow must be one of {_POLICIES}, got {overflow!r}")
        self._cap = capacity_samples
        self._policy: OverflowPolicy = overflow
        self._buf = np.zeros(capacity_samples, dtype=np.float32)
        self._lock = threading.Lock()
        self._readable = threading.Condition(self._lock)
        self._writable = threading.Condition(self._lock)
        # Storage sequence numbers: count of samples ever stored / consumed
        # (evicted samples count as consumed). Buffer slot = seq % capacity.
        self._rseq = 0
        self._wseq = 0
        # Discontinuity map from storage seq to stream index: (seq, index) pairs,
        # sorted; a sample at seq s has index idx0 + (s - seq0) of the last pair
        # with seq0 <= s. Only holes (drop_newest, skip) add pairs, so it stays tiny.
        self._segments: deque[tuple[int, int]] = deque([(0, 0)])
        self._total_written = 0  # stream index of the next offered sample
        self._total_read = 0
        self._dropped = 0
        self._gap = 0
        self._overflow_events = 0
        self._closed = False

    # ------------------------------------------------------------------ props
    @property
    def capacity(self) -> int:
        """Maximum number of samples held."""
        return self._cap

    @property
    def overflow(self) -> OverflowPolicy:
        """Overflow policy, ``"drop_oldest"`` or ``"drop_newest"``."""
        return self._policy

    @property
    def available(self) -> int:
        """Samples that can be read now."""
        with self._lock:
            return self._wseq - self._rseq

    @property
    def free(self) -> int:
        """Samples that can be written now without dropping."""
        with self._lock:
            return self._cap - (self._wseq - self._rseq)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (no more writes accepted)."""
        return self._closed

    @property
    def eof(self) -> bool:
        """True when closed and fully drained: readers will get nothing more."""
        with self._lock:
            return self._closed and self._wseq == self._rseq

    @property
    def total_written(self) -> int:
        """Samples offered so far (stored or dropped) = index of the next one."""
        return self._total_written

    @property
    def total_read(self) -> int:
        """Samples handed to readers so far."""
        return self._total_read

    @property
    def dropped_samples(self) -> int:
        """Samples lost to overflow (evicted, rejected or truncated)."""
        return self._dropped

    @property
    def gap_samples(self) -> int:
        """Samples declared lost upstream via :meth:`skip`."""
        return self._gap

    @property
    def overflow_events(self) -> int:
        """Number of ``write`` calls that dropped at least one sample."""
        return self._overflow_events

    @property
    def read_index(self) -> int:
        """Stream index of the next sample a reader would get (if available).

        When the ring is empty this is ``total_written``, the index the next
        write will start at.
        """
        with self._lock:
            return self._next_read_index_locked()

    def stats(self) -> dict[str, int | bool | str]:
        """Snapshot of all counters, taken under the lock (mutually consistent)."""
        with self._lock:
            return {
                "capacity": self._cap,
                "overflow": self._policy,
                "available": self._wseq - self._rseq,
                "total_written": self._total_written,
                "total_read": self._total_read,
                "dropped_samples": self._dropped,
                "gap_samples": self._gap,
                "overflow_events": self._overflow_events,
                "closed": self._closed,
            }

    # ------------------------------------------------------------------ write
    def write(self, samples: np.ndarray, *, block: bool = False, timeout: float | None = None) -> int:
        """Append ``samples`` (any shape, flattened, cast to float32).

        Non-blocking (default): applies the overflow policy and returns how many
        of these samples were stored. With ``block=True`` nothing is dropped:
        the call waits for space (writing piecewise, so writes larger than the
        capacity pass through) until done, ``timeout`` seconds elapse, or the
        ring is closed; only stored samples count as written. Writes to a
        closed ring store nothing and return 0.
        """
        # Conversion happens outside the lock.
        x = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if block:
            return self._write_blocking(x, timeout)
        n = x.shape[0]
        with self._lock:
            if self._closed or n == 0:
                return 0
            start = self._total_written
            self._total_written += n
            if self._policy == "drop_oldest":
                if n > self._cap:  # keep only the newest `capacity` samples
                    cut = n - self._cap
                    x = x[cut:]
                    start += cut
                    self._dropped += cut
                else:
                    cut = 0
                evict = max(0, x.shape[0] - (self._cap - (self._wseq - self._rseq)))
                if evict:
                    self._rseq += evict
                    self._dropped += evict
                    self._prune_segments_locked()
                if cut or evict:
                    self._overflow_events += 1
            else:
                keep = min(n, self._cap - (self._wseq - self._rseq))
                if keep < n:
                    self._dropped += n - keep
                    self._overflow_events += 1
                    x = x[:keep]
            self._store_locked(x, start)
            if x.shape[0]:
                self._readable.notify_all()
            return int(x.shape[0])

    def _write_blocking(self, x: np.ndarray, timeout: float | None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        done = 0
        n = x.shape[0]
        with self._lock:
            while done < n:
                if not self._writable.wait_for(
                    lambda: self._closed or self._wseq - self._rseq < self._cap,
                    None if deadline is None else max(0.0, deadline - time.monotonic()),
                ):
                    break  # timed out
                if self._closed:
                    break
                k = min(n - done, self._cap - (self._wseq - self._rseq))
                self._store_locked(x[done : done + k], self._total_written)
                self._total_written += k
                done += k
                self._readable.notify_all()
        return done

    def skip(self, n: int) -> None:
        """Declare ``n`` samples lost before reaching the ring (keeps indices = time).

        The next written sample gets an index ``n`` larger than it otherwise
        would; readers see a hole exactly like a ``drop_newest`` rejection.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            if not self._closed:
                self._total_written += n
                self._gap += n

    def close(self) -> None:
        """Mark end of stream: writes stop, readers drain what is left, then get EOF."""
        with self._lock:
            self._closed = True
            self._readable.notify_all()
            self._writable.notify_all()

    # ------------------------------------------------------------------ read
    def read(self, n: int) -> np.ndarray:
        """Return up to ``n`` samples without blocking (may be empty)."""
        with self._lock:
            return self._read_locked(max(0, min(n, self._wseq - self._rseq)))

    def read_with_position(self, n: int) -> tuple[int, np.ndarray]:
        """Non-blocking read of up to ``n`` samples that are contiguous in time.

        Returns ``(start_index, samples)``: ``samples[i]`` has stream index
        ``start_index + i``. Stops early at a hole (drop_newest / skip), so a
        following call starts at the index after the hole. When nothing is
        available, returns ``(read_index, empty)``.
        """
        with self._lock:
            start = self._next_read_index_locked()
            return start, self._read_locked(self._contiguous_locked(n))

    def read_exact(self, n: int, timeout: float | None = None) -> np.ndarray | None:
        """Block until ``n`` samples are available and return exactly ``n``.

        Returns ``None`` on timeout or at EOF (closed and drained). After
        :meth:`close`, a final shorter remainder is returned before EOF.
        ``timeout=None`` waits indefinitely.
        """
        self._check_exact(n)
        with self._lock:
            if not self._wait_for_locked(n, timeout):
                return None
            return self._read_locked(min(n, self._wseq - self._rseq))

    def read_exact_with_position(self, n: int, timeout: float | None = None) -> tuple[int, np.ndarray] | None:
        """Like :meth:`read_exact` but returns ``(start_index, samples)``.

        The samples are contiguous in stream time: if a hole lies inside the
        next ``n`` samples (only possible with drop_newest or :meth:`skip`),
        only the part before it is returned (shorter than ``n``).
        """
        self._check_exact(n)
        with self._lock:
            if not self._wait_for_locked(n, timeout):
                return None
            start = self._next_read_index_locked()
            return start, self._read_locked(self._contiguous_locked(n))

    def wait_available(self, n: int, timeout: float | None = None) -> bool:
        """Block until ``n`` samples are available or the ring is closed.

        Returns True if ``n`` samples are available or the ring is closed with
        a remainder to drain, False on timeout or EOF.
        """
        self._check_exact(n)
        with self._lock:
            return self._wait_for_locked(n, timeout)

    # ------------------------------------------------------------------ internals
    def _check_exact(self, n: int) -> None:
        if n <= 0 or n > self._cap:
            # More than capacity could never become available without a drop.
            raise ValueError(f"n must be in 1..capacity ({self._cap}), got {n}")

    def _wait_for_locked(self, n: int, timeout: float | None) -> bool:
        self._readable.wait_for(lambda: self._closed or self._wseq - self._rseq >= n, timeout)
        return self._wseq - self._rseq >= n or (self._closed and self._wseq > self._rseq)

    def _store_locked(self, x: np.ndarray, start_index: int) -> None:
        k = x.shape[0]
        if k == 0:
            return
        seg_seq, seg_idx = self._segments[-1]
        if seg_idx + (self._wseq - seg_seq) != start_index:  # a hole precedes x
            if seg_seq == self._wseq:  # previous marker has no samples: replace
                self._segments.pop()
            self._segments.append((self._wseq, start_index))
            self._prune_segments_locked()  # ring was empty: old marker is obsolete
        pos = self._wseq % self._cap
        first = min(k, self._cap - pos)
        self._buf[pos : pos + first] = x[:first]
        if first < k:  # wrap around
            self._buf[: k - first] = x[first:]
        self._wseq += k

    def _read_locked(self, k: int) -> np.ndarray:
        out = np.empty(k, dtype=np.float32)
        if k == 0:
            return out
        pos = self._rseq % self._cap
        first = min(k, self._cap - pos)
        out[:first] = self._buf[pos : pos + first]
        if first < k:
            out[first:] = self._buf[: k - first]
        self._rseq += k
        self._total_read += k
        self._prune_segments_locked()
        self._writable.notify_all()
        return out

    def _prune_segments_locked(self) -> None:
        segs = self._segments
        while len(segs) > 1 and segs[1][0] <= self._rseq:
            segs.popleft()

    def _contiguous_locked(self, n: int) -> int:
        k = min(n, self._wseq - self._rseq)
        if len(self._segments) > 1:
            k = min(k, self._segments[1][0] - self._rseq)
        return max(0, k)

    def _next_read_index_locked(self) -> int:
        if self._wseq == self._rseq:
            return self._total_written
        seg_seq, seg_idx = self._segments[0]
        return seg_idx + (self._rseq - seg_seq)

    def __repr__(self) -> str:
        return (
            f"RingBuffer(capacity={self._cap}, overflow={self._policy!r}, available={self.available}, "
            f"written={self._total_written}, read={self._total_read}, dropped={self._dropped})"
        )
