"""Client audio sessions: PCM from a websocket -> mono 16 kHz -> an engine Stream -> events.

:class:`AudioFeed` is the part shared by the native protocol and the vosk adapter: decode,
resample, push with backpressure, finalize, reset, end. :class:`Session` adds the native
protocol's side: per-session ``seq``, event filtering, and messages into the connection's
outbox.

Pushing runs on the event loop (it only takes the stream lock briefly; model work is on
the worker thread). When the stream or the worker is behind, ``push`` does not drop
audio: it waits, and since the connection's reader is the one awaiting it, that socket
is not read meanwhile (TCP backpressure reaches the client).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import numpy as np

from sewstream.audio.pcm import PCM_FORMATS
from sewstream.audio.resample import to_mono
from sewstream.audio.stream_resampler import StreamResampler
from sewstream.stream.events import Event
from sewstream.stream.stream import Stream, StreamOverloaded

from . import protocol
from .engine import SAMPLE_RATE, EventBridge, StreamProbe, observe, wait_computed, wait_idle
from .protocol import Err, Start

if TYPE_CHECKING:
    from .app import Server
    from .outbox import Outbox

log = logging.getLogger(__name__)

OVERLOAD_POLL_S = 0.05
# Input pauses while this many batches' worth of stable windows wait in the model worker.
WORKER_GATE_BATCHES = 8


class AudioDecoder:
    """Little-endian PCM bytes -> mono float32 at 16 kHz (one stateful resampler per session)."""

    def __init__(self, sample_rate: int, fmt: str, channels: int) -> None:
        self.dtype, self.channels = PCM_FORMATS[fmt], channels
        self.frame_bytes = self.dtype.itemsize * channels
        self.resampler = StreamResampler(sample_rate, SAMPLE_RATE)
        self.bytes_in = 0

    def decode(self, data: bytes) -> np.ndarray:
        frames = np.frombuffer(data, dtype=self.dtype).reshape(-1, self.channels)
        self.bytes_in += len(data)
        mono = to_mono(frames[:, 0] if self.channels == 1 else frames)
        if mono.dtype.kind == "f" and not np.isfinite(mono).all():
            # NaN/inf would poison this stream's cached features for good: treat them as clipping
            mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
        return self.resampler.process(mono)

    def flush(self) -> np.ndarray:
        """The resampler's held-back tail (at finalize/end, so every sample sent is heard)."""
        return self.resampler.flush()


class AudioFeed:
    """One client's audio into one engine Stream; its events come back on the loop to ``handle``."""

    source = "session"  # metrics label

    def __init__(self, server: Server, name: str, start: Start) -> None:
        self.server, self.name, self.start = server, name, start
        self.loop = asyncio.get_running_loop()
        self.paused = False                   # True while input waits for the model (keepalive knows)
        self.overloads = 0
        self._open()

    def _open(self) -> None:
        self.decoder = AudioDecoder(self.start.sample_rate, self.start.format, self.start.channels)
        self.probe = StreamProbe(self.server.metrics.audio_seconds.labels(self.source).inc)
        self.bridge = EventBridge(self.loop, self._on_event)
        hooks = self.server.stream_hooks(self.name) if self.server.stream_hooks else {}
        self.stream: Stream = self.server.rec.stream(
            self.name, self.server.stream_settings, on_event=self.bridge,
            frame_listeners=hooks.get("frame_listeners"),
            audio_listeners=[self.probe, *hooks.get("audio_listeners", [])])

    def _on_event(self, event: Event) -> None:
        observe(self.server.metrics, self.probe, event)
        self.handle(event)

    def handle(self, event: Event) -> None:
        """An event of this feed's stream, on the loop."""

    @property
    def seconds(self) -> float:
        return self.stream.time

    # ------------------------------------------------------------------ audio
    def check(self, nbytes: int) -> None:
        protocol.check_audio_size(nbytes, self.start, self.server.settings.max_message_bytes)

    async def feed(self, data: bytes) -> None:
        """Decode and push one binary frame (``check`` it first)."""
        if data:
            await self.push(self.decoder.decode(data))

    async def push(self, audio: np.ndarray) -> None:
        """Push without losing audio: while the model is behind, wait (the caller stops reading)."""
        if not len(audio):
            return
        worker = self.server.rec.worker
        gate = WORKER_GATE_BATCHES * worker.max_batch  # the model is several batches behind: pause input
        warned = False
        try:
            while True:
                if worker.stable_backlog < gate:
                    try:
                        self.stream.push(audio)
                        return
                    except StreamOverloaded as exc:
                        reason = str(exc)
                else:
                    reason = f"the model worker has {worker.stable_backlog} windows waiting"
                if not warned:
                    warned = True
                    self.overloads += 1
                    self.server.metrics.overloads.inc()
                    self.overloaded(reason)
                self.paused = True
                await asyncio.sleep(OVERLOAD_POLL_S)
        finally:
            self.paused = False

    def overloaded(self, reason: str) -> None:
        """Told once per stalled push (the native session answers with an error event)."""

    async def flush_input(self) -> None:
        await self.push(self.decoder.flush())

    # ------------------------------------------------------------------ control
    async def finalize(self) -> None:
        await self.flush_input()
        self.stream.finalize()

    def reset(self) -> float:
        """Drop the unfinished utterance and start a fresh stream (time 0); returns the old stream's length."""
        heard = self.stream.time
        self.bridge.detach()
        self.stream.end()  # its remaining windows finish on the worker; their events are discarded
        self._open()
        return heard

    async def end(self, timeout: float) -> bool:
        """Flush everything; True when every final was handed over within ``timeout``."""
        await self.flush_input()
        self.stream.end()
        return await wait_idle(self.stream, timeout)

    async def idle(self, timeout: float) -> bool:
        return await wait_idle(self.stream, timeout)

    async def computed(self, timeout: float) -> bool:
        return await wait_computed(self.stream, timeout)

    def abort(self) -> None:
        """The client is gone: stop listening, let the stream wind down on its own."""
        self.bridge.detach()
        self.stream.end()


class Session(AudioFeed):
    """A native-protocol session: events filtered, numbered and queued to the connection."""

    def __init__(self, server: Server, name: str, start: Start, outbox: Outbox) -> None:
        self.outbox = outbox
        self.seq = 0
        self.flush_requests = 0
        super().__init__(server, name, start)

    def handle(self, event: Event) -> None:
        if event.type not in self.start.events:
            return
        self.seq += 1
        data = event.to_json()
        data["seq"] = self.seq
        self.outbox.put(protocol.dumps(data), droppable=f"partial:{self.name}" if event.type == "partial" else None)

    def reply(self, message: dict) -> None:
        self.outbox.put(protocol.dumps({**message, "session": self.name, "seq": self.seq}))

    def overloaded(self, reason: str) -> None:
        self.server.metrics.error(Err.OVERLOADED)
        self.outbox.put(protocol.dumps(protocol.error(
            Err.OVERLOADED, f"{reason}; input paused until it catches up (no audio is dropped)",
            session=self.name)))

    def ended_message(self, complete: bool) -> dict:
        return {"type": "ended", "audio_s": round(self.stream.time, 3), "complete": complete,
                "overloads": self.overloads}

