"""Keyword events over the websocket daemon: delivery to a session, and the reload_keywords admin message."""

from __future__ import annotations

import numpy as np
import pytest

from sewstream.config import load_config
from sewstream.keywords import KeywordRegistry
from sewstream.server import Server, ServerSettings
from tests.server.conftest import open_native, recv_json, run

from . import fake_acoustics
from .fake_acoustics import audio_for, spoken
from .helpers import write_config


@pytest.fixture
def rec(recognizer):
    fake_acoustics.install(recognizer, soft_tail=0)
    return recognizer


async def start_server(rec, registry: KeywordRegistry | None) -> Server:
    hooks = dict(stream_hooks=registry.listeners, reload_keywords=lambda: (registry.reload(), registry.version)[1]) \
        if registry else {}
    return await Server(rec, ServerSettings(port=0, warmup=False), **hooks).start()


async def session_events(server: Server, audio: np.ndarray) -> list[dict]:
    ws, _ = await open_native(server)
    await ws.send('{"type": "start", "sample_rate": 16000, "format": "float32"}')
    assert (await recv_json(ws))["type"] == "started"
    for i in range(0, len(audio), 3200):
        await ws.send(audio[i: i + 3200].astype("<f4").tobytes())
    await ws.send('{"type": "end"}')
    messages = []
    while True:
        msg = await recv_json(ws, 30)
        messages.append(msg)
        if msg["type"] == "ended":
            break
    await ws.close()
    return messages


def test_session_gets_keyword_events_and_admin_reload(rec, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", """
        keywords:
          default:
            - {phrase: "yes"}
    """)
    registry = KeywordRegistry.from_config(load_config(cfg), rec, path=cfg)
    audio = audio_for(spoken("YES", tail=40) + spoken("NO", lead=5, tail=60))

    async def scenario():
        server = await start_server(rec, registry)
        try:
            first = [m for m in await session_events(server, audio) if m["type"] == "keyword"]
            ws, hello = await open_native(server)
            assert hello["capabilities"]["admin"] == ["reload_keywords"]
            write_config(tmp_path / "c.yaml", """
                keywords:
                  default:
                    - {phrase: "no", threshold: 7}
            """)
            await ws.send('{"type": "reload_keywords"}')
            bad = await recv_json(ws)
            write_config(tmp_path / "c.yaml", """
                keywords:
                  default:
                    - {phrase: "no", label: negative}
            """)
            await ws.send('{"type": "reload_keywords"}')
            good = await recv_json(ws)
            await ws.close()
            second = [m for m in await session_events(server, audio) if m["type"] == "keyword"]
            return first, bad, good, second
        finally:
            await server.stop()

    first, bad, good, second = run(scenario(), 90)
    assert [(m["label"], m["phrase"]) for m in first] == [("yes", "yes")]
    assert first[0]["seq"] > 0 and first[0]["start"] < first[0]["end"]
    assert bad["type"] == "error" and bad["code"] == "reload_failed"
    assert "keywords.default[0]" in bad["message"] and "threshold" in bad["message"]
    assert good == {"type": "keywords_reloaded", "version": 1}
    assert [m["label"] for m in second] == ["negative"]


def test_reload_without_a_registry_is_an_error_not_a_disconnect(rec):
    async def scenario():
        server = await start_server(rec, None)
        try:
            ws, hello = await open_native(server)
            assert hello["capabilities"]["admin"] == []
            await ws.send('{"type": "reload_keywords"}')
            reply = await recv_json(ws)
            await ws.send('{"type": "start", "sample_rate": 16000}')
            after = await recv_json(ws)
            await ws.close()
            return reply, after
        finally:
            await server.stop()

    reply, after = run(scenario())
    assert reply["type"] == "error" and reply["code"] == "unsupported"
    assert after["type"] == "started"
