"""One audio stream: audio in, partial / final transcripts and VAD events out.

    push(audio) ─▶ energy per frame ─▶ endpointer (speech onset, trailing silence)
        │
        ├─▶ [exact-feature models] conv features in fixed blocks ─▶ feature cache
        │
        └─▶ planner ─▶ stable windows (committed) + partial windows (provisional tail)
                          │ jobs to the shared ModelWorker
                          ▼
    results, applied in window order ─▶ stable frames ─▶ utterance transcript
        ─▶ cuts (silence / blank run / max length / finalize) ─▶ final + utterance_end
        ─▶ partial (stable text + provisional tail) whenever it changes

Every window, feature block and cut is placed by the audio alone, so the committed
tokens do not depend on pacing, push sizes or what else the worker batched.

Threads: ``push``/``finalize``/``end`` run on the producer's thread, job results arrive on
the worker thread; both only enqueue and then ``_pump`` under the stream lock. Events
are delivered outside the lock, in sequence order.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from sewstream.audio.levels import frame_energy_db

from .decode import Transcript, frame_posteriors
from .endpoint import Endpointer, EndpointSettings
from .events import Event, Final, Partial, SpeechStarted, UtteranceEnd, Word
from .plan import Planner, Window, WindowSettings
from .rescore import log_softmax

if TYPE_CHECKING:
    from .recognizer import Recognizer
    from .rescore import FinalRescorer


# Sees the logits of frames [first_frame, first_frame + len(logits)) as they are computed:
# provisional ones (stable=False, may be seen again, refined) and committed ones (stable=True,
# each frame exactly once, in order). Returns events to emit on this stream (or None).
FrameListener = Callable[[int, np.ndarray, bool], "list[Event] | None"]
# Sees every pushed chunk of audio: (index of its first sample in the stream, samples).
# Must accept an empty chunk (``push`` of nothing, ``poke``).
AudioListener = Callable[[int, np.ndarray], "list[Event] | None"]
_NO_AUDIO = np.zeros(0, np.float32)


class StreamClosed(RuntimeError):
    """Audio was pushed after ``end()``."""


class StreamOverloaded(RuntimeError):
    """More unprocessed audio is queued than ``max_backlog_s`` allows."""


@dataclass
class StreamSettings:
    chunk_s: float = 2.0             # committed (stable) output per window
    left_context_s: float = 1.6      # context before it
    right_context_s: float = 0.6     # look-ahead after it
    # provisional windows every feature block (aligned: a block's frames are shown as soon as
    # they exist) with a short context: p50 ~175 ms / p95 ~230 ms from audio to first text
    # (scripts/bench_stream.py); longer blocks cut compute but add their length to latency
    partial_every_s: float = 0.16    # provisional tail window per this much new audio (0: off)
    partial_left_context_s: float = 0.4  # context before a provisional window's new frames
    # a window's last frames lack right context and come out unsure: the next provisional
    # window emits them again (keyword triggers ~0.14 s instead of ~0.7 s after the word,
    # scripts/bench_keywords.py; costs ~25% more provisional compute)
    partial_overlap_s: float = 0.16
    feature_block_s: float = 0.16    # conv feature blocks (exact-feature models only)
    max_backlog_s: float = 60.0      # unprocessed audio a stream may queue before push() refuses
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)


@dataclass
class StreamStats:
    samples: int = 0
    stable_windows: int = 0
    partial_windows: int = 0
    partials_applied: int = 0
    partials_shed: int = 0
    feature_blocks: int = 0
    finals: int = 0
    events: int = 0
    compute_frames: int = 0          # frames run through the encoder (all windows)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Job:
    seq: int
    window: Window
    future: Future


class Stream:
    def __init__(self, name: str, recognizer: Recognizer, settings: StreamSettings | None = None,
                 on_event: Callable[[Event], None] | None = None,
                 frame_listeners: list[FrameListener] | None = None,
                 audio_listeners: list[AudioListener] | None = None,
                 rescorer: FinalRescorer | None = None) -> None:
        self.name, self.rec = name, recognizer
        self.rescorer = rescorer  # finals re-decoded with an LM (rescore.py); None: greedy finals
        self.settings = settings or StreamSettings()
        self.on_event = on_event
        self.frame_listeners = list(frame_listeners or [])
        self.audio_listeners = list(audio_listeners or [])
        for listener in self.audio_listeners:
            # a listener whose results finish off the audio path (a keyword classifier's windows
            # run on the worker) gets ``poke`` to hand them out when ready, not with the next push
            owner = getattr(listener, "__self__", listener)
            if callable(getattr(owner, "wake_with", None)):
                owner.wake_with(self.poke)
        g = self.geometry = recognizer.geometry
        self.frame_seconds = g.seconds(1)
        s = self.settings
        self.planner = Planner(WindowSettings.from_seconds(g, s.chunk_s, s.left_context_s, s.right_context_s,
                                                           s.partial_every_s, s.partial_left_context_s,
                                                           s.partial_overlap_s), g.squeeze)
        self.endpointer = Endpointer(s.endpoint, self.frame_seconds)
        self.exact_features = recognizer.exact_features
        self.block = max(1, g.frames(s.feature_block_s))
        needed = s.chunk_s + s.right_context_s + s.feature_block_s
        if s.max_backlog_s <= needed:
            # a stable window needs chunk + right context (+ a feature block) of audio before
            # it can run: a smaller backlog limit would refuse audio forever
            raise ValueError(f"max_backlog_s={s.max_backlog_s} must exceed chunk_s + right_context_s + "
                             f"feature_block_s = {needed:g}")
        self.lock = threading.RLock()
        self.idle = threading.Condition(self.lock)
        self.deliver_lock = threading.RLock()  # re-entrant: an on_event callback may push audio
        self.stats = StreamStats()
        # audio: samples [audio_offset, audio_offset + len(audio)) of the stream
        self.audio = np.zeros(0, np.float32)
        self.audio_offset = 0
        self.total_samples = 0
        self.energy_frames = 0
        # conv features (exact-feature models): frames [feat_offset, feat_offset + len) ready
        self.features: torch.Tensor | None = None
        self.feat_offset = 0
        self.feat_requested = 0
        self.feature_jobs: collections.deque[tuple[int, int, Future]] = collections.deque()
        # windows in flight, applied strictly in order
        self.jobs: collections.deque[_Job] = collections.deque()
        self.window_seq = 0
        # provisional output: ids of frames [provisional_first, + len) beyond the stable ones,
        # assembled from successive partial windows (one in flight at a time, so under load
        # they simply grow longer and fewer instead of queueing up)
        self.partial_job: _Job | None = None
        self.provisional_first = 0
        self.provisional = np.zeros(0, np.int32)
        # utterance boundaries: closes wait for their frames to be planned as stable windows,
        # cuts wait for the stable frames to reach them; both hold (frame, reason), in order
        self.closes: collections.deque[tuple[int, str]] = collections.deque()
        self.cuts: collections.deque[tuple[int, str]] = collections.deque()
        self.last_boundary = 0          # frame of the latest close or cut requested
        self.utterance = 0              # id of the utterance the stable frames are in
        self.started: set[int] = set()  # utterances whose speech_started was emitted
        # onsets the energy side found in utterances the stable frames have not reached yet:
        # held back so events stay in stream-time order (end of u, then start of u + 1)
        self.pending_starts: collections.deque[tuple[int, int]] = collections.deque()  # (splits, frame)
        self.splits = 0                 # utterance boundaries applied so far (with or without speech)
        self.transcript = self._new_transcript(0)
        self.last_partial: tuple[str, str] | None = None
        self.seq = 0
        self.outbox: collections.deque[Event] = collections.deque()
        # seq of finals in the outbox still being re-decoded: delivery stops at the first one
        self.held: set[int] = set()
        self.ended = False
        self.closed = False

    # ================================================================ public API
    def push(self, audio: np.ndarray) -> None:
        """Append mono float32 audio at 16 kHz (any length, including 0)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        with self.lock:
            if self.ended:
                raise StreamClosed(f"stream {self.name!r} has ended; start a new one")
            backlog = self.total_samples - self.planner.next_emit * self.geometry.stride
            if backlog / 16000 > self.settings.max_backlog_s:
                raise StreamOverloaded(f"stream {self.name!r} has {backlog / 16000:.1f} s of audio waiting "
                                       f"(limit {self.settings.max_backlog_s} s): the model cannot keep up")
            for listener in self.audio_listeners:
                self._emit_all(listener(self.total_samples, audio))
            self.audio = np.concatenate([self.audio, audio]) if len(self.audio) else audio.copy()
            self.total_samples += len(audio)
            self.stats.samples += len(audio)
            self._pump()
        self._deliver()

    def poke(self) -> None:
        """Call the audio listeners with no new audio and deliver the events they return now
        (work of theirs finished off the audio path, e.g. a classifier window on the worker)."""
        with self.lock:
            for listener in self.audio_listeners:
                self._emit_all(listener(self.total_samples, _NO_AUDIO))
        self._deliver()

    def finalize(self) -> None:
        """End the current utterance now (flush its final) and keep the stream open."""
        with self.lock:
            self._request_close(self.available_frames, "finalize")
            self._pump()
        self._deliver()

    def end(self) -> None:
        """No more audio: flush everything; events keep arriving until ``wait()`` returns."""
        with self.lock:
            if not self.ended:
                self.ended = True
                self._request_close(self.available_frames, "end_of_stream")
                self._pump()
        self._deliver()

    def wait(self, timeout: float | None = None, *, include_closes: bool = True) -> bool:
        """Block until every model job submitted so far has been applied and its events
        delivered; with ``include_closes`` also until pending utterance ends (which may need
        more audio, e.g. a silence cut waiting for its feature block) are done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.idle:
            while self.jobs or self.feature_jobs or self.held or (include_closes and self.closes):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.idle.wait(remaining if remaining is not None else 1.0)
        self._deliver()
        return True

    @property
    def busy(self) -> bool:
        """Model jobs of this stream are submitted but not yet applied."""
        return bool(self.jobs or self.feature_jobs)

    def deliver(self) -> None:
        """Hand queued events to ``on_event`` now, in order (normally done after every change)."""
        self._deliver()

    @property
    def available_frames(self) -> int:
        return self.geometry.frames_in(self.total_samples)

    @property
    def time(self) -> float:
        return self.total_samples / self.geometry.sample_rate

    # ================================================================ the pump
    def _pump(self) -> None:
        """Advance every stage as far as the current state allows (lock held)."""
        self._energy()
        if self.exact_features:
            self._request_features()
        self._apply_results()
        self._plan()
        self._trim()
        self.idle.notify_all()

    def _emit(self, event: Event) -> None:
        self.seq += 1
        event.seq = self.seq
        self.stats.events += 1
        self.outbox.append(event)

    def _emit_all(self, events: list[Event] | None) -> None:
        for event in events or ():
            event.stream = self.name
            self._emit(event)

    def _deliver(self) -> None:
        if self.on_event is None:
            self.outbox.clear()
            return
        with self.deliver_lock:  # one deliverer at a time keeps events in seq order
            while True:
                with self.lock:
                    if not self.outbox or self.outbox[0].seq in self.held:
                        return
                    event = self.outbox.popleft()
                self.on_event(event)

    # -------------------------------------------------------------- endpointing
    def _energy(self) -> None:
        g = self.geometry
        whole = self.total_samples // g.stride
        if whole <= self.energy_frames:
            return
        lo = self.energy_frames * g.stride - self.audio_offset
        energies = frame_energy_db(self.audio[lo: lo + (whole - self.energy_frames) * g.stride], g.stride)
        for k, e in enumerate(energies):
            frame = self.energy_frames + k
            decision = self.endpointer.on_energy(frame, float(e))
            if decision is None:
                continue
            kind, at = decision
            if kind == "speech_started":
                # the utterance this onset falls in: the current one plus the boundaries still
                # ahead of the stable frames (the energy side runs ahead of the model side)
                ahead = sum(1 for b, _ in (*self.closes, *self.cuts) if b <= at)
                if ahead:
                    self.pending_starts.append((self.splits + ahead, at))
                else:
                    self._speech_started(at)
            elif kind == "silence":
                self._request_close(at, "silence")
            elif kind == "no_speech":
                self._emit(UtteranceEnd(self.name, utterance=self.utterance, time=round(g.seconds(at), 3),
                                        reason="no_speech"))
        self.energy_frames = whole

    def _request_close(self, at: int, reason: str) -> None:
        """End the utterance at frame ``at``; frames before it must become stable first."""
        self.endpointer.ended(at)
        if at <= self.last_boundary:
            return  # an earlier request already ends it there or later
        self.last_boundary = at
        if at <= self.planner.next_emit:
            self.cuts.append((at, reason))  # already covered by stable windows: a plain cut
        else:
            self.closes.append((at, reason))

    def _speech_started(self, frame: int) -> None:
        """speech_started for the utterance the stable frames are in (once per utterance)."""
        if self.utterance not in self.started:
            self.started.add(self.utterance)
            self._emit(SpeechStarted(self.name, utterance=self.utterance,
                                     time=round(self.geometry.seconds(frame), 3)))

    # ----------------------------------------------------------------- features
    def _request_features(self) -> None:
        """Conv features in blocks on a fixed grid; a finalize or the end flushes a short block."""
        available = self.available_frames
        flush_to = next((at for at, reason in self.closes if reason in ("finalize", "end_of_stream")), None)
        while True:
            start, end = self.feat_requested, self.feat_requested + self.block
            if end > available:
                if flush_to is None or flush_to <= start:
                    break
                end = min(flush_to, available)
            lo, hi = self.geometry.sample_span(start, end)
            piece = torch.from_numpy(self.audio[lo - self.audio_offset: hi - self.audio_offset].copy())
            future = self.rec.worker.submit("features", piece)
            self.feature_jobs.append((start, end, future))
            self.feat_requested = end
            self.stats.feature_blocks += 1
            future.add_done_callback(self._on_done)

    def _collect_features(self) -> None:
        while self.feature_jobs and self.feature_jobs[0][2].done():
            start, end, future = self.feature_jobs.popleft()
            block = future.result()
            if self.features is None:
                self.features, self.feat_offset = block, start
            else:
                self.features = torch.cat([self.features, block])

    @property
    def ready_frames(self) -> int:
        """Frames a window may cover: computed features, or whole frames of audio."""
        if not self.exact_features:
            return self.available_frames
        return self.feat_offset + (0 if self.features is None else len(self.features))

    # ------------------------------------------------------------------ windows
    def _plan(self) -> None:
        ready = self.ready_frames
        while self.closes and ready >= self.closes[0][0]:
            at, reason = self.closes.popleft()
            for window in self.planner.stable(at):
                self._submit(window)
            closing = self.planner.close(at)
            if closing is not None:
                self._submit(closing)
            self.cuts.append((at, reason))
        if self.closes:
            ready = min(ready, self.closes[0][0])
        for window in self.planner.stable(ready):
            self._submit(window)
        if self.partial_job is None and not self.closes and (self.endpointer.in_speech or self.transcript.has_text):
            window = self.planner.partial(ready, self.provisional_first + len(self.provisional))
            if window is not None:
                self._submit(window)

    def _window_input(self, window: Window) -> tuple[str, torch.Tensor]:
        if self.exact_features:
            lo = window.start - self.feat_offset
            return "encode", self.features[lo: lo + window.length].clone()
        lo, hi = self.geometry.sample_span(window.start, window.end)
        audio = self.audio[lo - self.audio_offset: hi - self.audio_offset]
        return "logits", torch.from_numpy(self.rec.prepare_window(audio))

    def _submit(self, window: Window) -> None:
        runner, item = self._window_input(window)
        self.window_seq += 1
        self.stats.compute_frames += window.length
        if window.kind == "partial":
            job = _Job(self.window_seq, window, None)
            job.future = self.rec.worker.submit(runner, item, priority="partial")
            self.partial_job = job
            self.stats.partial_windows += 1
        else:
            job = _Job(self.window_seq, window, self.rec.worker.submit(runner, item))
            self.jobs.append(job)
            self.stats.stable_windows += 1
        job.future.add_done_callback(self._on_done)

    def _on_done(self, _future: Future) -> None:
        with self.lock:
            self._pump()
        self._deliver()

    # ------------------------------------------------------------------ results
    def _apply_results(self) -> None:
        if self.exact_features:
            self._collect_features()
        changed = False
        while self.jobs and self.jobs[0].future.done():
            job = self.jobs.popleft()
            self._apply_stable(job.window, job.future.result().numpy())
            changed = True
        partial = self.partial_job
        if partial is not None and partial.future.done():
            self.partial_job = None
            if partial.future.cancelled():
                self.stats.partials_shed += 1
            elif partial.window.emit_end > self.stable_end:
                w = partial.window
                tail = partial.future.result().numpy()[w.emit_start - w.start:]
                for listener in self.frame_listeners:
                    self._emit_all(listener(w.emit_start, tail, False))
                self._add_provisional(w.emit_start, frame_posteriors(tail)[0])
                self.stats.partials_applied += 1
                changed = True
        if changed:
            self._emit_partial()

    def _apply_stable(self, window: Window, logits: np.ndarray) -> None:
        kept = logits[window.emit_start - window.start: window.emit_end - window.start]
        for listener in self.frame_listeners:
            self._emit_all(listener(window.emit_start, kept, True))
        self.transcript.append(*frame_posteriors(kept), log_softmax(kept) if self.rescorer else None)
        self._apply_cuts()
        self._ctc_endpoints()

    @property
    def stable_end(self) -> int:
        return self.transcript.first_frame + self.transcript.num_frames

    def _apply_cuts(self) -> None:
        while self.cuts and self.cuts[0][0] <= self.stable_end:
            at, reason = self.cuts.popleft()
            self._split(at, reason)

    def _ctc_endpoints(self) -> None:
        """Blank-run and maximum-length cuts, decided on stable frames (so they fall inside
        the current utterance: pending cuts all lie beyond the stable frames)."""
        blank = self.rec.vocab.blank
        limit = self.geometry.frames(self.settings.endpoint.max_utterance_s)
        while self.transcript.num_frames:
            t = self.transcript
            ids = t.all_ids()
            at, reason = None, None
            if t.has_text:
                at = self.endpointer.blank_run_end(ids, t.first_frame, blank, had_text=False)
                reason = "blank_run"
            if at is None and t.num_frames >= limit:
                at, reason = self.endpointer.max_length_cut(ids, t.first_frame, blank), "max_length"
            if at is None:
                return
            if self.endpointer.in_speech and reason == "blank_run":
                self.endpointer.ended(at)
            self.last_boundary = max(self.last_boundary, at)
            self._split(at, reason)

    def _split(self, at: int, reason: str) -> None:
        """Finish the utterance at frame ``at``; stable frames after it start the next one."""
        t = self.transcript
        n = at - t.first_frame
        ids, probs = t.all_ids(), t.all_probs()
        log_probs = t.all_log_probs() if t.log_probs is not None else None
        t.ids, t.probs, t.num_frames = [ids[:n]], [probs[:n]], n
        if log_probs is not None:
            t.log_probs = [log_probs[:n]]
        t.invalidate()
        text = " ".join(t.text().split())
        u = self.utterance
        if text or u in self.started:
            words = t.words()
            if text:
                self._speech_started(t.first_frame + int(np.flatnonzero(ids[:n] != self.rec.vocab.blank)[0]))
                final = Final(self.name, utterance=u, text=text, words=words,
                              start=words[0].start if words else round(t.time(0), 3),
                              end=words[-1].end if words else round(t.time(n), 3))
                self._emit(final)
                self.stats.finals += 1
                if log_probs is not None:
                    self._rescore(final, log_probs[:n], t.first_frame)
            self._emit(UtteranceEnd(self.name, utterance=u, time=round(self.geometry.seconds(at), 3), reason=reason))
            self.started.discard(u)
            self.utterance += 1
        self.splits += 1
        while self.pending_starts and self.pending_starts[0][0] <= self.splits:
            self._speech_started(self.pending_starts.popleft()[1])
        self.transcript = self._new_transcript(at)
        if n < len(ids):
            self.transcript.append(ids[n:], probs[n:], None if log_probs is None else log_probs[n:])
        self.last_partial = None
        self._trim_provisional()

    def _new_transcript(self, first_frame: int) -> Transcript:
        return Transcript(self.rec.vocab, self.frame_seconds, first_frame=first_frame,
                          log_probs=[] if self.rescorer else None)

    def _rescore(self, final: Final, log_probs: np.ndarray, first_frame: int) -> None:
        """Hold ``final`` (and what follows it) while the rescorer re-decodes it with the LM."""
        def done(words: list[Word] | None) -> None:  # on the rescorer's thread
            with self.lock:
                if words:  # None: decoding failed; []: the LM path has no words. Either way greedy stays
                    final.text, final.words = " ".join(w.word for w in words), words
                    final.start, final.end = words[0].start, words[-1].end
                self.held.discard(final.seq)
                self.idle.notify_all()
            self._deliver()

        self.held.add(final.seq)
        if not self.rescorer.submit(log_probs, first_frame, done):
            self.held.discard(final.seq)  # too many waiting: this final keeps its greedy text

    def _add_provisional(self, first: int, ids: np.ndarray) -> None:
        """Provisional ids for frames [first, first + len(ids)), replacing any from ``first`` on."""
        have_end = self.provisional_first + len(self.provisional)
        if self.provisional_first <= first <= have_end:
            self.provisional = np.concatenate([self.provisional[: first - self.provisional_first], ids])
        else:  # not contiguous with what we have: this window's frames replace it all
            self.provisional_first, self.provisional = first, ids
        self._trim_provisional()

    def _trim_provisional(self) -> None:
        """Drop provisional frames that stable windows have now committed."""
        end = self.stable_end
        if end > self.provisional_first:
            self.provisional = self.provisional[min(end - self.provisional_first, len(self.provisional)):]
            self.provisional_first = end

    def _emit_partial(self) -> None:
        t = self.transcript
        self._trim_provisional()
        stable = t.text()
        extra = self.provisional if len(self.provisional) else None
        full = t.text(extra)
        unstable = full[len(stable):]
        key = (stable, unstable)
        if key == self.last_partial or not full.strip():
            return
        self.last_partial = key
        heard = self.stable_end + (0 if extra is None else len(extra))
        self._emit(Partial(self.name, utterance=self.utterance, text=" ".join(full.split()),
                           stable=stable.lstrip(), unstable=unstable, end=round(self.geometry.seconds(heard), 3)))

    # ------------------------------------------------------------------- memory
    def _trim(self) -> None:
        """Drop audio and features no future window, feature block or energy frame needs."""
        g = self.geometry
        keep_frame = self.planner._start(self.planner.next_emit)
        keep = min(self.energy_frames, self.feat_requested if self.exact_features else keep_frame) * g.stride
        if keep > self.audio_offset:
            self.audio = self.audio[keep - self.audio_offset:]
            self.audio_offset = keep
        if self.features is not None and keep_frame > self.feat_offset:
            cut = min(keep_frame - self.feat_offset, len(self.features))
            self.features = self.features[cut:]
            self.feat_offset += cut
