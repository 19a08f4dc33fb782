"""Local keyword hooks (run a command, POST JSON) that never block the audio path.

Detectors call :meth:`HookRunner.offer` under the stream lock, so it only appends to a
bounded queue (a full queue drops the call and counts it); one background thread runs the
calls in order, each with a timeout. A failing hook is counted and logged, never raised.
"""

from __future__ import annotations

import collections
import json
import logging
import subprocess
import threading
import urllib.request
from typing import Any

from .settings import HookSpec

log = logging.getLogger(__name__)


class HookRunner:
    def __init__(self, max_queue: int = 64) -> None:
        self.max_queue = max_queue
        self.queue: collections.deque[tuple[HookSpec, dict[str, Any]]] = collections.deque()
        self.cond = threading.Condition()
        self.stats = collections.Counter(offered=0, dropped=0, done=0, failed=0)
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="keyword-hooks", daemon=True)
        self.thread.start()

    def offer(self, hook: HookSpec, payload: dict[str, Any]) -> bool:
        """Queue one call; False (and counted) when the queue is full or closed. Never blocks long."""
        with self.cond:
            self.stats["offered"] += 1
            if self.closed or len(self.queue) >= self.max_queue:
                self.stats["dropped"] += 1
                return False
            self.queue.append((hook, payload))
            self.cond.notify()
        return True

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued call has run (tests, shutdown)."""
        with self.cond:
            return self.cond.wait_for(lambda: not self.queue and not self._busy, timeout)

    def close(self, timeout: float = 5.0) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join(timeout)

    _busy = False

    def _run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.queue or self.closed)
                if not self.queue:
                    return
                hook, payload = self.queue.popleft()
                self._busy = True
            try:
                call(hook, payload)
                outcome = "done"
            except Exception as exc:  # a hook's failure is the hook's business: count, log, go on
                log.warning("keyword hook for %r failed: %s", payload.get("label"), exc)
                outcome = "failed"
            with self.cond:
                self.stats[outcome] += 1
                self._busy = False
                self.cond.notify_all()


def call(hook: HookSpec, payload: dict[str, Any]) -> None:
    """Run one hook now (on the caller's thread)."""
    body = json.dumps(payload).encode()
    if hook.command:
        done = subprocess.run(hook.command, input=body, timeout=hook.timeout_s, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"{hook.command[0]} exited {done.returncode}: {done.stderr[-200:]!r}")
    if hook.url:
        request = urllib.request.Request(hook.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=hook.timeout_s) as response:
            response.read()
