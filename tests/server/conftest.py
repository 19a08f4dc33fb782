"""Server test helpers: one shared recognizer, servers on loopback port 0, small websocket clients.

Every test runs its coroutine under ``run(...)`` with a hard time limit, so a hang fails
the test instead of the suite.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import threading
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
import torch
from websockets.asyncio.client import connect

from sewstream.server import Server, ServerSettings
from sewstream.stream import StreamSettings, transcribe_streaming
from tests.conftest import speech_clip

RATE = 16000


@pytest.fixture(scope="session")
def rec(tiny_ctc_dir):
    """One recognizer for all server tests (one model worker, as in the daemon).

    One torch thread: the test machine's cores are shared, and intra-op threads that wait
    on each other under contention are 10-30x slower than one thread.
    """
    from sewstream.stream import Recognizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    recognizer = Recognizer.from_pretrained(tiny_ctc_dir, device="cpu")
    yield recognizer
    recognizer.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def multi() -> np.ndarray:
    """~11 s of real speech in three utterances separated by a second of silence (int16-exact)."""
    parts = []
    for name in ("misc/goforward.wav", "misc/cards_005.wav", "vctk/p225_001.wav"):
        parts += [speech_clip(name), np.zeros(RATE, np.float32)]
    return quantize(np.concatenate(parts))


@pytest.fixture(scope="session")
def alone(rec, multi) -> list[str]:
    """Finals of ``multi`` through one stream, nothing else running: the reference."""
    return [s.text for s in transcribe_streaming(rec, multi, settings=StreamSettings()).segments]


def quantize(audio: np.ndarray) -> np.ndarray:
    """Float audio exactly representable as int16 (so int16 and float32 sessions hear the same)."""
    return (np.round(np.clip(audio, -1, 32767 / 32768) * 32768) / 32768).astype(np.float32)


def int16(audio: np.ndarray) -> bytes:
    return np.round(audio * 32768).astype("<i2").tobytes()


def run(coro, timeout: float = 30.0) -> Any:
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro
    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def serving(rec, stream_settings: StreamSettings | None = None, **settings):
    """A started server on 127.0.0.1 and a free port; drained on exit."""
    settings.setdefault("warmup", False)
    server = Server(rec, ServerSettings(port=0, **settings), stream_settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def recv_json(ws, timeout: float = 10.0) -> dict:
    async with asyncio.timeout(timeout):
        return json.loads(await ws.recv())


async def open_native(server: Server, path: str = "/", **kwargs):
    """Connect and consume the hello; returns (ws, hello)."""
    ws = await connect(server.url + path, compression=None, max_size=None, **kwargs)
    hello = await recv_json(ws)
    assert hello["type"] == "hello"
    return ws, hello


async def session(server: Server, audio: np.ndarray, *, chunk: int = 3200, pace: float = 0.0,
                  fmt: str = "int16", channels: int = 1, rate: int = RATE, end: bool = True,
                  ws=None) -> list[dict]:
    """Send ``audio`` as one session; every message until ``ended`` (or the close)."""
    own = ws is None
    if own:
        ws, _ = await open_native(server)
    try:
        await ws.send(json.dumps({"type": "start", "sample_rate": rate, "format": fmt, "channels": channels}))
        frames = np.repeat(audio[:, None], channels, axis=1) if channels > 1 else audio
        data = int16(frames) if fmt == "int16" else frames.astype("<f4").tobytes()
        step = chunk * channels * (2 if fmt == "int16" else 4)
        received: list[dict] = []

        async def reader():
            async for raw in ws:
                msg = json.loads(raw)
                received.append(msg)
                if msg["type"] == "ended":
                    return

        task = asyncio.create_task(reader())
        for i in range(0, len(data), step):
            await ws.send(data[i:i + step])
            if pace:
                await asyncio.sleep(pace)
        if end:
            await ws.send(json.dumps({"type": "end"}))
            await task
        else:
            task.cancel()
        return received
    finally:
        if own:
            await ws.close()


def finals(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages if m.get("type") == "final"]


async def http_get(server: Server, path: str, headers: dict | None = None) -> tuple[int, str]:
    """GET over plain HTTP in a thread (urllib blocks; the server runs on this loop)."""
    def get():
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
    return await asyncio.to_thread(get)


def thread_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate())


# ------------------------------------------------------------------ raw websocket
async def raw_connect(server: Server, path: str = "/", handshake: bool = True):
    """A bare TCP connection speaking just enough websocket to misbehave on purpose."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    if handshake:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert b" 101 " in head.split(b"\r\n")[0], head
    return reader, writer


def frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    """One client frame (clients must mask)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = os.urandom(4)
    body = (np.frombuffer(payload, np.uint8) ^ np.resize(np.frombuffer(mask, np.uint8), n)).tobytes()
    return head + mask + body


async def read_frames(reader, timeout: float = 10.0) -> list[tuple[int, bytes]]:
    """Server frames until the close frame or EOF: [(opcode, payload)]."""
    frames = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                b0, b1 = await reader.readexactly(2)
            except asyncio.IncompleteReadError:
                return frames
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(n)
            frames.append((b0 & 0x0F, payload))
            if b0 & 0x0F == 8:
                return frames


def close_code(frames: list[tuple[int, bytes]]) -> int | None:
    for opcode, payload in frames:
        if opcode == 8 and len(payload) >= 2:
            return int.from_bytes(payload[:2], "big")
    return None
