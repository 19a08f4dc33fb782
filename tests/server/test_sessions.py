"""Client audio sessions: batching invariance, formats and mixdown, finalize/reset/end, backpressure."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import numpy as np

from sewstream.stream import StreamSettings

from .conftest import finals, open_native, recv_json, run, serving, session


def test_concurrent_sessions_each_equal_the_same_audio_alone(rec, multi, alone):
    async def main():
        async with serving(rec, max_sessions=8) as server:
            solo = finals(await session(server, multi))
            assert solo == alone
            before = rec.worker.stats.batch_sizes.copy()
            # different push sizes and pacing per session: the windows must not care
            runs = await asyncio.gather(*(session(server, multi, chunk=c, pace=p)
                                          for c, p in [(1600, 0.0), (3200, 0.0), (4000, 0.001), (800, 0.0),
                                                       (16000, 0.0)]))
            for messages in runs:
                assert finals(messages) == alone
                assert messages[-1]["type"] == "ended" and messages[-1]["complete"] is True
                assert abs(messages[-1]["audio_s"] - len(multi) / 16000) < 0.01
            batched = rec.worker.stats.batch_sizes - before
            assert any(size > 1 for size in batched), batched  # they really were batched together
    run(main(), 60)


def test_float32_stereo_and_resampled_sessions(rec, multi, alone):
    async def main():
        async with serving(rec) as server:
            assert finals(await session(server, multi, fmt="float32")) == alone
            assert finals(await session(server, multi, channels=2)) == alone  # identical channels mix exactly
            # 8 kHz input is resampled by the server: different audio, so only sanity is checked
            low = multi[::2].copy()
            messages = await session(server, low, rate=8000, chunk=800)
            assert messages[-1]["type"] == "ended" and abs(messages[-1]["audio_s"] - len(multi) / 16000) < 0.05
            assert finals(messages)
    run(main())


def test_finalize_reset_end(rec, multi, alone):
    async def main():
        async with serving(rec) as server:
            ws, _ = await open_native(server)
            first = multi[:int(3.5 * 16000)]  # the first utterance and some silence
            got = await session(server, first, ws=ws, end=False)
            await ws.send(json.dumps({"type": "finalize"}))
            messages = list(got)
            while not messages or messages[-1]["type"] != "flushed":
                messages.append(await recv_json(ws))
            assert finals(messages)[0] == alone[0]
            # the flush cut the utterance at the end of the audio sent, before the ack
            assert any(m["type"] == "utterance_end" and m["reason"] == "finalize" for m in messages)
            seqs = [m["seq"] for m in messages if "seq" in m and m["type"] not in ("started", "flushed")]
            assert seqs == sorted(seqs)
            # reset: the half-said utterance is discarded, numbering goes on, time restarts
            await ws.send(np.zeros(0, np.int16).tobytes())
            await ws.send((multi[int(4 * 16000):int(5 * 16000)] * 32767).astype("<i2").tobytes())
            await ws.send(json.dumps({"type": "reset"}))
            reply = await recv_json(ws)
            while reply["type"] != "reset":
                reply = await recv_json(ws)
            assert reply["audio_s"] == 4.5 and reply["seq"] >= seqs[-1]
            await ws.send(json.dumps({"type": "end"}))
            tail = [await recv_json(ws)]
            while tail[-1]["type"] != "ended":
                tail.append(await recv_json(ws))
            assert not finals(tail) and tail[-1]["audio_s"] == 0.0
            # the connection can start another session afterwards
            again = await session(server, multi, ws=ws)
            assert finals(again) == alone
            await ws.close()
    run(main())


@contextlib.contextmanager
def slow_model(rec, seconds: float):
    """Every forward pass takes at least ``seconds`` longer (a loaded machine, a big model)."""
    runners = dict(rec.worker.runners)

    def slowed(fn):
        def run(batch):
            time.sleep(seconds)
            return fn(batch)
        return run

    rec.worker.runners.update({name: slowed(fn) for name, fn in runners.items()})
    try:
        yield
    finally:
        rec.worker.runners.update(runners)


def test_overloaded_session_pauses_input_without_losing_audio_or_being_pinged_out(rec, multi, alone):
    """Input faster than the model: an ``overloaded`` error, reading stops (TCP backpressure, so the
    client's pongs wait too), keepalive leaves the paused connection alone, the transcript is complete."""
    settings = StreamSettings(max_backlog_s=3.1)

    async def main():
        async with serving(rec, settings, ping_interval_s=0.1, ping_timeout_s=0.2) as server:
            with slow_model(rec, 0.05):
                messages = await session(server, np.concatenate([multi, multi]), chunk=1600)
            errors = [m for m in messages if m["type"] == "error"]
            assert errors and {e["code"] for e in errors} == {"overloaded"}
            assert messages[-1]["type"] == "ended" and messages[-1]["overloads"] >= 1
            assert finals(messages)[:len(alone) - 1] == alone[:-1]
            assert abs(messages[-1]["audio_s"] - 2 * len(multi) / 16000) < 0.01  # nothing dropped
            assert server.metrics.disconnects.labels("keepalive")._value.get() == 0
    run(main(), 60)
