"""Vosk mode: a vosk-server client sees exactly one reply per message, results in order, eof result."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .conftest import int16, run, serving


async def vosk_client(url: str, pcm: bytes, rate: int = 16000, chunk_s: float = 0.2) -> tuple[list[dict], dict, int]:
    """What alphacep's websocket/test.py does: config, then send a chunk / read one reply, then eof."""
    async with connect(url, compression=None) as ws:
        await ws.send(json.dumps({"config": {"sample_rate": rate}}))
        size = int(rate * chunk_s) * 2
        replies = []
        for i in range(0, len(pcm), size):
            await ws.send(pcm[i:i + size])
            replies.append(json.loads(await ws.recv()))
        await ws.send('{"eof" : 1}')
        last = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)  # the server hangs up after the eof result
        return replies, last, ws.close_code


def test_vosk_client_gets_one_reply_per_message_and_every_final(rec, multi, alone):
    async def main():
        async with serving(rec) as server:
            pcm = int16(multi)
            replies, last, code = await vosk_client(server.url + "/vosk", pcm)
            assert len(replies) == -(-len(pcm) // 6400)  # exactly one reply per chunk
            for reply in replies:
                assert set(reply) in ({"partial"}, {"text", "result"}), reply
            results = [r for r in replies if "text" in r] + [last]
            assert set(last) == {"text", "result"} and code == 1000
            # every utterance comes back exactly once, in order (the rest merged into the eof result)
            assert " ".join(r["text"] for r in results if r["text"]) == " ".join(alone).lower()
            for r in results:
                words = r["result"]
                assert " ".join(w["word"] for w in words) == r["text"]
                assert all(set(w) == {"word", "start", "end", "conf"} and w["start"] <= w["end"] for w in words)
            assert any("partial" in r and r["partial"] for r in replies)
    run(main())


def test_vosk_oddities_still_get_exactly_one_reply(rec, multi):
    async def main():
        async with serving(rec, max_message_bytes=4096) as server:
            async with connect(server.url + "/vosk", compression=None) as ws:
                await ws.send('{"config": {"sample_rate": 16000, "words": false, "phrase_list": ["a"]}}')
                pcm = int16(multi[:16000])
                await ws.send(pcm[:3001])                 # odd byte count: carried over
                assert set(json.loads(await ws.recv())) == {"partial"}
                await ws.send("hello?")                   # not a vosk message: one reply, with an error
                odd = json.loads(await ws.recv())
                assert "partial" in odd and "error" in odd
                await ws.send(pcm[:8000])                 # above max_message_bytes: refused, still answered
                big = json.loads(await ws.recv())
                assert "partial" in big and "limit" in big["error"]
                await ws.send(pcm[3001:4001])
                assert "partial" in json.loads(await ws.recv())
                await ws.send('{"eof": 1}')
                last = json.loads(await ws.recv())
                assert set(last) == {"text"}              # words: false
            async with connect(server.url + "/vosk", compression=None) as ws:
                await ws.send('{"config": {"sample_rate": 1}}')
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1003 and "sample_rate" in ws.close_reason
            async with connect(server.url + "/vosk", compression=None) as ws:  # eof without audio
                await ws.send('{"eof" : 1}')
                assert json.loads(await ws.recv()) == {"result": [], "text": ""}
    run(main())
