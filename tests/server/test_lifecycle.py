"""Start-up (warm-up, readiness, daemon streams from config), shutdown (finals flushed), HTTP, metrics."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sewstream.audio.pcm import PCMSource
from sewstream.server import Server, ServerSettings
from sewstream.server.settings import MicrophoneSettings
from tests.conftest import SPEECH_DIR

from .conftest import finals, http_get, int16, open_native, recv_json, run, serving, session

ROOT = Path(__file__).resolve().parents[2]


def test_shutdown_flushes_finals_of_sessions_and_daemon_streams(rec, multi, alone):
    async def main():
        server = await Server(rec, ServerSettings(port=0, warmup=False)).start()
        source = PCMSource(16000, fmt="float32")
        server.add_source("room", source)
        listener, _ = await open_native(server)
        await listener.send(json.dumps({"type": "subscribe", "stream": "room", "events": ["final"]}))
        await recv_json(listener)
        talker, _ = await open_native(server)
        got = await session(server, multi, ws=talker, end=False, chunk=1600)  # no end: mid-stream
        source.push(multi.tobytes())                                          # no end either
        def heard() -> float:
            return max([c.session.stream.time for c in server.connections if getattr(c, "session", None)] or [0])
        while heard() < len(multi) / 16000:  # the server has read all the audio sent
            await asyncio.sleep(0.01)

        async def drain(ws):  # clients keep reading while the server shuts down
            try:
                while True:
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            except ConnectionClosed:
                pass
        readers = [asyncio.create_task(drain(ws)) for ws in (talker, listener)]
        await server.stop()
        await asyncio.gather(*readers)
        for ws in (talker, listener):
            assert ws.close_code == 1001 and "shutting down" in ws.close_reason
        session_msgs = [m for m in got if m.get("session") or m.get("stream", "").startswith("session")]
        assert finals(session_msgs) == alone and session_msgs[-1]["type"] == "ended"
        room = [m for m in got if m.get("stream") == "room"]
        assert finals(room) == alone                                 # the daemon stream flushed too
        assert room[-1] == {**room[-1], "type": "stream_status", "state": "stopped"}
        assert not server.connections and server.sessions == 0
        with pytest.raises(OSError):
            await connect(f"ws://127.0.0.1:{server.port}", open_timeout=2)  # no longer listening
    run(main())


def test_sigterm_drains_the_serve_command(tiny_ctc_dir, multi, alone, tmp_path):
    """The real daemon: `sewstream serve`, SIGHUP rereads keywords, a session mid-utterance,
    SIGTERM -> finals, 1001, exit 0."""
    config = tmp_path / "server.yaml"
    base = "model:\n  threads: 1\nserver:\n  port: 0\n  warmup: true\n"
    config.write_text(base)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEWSTREAM__SERVER__MAX_SESSIONS": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "sewstream.cli", "serve", "--model", str(tiny_ctc_dir),
                             "--config", str(config)], stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    lines: list[str] = []
    ready = threading.Event()

    def watch():
        for line in proc.stderr:
            lines.append(line)
            if "ready on" in line:
                ready.set()
    threading.Thread(target=watch, daemon=True).start()
    try:
        assert ready.wait(60), "".join(lines)
        url = re.search(r"ready on (ws://\S+)", "".join(lines)).group(1)

        def hup_and_wait(text: str, expect: str) -> None:
            config.write_text(base + text)
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while expect not in "".join(lines) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert expect in "".join(lines), "".join(lines)

        hup_and_wait("keywords:\n  default: [{phrase: yes, threshold: 9}]\n", "keeping the previous lists")
        hup_and_wait("keywords:\n  default: [{phrase: yes}]\n", "keyword lists reloaded (version 1)")

        async def main():
            async with connect(url) as ws:
                hello = json.loads(await ws.recv())
                assert hello["limits"]["max_sessions"] == 3  # environment override reached the server
                assert hello["capabilities"]["admin"] == ["reload_keywords"]
                await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
                await ws.send(int16(multi))
                got = []
                while not finals(got):  # the engine is working on it
                    got.append(json.loads(await ws.recv()))
                proc.send_signal(signal.SIGTERM)
                try:
                    while True:
                        got.append(json.loads(await ws.recv()))
                except ConnectionClosed:
                    pass
                assert ws.close_code == 1001
                assert finals(got) == alone and got[-1]["type"] == "ended"
        run(main(), 60)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "stopped" in "".join(lines)


def test_health_readiness_after_warmup_and_metrics(rec, multi, monkeypatch):
    gate = threading.Event()
    warmup = Server._warmup

    def slow_warmup(self):
        gate.wait(10)
        warmup(self)

    monkeypatch.setattr(Server, "_warmup", slow_warmup)

    async def main():
        server = Server(rec, ServerSettings(port=0, warmup=True))
        starting = asyncio.create_task(server.start())
        while server._ws is None or not server._ws.sockets:
            await asyncio.sleep(0.01)
        assert await http_get(server, "/healthz") == (200, "ok\n")
        assert (await http_get(server, "/readyz"))[0] == 503   # still warming up
        gate.set()
        await starting
        assert await http_get(server, "/readyz") == (200, "ready\n")
        assert (await http_get(server, "/nope"))[0] == 404
        other = await Server(rec, ServerSettings(port=0, warmup=False)).start()  # a second registry
        try:
            await session(server, multi)
            ws, _ = await open_native(server)
            await ws.send("{oops")
            assert (await recv_json(ws))["code"] == "bad_json"
            status, text = await http_get(server, "/metrics")
            assert status == 200
            values = parse_metrics(text)
            assert abs(values['sewstream_audio_seconds_total{source="session"}'] - len(multi) / 16000) < 0.01
            assert values['sewstream_errors_total{code="bad_json"}'] == 1
            assert values['sewstream_connections{kind="native"}'] == 1
            assert values["sewstream_final_latency_seconds_count"] >= 3
            assert values["sewstream_partial_latency_seconds_count"] >= 1
            assert values['sewstream_batch_size_bucket{le="+Inf"}'] >= 1
            assert values["sewstream_real_time_factor"] > 0 and values["sewstream_ready"] == 1
            for name in ("sewstream_dropped_partials_total", "sewstream_worker_shed_partials_total",
                         "sewstream_sessions", "sewstream_subscribers", "sewstream_capture_overruns"):
                assert name in text
            other_values = parse_metrics((await http_get(other, "/metrics"))[1])
            assert 'sewstream_audio_seconds_total{source="session"}' not in other_values
            await ws.close()
        finally:
            await other.stop()
            await server.stop()
        assert (await asyncio.to_thread(lambda: None)) is None
    run(main())


def parse_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_daemon_streams_from_config(rec, monkeypatch):
    from sewstream.audio import devices

    def no_microphone(device=None):
        raise devices.NoMicrophoneError("no microphone (tried the default input device): test machine")

    monkeypatch.setattr("sewstream.audio.mic.resolve_input_device", no_microphone)
    clip = SPEECH_DIR / "misc" / "cards_001.wav"
    if not clip.exists():
        pytest.skip("real speech not available")

    async def main():
        required = ServerSettings(port=0, warmup=False, microphones=[MicrophoneSettings(name="mic")])
        with pytest.raises(devices.NoMicrophoneError, match="no microphone"):
            await Server(rec, required).start()
        settings = ServerSettings(port=0, warmup=False, microphones=[
            MicrophoneSettings(name="mic", required=False, retry_s=0.2),
            MicrophoneSettings(name="demo", file=str(clip))])
        async with serving(rec, **{k: getattr(settings, k) for k in ("microphones",)}) as server:
            ws, hello = await open_native(server)
            assert [s["name"] for s in hello["streams"]] == ["mic", "demo"]
            await ws.send(json.dumps({"type": "subscribe", "stream": "mic"}))
            ack = await recv_json(ws)
            assert ack["state"] == "unavailable"
            await ws.send(json.dumps({"type": "subscribe", "stream": "demo", "events": ["final"]}))
            while True:  # the file plays in real time (1.1 s), then its stream ends
                msg = await recv_json(ws)
                if msg["type"] == "stream_status" and msg["stream"] == "demo" and msg["state"] == "ended":
                    break
            assert server.channels["demo"].history  # its final was published and kept
            await ws.close()
    run(main())


def test_lm_finals_over_a_session_match_the_engine_and_are_counted(tiny_ctc_dir, multi):
    """A server whose recognizer decodes finals with an LM sends the same finals as the
    engine alone (held finals keep their order) and reports the LM outcomes in /metrics."""
    from sewstream.stream import Recognizer, StreamSettings, transcribe_streaming
    from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings
    from sewstream.text.ngram import NgramLM, build_bigram

    lm_rec = Recognizer.from_pretrained(tiny_ctc_dir, device="cpu")
    try:
        v = lm_rec.vocab
        lm = NgramLM.parse(build_bigram(["GO FORWARD", "PLEASE CALL STELLA", "THE CARDS ARE HERE"]).splitlines())
        lm_rec.use_lm(BeamSearchDecoder(v.id_to_token, v.blank, lm, BeamSettings(alpha=1.0, beta=2.0, beam=8),
                                        delimiter=v.delimiter, skip=v.special))
        expected = [s.text for s in transcribe_streaming(lm_rec, multi, settings=StreamSettings()).segments]
        greedy = [s.text for s in transcribe_streaming(lm_rec, multi, settings=StreamSettings(),
                                                       rescorer=None).segments]
        assert expected != greedy and len(expected) == len(greedy)

        async def main():
            server = await Server(lm_rec, ServerSettings(port=0, warmup=False)).start()
            try:
                got = await session(server, multi)
                assert finals(got) == expected
                seqs = [m["seq"] for m in got if "seq" in m]
                assert seqs and seqs == sorted(seqs)
                values = parse_metrics((await http_get(server, "/metrics"))[1])
                assert values['sewstream_lm_finals_total{outcome="rescored"}'] >= 2 * len(expected)
                assert values['sewstream_lm_finals_total{outcome="skipped"}'] == 0
                assert values["sewstream_lm_busy_seconds_total"] > 0
            finally:
                await server.stop()
        run(main())
    finally:
        lm_rec.close()
