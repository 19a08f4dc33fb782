"""Daemon streams: identical events for every subscriber, resume from history, slow subscribers."""

from __future__ import annotations

import asyncio
import json

from sewstream.audio.pcm import PCMSource
from sewstream.server.outbox import Outbox

from .conftest import open_native, recv_json, run, serving


async def _collect(ws, until: str = "stream_status") -> list[dict]:
    out = []
    while True:
        msg = await recv_json(ws, 20)
        out.append(msg)
        if msg["type"] == until and msg.get("state") in ("ended", "stopped"):
            return out


def test_subscribers_get_identical_sequences_and_resume_replays_finals(rec, multi, alone):
    async def main():
        async with serving(rec, history_size=50) as server:
            source = PCMSource(16000, fmt="float32")
            server.add_source("room", source)
            clients = [await open_native(server) for _ in range(3)]
            for ws, hello in clients:
                assert [s["name"] for s in hello["streams"]] == ["room"]
                await ws.send(json.dumps({"type": "subscribe", "stream": "room"}))
                ack = await recv_json(ws)
                assert ack["type"] == "subscribed" and ack["seq"] == 0 and ack["replayed"] == 0
            for i in range(0, len(multi), 1600):  # the "microphone" delivers audio in 0.1 s pieces
                source.push(multi[i:i + 1600].tobytes())
                await asyncio.sleep(0)
            source.end()
            seen = [await _collect(ws) for ws, _ in clients]
            assert seen[0] == seen[1] == seen[2]
            events = [m for m in seen[0] if m["type"] != "stream_status"]
            seqs = [m["seq"] for m in events]
            assert seqs == sorted(set(seqs))  # increasing (a gap is a partial superseded while queued)
            got = [m["text"] for m in events if m["type"] == "final"]
            assert got == alone and len(got) >= 3
            assert {"partial", "speech_started", "utterance_end"} <= {m["type"] for m in events}

            # a late subscriber resuming after the first final gets exactly the later finals, in order
            first = next(m["seq"] for m in events if m["type"] == "final")
            ws, _ = await open_native(server)
            await ws.send(json.dumps({"type": "subscribe", "stream": "room", "events": ["final"],
                                      "resume_from": first}))
            ack = await recv_json(ws)
            assert ack["replayed"] == len(alone) - 1 and ack["missed"] is False
            replayed = [await recv_json(ws) for _ in range(ack["replayed"])]
            assert replayed == [m for m in events if m["type"] == "final" and m["seq"] > first]
            for client in [*(c for c, _ in clients), ws]:
                await client.close()
    run(main())


def test_resume_reports_finals_older_than_history(rec, multi):
    async def main():
        async with serving(rec, history_size=1) as server:
            source = PCMSource(16000, fmt="float32")
            channel = server.add_source("room", source)
            source.push(multi.tobytes())
            source.end()
            while channel.state != "ended":
                await asyncio.sleep(0.05)
            ws, _ = await open_native(server)
            await ws.send(json.dumps({"type": "subscribe", "stream": "room", "resume_from": 0}))
            ack = await recv_json(ws)
            assert ack["state"] == "ended"
            assert ack["replayed"] == 1 and ack["missed"] is True  # only the newest final was kept
            last = await recv_json(ws)
            assert last["type"] == "final" and last["seq"] == channel.history[-1][0]
            await ws.send(json.dumps({"type": "subscribe", "stream": "nope"}))
            err = await recv_json(ws)
            assert err["type"] == "error" and err["code"] == "unknown_stream" and "room" in err["message"]
            await ws.close()
    run(main())


class _StuckSocket:
    """A websocket whose client has stopped reading: send() blocks until released."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()

    async def send(self, payload: str) -> None:
        await self.release.wait()
        self.sent.append(payload)


def test_slow_subscriber_loses_partials_never_finals_and_is_cut_only_when_finals_overflow():
    async def main():
        ws, overflowed, drops = _StuckSocket(), [], []
        box = Outbox(ws, 4, on_drop=drops.append, on_overflow=lambda: overflowed.append(True))
        await asyncio.sleep(0)           # the writer takes the first message and blocks in send()
        box.put("final-0")
        await asyncio.sleep(0)
        box.put("partial-1", droppable="partial:s")
        box.put("partial-2", droppable="partial:s")   # supersedes partial-1 in place
        box.put("final-1")
        box.put("final-2")
        box.put("final-3")                             # queue full: partial-2, final-1..3
        assert box.put("partial-3", droppable="partial:s") is True   # still supersedes in place
        assert box.put("final-4") is True              # full: the queued partial is evicted for it
        assert box.put("partial-4", droppable="partial:s") is False  # full of finals: dropped
        assert not overflowed and box.dropped == 4 and sum(drops) == 4
        assert box.put("final-5") is False and overflowed == [True]  # even a final cannot be queued
        ws.release.set()
        await box.flush(2)
        await box.close()
        assert ws.sent == ["final-0", "final-1", "final-2", "final-3", "final-4"]
    run(main())


def test_slow_subscriber_over_the_network_keeps_every_final(rec, multi, alone):
    """A subscriber that reads nothing until the stream ends still gets every final, in order."""
    async def main():
        async with serving(rec, send_queue_size=64) as server:
            source = PCMSource(16000, fmt="float32", ring_seconds=120)  # room for all of it: no capture loss
            channel = server.add_source("room", source)
            ws, _ = await open_native(server)
            await ws.send(json.dumps({"type": "subscribe", "stream": "room", "events": ["partial", "final"]}))
            await recv_json(ws)
            for _ in range(3):  # three times the clip, while this client reads nothing
                for i in range(0, len(multi), 800):
                    source.push(multi[i:i + 800].tobytes())
                    await asyncio.sleep(0)
            source.end()
            got = await _collect(ws)
            assert channel.capture_stats()["ring_lost_s"] == 0
            texts = [m["text"] for m in got if m["type"] == "final"]
            published = [json.loads(p)["text"] for _, kind, p in channel.history if kind == "final"]
            assert texts == published and len(texts) >= 2 * len(alone)
            assert texts[:len(alone) - 1] == alone[:-1]  # the first copy's finals, as alone
            await ws.close()
    run(main())
