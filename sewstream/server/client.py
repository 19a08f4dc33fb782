"""``sewstream client URL``: subscribe to a daemon stream and print it, or send a file as a session.

    sewstream client ws://127.0.0.1:8765                    # first stream the server has
    sewstream client ws://127.0.0.1:8765 --stream kitchen --events final keyword
    sewstream client ws://127.0.0.1:8765 --file talk.wav    # paced like a live source
    sewstream client ws://127.0.0.1:8765 --file talk.wav --fast --json

Subscriptions remember the last ``seq`` seen and, with ``--reconnect``, come back with
``resume_from`` so finals said while disconnected are replayed.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .protocol import ALL_GROUPS


@dataclass
class ClientOptions:
    url: str
    stream: str | None = None
    events: list[str] = field(default_factory=lambda: list(ALL_GROUPS))
    resume_from: int | None = None
    file: str | None = None
    fast: bool = False
    chunk_ms: float = 100.0
    token: str | None = None
    json: bool = False
    reconnect: bool = False
    insecure: bool = False
    cafile: str | None = None


class Printer:
    """Finals as lines; partials rewrite the current line on a terminal; --json prints every message."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out, self.as_json = out, as_json
        self.tty = out.isatty()
        self.open_line = False

    def message(self, data: dict) -> None:
        if self.as_json:
            self.out.write(json.dumps(data, ensure_ascii=False) + "\n")
        else:
            kind = data.get("type")
            if kind == "partial" and self.tty:
                self.out.write("\r\033[K" + data.get("text", "")[-120:])
                self.open_line = True
            elif kind == "final":
                self._line(data.get("text", ""))
            elif kind == "keyword":
                self._line(f"[keyword] {data.get('label')} ({data.get('score', 0):.2f})")
            elif kind in ("error", "stream_status"):
                print(f"[{kind}] {data.get('code') or data.get('state')}: {data.get('message')}", file=sys.stderr)
        self.out.flush()

    def _line(self, text: str) -> None:
        self.out.write(("\r\033[K" if self.open_line else "") + text + "\n")
        self.open_line = False


def _ssl_context(opts: ClientOptions) -> ssl.SSLContext | None:
    if not opts.url.startswith("wss://"):
        return None
    context = ssl.create_default_context(cafile=opts.cafile)
    if opts.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect(opts: ClientOptions):
    token = opts.token or os.environ.get("SEWSTREAM_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return connect(opts.url, additional_headers=headers, ssl=_ssl_context(opts), max_size=None,
                   compression=None, open_timeout=10)


async def subscribe(opts: ClientOptions, printer: Printer) -> int:
    resume = opts.resume_from
    while True:
        try:
            async with _connect(opts) as ws:
                hello = json.loads(await ws.recv())
                streams = [s["name"] for s in hello.get("streams", [])]
                name = opts.stream or (streams[0] if streams else None)
                if name is None:
                    print("sewstream client: the server has no daemon streams; send a --file instead",
                          file=sys.stderr)
                    return 1
                await ws.send(json.dumps({"type": "subscribe", "stream": name, "events": opts.events,
                                          "resume_from": resume}))
                async for raw in ws:
                    data = json.loads(raw)
                    if data.get("type") == "subscribed":
                        print(f"subscribed to {name!r} ({data.get('state')}, seq {data.get('seq')}"
                              f"{', replaying ' + str(data['replayed']) if data.get('replayed') else ''})",
                              file=sys.stderr)
                    elif data.get("type") == "error":
                        printer.message(data)
                        if data.get("code") == "unknown_stream":
                            return 1
                    else:
                        printer.message(data)
                    if isinstance(data.get("seq"), int) and data.get("stream") == name:
                        resume = max(resume or 0, data["seq"])
        except (OSError, ConnectionClosed, InvalidHandshake) as exc:
            if isinstance(exc, InvalidStatus) or not opts.reconnect:
                print(f"sewstream client: {_describe(exc)}", file=sys.stderr)
                return 1
            print(f"sewstream client: {_describe(exc)}; reconnecting", file=sys.stderr)
            await asyncio.sleep(1.0)
            continue
        if not opts.reconnect:
            return 0


async def send_file(opts: ClientOptions, printer: Printer) -> int:
    from sewstream.audio.file_source import read_audio_file

    audio, duration = read_audio_file(opts.file)
    pcm = (np.clip(audio, -1.0, 1.0 - 1 / 32768) * 32768).astype("<i2").tobytes()
    chunk = max(2, int(16000 * opts.chunk_ms / 1000) * 2)
    try:
        async with _connect(opts) as ws:
            json.loads(await ws.recv())  # hello
            await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "format": "int16", "channels": 1,
                                      "events": opts.events}))

            async def sender() -> None:
                started = time.monotonic()
                for i in range(0, len(pcm), chunk):
                    if not opts.fast:
                        delay = started + (i + chunk) / 32000 - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    await ws.send(pcm[i:i + chunk])
                await ws.send(json.dumps({"type": "end"}))

            task = asyncio.create_task(sender())
            try:
                async for raw in ws:
                    data = json.loads(raw)
                    if data.get("type") == "ended":
                        print(f"ended: {data.get('audio_s')} s of audio", file=sys.stderr)
                        return 0
                    if data.get("type") not in ("started",):
                        printer.message(data)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            print(f"sewstream client: connection closed before the session ended ({ws.close_reason})",
                  file=sys.stderr)
            return 1
    except (OSError, ConnectionClosed, InvalidHandshake) as exc:
        print(f"sewstream client: {_describe(exc)}", file=sys.stderr)
        return 1


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"server refused the connection: HTTP {exc.response.status_code} " \
               f"{exc.response.body.decode(errors='replace').strip()}"
    if isinstance(exc, ConnectionClosed):
        return f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'}: " \
               f"{exc.rcvd.reason if exc.rcvd else ''})"
    return f"{type(exc).__name__}: {exc}"


async def run(opts: ClientOptions, out: TextIO = sys.stdout) -> int:
    printer = Printer(out, opts.json)
    if opts.file:
        return await send_file(opts, printer)
    return await subscribe(opts, printer)
