"""Stateful chunk-by-chunk resampling for streaming sources.

Resampling each chunk independently (one-shot) restarts the filter at every
chunk edge and clicks; ``soxr.ResampleStream`` keeps the filter history between
calls, so the concatenated output equals one-shot resampling of the whole
signal (same quality preset as :func:`sewstream.audio.resample.resample`).
"""

from __future__ import annotations

import numpy as np
import soxr

from sewstream.audio.resample import RESAMPLE_QUALITY

__all__ = ["StreamResampler"]


class StreamResampler:
    """Resample a stream of float32 chunks from ``in_rate`` to ``out_rate`` Hz.

    Chunks are ``(frames,)`` when ``channels == 1`` (2-D input is accepted as
    ``(frames, channels)``). Output lags input by the filter delay; pass
    ``last=True`` with the final chunk to flush the tail. Not thread-safe: one
    producer owns an instance.
    """

    def __init__(self, in_rate: float, out_rate: float, *, channels: int = 1) -> None:
        if not (in_rate > 0 and out_rate > 0):
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.channels = channels
        self._passthrough = in_rate == out_rate
        self._rs = (
            None
            if self._passthrough
            else soxr.ResampleStream(in_rate, out_rate, channels, dtype="float32", quality=RESAMPLE_QUALITY)
        )

    def process(self, chunk: np.ndarray, last: bool = False) -> np.ndarray:
        """Feed ``chunk``; return the output samples that are ready (may be empty).

        With ``last=True`` the filter is flushed and reset, so the next call
        starts an independent signal.
        """
        x = np.ascontiguousarray(chunk, dtype=np.float32)
        if self.channels == 1 and x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        expected_ndim = 1 if self.channels == 1 else 2
        if x.ndim != expected_ndim or (x.ndim == 2 and x.shape[1] != self.channels):
            raise ValueError(f"expected {self.channels}-channel chunk, got shape {x.shape}")
        if self._rs is None:
            return x.copy()  # callers may reuse their input buffer
        if x.shape[0] == 0 and not last:
            return x.copy()
        out = self._rs.resample_chunk(x, last=last)
        if last:
            self._rs.clear()
        return out

    def flush(self) -> np.ndarray:
        """Return the buffered tail (equivalent to ``process(empty, last=True)``)."""
        shape = (0,) if self.channels == 1 else (0, self.channels)
        return self.process(np.zeros(shape, dtype=np.float32), last=True)

    def reset(self) -> None:
        """Drop filter state (after a discontinuity, so it is not smeared across)."""
        if self._rs is not None:
            self._rs.clear()

    @property
    def delay(self) -> float:
        """Output samples currently held back by the filter."""
        return 0.0 if self._rs is None else float(self._rs.delay())
