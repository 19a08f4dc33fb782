"""Common lifecycle for audio sources: start/stop/join, stats, context manager.

Every source turns its input into mono float32 at ``sample_rate`` (16 kHz for
SEW) and writes it into a :class:`~sewstream.audio.ring.RingBuffer`. When the
input ends (file EOF, ``stop()``, end of a PCM stream) the source closes the
ring, so the reader drains what is left and then sees EOF.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from sewstream.audio.ring import OverflowPolicy, RingBuffer

__all__ = ["AudioSource", "DEFAULT_RING_SECONDS", "TARGET_RATE"]

log = logging.getLogger(__name__)

#: Sample rate SEW / SEW-D models consume.
TARGET_RATE = 16_000
#: Default ring size: room for a long model stall without dropping live audio.
DEFAULT_RING_SECONDS = 30.0


class AudioSource:
    """Base class. Subclasses override :meth:`_run` (thread body) or :meth:`_start`.

    Thread-based sources run :meth:`_run` in a daemon thread; an exception
    there is stored in :attr:`error`, closes the ring, and is re-raised by
    :meth:`join`.
    """

    kind = "source"

    def __init__(
        self,
        *,
        target_rate: int = TARGET_RATE,
        ring: RingBuffer | None = None,
        ring_seconds: float = DEFAULT_RING_SECONDS,
        overflow: OverflowPolicy = "drop_oldest",
    ) -> None:
        if target_rate <= 0:
            raise ValueError(f"target_rate must be positive, got {target_rate}")
        self.sample_rate = int(target_rate)
        self.ring = (
            ring if ring is not None else RingBuffer(int(ring_seconds * target_rate), overflow=overflow)
        )
        self.error: BaseException | None = None
        self._samples_out = 0  # samples accepted by the ring from this source
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> AudioSource:
        """Start producing into :attr:`ring`. Returns ``self``; call once."""
        if self._started:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._started = True
        try:
            self._start()
        except BaseException:
            self._started = False
            raise
        return self

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name=f"sewstream-{self.kind}", daemon=True)
        self._thread.start()

    def _thread_main(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc
            log.error("%s failed: %s", type(self).__name__, exc)
        finally:
            self.ring.close()

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the source to end; it flushes, closes the ring and its thread exits."""
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop_event.is_set()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of the input."""
        if not self._started:
            return False
        if self._thread is not None:
            return self._thread.is_alive()
        return not self.ring.closed

    def join(self, timeout: float | None = None, *, raise_error: bool = True) -> bool:
        """Wait for the source to finish. Returns False if still running.

        Re-raises an exception that ended the source's thread.
        """
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        if raise_error and self.error is not None:
            raise self.error
        return True

    def __enter__(self) -> AudioSource:
        if not self._started:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        # Do not mask an exception already propagating out of the with-block.
        self.join(raise_error=exc_type is None)

    # ------------------------------------------------------------------ helpers
    def _emit(self, samples: Any, *, block: bool) -> int:
        """Write to the ring; blocking writes give up only when stopping or closed."""
        if not block:
            n = self.ring.write(samples)
        else:
            n = 0
            total = len(samples)
            # Bounded waits so stop() is noticed even when the reader stalls.
            while n < total and not self._stop_event.is_set() and not self.ring.closed:
                n += self.ring.write(samples[n:], block=True, timeout=0.1)
        self._samples_out += n
        return n

    @property
    def samples_out(self) -> int:
        """Samples (at :attr:`sample_rate`) this source got into the ring."""
        return self._samples_out

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring: source-specific keys plus ring drops and a ring snapshot."""
        ring = self.ring.stats()
        out: dict[str, Any] = {
            "source": self.kind,
            "running": self.running,
            "sample_rate": self.sample_rate,
            "samples_out": self.samples_out,
            "seconds_out": self.samples_out / self.sample_rate,
            "dropped_samples": ring["dropped_samples"],
            "overflow_events": ring["overflow_events"],
            "error": None if self.error is None else str(self.error),
        }
        out.update(self._extra_stats())
        out["ring"] = ring
        return out

    def _extra_stats(self) -> dict[str, Any]:
        return {}
