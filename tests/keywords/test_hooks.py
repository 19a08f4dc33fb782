"""Keyword hooks: commands and HTTP POSTs on a background thread, bounded, drops counted."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from sewstream.keywords.hooks import HookRunner
from sewstream.keywords.settings import HookSpec, KeywordSettings, KeywordSpec
from sewstream.keywords.spotter import KeywordSpotter

from .helpers import VOCAB, frames, say, simulate


def test_spotter_event_runs_a_command_hook(tmp_path):
    out = tmp_path / "event.json"
    hook = HookSpec(command=[sys.executable, "-c",
                             f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())"])
    runner = HookRunner()
    s = KeywordSettings()
    sp = KeywordSpotter(VOCAB, [s.resolve(KeywordSpec(phrase="yes", label="affirm", hook=hook))],
                        settings=s, stream="kitchen", hooks=runner)
    events = simulate(sp, frames(say("YES", tail=60)))
    assert len(events) == 1
    assert runner.wait_idle(20)
    payload = json.loads(out.read_text())
    assert payload["type"] == "keyword" and payload["label"] == "affirm" and payload["stream"] == "kitchen"
    assert runner.stats["done"] == 1 and runner.stats["failed"] == 0
    runner.close()


def test_url_hook_posts_json():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runner = HookRunner()
    try:
        assert runner.offer(HookSpec(url=f"http://127.0.0.1:{server.server_port}/kw"), {"label": "yes"})
        assert runner.offer(HookSpec(url="http://127.0.0.1:9/unreachable", timeout_s=1.0), {"label": "no"})
        assert runner.wait_idle(20)
    finally:
        server.shutdown()
        runner.close()
    assert received == [{"label": "yes"}]
    assert runner.stats["done"] == 1 and runner.stats["failed"] == 1


def test_full_queue_drops_without_blocking():
    runner = HookRunner(max_queue=2)
    slow = HookSpec(command=[sys.executable, "-c", "import time; time.sleep(0.5)"])
    started = time.perf_counter()
    accepted = [runner.offer(slow, {"n": i}) for i in range(6)]
    assert time.perf_counter() - started < 0.1  # offering never waits for the hooks
    assert accepted.count(False) >= 3
    assert runner.stats["dropped"] == accepted.count(False)
    runner.close(timeout=0.1)
