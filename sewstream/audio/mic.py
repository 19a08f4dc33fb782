"""Live microphone capture through a sounddevice ``InputStream``.

Two stages keep the real-time PortAudio callback trivial:

1. ``CapturePipeline.callback`` (PortAudio's thread) only copies the block
   into a preallocated lock-free single-producer/single-consumer
   :class:`StagingRing` and bumps counters. No locks, no numpy allocation, no
   resampling: anything slow there makes PortAudio drop input.
2. A capture thread (:meth:`CapturePipeline.pump`, polled every few ms) mixes
   down, resamples (stateful) to 16 kHz and writes into the
   :class:`~sewstream.audio.ring.RingBuffer` (non-blocking; the ring's
   overflow policy decides what a stalled reader loses).

Loss accounting: PortAudio overruns (``status.input_overflow``) are counted
but their length is unknown, so they cannot be reflected in stream indices.
Staging overflows (capture thread stalled for ``staging_seconds``) are known
exactly: they are recorded in-band and become :meth:`RingBuffer.skip` gaps, so
ring stream indices stay equal to capture time (within a sample per gap).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from sewstream.audio import devices as _devices
from sewstream.audio.base import DEFAULT_RING_SECONDS, TARGET_RATE, AudioSource
from sewstream.audio.devices import MicrophoneError, resolve_input_device
from sewstream.audio.resample import to_mono
from sewstream.audio.ring import OverflowPolicy, RingBuffer
from sewstream.audio.stream_resampler import StreamResampler

__all__ = ["CapturePipeline", "MicrophoneSource", "StagingRing"]

log = logging.getLogger(__name__)


class StagingRing:
    """Lock-free SPSC FIFO of ``(frames, channels)`` float32 blocks.

    :meth:`push` is only called by the producer (audio callback) and
    :meth:`pop` only by the consumer; each side writes only its own counters,
    which is safe under the GIL. A block that does not fit is dropped whole and
    recorded as a gap at the current write position (the producer cannot evict
    without touching the consumer's state).
    """

    def __init__(self, capacity_frames: int, channels: int, *, max_gaps: int = 256) -> None:
        if capacity_frames <= 0 or channels <= 0:
            raise ValueError("capacity_frames and channels must be positive")
        self.capacity = int(capacity_frames)
        self.channels = int(channels)
        self._buf = np.zeros((self.capacity, self.channels), dtype=np.float32)
        self._w = 0  # producer-owned: frames ever stored
        self._r = 0  # consumer-owned: frames ever popped
        self._gaps = np.zeros((max_gaps, 2), dtype=np.int64)  # (write position, frames lost)
        self._gw = 0  # producer-owned
        self._gr = 0  # consumer-owned
        self.dropped_frames = 0  # producer-owned
        self.untracked_gap_frames = 0  # producer-owned: gaps beyond max_gaps records

    @property
    def available(self) -> int:
        """Frames waiting for the consumer."""
        return self._w - self._r

    def push(self, block: np.ndarray) -> bool:
        """Producer: copy ``block`` in; returns False (and records a gap) if it does not fit."""
        n = block.shape[0]
        w = self._w
        if n > self.capacity - (w - self._r):
            self.dropped_frames += n
            if self._gw - self._gr < self._gaps.shape[0]:
                g = self._gw % self._gaps.shape[0]
                self._gaps[g, 0] = w
                self._gaps[g, 1] = n
                self._gw += 1  # publish only after the record is complete
            else:
                self.untracked_gap_frames += n
            return False
        pos = w % self.capacity
        first = min(n, self.capacity - pos)
        self._buf[pos : pos + first] = block[:first]
        if first < n:
            self._buf[: n - first] = block[first:]
        self._w = w + n  # publish only after the copy
        return True

    def pop(self) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Consumer: take every stored frame.

        Returns ``(frames, gaps)`` where each gap ``(offset, n)`` means ``n``
        frames were lost just before ``frames[offset]``.
        """
        w, r = self._w, self._r  # snapshot; later pushes wait for the next pop
        gaps: list[tuple[int, int]] = []
        while self._gr < self._gw:
            g = self._gr % self._gaps.shape[0]
            pos, n = int(self._gaps[g, 0]), int(self._gaps[g, 1])
            if pos > w:
                break  # happened after frames we are not taking yet
            gaps.append((pos - r, n))
            self._gr += 1
        k = w - r
        out = np.empty((k, self.channels), dtype=np.float32)
        pos = r % self.capacity
        first = min(k, self.capacity - pos)
        out[:first] = self._buf[pos : pos + first]
        if first < k:
            out[first:] = self._buf[: k - first]
        self._r = w
        return out, gaps


class CapturePipeline:
    """Device-rate multi-channel blocks -> mono ``target_rate`` samples in a ring.

    Hardware-free by design: :meth:`callback` has the sounddevice callback
    signature and :meth:`pump` is the capture thread's step, so tests can
    drive both directly.
    """

    def __init__(
        self,
        ring: RingBuffer,
        device_rate: float,
        channels: int,
        *,
        target_rate: int = TARGET_RATE,
        staging_seconds: float = 2.0,
    ) -> None:
        self.ring = ring
        self.device_rate = device_rate
        self.channels = channels
        self.target_rate = target_rate
        self.staging = StagingRing(max(1, int(device_rate * staging_seconds)), channels)
        self._resampler = StreamResampler(device_rate, target_rate)
        # Written only by the callback thread:
        self.callbacks = 0
        self.input_overflows = 0
        self.other_status = 0
        # Written only by the capture thread:
        self.frames_in = 0
        self.samples_out = 0
        self._gap_frames_seen = 0
        self._gap_samples_skipped = 0
        self._untracked_seen = 0

    def callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio callback: count status flags and copy the block. Nothing else."""
        self.callbacks += 1
        if getattr(status, "input_overflow", False):
            self.input_overflows += 1
        elif status:  # input underflow / priming etc.: rare, only counted
            self.other_status += 1
        self.staging.push(indata)

    def pump(self) -> int:
        """Capture-thread step: move staged frames to the ring. Returns device frames consumed."""
        frames, gaps = self.staging.pop()
        untracked = self.staging.untracked_gap_frames - self._untracked_seen
        if untracked:
            self._untracked_seen += untracked
            gaps.append((frames.shape[0], untracked))
        start = 0
        for offset, n in gaps:
            # Finish the audio before the gap, then restart the filter after it
            # so it does not smear two unrelated signals together.
            self._convert(frames[start:offset], last=True)
            self._skip(n)
            start = offset
        self._convert(frames[start:], last=False)
        self.frames_in += frames.shape[0]
        return frames.shape[0]

    def finish(self) -> None:
        """Final pump, flush the resampler tail and close the ring (end of stream)."""
        self.pump()
        self._convert(np.zeros((0, self.channels), dtype=np.float32), last=True)
        self.ring.close()

    def _convert(self, frames: np.ndarray, *, last: bool) -> None:
        if frames.shape[0] == 0 and not last:
            return
        out = self._resampler.process(to_mono(frames), last=last)
        self.samples_out += self.ring.write(out)

    def _skip(self, device_frames: int) -> None:
        # Cumulative rounding so repeated gaps do not drift.
        self._gap_frames_seen += device_frames
        total = round(self._gap_frames_seen * self.target_rate / self.device_rate)
        self.ring.skip(total - self._gap_samples_skipped)
        self._gap_samples_skipped = total

    def stats(self) -> dict[str, Any]:
        """Capture counters (callbacks, PortAudio overflows, staging drops, throughput)."""
        return {
            "callbacks": self.callbacks,
            "input_overflows": self.input_overflows,
            "other_status_flags": self.other_status,
            "staging_dropped_frames": self.staging.dropped_frames,
            "staging_backlog_frames": self.staging.available,
            "frames_in": self.frames_in,
        }


class MicrophoneSource(AudioSource):
    """Capture from an input device into a ring as mono float32 at ``target_rate``.

    The device is resolved in the constructor (raising
    :class:`~sewstream.audio.devices.NoMicrophoneError` with a one-line
    explanation if there is none); the stream opens in :meth:`start`.

    Args:
        device: ``None`` (default input), an index, or a case-insensitive
            substring of the device name.
        samplerate: capture rate; ``None`` uses the device's native rate
            (resampled to ``target_rate`` in the capture thread).
        channels: captured channels, mixed down to mono; ``None`` means 1.
        blocksize_ms: PortAudio block size (latency vs callback rate).
        staging_seconds: how long the capture thread may stall before input is lost.
    """

    kind = "microphone"

    def __init__(
        self,
        device: int | str | None = None,
        *,
        samplerate: float | None = None,
        channels: int | None = None,
        blocksize_ms: float = 20,
        target_rate: int = TARGET_RATE,
        ring: RingBuffer | None = None,
        ring_seconds: float = DEFAULT_RING_SECONDS,
        overflow: OverflowPolicy = "drop_oldest",
        staging_seconds: float = 2.0,
    ) -> None:
        super().__init__(target_rate=target_rate, ring=ring, ring_seconds=ring_seconds, overflow=overflow)
        self.device = resolve_input_device(device)
        rate = samplerate if samplerate is not None else self.device["default_samplerate"]
        self.device_rate: float = int(rate) if float(rate).is_integer() else float(rate)
        self.channels = 1 if channels is None else int(channels)
        if not 1 <= self.channels <= self.device["channels"]:
            raise MicrophoneError(
                f"input device {self.device['index']} {self.device['name']!r} has "
                f"{self.device['channels']} input channel(s); cannot capture {self.channels}"
            )
        if blocksize_ms <= 0:
            raise ValueError(f"blocksize_ms must be positive, got {blocksize_ms}")
        self.blocksize = max(1, round(self.device_rate * blocksize_ms / 1000))
        # Poll a few times per block: bounded latency, no lock in the callback.
        self._poll_s = min(0.01, max(0.001, blocksize_ms / 4000))
        self.pipeline = CapturePipeline(
            self.ring,
            self.device_rate,
            self.channels,
            target_rate=self.sample_rate,
            staging_seconds=staging_seconds,
        )
        self._stream: Any = None

    def _start(self) -> None:
        sd = _devices._import_sounddevice()  # looked up at call time (tests swap it)
        try:
            self._stream = sd.InputStream(
                device=self.device["index"],
                samplerate=self.device_rate,
                channels=self.channels,
                dtype="float32",
                blocksize=self.blocksize,
                callback=self.pipeline.callback,
            )
            self._stream.start()
        except Exception as exc:
            if self._stream is not None:
                self._stream.close()
            raise MicrophoneError(
                f"cannot open input device {self.device['index']} {self.device['name']!r} "
                f"at {self.device_rate} Hz with {self.channels} channel(s): {exc}"
            ) from None
        super()._start()

    def _run(self) -> None:
        try:
            while not self._stop_event.is_set():
                if self.pipeline.pump() == 0:
                    if not self._stream.active:
                        raise MicrophoneError(
                            f"input stream from {self.device['name']!r} stopped unexpectedly (device unplugged?)"
                        )
                    self._stop_event.wait(self._poll_s)
        finally:
            try:
                self._stream.stop()  # waits for the last callback to return
                self._stream.close()
            except Exception as exc:
                log.warning("closing input stream failed: %s", exc)
            self.pipeline.finish()

    def _extra_stats(self) -> dict[str, Any]:
        out = {
            "device": self.device["name"],
            "device_index": self.device["index"],
            "device_rate": self.device_rate,
            "channels": self.channels,
        }
        out.update(self.pipeline.stats())
        return out

    @property
    def samples_out(self) -> int:
        """Samples the capture pipeline got into the ring."""
        return self.pipeline.samples_out
