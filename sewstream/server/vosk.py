"""Vosk-compatible websocket mode (path ``/vosk``), for existing vosk-server clients.

The vosk protocol is strictly request/reply:

* text ``{"config": {"sample_rate": 8000, "words": true}}``: no reply;
* binary int16 mono PCM: exactly one reply, ``{"partial": "..."}`` or, when an utterance
  has ended since the last reply, ``{"text": "...", "result": [{word, start, end, conf}]}``;
* text ``{"eof": 1}``: one reply with everything not yet returned as a result, then the
  server closes the connection.

Each reply waits until the chunk's audio has been through the model (as vosk's own
server does), but the engine still decides utterance ends asynchronously, so a final may
arrive in the reply to a *later* chunk than the one that ended it; finals queue up and
each reply hands out the oldest one, so nothing is lost and the order is kept. Text is
lower-cased as vosk models produce it. Anything unexpected still gets its one reply
(the current partial, with an extra ``"error"`` key vosk clients ignore), except an
unusable config, which closes the connection (1003) because no audio could be decoded.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from typing import TYPE_CHECKING

from websockets.exceptions import ConnectionClosed

from sewstream.stream.events import Event, Final, Partial

from .keepalive import Liveness, keepalive
from .protocol import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Start
from .session import AudioFeed

if TYPE_CHECKING:
    from .app import Server

log = logging.getLogger(__name__)

REPLY_WAIT_S = 10.0  # longest a reply waits for the model before answering with what there is


class VoskFeed(AudioFeed):
    source = "vosk"

    def __init__(self, server: Server, name: str, start: Start) -> None:
        self.finals: collections.deque[Final] = collections.deque()
        self.partial = ""
        super().__init__(server, name, start)

    def handle(self, event: Event) -> None:
        if isinstance(event, Final):
            self.finals.append(event)
            self.partial = ""
        elif isinstance(event, Partial):
            self.partial = event.text.lower()


def result(finals: list[Final], words: bool) -> dict:
    """vosk's result object for one or more finals (several are merged, e.g. at eof)."""
    out: dict = {}
    if words:
        out["result"] = [{"conf": round(w.conf, 6), "end": w.end, "start": w.start, "word": w.word.lower()}
                         for f in finals for w in f.words]
    out["text"] = " ".join(f.text for f in finals if f.text).lower()
    return out


def dumps(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False)


