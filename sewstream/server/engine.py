"""Glue between the engine's threads and the event loop.

A Stream calls ``on_event`` from the model worker's thread or from whichever thread
pushed audio; the server's state lives on the event loop. :class:`EventBridge` hops
events onto the loop (in order), :func:`wait_idle` waits for a stream's pending windows
without parking a thread, and :class:`StreamProbe` records when audio arrived so the
latency of each result can be measured.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable

import numpy as np

from sewstream.stream.events import Event, Final, Partial
from sewstream.stream.stream import Stream

SAMPLE_RATE = 16000


class EventBridge:
    """``on_event`` for a Stream: calls ``handler(event)`` on the loop, in emission order.

    ``detach()`` (on the loop) makes later events vanish: a reset or a closed connection
    does not want them, and a closed loop must not raise in the worker thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Callable[[Event], None]) -> None:
        self.loop, self.handler = loop, handler
        self.attached = True

    def __call__(self, event: Event) -> None:  # any thread
        if not self.attached:
            return
        try:
            self.loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.attached = False

    def _deliver(self, event: Event) -> None:
        if self.attached:
            self.handler(event)

    def detach(self) -> None:
        self.attached = False


async def wait_idle(stream: Stream, timeout: float, poll_s: float = 0.02) -> bool:
    """Wait until every window submitted so far is applied and its events handed to the bridge.

    Polls ``stream.wait(0)`` (it only takes the stream lock briefly), then yields once so
    the event callbacks already scheduled on the loop run before the caller continues:
    a reply sent after this follows every event it covers.
    """
    deadline = time.monotonic() + timeout
    while not stream.wait(0):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    await asyncio.sleep(0)
    return True


async def wait_computed(stream: Stream, timeout: float, poll_s: float = 0.01) -> bool:
    """Wait until the model jobs submitted so far are applied and their events handed over.

    Unlike :func:`wait_idle` this does not wait for utterance ends that still need more
    audio (an endpoint is only applied once the audio after it has arrived). Delivers the
    stream's events at the end, so events the last job produced are handed over even if the
    worker thread has not got round to delivering them yet.
    """
    deadline = time.monotonic() + timeout
    while stream.busy:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    stream.deliver()  # in order, under the stream's delivery lock
    await asyncio.sleep(0)
    return True


class StreamProbe:
    """An audio listener: counts audio and remembers when each stretch of it arrived.

    ``arrival(t)`` is the wall-clock (monotonic) time the sample at stream time ``t``
    was pushed, so ``now - arrival(event.end)`` is how long a result took.
    """

    def __init__(self, on_audio: Callable[[float], None] | None = None, keep: int = 4096) -> None:
        self.on_audio = on_audio
        self.marks: collections.deque[tuple[int, float]] = collections.deque(maxlen=keep)
        self.lock = threading.Lock()
        self.samples = 0

    def __call__(self, first: int, samples: np.ndarray) -> None:
        n = len(samples)
        if n:
            with self.lock:
                self.marks.append((first + n, time.monotonic()))
                self.samples = first + n
            if self.on_audio is not None:
                self.on_audio(n / SAMPLE_RATE)
        return None

    def arrival(self, seconds: float) -> float | None:
        sample = int(round(seconds * SAMPLE_RATE))
        found = None
        with self.lock:
            for end, at in reversed(self.marks):
                if end < sample:
                    break
                found = at
        return found

    def latency(self, seconds: float) -> float | None:
        at = self.arrival(seconds)
        return None if at is None else max(0.0, time.monotonic() - at)


async def run_in_thread(fn: Callable[[], object], name: str) -> object:
    """Run blocking ``fn`` on a one-off thread (no executor left behind) and await it."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(error: BaseException | None, result: object) -> None:  # on the loop
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(result)

    def body() -> None:
        try:
            result = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, exc, None)
        else:
            loop.call_soon_threadsafe(settle, None, result)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    try:
        return await future
    finally:
        while thread.is_alive():  # it is returning: wait so no thread outlives the call
            await asyncio.sleep(0.005)


def observe(metrics, probe: StreamProbe | None, event: Event) -> None:
    """Count an event and, for partials and finals, how long after its audio it came."""
    metrics.events.labels(event.type).inc()
    if probe is not None and isinstance(event, (Partial, Final)):
        latency = probe.latency(event.end)
        if latency is not None:
            (metrics.partial_latency if isinstance(event, Partial) else metrics.final_latency).observe(latency)
