"""Keepalive that tells dead clients from slow ones.

websockets' built-in keepalive closes a connection when one pong is late. Here that is
wrong twice: while a session's input is paused for backpressure the server is not
reading the socket, so the client's pong cannot arrive; and a client that is busy (or on a
slow link) may answer late while still reading what it is sent. So a connection counts as
alive if, since the ping, any message arrived, the server itself paused reading, or the
socket's send buffer drained (the client is reading). It is closed (1011) only after a
full ``timeout`` with no pong and none of those signs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed


class Liveness:
    """What the connection knows about its peer; the reader calls ``touch()`` per message."""

    def __init__(self) -> None:
        self.last_inbound = time.monotonic()
        self.paused: Callable[[], bool] = lambda: False  # True while the server is not reading

    def touch(self) -> None:
        self.last_inbound = time.monotonic()


async def keepalive(ws, live: Liveness, interval: float, timeout: float,
                    on_dead: Callable[[], None] | None = None) -> None:
    """Run until the connection closes (cancel it when the connection ends)."""
    if interval <= 0:
        return
    try:
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - live.last_inbound < interval or live.paused():
                continue  # heard from it recently, or it is waiting on us
            pong = await ws.ping()  # waits while a slow reader's send buffer drains: not its fault
            if timeout <= 0:
                continue
            sent = time.monotonic()
            deadline = sent + timeout
            buffered = _buffered(ws)
            while not pong.done():
                try:
                    await asyncio.wait_for(asyncio.shield(pong), timeout=min(1.0, timeout))
                    break
                except TimeoutError:
                    pass
                now_buffered = _buffered(ws)
                if live.last_inbound > sent or live.paused() or now_buffered < buffered:
                    deadline = time.monotonic() + timeout  # alive, just slow: give it another full timeout
                    sent = time.monotonic()
                buffered = now_buffered
                if time.monotonic() >= deadline:
                    if on_dead is not None:
                        on_dead()
                    await ws.close(1011, "keepalive timeout: no pong and no other sign of life")
                    return
    except ConnectionClosed:
        return


def _buffered(ws) -> int:
    transport = getattr(ws, "transport", None)
    try:
        return transport.get_write_buffer_size() if transport is not None else 0
    except Exception:
        return 0
