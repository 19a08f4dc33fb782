"""Keyword classifiers: SEW / SEW-D sequence-classification models over sliding windows.

The model runs on the recogniser's one model-worker thread (a runner added with
``worker.add_runner``), batched with everything else; it never gets a thread of its own.
An audio listener cuts windows of ``window_s`` ending every ``hop_s`` of stream audio (a
grid fixed by sample positions, so results do not depend on push sizes), submits them, and
turns finished results into events in window order. A stream binds itself
(``wake_with(stream.poke)``), so each finished window wakes the stream and its events go
out then; unbound (no stream), results are collected on the next push or frame result.

A keyword fires when its probability is >= threshold and above every other word label's
(see :func:`keyword_support`) in ``patience`` consecutive windows. The reported span is
where the word must be if every one of those windows holds it: from the start of the last
window to the end of the first.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sewstream.model import SEWForSequenceClassification, load_model
from sewstream.stream.events import KeywordEvent

from .hooks import HookRunner
from .settings import ClassifierSettings, Keyword, KeywordError
from .window_features import FrameCache, can_share_frames

SAMPLE_RATE = 16000


class OfflineClassifier:
    """A sequence-classification checkpoint that classifies windows on the caller's thread
    (offline evaluation, scripts)."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        from sewstream.model.checkpoint import resolve_checkpoint
        from sewstream.text import FeatureExtractor

        model = load_model(path, device=device, dtype=dtype)
        if not isinstance(model, SEWForSequenceClassification):
            raise KeywordError(f"keywords.classifier.model {str(path)!r} is a {type(model).__name__}, "
                               "not a sequence-classification checkpoint")
        self.path = str(path)
        self.model = model.eval()
        id2label = model.config.id2label or {i: f"LABEL_{i}" for i in range(model.config.num_labels)}
        self.labels = [id2label[i] for i in range(len(id2label))]
        directory = resolve_checkpoint(path)
        pre = directory / "preprocessor_config.json"
        self.normalize = FeatureExtractor.from_pretrained(directory).do_normalize if pre.exists() else True
        self.min_samples = model.config.receptive_field
        # overlapping windows share their conv frames where the model allows it (exactly)
        self.frames = FrameCache(model) if can_share_frames(model, self.normalize) else None

    def _run(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, S) windows -> (B, labels) probabilities."""
        if self.frames is not None:
            logits = self.model.logits_from_features(self.frames(audio))
        else:
            if self.normalize:
                audio = normalize_windows(audio)
            param = next(self.model.parameters())
            logits = self.model(audio.to(device=param.device, dtype=param.dtype)).logits
        return logits.float().softmax(-1).cpu()

    def label_index(self, keyword: Keyword) -> int:
        """The output index of a classifier keyword's phrase (case-insensitive)."""
        wanted = keyword.phrase.strip().lower()
        for i, label in enumerate(self.labels):
            if label.lower() == wanted:
                return i
        raise KeywordError(f"{keyword.where} ({keyword.phrase!r}): the classifier {self.path} has no such label; "
                           f"it has {', '.join(self.labels)}")

    def classify(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities for one window (S,) or a batch of windows (B, S), now, on the caller's
        thread (offline evaluation)."""
        batch = torch.from_numpy(np.asarray(audio, np.float32))
        with torch.inference_mode():
            probs = self._run(batch if batch.ndim == 2 else batch[None]).numpy()
        return probs if batch.ndim == 2 else probs[0]


class ClassifierModel(OfflineClassifier):
    """A sequence-classification checkpoint, registered as a runner on a recogniser's worker
    (where ``_run`` then runs, batched with everything else)."""

    def __init__(self, path: str | Path, recognizer) -> None:
        param = next(recognizer.model.parameters())
        super().__init__(path, device=param.device, dtype=param.dtype)
        self.runner = f"keyword-classifier:{self.path}"
        recognizer.worker.add_runner(self.runner, self._run)


def normalize_windows(audio: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per window (last axis), as a ``do_normalize`` classifier was
    trained (Wav2Vec2FeatureExtractor)."""
    return (audio - audio.mean(-1, keepdim=True)) / torch.sqrt(audio.var(-1, keepdim=True) + 1e-7)


def keyword_support(probs: np.ndarray, labels: list[str], ignore: Iterable[str]) -> np.ndarray:
    """Each word label's probability where it beats every other word label, else 0 (``probs``:
    (..., labels)); a keyword's window counts when this reaches its threshold.

    Word labels are all but ``ignore`` (``_unknown_``, ``_silence_``). Those do not compete: a
    window that is half "no", half "_unknown_" is a doubtful "no", not evidence against it, so
    the threshold alone sets the trade-off, also below 0.5. Other words do compete (a window
    the model calls "go" is not a "no" at any threshold).
    """
    skip = {label.lower() for label in ignore}
    words = np.array([label.lower() not in skip for label in labels])
    masked = np.where(words, probs, 0.0)
    return np.where(masked >= masked.max(axis=-1, keepdims=True), masked, 0.0)


@dataclass
class _Run:
    """Consecutive windows where one keyword was the confident top word label."""

    count: int = 0
    first_end: int = 0      # end sample of the run's first window
    scores: list[float] = field(default_factory=list)
    fired: bool = False


@dataclass
class ClassifierStats:
    windows: int = 0
    results: int = 0
    shed: int = 0
    errors: int = 0
    fired: int = 0
    suppressed: int = 0


class ClassifierListener:
    """Audio listener (submits windows) plus a frame listener (collects results) for one stream."""

    def __init__(self, recognizer, keywords: Callable[[], tuple[ClassifierModel | None, list[Keyword]]],
                 settings: ClassifierSettings, *, stream: str | None = None, hooks: HookRunner | None = None) -> None:
        self.worker, self.keywords, self.settings = recognizer.worker, keywords, settings
        self.stream_name, self.hooks = stream, hooks
        self.window = round(settings.window_s * SAMPLE_RATE)
        self.hop = round(settings.hop_s * SAMPLE_RATE)
        self.audio = np.zeros(0, np.float32)
        self.offset = 0                       # stream sample index of audio[0]
        self.next_end = self.window           # the next window ends at this sample
        self.pending: collections.deque[tuple[int, Future, ClassifierModel, list[Keyword]]] = collections.deque()
        self.runs: dict[str, _Run] = {}
        self.fired: dict[str, collections.deque[tuple[int, int]]] = {}
        self.lock = threading.Lock()
        self.stats = ClassifierStats()
        self.wake: Callable[[], None] | None = None

    # ------------------------------------------------------------------ listeners
    def wake_with(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the worker thread) whenever a window's result is ready; it
        should call ``on_audio`` with no samples and hand out the events (``Stream.poke``)."""
        self.wake = callback

    def on_audio(self, first_sample: int, samples: np.ndarray) -> list[KeywordEvent]:
        submitted: list[Future] = []
        with self.lock:
            # a jump: start the grid again there (an empty call is a wake-up, never a jump: its
            # index may lag when the stream pokes from inside the push that fed this audio)
            if len(samples) and first_sample != self.offset + len(self.audio):
                self.audio, self.offset = np.zeros(0, np.float32), first_sample
                self.next_end = first_sample + self.window
            self.audio = np.concatenate([self.audio, np.asarray(samples, np.float32)])
            model, keywords = self.keywords()
            end = self.offset + len(self.audio)
            while self.next_end <= end:
                if model is not None and keywords:
                    submitted.append(self._submit(model, keywords))
                self.next_end += self.hop
            cut = max(0, self.next_end - self.window - self.offset)
            self.audio, self.offset = self.audio[cut:], self.offset + cut
            events = self._drain()
        if self.wake is not None:
            # outside the lock: a future already done (shed) runs its callback right here
            for future in submitted:
                future.add_done_callback(self._finished)
        return events

    def _finished(self, _future: Future) -> None:
        wake = self.wake
        if wake is not None:
            wake()

    def on_frames(self, first_frame: int, logits: np.ndarray, stable: bool) -> list[KeywordEvent]:
        with self.lock:
            return self._drain()

    def flush(self, timeout: float = 10.0) -> list[KeywordEvent]:
        """Wait for every submitted window and return the remaining events (end of a stream)."""
        for _, future, _, _ in list(self.pending):
            with contextlib.suppress(Exception):  # counted in _drain
                future.result(timeout)
        with self.lock:
            return self._drain()

    def futures(self) -> list[Future]:
        """The windows still being classified (a simulated clock waits on them)."""
        with self.lock:
            return [future for _, future, _, _ in self.pending if not future.done()]

    # ------------------------------------------------------------------ internals
    def _submit(self, model: ClassifierModel, keywords: list[Keyword]) -> Future:
        lo = self.next_end - self.window - self.offset
        piece = torch.from_numpy(self.audio[lo: lo + self.window].copy())
        future = self.worker.submit(model.runner, piece, priority=self.settings.priority)
        self.pending.append((self.next_end, future, model, keywords))
        self.stats.windows += 1
        return future

    def _drain(self) -> list[KeywordEvent]:
        events: list[KeywordEvent] = []
        while self.pending and self.pending[0][1].done():
            end, future, model, keywords = self.pending.popleft()
            if future.cancelled():
                self.stats.shed += 1
                probs = None
            else:
                try:
                    probs = future.result().numpy()
                    self.stats.results += 1
                except Exception:
                    self.stats.errors += 1
                    probs = None
            events += self._window(end, probs, model, keywords)
        return events

    def _window(self, end: int, probs: np.ndarray | None, model: ClassifierModel,
                keywords: list[Keyword]) -> list[KeywordEvent]:
        out = []
        support = None if probs is None else keyword_support(probs, model.labels, self.settings.ignore_labels)
        for keyword in keywords:
            index = model.label_index(keyword)
            run = self.runs.setdefault(keyword.label, _Run())
            if support is None or support[index] == 0 or support[index] < keyword.threshold:
                self.runs[keyword.label] = _Run()  # the run is broken (a lost window breaks it too)
                continue
            if run.count == 0:
                run.first_end = end
            run.count += 1
            run.scores.append(float(probs[index]))
            if run.fired or run.count < keyword.patience:
                continue
            start, stop = end - self.window, run.first_end
            run.fired = True  # one event per run, even if the suppression below drops it
            if self._suppressed(keyword, start, stop):
                continue
            self.fired.setdefault(keyword.label, collections.deque(maxlen=16)).append((start, stop))
            self.stats.fired += 1
            score = float(np.mean(run.scores[-keyword.patience:]))
            event = KeywordEvent(stream=self.stream_name or "", label=keyword.label, phrase=keyword.phrase,
                                 score=round(score, 4), start=round(start / SAMPLE_RATE, 3),
                                 end=round(stop / SAMPLE_RATE, 3), detector="classifier")
            if keyword.hook is not None and self.hooks is not None:
                self.hooks.offer(keyword.hook, event.to_json())
            out.append(event)
        return out

    def _suppressed(self, keyword: Keyword, start: int, end: int) -> bool:
        cooldown = round(keyword.cooldown_s * SAMPLE_RATE)
        for s, e in self.fired.get(keyword.label, ()):
            if start < e + cooldown and end > s - cooldown:
                self.stats.suppressed += 1
                return True
        return False