class VoskConnection:
    kind = "vosk"

    def __init__(self, server: Server, ws) -> None:
        self.server, self.ws, self.settings = server, ws, server.settings
        self.sample_rate = float(self.settings.vosk_sample_rate)
        self.words = True
        self.feed: VoskFeed | None = None
        self.carry = b""                 # an odd trailing byte, kept for the next chunk
        self.lock = asyncio.Lock()
        self.closing = False
        self.live = Liveness()
        self.live.paused = lambda: self.feed is not None and self.feed.paused
        self.keepalive: asyncio.Task | None = None

    async def run(self) -> None:
        if not self.server.acquire_session("vosk"):
            await self.ws.close(1013, f"too many sessions ({self.settings.max_sessions}); try again later")
            return
        self.keepalive = asyncio.get_running_loop().create_task(
            keepalive(self.ws, self.live, self.settings.ping_interval_s, self.settings.ping_timeout_s,
                      on_dead=lambda: self.server.metrics.disconnects.labels("keepalive").inc()))
        try:
            while not self.closing:
                message = await self._recv()
                if message is None:
                    break
                self.live.touch()
                async with self.lock:
                    if self.closing:
                        break
                    if await self._handle(message):
                        break
        except ConnectionClosed:
            pass
        finally:
            self.closing = True
            if self.feed is not None:
                self.feed.abort()
            self.keepalive.cancel()
            await asyncio.gather(self.keepalive, return_exceptions=True)
            self.server.release_session("vosk")

    async def _recv(self) -> str | bytes | None:
        idle = self.settings.idle_timeout_s
        try:
            async with asyncio.timeout(idle if idle > 0 else None):
                return await self.ws.recv()
        except TimeoutError:
            self.server.metrics.disconnects.labels("idle_timeout").inc()
            async with self.lock:
                self.closing = True
                await self.ws.close(1000, f"idle timeout: no message for {idle:g} s")
            return None
        except ConnectionClosed:
            return None

    async def _handle(self, message: str | bytes) -> bool:
        """Answer one message; True when the conversation is over (eof)."""
        if isinstance(message, bytes):
            await self._audio(message)
            return False
        try:
            data = json.loads(message)
        except ValueError:
            data = None
        if isinstance(data, dict) and "config" in data:
            await self._config(data["config"])
            return False
        if isinstance(data, dict) and "eof" in data:
            await self._eof()
            return True
        self.server.metrics.error("vosk_bad_message")
        await self._reply({"partial": self.feed.partial if self.feed else "",
                           "error": 'expected binary audio, {"config": {...}} or {"eof": 1}'})
        return False

    async def _config(self, config: object) -> None:
        """No reply (as vosk); an unusable rate closes the connection, since no audio could be decoded."""
        if not isinstance(config, dict):
            return await self._refuse("config must be an object")
        if "sample_rate" in config:
            rate = config["sample_rate"]
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) \
                    or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE or rate != int(rate):
                return await self._refuse(f"unsupported sample_rate {str(rate)[:20]} "
                                          f"(whole Hz, {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE})")
            if self.feed is not None and rate != self.sample_rate:
                log.info("vosk: sample_rate change after audio ignored")
            else:
                self.sample_rate = float(rate)
        if "words" in config:
            self.words = bool(config["words"])
        # phrase_list, max_alternatives, ...: accepted and ignored (no grammar in a CTC model)

    async def _refuse(self, reason: str) -> None:
        self.server.metrics.error("vosk_bad_config")
        self.closing = True
        await self.ws.close(1003, reason)

    async def _audio(self, data: bytes) -> None:
        if len(data) > self.settings.max_message_bytes:
            self.server.metrics.error("message_too_big")
            return await self._reply({"partial": self.feed.partial if self.feed else "",
                                      "error": f"chunk of {len(data)} bytes is above the "
                                               f"{self.settings.max_message_bytes}-byte limit; ignored"})
        if self.feed is None:
            start = Start(int(self.sample_rate), "int16", 1, frozenset(), ())
            self.feed = VoskFeed(self.server, self.server.session_name("vosk"), start)
        data = self.carry + data
        cut = len(data) - len(data) % 2
        self.carry = data[cut:]
        await self.feed.feed(data[:cut])
        # Like vosk's AcceptWaveform, answer once the chunk has been through the model (stable
        # windows and feature blocks; provisional tails are not waited for): replies then reflect
        # the audio sent, and a client faster than the model is paced by its own request/reply loop.
        await self.feed.computed(REPLY_WAIT_S)
        await self._reply(self._next())

    def _next(self) -> dict:
        if self.feed.finals:
            return result([self.feed.finals.popleft()], self.words)
        return {"partial": self.feed.partial}

    async def _eof(self) -> None:
        if self.feed is None:
            return await self._reply(result([], self.words))
        await self.feed.end(max(self.settings.drain_timeout_s, 2 * self.server.stream_settings.max_backlog_s))
        finals, self.feed.finals = list(self.feed.finals), collections.deque()
        await self._reply(result(finals, self.words))

    async def _reply(self, message: dict) -> None:
        await self.ws.send(dumps(message))

    async def drain(self) -> None:
        """Server shutdown: flush the utterance, send what was not returned yet as one result, close."""
        async with self.lock:
            if self.closing:
                return
            self.closing = True
            self.server.metrics.disconnects.labels("shutdown").inc()
            if self.feed is not None:
                await self.feed.end(self.settings.drain_timeout_s)
                if self.feed.finals:
                    finals, self.feed.finals = list(self.feed.finals), collections.deque()
                    try:
                        await self._reply(result(finals, self.words))
                    except ConnectionClosed:
                        return
            await self.ws.close(1001, "server shutting down")
