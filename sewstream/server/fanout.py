"""Daemon streams and their subscribers.

A :class:`Channel` is a named stream the server runs on its own: an audio source
(microphone, or a file played in real time) -> ring -> Pump thread -> engine Stream.
Its events are numbered once (``seq``, monotonic for the channel's lifetime, across
source restarts), serialised once, and queued to every subscriber's outbox. Finals and
keyword events are also kept in a bounded history, so a subscriber that reconnects with
``resume_from`` gets the ones it missed.

All fan-out state lives on the event loop; the engine's threads reach it only through
the EventBridge, so subscribe/replay and live publication cannot interleave.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sewstream.audio.base import AudioSource
from sewstream.stream.events import Event
from sewstream.stream.pump import Pump
from sewstream.stream.stream import Stream

from . import protocol
from .engine import SAMPLE_RATE, EventBridge, StreamProbe, observe, wait_idle
from .protocol import Subscribe

if TYPE_CHECKING:
    from .app import Server
    from .outbox import Outbox
    from .settings import MicrophoneSettings

log = logging.getLogger(__name__)

HISTORY_TYPES = frozenset({"final", "keyword"})  # what resume_from can replay
POLL_S = 0.1


class Channel:
    def __init__(self, server: Server, name: str, factory: Callable[[], AudioSource], *,
                 restart: bool = False, required: bool = True, retry_s: float = 0.0) -> None:
        self.server, self.name, self.factory = server, name, factory
        self.restart, self.required, self.retry_s = restart, required, retry_s
        self.loop = asyncio.get_running_loop()
        self.seq = 0
        self.history: collections.deque[tuple[int, str, str]] = collections.deque(
            maxlen=server.settings.history_size)
        self.evicted = 0                      # seq of the newest history entry pushed out
        self.subscribers: dict[Outbox, frozenset[str]] = {}
        self.state, self.message = "starting", ""
        self.source: AudioSource | None = None
        self.pump: Pump | None = None
        self.stream: Stream | None = None
        self.bridge: EventBridge | None = None
        self.probe: StreamProbe | None = None
        self.lost = {"staging": 0.0, "ring": 0.0, "refused": 0.0, "input_overflows": 0}
        self.stopping = False
        self.task: asyncio.Task | None = None

    @classmethod
    def from_settings(cls, server: Server, mic: MicrophoneSettings) -> Channel:
        if mic.file is not None:
            from sewstream.audio.file_source import FileSource

            def factory() -> AudioSource:
                return FileSource(mic.file, realtime=True, chunk_ms=20, ring_seconds=mic.ring_seconds)
        else:
            from sewstream.audio.mic import MicrophoneSource

            def factory() -> AudioSource:
                return MicrophoneSource(mic.device, samplerate=mic.samplerate, channels=mic.channels,
                                        ring_seconds=mic.ring_seconds)
        return cls(server, mic.name, factory, restart=mic.loop if mic.file else mic.retry_s > 0,
                   required=mic.required, retry_s=mic.retry_s)

    # ================================================================ lifecycle
    def start(self) -> None:
        """Open the source (raising if it is required and cannot be opened), then supervise it."""
        if self.required:
            self._open()
        self.task = self.loop.create_task(self._supervise(), name=f"channel-{self.name}")

    def _open(self) -> None:
        source = self.factory()  # MicrophoneError / AudioFileError name the problem
        self.probe = StreamProbe(self.server.metrics.audio_seconds.labels("microphone").inc)
        self.bridge = EventBridge(self.loop, self.publish)
        hooks = self.server.stream_hooks(self.name) if self.server.stream_hooks else {}
        stream = self.server.rec.stream(self.name, self.server.stream_settings, on_event=self.bridge,
                                        frame_listeners=hooks.get("frame_listeners"),
                                        audio_listeners=[self.probe, *hooks.get("audio_listeners", [])])
        pump = Pump(source.ring, stream)
        try:
            source.start()
        except BaseException:
            stream.end()
            raise
        pump.start()
        self.source, self.stream, self.pump = source, stream, pump
        self._set_state("running")

    async def _supervise(self) -> None:
        while not self.stopping:
            if self.pump is None:
                try:
                    self._open()
                except Exception as exc:
                    self._set_state("unavailable", str(exc))
                    log.warning("stream %r unavailable: %s", self.name, exc)
                    if self.retry_s <= 0 or not await self._sleep(self.retry_s):
                        return
                    continue
            while self.pump.thread.is_alive():
                await asyncio.sleep(POLL_S)
            await wait_idle(self.stream, self.server.settings.drain_timeout_s)
            error = self.pump.error or self.source.error
            self._retire()
            if self.stopping:
                return
            if error is not None:
                self._set_state("failed", str(error))
                log.warning("stream %r failed: %s", self.name, error)
                if not self.restart or self.retry_s <= 0 or not await self._sleep(self.retry_s):
                    return
            elif not self.restart:
                self._set_state("ended", "the source ended")
                return

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped meanwhile; True to go on."""
        deadline = self.loop.time() + seconds
        while not self.stopping and self.loop.time() < deadline:
            await asyncio.sleep(min(POLL_S, seconds))
        return not self.stopping

    def _retire(self) -> None:
        """Fold the finished source's loss counters into the channel's totals."""
        if self.source is None:
            return
        for key, value in self._current_losses().items():
            self.lost[key] += value
        self.source = self.pump = self.stream = None

    async def stop(self, timeout: float) -> None:
        """Stop the source; the stream flushes its finals to subscribers before this returns."""
        self.stopping = True
        if self.source is not None:
            self.source.stop()
        if self.task is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self.task
            except TimeoutError:
                log.warning("stream %r did not flush within %.1f s", self.name, timeout)
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)
        if self.pump is not None:  # timed out or never supervised: do not leave threads behind
            self.pump.stop()
            self.pump.join(2.0)
            self._retire()
        if self.bridge is not None:
            self.bridge.detach()
        self._set_state("stopped", "the server is shutting down")

    # ================================================================= fan-out
    def publish(self, event: Event) -> None:
        """A stream event (on the loop): number it, keep it if it is durable, queue it to subscribers."""
        observe(self.server.metrics, self.probe, event)
        self.seq += 1
        data = event.to_json()
        data["seq"] = self.seq
        payload = protocol.dumps(data)
        if event.type in HISTORY_TYPES:
            if len(self.history) == self.history.maxlen:
                self.evicted = self.history[0][0]
            self.history.append((self.seq, event.type, payload))
        droppable = f"partial:{self.name}" if event.type == "partial" else None
        for outbox, types in list(self.subscribers.items()):
            if event.type in types:
                outbox.put(payload, droppable=droppable)

    def subscribe(self, outbox: Outbox, msg: Subscribe) -> None:
        """Acknowledge, replay retained finals after ``resume_from``, then deliver live events."""
        new = outbox not in self.subscribers
        self.subscribers[outbox] = msg.events
        if new:
            self.server.metrics.subscribers.labels(self.name).inc()
        replay = []
        if msg.resume_from is not None:
            replay = [p for seq, kind, p in self.history if seq > msg.resume_from and kind in msg.events]
        outbox.put(protocol.dumps({
            "type": "subscribed", "stream": self.name, "events": list(msg.groups), "seq": self.seq,
            "state": self.state, "replayed": len(replay),
            # finals older than the history were lost to this subscriber: say so
            "missed": msg.resume_from is not None and msg.resume_from < self.evicted,
        }))
        for payload in replay:
            outbox.put(payload)

    def unsubscribe(self, outbox: Outbox) -> bool:
        if self.subscribers.pop(outbox, None) is None:
            return False
        self.server.metrics.subscribers.labels(self.name).dec()
        return True

    def _set_state(self, state: str, message: str = "") -> None:
        if (state, message) == (self.state, self.message):
            return
        self.state, self.message = state, message
        payload = protocol.dumps({"type": "stream_status", "stream": self.name, "state": state,
                                  "message": message, "seq": self.seq})
        for outbox in list(self.subscribers):
            outbox.put(payload)

    # ================================================================= reporting
    def info(self) -> dict:
        return {"name": self.name, "state": self.state, "seq": self.seq,
                **({"message": self.message} if self.message else {})}

    def _current_losses(self) -> dict:
        if self.source is None:
            return {key: 0 for key in self.lost}
        stats = self.source.stats()
        rate = float(stats.get("device_rate") or SAMPLE_RATE)
        return {"staging": stats.get("staging_dropped_frames", 0) / rate,
                "ring": stats.get("dropped_samples", 0) / SAMPLE_RATE,
                "refused": (self.pump.refused_samples if self.pump else 0) / SAMPLE_RATE,
                "input_overflows": stats.get("input_overflows", 0)}

    def capture_stats(self) -> dict:
        now = self._current_losses()
        return {"input_overflows": self.lost["input_overflows"] + now["input_overflows"],
                **{f"{k}_lost_s": self.lost[k] + now[k] for k in ("staging", "ring", "refused")}}
