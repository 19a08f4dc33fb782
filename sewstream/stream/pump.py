"""Moves audio from a live source's ring buffer into a stream, on a thread of its own.

Audio the ring had to drop (a stalled reader) comes back as a gap in sample positions;
the pump fills it with silence so stream time keeps matching the source's clock, and
counts it. When the source ends (ring closed and drained) the stream is ended.
"""

from __future__ import annotations

import threading

import numpy as np

from sewstream.audio.ring import RingBuffer

from .stream import Stream, StreamOverloaded


class Pump:
    def __init__(self, ring: RingBuffer, stream: Stream, *, chunk_s: float = 0.02, origin: int = 0) -> None:
        """``origin``: the ring index of the stream's first sample (0: the ring's first sample)."""
        self.ring, self.stream, self.origin = ring, stream, origin
        self.chunk = max(1, int(chunk_s * 16000))
        self.gap_samples = 0        # dropped by the ring, replaced by silence
        self.refused_samples = 0    # refused by an overloaded stream
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"pump-{stream.name}", daemon=True)

    def start(self) -> Pump:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _push(self, samples: np.ndarray) -> None:
        try:
            self.stream.push(samples)
        except StreamOverloaded:
            self.refused_samples += len(samples)

    def _run(self) -> None:
        expected = self.origin
        try:
            while not self._stop.is_set():
                got = self.ring.read_exact_with_position(self.chunk, timeout=0.1)
                if got is None:
                    if self.ring.eof:
                        break
                    continue
                position, samples = got
                if position > expected:  # the ring dropped audio: keep the timeline, say so
                    gap = position - expected
                    self.gap_samples += gap
                    self._push(np.zeros(gap, np.float32))
                if len(samples):
                    self._push(samples)
                expected = position + len(samples)
            self.stream.end()
        except BaseException as exc:  # reported through .error; the stream still ends
            self.error = exc
            self.stream.end()

    def stats(self) -> dict:
        return {"gap_samples": self.gap_samples, "refused_samples": self.refused_samples}
