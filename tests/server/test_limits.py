"""Limits and safety: admission (1013), auth, idle timeout, keepalive, TLS."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .conftest import (
    close_code,
    finals,
    http_get,
    int16,
    open_native,
    raw_connect,
    read_frames,
    recv_json,
    run,
    serving,
    session,
)


async def closed_with(ws, timeout: float = 10.0) -> tuple[int, str]:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed:
        return ws.close_code, ws.close_reason


def test_admission_limits_close_with_1013_and_a_reason(rec, multi):
    async def main():
        async with serving(rec, max_connections=2, max_sessions=1) as server:
            a, _ = await open_native(server)
            b, _ = await open_native(server)
            c = await connect(server.url)
            code, reason = await closed_with(c)
            assert code == 1013 and "server full" in reason
            # sessions: the second start is refused, with an error first, then 1013
            await a.send(json.dumps({"type": "start", "sample_rate": 16000}))
            assert (await recv_json(a))["type"] == "started"
            await b.send(json.dumps({"type": "start", "sample_rate": 16000}))
            err = await recv_json(b)
            assert err["type"] == "error" and err["code"] == "too_many_sessions"
            code, reason = await closed_with(b)
            assert code == 1013 and "too many sessions" in reason
            v = await connect(server.url + "/vosk")  # a vosk connection is a session too
            code, reason = await closed_with(v)
            assert code == 1013 and "too many sessions" in reason
            # the admitted session is unaffected, and its slot is free again after end
            await a.send(int16(multi[:32000]))
            await a.send(json.dumps({"type": "end"}))
            while (await recv_json(a))["type"] != "ended":
                pass
            assert server.sessions == 0
            metrics = server.metrics.render().decode()
            assert 'sewstream_refused_total{reason="too_many_connections"} 1.0' in metrics
            assert 'sewstream_refused_total{reason="too_many_sessions"} 2.0' in metrics
            await a.close()
    run(main())


def test_token_in_header_or_query(rec):
    async def main():
        async with serving(rec, token="s3cret") as server:
            for kwargs, path in [({}, "/"), ({"additional_headers": {"Authorization": "Bearer wrong"}}, "/"),
                                 ({}, "/vosk?token=wrong"), ({"additional_headers": {"Authorization": "s3cret"}}, "/")]:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(server.url + path, **kwargs)
                assert refused.value.response.status_code == 401
            ws, _ = await open_native(server, additional_headers={"Authorization": "Bearer s3cret"})
            await ws.close()
            ws, _ = await open_native(server, "/?token=s3cret")
            await ws.close()
            assert (await http_get(server, "/healthz"))[0] == 200  # probes stay open
            assert (await http_get(server, "/metrics"))[0] == 401
            status, body = await http_get(server, "/metrics", {"Authorization": "Bearer s3cret"})
            assert status == 200 and "sewstream_refused_total" in body
        async with serving(rec) as server:  # no token configured: anyone on loopback
            ws, _ = await open_native(server)
            await ws.close()
    run(main())


def test_idle_timeout_spares_subscribers_and_flushes_sessions(rec, multi, alone):
    async def main():
        async with serving(rec, idle_timeout_s=0.4) as server:
            from sewstream.audio.pcm import PCMSource

            server.add_source("room", PCMSource(16000))
            quiet, _ = await open_native(server)
            listener, _ = await open_native(server)
            await listener.send(json.dumps({"type": "subscribe", "stream": "room"}))
            await recv_json(listener)
            talker, _ = await open_native(server)
            got = await session(server, multi, ws=talker, end=False, chunk=1600)  # then says nothing
            t0 = time.monotonic()
            code, reason = await closed_with(quiet)
            assert code == 1000 and "idle timeout" in reason and time.monotonic() - t0 < 3
            rest = []
            try:
                while True:
                    rest.append(json.loads(await asyncio.wait_for(talker.recv(), 10)))
            except ConnectionClosed:
                pass
            assert talker.close_code == 1000
            assert finals(got + rest) == alone and rest[-1]["type"] == "ended"  # flushed before closing
            await asyncio.sleep(0.5)
            await listener.send(json.dumps({"type": "unsubscribe", "stream": "room"}))  # still open
            assert (await recv_json(listener))["type"] == "unsubscribed"
            await listener.close()
    run(main())


def test_keepalive_closes_a_dead_peer(rec):
    async def main():
        async with serving(rec, idle_timeout_s=0, ping_interval_s=0.2, ping_timeout_s=0.3) as server:
            reader, writer = await raw_connect(server)  # completes the handshake, then never answers
            t0 = time.monotonic()
            frames = await read_frames(reader, 10)
            assert any(op == 9 for op, _ in frames)      # it was pinged
            assert close_code(frames) == 1011 and time.monotonic() - t0 < 5
            writer.close()
            assert server.metrics.disconnects.labels("keepalive")._value.get() == 1
            live, _ = await open_native(server)          # a normal client answers pings and stays
            await asyncio.sleep(1.0)
            await live.send(json.dumps({"type": "end"}))
            assert (await recv_json(live))["code"] == "no_session"
            await live.close()
    run(main())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls(rec, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)

    async def main():
        import ssl

        async with serving(rec, tls_cert=str(cert), tls_key=str(key)) as server:
            assert server.url.startswith("wss://")
            context = ssl.create_default_context(cafile=str(cert))
            ws, hello = await open_native(server, ssl=context)
            assert hello["protocol"] == "sewstream"
            await ws.close()
            with pytest.raises((ConnectionClosed, OSError, InvalidHandshake, asyncio.TimeoutError)):
                await asyncio.wait_for(connect(server.url.replace("wss://", "ws://")), 5)  # plain text refused
    run(main())
