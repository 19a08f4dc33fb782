"""A connection's bounded send queue and the one task that writes it to the socket.

Everything a connection is sent goes through its Outbox, so messages keep their order.
Partials are *droppable*: a newer partial of the same stream replaces a queued one, and a
full queue drops partials first (every drop is counted). Anything else (finals, keywords,
VAD events, replies, errors) is never dropped: when the queue is full of those, the client
is too slow to keep even its finals and is disconnected (``on_overflow``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)


class _Item:
    __slots__ = ("key", "payload")

    def __init__(self, key: str | None, payload: str) -> None:
        self.key, self.payload = key, payload


class Outbox:
    def __init__(self, ws, size: int, *, on_drop: Callable[[int], None] | None = None,
                 on_overflow: Callable[[], None] | None = None) -> None:
        self.ws, self.size = ws, size
        self.on_drop, self.on_overflow = on_drop, on_overflow
        self.queue: collections.deque[_Item] = collections.deque()
        self.partials: dict[str, _Item] = {}  # droppable key -> its queued item
        self.dropped = 0
        self.overflowed = False
        self.closed = False
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.task = asyncio.get_running_loop().create_task(self._writer(), name="outbox-writer")

    def __len__(self) -> int:
        return len(self.queue)

    # ------------------------------------------------------------------ producers
    def put(self, payload: str, *, droppable: str | None = None) -> bool:
        """Queue a message; ``droppable`` (e.g. "partial:mic") marks a supersedable partial.

        Returns False when the message was not queued (dropped partial, or overflow).
        """
        if self.closed:
            return False
        if droppable is not None:
            queued = self.partials.get(droppable)
            if queued is not None:  # the newer partial supersedes the queued one, in place
                queued.payload = payload
                self._dropped(1)
                return True
            if len(self.queue) >= self.size:
                self._dropped(1)
                return False
        elif len(self.queue) >= self.size and not self._evict_partial():
            self.overflowed = True
            self.closed = True
            if self.on_overflow is not None:
                self.on_overflow()
            return False
        item = _Item(droppable, payload)
        self.queue.append(item)
        if droppable is not None:
            self.partials[droppable] = item
        self._idle.clear()
        self._wake.set()
        if len(self.queue) >= self.high_water:
            self._room.clear()
        return True

    @property
    def high_water(self) -> int:
        return max(1, self.size // 2)

    def _evict_partial(self) -> bool:
        for item in self.queue:
            if item.key is not None:
                self.queue.remove(item)
                del self.partials[item.key]
                self._dropped(1)
                return True
        return False

    def _dropped(self, n: int) -> None:
        self.dropped += n
        if self.on_drop is not None:
            self.on_drop(n)

    # ------------------------------------------------------------------ consumers
    async def wait_room(self) -> None:
        """Wait until the queue is below half full (readers pause here: replies backpressure input)."""
        await self._room.wait()

    async def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far has been written (True) or ``timeout`` passes."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        """Stop writing (queued messages are discarded) and wait for the writer task."""
        self.closed = True
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task

    async def _writer(self) -> None:
        try:
            while True:
                if not self.queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                item = self.queue.popleft()
                if item.key is not None and self.partials.get(item.key) is item:
                    del self.partials[item.key]
                if len(self.queue) < self.high_water:
                    self._room.set()
                await self.ws.send(item.payload)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._idle.set()
            self._room.set()
