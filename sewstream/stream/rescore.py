"""Finals re-decoded with a word language model, on their own thread.

Partials stay greedy (they change every 0.16 s and must be cheap). When an utterance ends,
its stable frames' log-probabilities go to the rescorer, whose one thread runs the CTC beam
search with the LM (``sewstream.text.beam_search``, ~4-7 ms per second of audio at beam 16)
and hands the words back; the stream holds that final, and every event after it, until
then, so subscribers still see events in order. The beam search never runs on the model
worker's thread or on the event loop.

Bounded: at most ``max_pending`` finals wait; beyond that (or if decoding fails) a final
keeps its greedy text, is delivered at once and counted in ``skipped`` / ``failed``:
a final is never lost or held indefinitely, only decoded more cheaply.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .events import Word

if TYPE_CHECKING:
    from sewstream.text.beam_search import BeamSearchDecoder


@dataclass
class DecodingSettings:
    # "auto": the model directory's lm.arpa.gz if it has one (the embedded model does), else greedy;
    # "none" or null: greedy CTC; anything else: an ARPA file
    lm: str | None = "auto"
    alpha: float = 0.5        # LM weight
    beta: float = 2.0         # per-word bonus
    unk_offset: float = 0.0   # per word outside the LM's vocabulary (more negative: stick to its words)
    beam: int = 16            # beam width
    max_pending: int = 32     # finals waiting for the LM; more keep their greedy text (counted)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def decode_words(decoder: BeamSearchDecoder, log_probs: np.ndarray, first_frame: int,
                 frame_seconds: float) -> list[Word]:
    """The beam search's words with stream times (seconds) for frames starting at ``first_frame``."""
    return [Word(w.word, round((first_frame + w.first_frame) * frame_seconds, 3),
                 round((first_frame + w.end_frame) * frame_seconds, 3), round(w.confidence, 3))
            for w in decoder.decode(log_probs)]


@dataclass
class RescoreStats:
    rescored: int = 0
    skipped: int = 0          # the queue was full: greedy text kept
    failed: int = 0           # the decoder raised: greedy text kept
    busy_seconds: float = 0.0
    audio_seconds: float = 0.0


class FinalRescorer:
    def __init__(self, decoder: BeamSearchDecoder, frame_seconds: float, max_pending: int = 32) -> None:
        self.decoder, self.frame_seconds = decoder, frame_seconds
        self.stats = RescoreStats()
        self.max_pending = max_pending
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0  # queued or decoding; bounded by max_pending in submit()
        self._stats_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="final-rescorer", daemon=True)
        self.thread.start()

    def submit(self, log_probs: np.ndarray, first_frame: int, done: Callable[[list[Word] | None], None]) -> bool:
        """Queue one final; ``done(words)`` is called on the rescorer's thread (``None`` if
        decoding failed). False (nothing queued) when ``max_pending`` finals already wait."""
        with self._stats_lock:
            if self._pending >= self.max_pending:
                self.stats.skipped += 1
                return False
            self._pending += 1
        self._jobs.put((log_probs, first_frame, done))
        return True

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            log_probs, first_frame, done = job
            started = time.perf_counter()
            try:
                words = decode_words(self.decoder, log_probs, first_frame, self.frame_seconds)
            except Exception:  # a decoder bug must not take finals with it: greedy text stays
                words = None
            with self._stats_lock:
                self._pending -= 1
                self.stats.busy_seconds += time.perf_counter() - started
                self.stats.audio_seconds += len(log_probs) * self.frame_seconds
                if words is None:
                    self.stats.failed += 1
                else:
                    self.stats.rescored += 1
            done(words)

    def close(self) -> None:
        self._jobs.put(None)
        self.thread.join(5.0)
