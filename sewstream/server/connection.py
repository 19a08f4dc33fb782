"""One native-protocol websocket connection: read, validate, dispatch; everything out via the Outbox.

The reader handles one message at a time, in order. It waits (stops reading) while the
outbox is more than half full and while a session's audio waits for the model, so a
client that outpaces the server is slowed down by TCP instead of losing data. Any bad
message is answered with one ``error`` and the connection goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from websockets.exceptions import ConnectionClosed

from . import protocol
from .engine import run_in_thread
from .keepalive import Liveness, keepalive
from .outbox import Outbox
from .protocol import End, Err, Finalize, ProtocolError, ReloadKeywords, Reset, Start, Subscribe, Unsubscribe
from .session import Session

if TYPE_CHECKING:
    from .app import Server

log = logging.getLogger(__name__)


class NativeConnection:
    kind = "native"

    def __init__(self, server: Server, ws) -> None:
        self.server, self.ws, self.settings = server, ws, server.settings
        self.session: Session | None = None
        self.subscriptions: set[str] = set()
        self.lock = asyncio.Lock()      # one control operation at a time (the reader, or a drain)
        self.closing = False
        self.busy = False               # awaiting a flush: not reading, on purpose
        self.live = Liveness()
        self.live.paused = lambda: self.busy or (self.session is not None and self.session.paused)
        self.flush_task: asyncio.Task | None = None
        self.close_task: asyncio.Task | None = None   # a close the server started (not cancelled)
        self.tasks: set[asyncio.Task] = set()
        self.outbox: Outbox | None = None

    # ================================================================ main loop
    async def run(self) -> None:
        metrics = self.server.metrics
        self.outbox = Outbox(self.ws, self.settings.send_queue_size, on_drop=self._dropped,
                             on_overflow=self._too_slow)
        self._spawn(keepalive(self.ws, self.live, self.settings.ping_interval_s, self.settings.ping_timeout_s,
                              on_dead=lambda: metrics.disconnects.labels("keepalive").inc()))
        self.outbox.put(protocol.dumps(self.server.hello()))
        try:
            while not self.closing:
                await self.outbox.wait_room()
                message = await self._recv()
                if message is None:
                    break
                self.live.touch()
                async with self.lock:
                    if self.closing:
                        break
                    await self._handle(message)
        except ConnectionClosed:
            pass
        finally:
            await self._cleanup()

    async def _recv(self) -> str | bytes | None:
        """The next message; None when the connection is closed or has been idle too long."""
        idle = self.settings.idle_timeout_s
        while True:
            limit = idle if idle > 0 and not self.subscriptions else None
            try:
                async with asyncio.timeout(limit):
                    return await self.ws.recv()
            except TimeoutError:
                if self.subscriptions:
                    continue
                async with self.lock:
                    await self._close(1000, f"idle timeout: no message for {idle:g} s", "idle_timeout")
                return None
            except ConnectionClosed:
                return None

    async def _handle(self, message: str | bytes) -> None:
        try:
            if isinstance(message, str):
                await self._on_text(message)
            else:
                await self._on_binary(message)
        except ProtocolError as exc:
            self.error(exc.code, exc.message)
        except ConnectionClosed:
            raise
        except Exception as exc:
            log.exception("internal error handling a message")
            self.error(Err.INTERNAL, f"internal error: {type(exc).__name__}")

    def error(self, code: str, message: str, **extra) -> None:
        self.server.metrics.error(code)
        self.outbox.put(protocol.dumps(protocol.error(code, message, **extra)))

    # ================================================================ messages
    async def _on_binary(self, data: bytes) -> None:
        if len(data) > self.settings.max_message_bytes:
            raise ProtocolError(Err.MESSAGE_TOO_BIG, f"binary frame of {len(data)} bytes is above the "
                                                     f"{self.settings.max_message_bytes}-byte limit")
        if self.session is None:
            raise ProtocolError(Err.BINARY_BEFORE_START, "audio before start: send "
                                                         '{"type": "start", "sample_rate": ...} first')
        self.session.check(len(data))
        await self.session.feed(data)

    async def _on_text(self, text: str) -> None:
        msg = protocol.parse_text(text, self.settings.max_message_bytes)
        if isinstance(msg, Subscribe):
            channel = self.server.channels.get(msg.stream)
            if channel is None:
                raise ProtocolError(Err.UNKNOWN_STREAM, f"no stream {msg.stream[:60]!r}; streams: "
                                                        f"{', '.join(self.server.channels) or '(none)'}")
            channel.subscribe(self.outbox, msg)
            self.subscriptions.add(msg.stream)
        elif isinstance(msg, Unsubscribe):
            channel = self.server.channels.get(msg.stream)
            if channel is None or not channel.unsubscribe(self.outbox):
                raise ProtocolError(Err.NOT_SUBSCRIBED, f"not subscribed to {msg.stream[:60]!r}")
            self.subscriptions.discard(msg.stream)
            self.outbox.put(protocol.dumps({"type": "unsubscribed", "stream": msg.stream}))
        elif isinstance(msg, Start):
            await self._start(msg)
        elif isinstance(msg, ReloadKeywords):
            await self._reload_keywords()
        else:
            if self.session is None:
                raise ProtocolError(Err.NO_SESSION, f"{type(msg).__name__.lower()} without a session: "
                                                    "send start first")
            if isinstance(msg, Finalize):
                await self.session.finalize()
                self.session.flush_requests += 1
                if self.flush_task is None or self.flush_task.done():
                    self.flush_task = self._spawn(self._ack_flushes(self.session))
            elif isinstance(msg, Reset):
                heard = self.session.reset()
                self.session.reply({"type": "reset", "audio_s": round(heard, 3)})
            elif isinstance(msg, End):
                await self._end_session()

    async def _reload_keywords(self) -> None:
        reload = self.server.reload_keywords
        if reload is None:
            raise ProtocolError(Err.UNSUPPORTED, "reload_keywords: this server has no keyword registry")
        try:  # rereads YAML and may load a classifier model: off the loop
            version = await run_in_thread(reload, "keyword-reload")
        except ValueError as exc:  # ConfigError / KeywordError name the bad entry; the old lists stay
            raise ProtocolError(Err.RELOAD_FAILED, f"keyword lists not reloaded (previous ones stay active): "
                                                   f"{exc}") from None
        self.outbox.put(protocol.dumps({"type": "keywords_reloaded", "version": version}))

    async def _start(self, msg: Start) -> None:
        if self.session is not None:
            raise ProtocolError(Err.ALREADY_STARTED, f"session {self.session.name} is open: end it first")
        if not self.server.acquire_session("native"):
            reason = f"too many sessions ({self.settings.max_sessions}); try again later"
            self.error(Err.TOO_MANY_SESSIONS, reason)
            await self._close(1013, reason, "too_many_sessions")
            return
        try:
            self.session = Session(self.server, self.server.session_name(), msg, self.outbox)
        except BaseException:
            self.server.release_session("native")
            raise
        self.session.reply({"type": "started", "sample_rate": msg.sample_rate, "format": msg.format,
                            "channels": msg.channels, "events": list(msg.groups)})

    async def _ack_flushes(self, session: Session) -> None:
        """One ``flushed`` per finalize, once the finals it asked for have been queued."""
        while session.flush_requests and self.session is session:
            await session.idle(self._flush_timeout())
            n, session.flush_requests = session.flush_requests, 0
            for _ in range(n):
                session.reply({"type": "flushed"})

    def _flush_timeout(self) -> float:
        # the longest backlog a stream may hold, at a pessimistic model speed
        return max(self.settings.drain_timeout_s, 2 * self.server.stream_settings.max_backlog_s)

    async def _end_session(self, timeout: float | None = None) -> None:
        session, self.busy = self.session, True
        try:
            complete = await session.end(timeout if timeout is not None else self._flush_timeout())
            if self.flush_task is not None:
                await asyncio.gather(self.flush_task, return_exceptions=True)
            session.reply(session.ended_message(complete))
        finally:
            self.busy = False
            self.session = None
            self.server.release_session("native")

    # ================================================================ closing
    def _dropped(self, n: int) -> None:
        self.server.metrics.dropped_partials.inc(n)

    def _too_slow(self) -> None:
        """The outbox cannot take even a final: the client does not read fast enough."""
        self.closing = True
        self.server.metrics.disconnects.labels("slow_consumer").inc()
        reason = f"too slow: {self.settings.send_queue_size} messages waiting, finals could not be queued"
        self.close_task = asyncio.get_running_loop().create_task(self.ws.close(1008, reason))

    async def _close(self, code: int, reason: str, metric: str) -> None:
        """Flush the session's finals and the outbox, then close (lock held)."""
        self.closing = True
        self.server.metrics.disconnects.labels(metric).inc()
        if self.session is not None:
            await self._end_session(self.settings.drain_timeout_s)
        await self.outbox.flush(self.settings.drain_timeout_s)
        await self.ws.close(code, reason)

    async def drain(self) -> None:
        """Server shutdown: finals of the open session flushed, queued messages sent, close 1001."""
        async with self.lock:
            if not self.closing:
                await self._close(1001, "server shutting down", "shutdown")

    async def _cleanup(self) -> None:
        self.closing = True
        for name in self.subscriptions:
            channel = self.server.channels.get(name)
            if channel is not None:
                channel.unsubscribe(self.outbox)
        self.subscriptions.clear()
        if self.session is not None:  # the client went away mid-session
            self.session.abort()
            self.session = None
            self.server.release_session("native")
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.close_task is not None:  # bounded by websockets' close_timeout
            await asyncio.gather(self.close_task, return_exceptions=True)
        await self.outbox.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task
