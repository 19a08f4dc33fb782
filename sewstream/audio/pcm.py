"""Raw PCM bytes pushed by a callback, a websocket handler or stdin.

Framing decision: :meth:`PCMSource.push` rejects data that is not a whole
number of frames (``channels * bytes_per_sample``). Websocket messages are
self-delimiting, so a partial frame means a client bug (wrong format or
channel count); silently buffering it would shift every later sample by a
byte and turn the stream into noise. Byte streams without message boundaries
(stdin, sockets) are re-framed by their reader (:meth:`PCMSource.from_stdin`)
before pushing.

Samples are little-endian: ``int16`` (s16le) or ``float32`` (f32le).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, BinaryIO, Literal

import numpy as np

from sewstream.audio.base import DEFAULT_RING_SECONDS, TARGET_RATE, AudioSource
from sewstream.audio.resample import to_mono
from sewstream.audio.ring import OverflowPolicy, RingBuffer
from sewstream.audio.stream_resampler import StreamResampler

__all__ = ["PCMFormatError", "PCMSource", "PCM_FORMATS"]

PCMFormat = Literal["int16", "float32"]
#: Supported sample formats and their little-endian numpy dtypes.
PCM_FORMATS: dict[str, np.dtype] = {"int16": np.dtype("<i2"), "float32": np.dtype("<f4")}


class PCMFormatError(ValueError):
    """Pushed bytes do not match the declared PCM format (e.g. a partial frame)."""


class PCMSource(AudioSource):
    """Convert pushed raw PCM to mono float32 at ``target_rate`` into a ring.

    ``push`` may be called from any thread (calls are serialised: the
    resampler is stateful). Call :meth:`end` (or :meth:`stop`) at end of
    stream to flush the resampler tail and close the ring. ``start()`` is
    optional for push-driven use; it is needed for :meth:`from_stdin`.
    """

    kind = "pcm"

    def __init__(
        self,
        sample_rate: int,
        *,
        fmt: PCMFormat = "int16",
        channels: int = 1,
        target_rate: int = TARGET_RATE,
        ring: RingBuffer | None = None,
        ring_seconds: float = DEFAULT_RING_SECONDS,
        overflow: OverflowPolicy = "drop_oldest",
    ) -> None:
        super().__init__(target_rate=target_rate, ring=ring, ring_seconds=ring_seconds, overflow=overflow)
        if fmt not in PCM_FORMATS:
            raise ValueError(f"fmt must be one of {sorted(PCM_FORMATS)}, got {fmt!r}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.input_rate = int(sample_rate)
        self.fmt = fmt
        self.channels = int(channels)
        self._dtype = PCM_FORMATS[fmt]
        self.frame_bytes = self._dtype.itemsize * self.channels
        self._resampler = StreamResampler(self.input_rate, self.sample_rate)
        self._push_lock = threading.Lock()
        self._ended = False
        self.bytes_in = 0
        self.frames_in = 0
        self.pushes = 0
        self.discarded_bytes = 0  # trailing partial frame at stdin EOF
        self._reader: BinaryIO | None = None
        self._reader_block = True
        self._reader_chunk_bytes = 0

    # ------------------------------------------------------------------ push API
    def push(
        self, data: bytes | bytearray | memoryview, *, block: bool = False, timeout: float | None = None
    ) -> int:
        """Convert and write ``data``; return samples (at target rate) accepted by the ring.

        ``block=False`` (live clients) applies the ring's overflow policy;
        ``block=True`` waits for room (up to ``timeout``) so nothing is lost.

        Raises:
            PCMFormatError: ``len(data)`` is not a multiple of the frame size.
            RuntimeError: the stream already ended.
        """
        nbytes = len(memoryview(data).cast("B"))
        if nbytes % self.frame_bytes:
            raise PCMFormatError(
                f"got {nbytes} bytes of {self.fmt} PCM, not a multiple of the {self.frame_bytes}-byte frame "
                f"({self.channels} channel(s) x {self._dtype.itemsize} bytes); send whole frames per message"
            )
        with self._push_lock:
            if self._ended:
                raise RuntimeError("PCMSource.push() after end of stream")
            self.pushes += 1
            if nbytes == 0:
                return 0
            frames = np.frombuffer(data, dtype=self._dtype).reshape(-1, self.channels)
            self.bytes_in += nbytes
            self.frames_in += frames.shape[0]
            # to_mono also scales int16 to [-1, 1) float32.
            mono = to_mono(frames[:, 0] if self.channels == 1 else frames)
            out = self._resampler.process(mono)
            return self._write(out, block, timeout)

    def _write(self, out: np.ndarray, block: bool, timeout: float | None) -> int:
        if not block or timeout is None:
            # Untimed blocking still gives up when stop() is called.
            return self._emit(out, block=block)
        n = self.ring.write(out, block=True, timeout=timeout)
        self._samples_out += n
        return n

    def end(self) -> None:
        """End of stream: flush the resampler tail and close the ring (idempotent)."""
        with self._push_lock:
            if self._ended:
                return
            self._ended = True
            self._emit(self._resampler.flush(), block=False)
            self.ring.close()

    # ------------------------------------------------------------------ lifecycle
    def _start(self) -> None:
        if self._reader is not None:
            super()._start()  # thread reading the byte stream

    def stop(self) -> None:
        """Stop: for push use this ends the stream; a stdin reader ends after its current read."""
        super().stop()
        if self._reader is None:
            self.end()

    @property
    def running(self) -> bool:
        if self._reader is not None:
            return super().running
        return self._started and not self._ended

    @classmethod
    def from_stdin(
        cls,
        sample_rate: int,
        *,
        fmt: PCMFormat = "int16",
        channels: int = 1,
        stream: BinaryIO | None = None,
        chunk_ms: float = 100,
        block: bool = True,
        **kwargs: Any,
    ) -> PCMSource:
        """A source that, once started, reads raw PCM from stdin (or ``stream``) in a thread.

        Reads are re-framed (a partial trailing frame is carried into the next
        read; one left at EOF is discarded and counted in ``stats()``).
        ``block=True`` applies back-pressure to the pipe instead of dropping.
        Other keyword arguments go to the constructor (``target_rate``, ``ring``...).
        """
        src = cls(sample_rate, fmt=fmt, channels=channels, **kwargs)
        src._reader = stream if stream is not None else sys.stdin.buffer
        src._reader_block = block
        frames = max(1, round(sample_rate * chunk_ms / 1000))
        src._reader_chunk_bytes = frames * src.frame_bytes
        return src

    def _run(self) -> None:
        assert self._reader is not None
        pending = b""
        try:
            while not self._stop_event.is_set():
                data = self._reader.read(self._reader_chunk_bytes)
                if not data:
                    break
                data = pending + data
                cut = len(data) - len(data) % self.frame_bytes
                pending = data[cut:]
                if cut:
                    self.push(data[:cut], block=self._reader_block)
        finally:
            self.discarded_bytes += len(pending)
            self.end()

    def _extra_stats(self) -> dict[str, Any]:
        return {
            "input_rate": self.input_rate,
            "fmt": self.fmt,
            "channels": self.channels,
            "bytes_in": self.bytes_in,
            "frames_in": self.frames_in,
            "pushes": self.pushes,
            "discarded_bytes": self.discarded_bytes,
        }
