"""Malformed input: thousands of bad frames, each answered or rejected cleanly; no leaks afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random

import numpy as np
from websockets.exceptions import ConnectionClosed

from .conftest import (
    close_code,
    finals,
    frame,
    int16,
    open_native,
    raw_connect,
    read_frames,
    recv_json,
    run,
    serving,
    session,
    thread_names,
)

LIMIT = 4096  # max_message_bytes in these tests


def bad_messages(rng: random.Random, n: int):
    """(text or bytes, acceptable error codes) for a connection without a session."""
    words = ["start", "subscribe", "end", "type", "stream", "events", "x" * 40, "", "\u00e9\u6f22", "\x00"]
    valid = {"type": "start", "sample_rate": 16000, "format": "int16", "channels": 1}
    makers = [
        lambda: (bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))).decode("latin-1"),
                 {"bad_json", "bad_message"}),
        lambda: (json.dumps(valid)[:rng.randint(1, 40)], {"bad_json"}),
        lambda: (rng.choice(["5", "[]", "null", '"start"', "true", "[{}]", "1e999"]), {"bad_message"}),
        lambda: (json.dumps(rng.choice([{}, {"type": 5}, {"type": None}, {"typ": "start"}, {"type": ["start"]}])),
                 {"bad_message"}),
        lambda: (json.dumps({"type": rng.choice(words) + "?"}), {"unknown_type"}),
        lambda: (json.dumps({"type": "subscribe", "stream": rng.choice([5, None, [], {}])}), {"invalid_field"}),
        lambda: (json.dumps({"type": "subscribe"}), {"invalid_field"}),
        lambda: (json.dumps({"type": "subscribe", "stream": "x", "events": rng.choice(["partial", [], ["foo"], [1]])}),
                 {"invalid_field"}),
        lambda: (json.dumps({"type": "subscribe", "stream": "x", "resume_from": rng.choice([-3, "7", True, 1.5])}),
                 {"invalid_field"}),
        lambda: (json.dumps({"type": "subscribe", "stream": rng.choice(words)}), {"unknown_stream"}),
        lambda: (json.dumps({"type": "unsubscribe", "stream": "x"}), {"not_subscribed"}),
        lambda: (json.dumps({**valid, "sample_rate": rng.choice([0, -1, 1, 7999, 192001, 10 ** 12, 1e300])}),
                 {"unsupported_rate"}),
        lambda: (json.dumps({**valid, "sample_rate": rng.choice(["16000", None, True, 16000.5, [16000]])}),
                 {"invalid_field"}),
        lambda: (json.dumps({"type": "start"}), {"invalid_field"}),
        lambda: (json.dumps({**valid, "format": rng.choice(["int8", "", "INT16", "f32"])}), {"unsupported_format"}),
        lambda: (json.dumps({**valid, "format": rng.choice([5, None, ["int16"]])}), {"invalid_field"}),
        lambda: (json.dumps({**valid, "channels": rng.choice([0, 9, -1, 10 ** 9])}), {"unsupported_channels"}),
        lambda: (json.dumps({**valid, "channels": rng.choice([1.5, "2", None])}), {"invalid_field"}),
        lambda: (json.dumps({**valid, "events": ["vad", "nope"]}), {"invalid_field"}),
        lambda: (json.dumps({"type": rng.choice(["finalize", "reset", "end"])}), {"no_session"}),
        lambda: (bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))), {"binary_before_start"}),
        lambda: ("[" * 3000 + "]" * 3000, {"message_too_big"}),
        lambda: ("[" * 2000 + "]" * 2000, {"bad_json"}),  # deep nesting under the size limit
        lambda: (json.dumps({"type": "start", "pad": "x" * LIMIT}), {"message_too_big"}),
    ]
    for _ in range(n):
        yield rng.choice(makers)()


async def exchange(ws, cases) -> int:
    """Send a batch, then expect exactly one error per message, in order."""
    for payload, _ in cases:
        await ws.send(payload)
    for payload, codes in cases:
        reply = await recv_json(ws)
        assert reply["type"] == "error" and reply["code"] in codes, (payload[:80], reply)
    return len(cases)


async def misbehave(server) -> None:
    """Protocol violations and abrupt disconnects on bare sockets: closed cleanly, nothing left behind."""
    start = frame(1, json.dumps({"type": "start", "sample_rate": 16000}).encode())
    audio = frame(2, int16(np.zeros(1600, np.float32)))
    for cut in (5, 20, 60):  # half a handshake, then gone
        reader, writer = await raw_connect(server, handshake=False)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"[:cut])
        writer.close()
    for prefix, tail in [(b"", frame(1, b'{"type": "end"}')[:3]),    # mid-header
                         (b"", audio[:700]),                       # mid-payload, no session
                         (start, audio[:10]),                      # mid-payload inside a session
                         (start + audio + audio, audio[:1000])]:
        reader, writer = await raw_connect(server)
        writer.write(prefix + tail)
        await writer.drain()
        writer.transport.abort()
    # violations the websocket layer itself rejects, with the right close code
    for data, code in [(frame(1, b'{"type": "end"}', masked=False), 1002),   # clients must mask
                       (frame(3, b"x"), 1002),                                # reserved opcode
                       (frame(1, b"\xff\xfe{"), 1007)]:                       # text that is not UTF-8
        reader, writer = await raw_connect(server)
        writer.write(data)
        frames = await read_frames(reader)
        assert close_code(frames) == code, frames
        writer.close()


def test_malformed_input_is_answered_and_the_server_keeps_serving(rec, multi, alone, caplog):
    caplog.set_level(logging.WARNING)

    async def main():
        tasks0, threads0 = len(asyncio.all_tasks()), thread_names()
        async with serving(rec, max_message_bytes=LIMIT, idle_timeout_s=0, max_sessions=4) as server:
            rng = random.Random(20240607)
            ws, _ = await open_native(server)
            total = 0
            for _ in range(50):
                total += await exchange(ws, list(bad_messages(rng, 50)))
            # inside a session: bad sizes and repeated starts, between real audio
            await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
            assert (await recv_json(ws))["type"] == "started"
            sent, errors = 0, 0
            for i in range(300):
                bad = rng.choice([(bytes(rng.randrange(1, 40, 2)), "bad_audio_size"),
                                  (bytes(LIMIT + 2), "message_too_big"),
                                  (json.dumps({"type": "start", "sample_rate": 8000}), "already_started")])
                await ws.send(bad[0])
                await ws.send(int16(multi[i * 160:(i + 1) * 160]))
                sent += 1
            while errors < sent:
                msg = await recv_json(ws)
                if msg["type"] == "error":
                    assert msg["code"] in ("bad_audio_size", "message_too_big", "already_started"), msg
                    errors += 1
            total += sent
            await ws.send(json.dumps({"type": "end"}))
            while (await recv_json(ws))["type"] != "ended":
                pass
            # beyond the hard limit (4x) the websocket layer closes with 1009
            await ws.send(bytes(4 * LIMIT + 2))
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1009
            # clients that vanish mid-session
            for k in range(5):
                gone, _ = await open_native(server)
                await gone.send(json.dumps({"type": "start", "sample_rate": 16000}))
                await gone.send(int16(multi[:16000 * (k + 1)]))
                gone.transport.abort()
            await misbehave(server)
            for _ in range(100):  # everything above is cleaned up
                if not server.connections and server.sessions == 0:
                    break
                await asyncio.sleep(0.05)
            assert not server.connections and server.sessions == 0
            assert total >= 2700
            # and a normal session still works exactly as before
            assert finals(await session(server, multi, chunk=1600)) == alone
            errors_metric = server.metrics.render().decode()
            assert 'sewstream_errors_total{code="bad_json"}' in errors_metric
        for _ in range(100):
            if len(asyncio.all_tasks()) == tasks0 and thread_names() == threads0:
                break
            await asyncio.sleep(0.05)
        assert len(asyncio.all_tasks()) == tasks0, asyncio.all_tasks()
        assert thread_names() == threads0
    run(main(), 90)
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures  # no handler crashed, nothing was logged as an internal error
