"""The server: one asyncio websockets listener sharing one Recognizer (one model worker).

    Server(rec, settings).start()  -> listening (/healthz answers), warm-up, daemon streams, ready
    connections: "/" -> NativeConnection, "/vosk" -> VoskConnection, HTTP -> http.process_request
    Server.stop()                  -> not ready, no new connections, daemon streams and sessions
                                      flushed (finals delivered), connections closed 1001

Limits applied here: the token (in the handshake), max_connections and max_sessions
(close 1013 with a reason), message size (websockets closes at 4x max_message_bytes;
below that, bigger-than-allowed messages are answered with an error).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal
from collections.abc import Callable
from functools import partial
from urllib.parse import urlsplit

import numpy as np
from websockets.asyncio.server import serve

from sewstream import __version__
from sewstream.audio.base import AudioSource
from sewstream.config import ConfigError
from sewstream.stream.recognizer import Recognizer
from sewstream.stream.stream import StreamSettings

from . import http, protocol
from .connection import NativeConnection
from .engine import SAMPLE_RATE, run_in_thread
from .fanout import Channel
from .metrics import Metrics
from .settings import ServerSettings
from .vosk import VoskConnection

log = logging.getLogger(__name__)

# Per-stream listeners (e.g. keyword spotting): name -> {"frame_listeners": [...], "audio_listeners": [...]}
StreamHooks = Callable[[str], dict]


class Server:
    def __init__(self, rec: Recognizer, settings: ServerSettings | None = None,
                 stream_settings: StreamSettings | None = None, *, stream_hooks: StreamHooks | None = None,
                 reload_keywords: Callable[[], int] | None = None,
                 classifier_frames: Callable[[], dict[str, dict]] | None = None) -> None:
        self.rec = rec
        self.settings = settings or ServerSettings()
        self.stream_settings = stream_settings or StreamSettings()
        self.stream_hooks = stream_hooks
        self.reload_keywords = reload_keywords  # admin message reload_keywords -> new version (raises ValueError)
        check_backlog(self.stream_settings)
        self.channels: dict[str, Channel] = {}
        self.connections: set[NativeConnection | VoskConnection] = set()
        self.sessions = 0
        self.ready = False
        self.draining = False
        self.token: str | None = None
        # classifier_frames: keyword-classifier frame-cache counters by model (KeywordRegistry.frame_stats)
        self.metrics = Metrics(rec.worker, self._capture_stats, lambda: self.ready, rec.rescorer, classifier_frames)
        self._names = itertools.count(1)
        self._ws = None
        self._port = 0
        self._lag_task: asyncio.Task | None = None
        self._stopped: asyncio.Event | None = None

    # ================================================================ lifecycle
    async def start(self) -> Server:
        """Listen, open daemon streams, warm up, then report ready. Raises on bad TLS/token/mic config."""
        s = self.settings
        self.token = s.resolved_token()
        ssl = s.ssl_context()
        self._stopped = asyncio.Event()
        self._ws = await serve(
            self._handler, s.host, s.port, ssl=ssl,
            process_request=partial(http.process_request, self),
            ping_interval=None,          # our own keepalive (keepalive.py) tells slow from dead
            max_size=4 * s.max_message_bytes,
            max_queue=16,
            compression=None,            # audio does not compress; deflate would only cost CPU
            server_header=f"sewstream/{__version__}",
            close_timeout=5,
        )
        self._port = self._ws.sockets[0].getsockname()[1]
        self._lag_task = asyncio.get_running_loop().create_task(self._watch_loop(), name="loop-lag")
        try:
            for mic in s.microphones:
                self.add_channel(Channel.from_settings(self, mic))
            if s.warmup:
                await run_in_thread(self._warmup, "sewstream-warmup")
        except BaseException:
            await self.stop()
            raise
        self.ready = True
        log.info("ready on %s (model %s)", self.url, self.rec.name)
        return self

    async def _watch_loop(self, period: float = 0.25) -> None:
        """Measure how late a timer fires: anything blocking the loop (it must not) shows here."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + period
            await asyncio.sleep(period)
            self.metrics.loop_lag.observe(max(0.0, loop.time() - due))

    def add_channel(self, channel: Channel) -> Channel:
        """Run a daemon stream (opened now if required; raises when it cannot be)."""
        if channel.name in self.channels:
            raise ValueError(f"stream {channel.name!r} exists already")
        channel.start()
        self.channels[channel.name] = channel
        return channel

    def add_source(self, name: str, source: AudioSource) -> Channel:
        """A daemon stream fed by an existing source (tests, embedding): runs until the source ends."""
        return self.add_channel(Channel(self, name, lambda: source))

    def _warmup(self) -> None:
        """A dummy forward per runner shape class, so the first client does not pay for lazy init."""
        silence = np.zeros(SAMPLE_RATE * 2, np.float32)
        self.rec.logits(silence)
        stream = self.rec.stream("warmup", self.stream_settings)
        stream.push(silence)
        stream.end()
        stream.wait(60.0)

    async def stop(self) -> None:
        """Drain: stop accepting, flush finals of daemon streams and sessions, close every connection."""
        if self._ws is None or self.draining:
            return
        self.ready, self.draining = False, True
        timeout = self.settings.drain_timeout_s
        self._ws.close(close_connections=False)  # stop accepting; wait_closed waits for our handlers
        await asyncio.gather(*(c.stop(timeout) for c in self.channels.values()))
        await asyncio.gather(*(self._drain(conn, timeout) for conn in list(self.connections)))
        try:
            async with asyncio.timeout(timeout):
                await self._ws.wait_closed()
        except TimeoutError:
            log.warning("connections still open after %.1f s; aborting them", timeout)
            for conn in list(self.connections):
                conn.ws.transport.abort()
            await self._ws.wait_closed()
        self._lag_task.cancel()
        await asyncio.gather(self._lag_task, return_exceptions=True)
        self._stopped.set()
        log.info("stopped")

    async def _drain(self, conn, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await conn.drain()
        except TimeoutError:
            await conn.ws.close(1001, "server shutting down")
        except Exception:
            log.debug("drain failed", exc_info=True)

    async def serve_until_signal(self) -> None:
        """Start, then run until SIGTERM or SIGINT, then drain (the ``serve`` command)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            await stop.wait()
            log.info("signal received: draining (up to %.0f s)", self.settings.drain_timeout_s)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()

    # ================================================================ connections
    async def _handler(self, ws) -> None:
        path = urlsplit(ws.request.path).path
        kind = "vosk" if path == http.VOSK_PATH else "native"
        if self.draining:
            await ws.close(1001, "server shutting down")
            return
        if len(self.connections) >= self.settings.max_connections:
            self.metrics.refused.labels("too_many_connections").inc()
            await ws.close(1013, f"server full: {self.settings.max_connections} connections; try again later")
            return
        conn = VoskConnection(self, ws) if kind == "vosk" else NativeConnection(self, ws)
        self.connections.add(conn)
        self.metrics.connections.labels(kind).inc()
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
            self.metrics.connections.labels(kind).dec()

    def acquire_session(self, kind: str) -> bool:
        if self.sessions >= self.settings.max_sessions or self.draining:
            self.metrics.refused.labels("too_many_sessions").inc()
            return False
        self.sessions += 1
        self.metrics.sessions.labels(kind).inc()
        return True

    def release_session(self, kind: str) -> None:
        self.sessions -= 1
        self.metrics.sessions.labels(kind).dec()

    def session_name(self, prefix: str = "session") -> str:
        return f"{prefix}-{next(self._names)}"

    def hello(self) -> dict:
        s = self.settings
        return protocol.hello(
            server_version=__version__, model=self.rec.name, sample_rate=SAMPLE_RATE,
            streams=[c.info() for c in self.channels.values()],
            limits={"max_message_bytes": s.max_message_bytes, "max_sessions": s.max_sessions,
                    "idle_timeout_s": s.idle_timeout_s, "send_queue_size": s.send_queue_size},
            vosk_path=http.VOSK_PATH, history_size=s.history_size,
            admin=["reload_keywords"] if self.reload_keywords else [])

    # ================================================================ info
    @property
    def port(self) -> int:
        """The port listened on (the one the OS picked when server.port is 0)."""
        return self._port

    @property
    def url(self) -> str:
        scheme = "wss" if self.settings.tls_cert else "ws"
        host = self.settings.host if ":" not in self.settings.host else f"[{self.settings.host}]"
        return f"{scheme}://{host}:{self.port}"

    def _capture_stats(self) -> dict[str, dict]:
        return {name: c.capture_stats() for name, c in self.channels.items()}


def check_backlog(s: StreamSettings) -> None:
    """A session waits while its stream's unplanned audio exceeds max_backlog_s; a stable window needs
    chunk + look-ahead (+ a feature block) of audio to be planned, so a smaller limit would stall forever."""
    needed = s.chunk_s + s.right_context_s + s.feature_block_s + 0.1
    if s.max_backlog_s < needed:
        raise ConfigError(f"config key 'stream.max_backlog_s': {s.max_backlog_s!r} is too small for a server: "
                          f"it must be >= chunk_s + right_context_s + feature_block_s + 0.1 = {needed:g} s, or a "
                          f"client sending faster than real time could never be let through")


__all__ = ["Server", "StreamHooks"]
