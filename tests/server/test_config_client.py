"""The ``server:`` config section (errors name the key) and the ``sewstream client`` command."""

from __future__ import annotations

import asyncio
import io
import json

import numpy as np
import pytest

import sewstream.server  # noqa: F401 - registers the section
from sewstream.audio.file_source import read_audio_file
from sewstream.audio.pcm import PCMSource
from sewstream.config import ConfigError, load_config
from sewstream.server import Server, ServerSettings
from sewstream.server.client import ClientOptions
from sewstream.server.client import run as run_client
from sewstream.stream import StreamSettings, transcribe_streaming
from tests.conftest import SPEECH_DIR

from .conftest import run, serving


@pytest.mark.parametrize("override, names", [
    (["server.port=70000"], ["server.port", "70000"]),
    (["server.prot=1"], ["server.prot"]),
    (["server.max_sessions=many"], ["server.max_sessions", "many"]),
    (["server.max_sessions=0"], ["server.max_sessions", "0"]),
    (["server.ping_interval_s=-1"], ["server.ping_interval_s", "-1"]),
    (["server.tls_cert=/x.pem"], ["server.tls_key"]),
    (["server.token=' '"], ["server.token"]),
    (["server.microphones=[{device: 1}]"], ["server.microphones[0]", "name"]),
    (["server.microphones=[{name: a}, {name: a}]"], ["server.microphones[1].name", "'a'"]),
    (["server.microphones=[{name: a, ring_seconds: 0}]"], ["server.microphones[0]", "ring_seconds"]),
])
def test_config_errors_name_the_key_and_value(override, names):
    with pytest.raises(ConfigError) as error:
        load_config(None, override, environ={})
    for name in names:
        assert name in str(error.value)


def test_config_sources_and_start_time_errors(tmp_path, rec):
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 9000\n  microphones:\n    - {name: kitchen, device: 2, required: false}\n")
    config = load_config(path, ["server.send_queue_size=32"], environ={"SEWSTREAM__SERVER__HOST": "0.0.0.0"})
    server = config.section("server")
    assert (server.port, server.host, server.send_queue_size) == (9000, "0.0.0.0", 32)
    assert server.microphones[0].device == 2 and server.microphones[0].required is False

    async def main():
        for settings, key in [(ServerSettings(port=0, tls_cert=str(tmp_path / "no.pem"),
                                              tls_key=str(tmp_path / "no.key")), "server.tls_cert"),
                              (ServerSettings(port=0, token_file=str(tmp_path / "missing")), "server.token_file")]:
            with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
                await Server(rec, settings).start()
        (tmp_path / "token").write_text("from-file\n")
        async with serving(rec, token_file=str(tmp_path / "token")) as srv:
            assert srv.token == "from-file"
    run(main())
    with pytest.raises(ConfigError, match=r"stream\.max_backlog_s"):
        Server(rec, ServerSettings(), StreamSettings(max_backlog_s=1.0))


def test_client_sends_a_file_and_prints_finals(rec):
    clip = SPEECH_DIR / "misc" / "goforward.wav"
    if not clip.exists():
        pytest.skip("real speech not available")
    audio = read_audio_file(clip)[0]
    sent = (np.clip(audio, -1.0, 1.0 - 1 / 32768) * 32768).astype(np.int16).astype(np.float32) / 32768
    expected = [s.text for s in transcribe_streaming(rec, sent).segments]

    async def main():
        async with serving(rec) as server:
            out = io.StringIO()
            assert await run_client(ClientOptions(url=server.url, file=str(clip), fast=True), out) == 0
            assert out.getvalue().splitlines() == expected
            out = io.StringIO()
            assert await run_client(ClientOptions(url=server.url, file=str(clip), fast=True, json=True), out) == 0
            lines = [json.loads(line) for line in out.getvalue().splitlines()]
            assert lines[-1]["type"] == "utterance_end" and any(m["type"] == "final" for m in lines)
            out = io.StringIO()
            assert await run_client(ClientOptions(url=server.url + "/nope",
                                                  file=str(clip)), out) == 1  # 404: a clear failure
    run(main())


def test_client_subscribes_and_prints_a_daemon_stream(rec, multi, alone):
    async def main():
        async with serving(rec) as server:
            source = PCMSource(16000, fmt="float32")
            server.add_source("room", source)
            out = io.StringIO()
            client = asyncio.create_task(run_client(ClientOptions(url=server.url, events=["final"]), out))
            while not server.channels["room"].subscribers:
                await asyncio.sleep(0.01)
            source.push(multi.tobytes())
            source.end()
            while out.getvalue().count("\n") < len(alone):
                await asyncio.sleep(0.05)
            assert out.getvalue().splitlines() == alone
            client.cancel()
            await asyncio.gather(client, return_exceptions=True)
    run(main())
