"""The CTC keyword spotter: a stream frame listener that turns posteriors into keyword events.

Frames arrive two ways (see ``Stream``): provisional tails every ~0.24 s (fast, refined
later, may be skipped) and committed frames in order, exactly once, ~2-3 s later. The
spotter keeps one timeline of frame scores: committed frames, then the newest
provisional tail after them. The Viterbi state is checkpointed on committed frames only,
``boundary`` frames behind the committed end (so a keyword ending there still has its
right boundary ahead); every call rescans from the checkpoint to the end of the timeline.

The timeline holds ``ctc_scorer.emission_matrix`` rows. A detection whose frames (and
boundary check) lie in committed frames needs ``threshold``; one that uses provisional
frames needs ``threshold + provisional_margin`` (decide early only when the score is
clear). Each keyword's fired spans, widened by its cooldown, suppress
any later detection that overlaps them, so one spoken occurrence fires once, whether it is
seen first provisionally and then committed, or re-aligned a frame or two differently.
All positions are frames of stream time, so debouncing never depends on wall time.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sewstream.stream.decode import Vocabulary
from sewstream.stream.events import KeywordEvent

from .ctc_scorer import KeywordGraph, ViterbiState, boundary, emission_matrix, phrase_tokens, scan, to_score
from .hooks import HookRunner
from .settings import Keyword, KeywordError, KeywordSettings


class KeywordSource(Protocol):
    """Where a detector gets its keywords; ``version`` changes when they change (hot reload)."""

    version: int

    def keywords(self, stream: str | None, detector: str) -> list[Keyword]: ...


class StaticSource:
    """A fixed keyword list."""

    version = 0

    def __init__(self, keywords: list[Keyword]) -> None:
        self._keywords = list(keywords)

    def keywords(self, stream: str | None, detector: str) -> list[Keyword]:
        return [k for k in self._keywords if k.detector == detector]


@dataclass(frozen=True)
class CompiledKeywords:
    """Keywords with their graph and per-keyword decision values (log domain)."""

    keywords: tuple[Keyword, ...]
    graph: KeywordGraph | None
    stable_log: np.ndarray        # (K,) a committed detection needs D / n >= this
    provisional_log: np.ndarray   # (K,) one that uses provisional frames needs >= this
    cooldown: np.ndarray          # (K,) frames

    @classmethod
    def build(cls, keywords: list[Keyword], vocab: Vocabulary, margin: float,
              frame_seconds: float) -> CompiledKeywords:
        token_to_id = {t: i for i, t in vocab.id_to_token.items()}
        tokens = []
        for k in keywords:
            try:
                tokens.append(phrase_tokens(k.phrase, token_to_id))
            except ValueError as exc:
                raise KeywordError(f"{k.where} ({k.phrase!r}): {exc}") from None
        graph = KeywordGraph.compile(tokens, len(vocab.id_to_token), vocab.blank) if tokens else None

        def log_of(score: float, boost: float) -> float:
            return math.log(min(score, 1.0)) - boost  # compared with the unboosted D / n

        stable = np.array([log_of(k.threshold, k.boost) for k in keywords], np.float32)
        provisional = np.array([log_of(min(0.999, k.threshold + margin), k.boost) for k in keywords], np.float32)
        cooldown = np.array([round(k.cooldown_s / frame_seconds) for k in keywords], np.int64)
        return cls(tuple(keywords), graph, stable, provisional, cooldown)


@dataclass
class SpotterStats:
    provisional_calls: int = 0
    stable_calls: int = 0
    fired_provisional: int = 0      # detections decided on provisional frames
    fired_stable: int = 0           # detections decided on committed frames
    suppressed: int = 0             # candidates that hit an earlier detection's span or cooldown
    provisional_gaps: int = 0       # provisional tails that did not join the timeline (ignored)
    reloads: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class KeywordSpotter:
    """Frame listener for ``Stream(frame_listeners=[...])``: keyword events from CTC logits."""

    def __init__(self, vocab: Vocabulary, source: KeywordSource | list[Keyword], *,
                 settings: KeywordSettings | None = None, frame_seconds: float = 0.02,
                 stream: str | None = None, hooks: HookRunner | None = None) -> None:
        self.vocab, self.stream_name, self.hooks = vocab, stream, hooks
        self.source = StaticSource(source) if isinstance(source, list) else source
        self.frame_seconds = frame_seconds
        self._use(settings or KeywordSettings())
        token_to_id = {t: i for i, t in vocab.id_to_token.items()}
        self.delimiter = token_to_id.get(vocab.delimiter)
        self.stats = SpotterStats()
        # the timeline: frames [base, base + len(ids)); committed up to stable_end
        self.base = 0
        self.emissions = np.zeros((0, 2 * len(vocab.id_to_token) + 1), np.float32)
        self.ids = np.zeros(0, np.int64)
        self.stable_end = 0
        self.fired: dict[str, collections.deque[tuple[int, int]]] = {}
        self.version: int | None = None
        self.compiled = self._compile()
        self.check = self._fresh_state(0)

    # ------------------------------------------------------------------ keywords
    def _use(self, settings: KeywordSettings) -> None:
        self.settings = settings
        self.gap = max(1, round(settings.boundary_s / self.frame_seconds))
        self.max_frames = max(2, round(settings.max_phrase_s / self.frame_seconds))

    def _compile(self) -> CompiledKeywords:
        self.version = self.source.version
        keywords = self.source.keywords(self.stream_name, "ctc")
        return CompiledKeywords.build(keywords, self.vocab, self.settings.provisional_margin, self.frame_seconds)

    def _fresh_state(self, frame: int) -> ViterbiState | None:
        g = self.compiled.graph
        return None if g is None else ViterbiState.fresh(g, frame)

    def _maybe_reload(self) -> None:
        if self.source.version == self.version:
            return
        frame = self.check.frame if self.check is not None else self._check_frame()
        settings = getattr(self.source, "settings", None)
        if isinstance(settings, KeywordSettings):  # section-wide values may have changed too
            self._use(settings)
        self.compiled = self._compile()  # the source validated these already
        self.check = self._fresh_state(frame)  # paths in progress are lost: at most one occurrence
        self.stats.reloads += 1

    @property
    def keywords(self) -> tuple[Keyword, ...]:
        return self.compiled.keywords

    # ------------------------------------------------------------------ listener
    def __call__(self, first_frame: int, logits: np.ndarray, stable: bool) -> list[KeywordEvent]:
        self._maybe_reload()
        logits = np.asarray(logits, np.float32)
        if stable:
            self.stats.stable_calls += 1
            self._put(first_frame, logits, stable=True)
        else:
            self.stats.provisional_calls += 1
            skip = max(0, self.stable_end - first_frame)  # already committed: those frames win
            if skip < len(logits):
                if first_frame + skip > self.base + len(self.ids):
                    self.stats.provisional_gaps += 1  # frames between are unknown: wait for more
                else:
                    self._put(first_frame + skip, logits[skip:], stable=False)
        events: list[KeywordEvent] = []
        if self.compiled.graph is not None:
            if stable:
                self._advance_checkpoint(events)
            self._scan_tail(events)
        self._trim()
        return events

    def _put(self, first: int, logits: np.ndarray, stable: bool) -> None:
        """Write frames into the timeline: committed frames overwrite, a provisional tail replaces
        everything after its first frame."""
        if first > self.base + len(self.ids) or first < self.base:  # a jump (or a fresh stream)
            self.base, self.ids = first, np.zeros(0, np.int64)
            self.emissions = self.emissions[:0]
            self.stable_end = max(self.stable_end, first) if stable else self.stable_end
            if self.check is not None and self.check.frame < first:
                self.check = self._fresh_state(first)
        emissions = emission_matrix(logits, self.vocab.blank, self.delimiter)
        ids = logits.argmax(axis=-1).astype(np.int64)
        lo, hi = first - self.base, first - self.base + len(logits)
        if stable and hi < len(self.ids):  # keep the provisional frames beyond the committed ones
            self.emissions[lo:hi], self.ids[lo:hi] = emissions, ids
        else:
            self.emissions = np.concatenate([self.emissions[:lo], emissions])
            self.ids = np.concatenate([self.ids[:lo], ids])
        if stable:
            self.stable_end = first + len(logits)

    # ------------------------------------------------------------------ decisions
    def _check_frame(self) -> int:
        return max(self.base, self.stable_end - self.gap)

    def _advance_checkpoint(self, events: list[KeywordEvent]) -> None:
        """Scan committed frames far enough behind the committed end; their decisions are final."""
        target = self._check_frame()
        if self.check.frame < self.base:
            self.check = self._fresh_state(self.base)
        if target <= self.check.frame:
            return
        lo, hi = self.check.frame - self.base, target - self.base
        self._decide(scan(self.compiled.graph, self.emissions[lo:hi], self.check, self.max_frames), events)

    def _scan_tail(self, events: list[KeywordEvent]) -> None:
        """Rescan from the checkpoint over the rest of the timeline (committed + provisional)."""
        lo = self.check.frame - self.base
        if lo >= len(self.ids):
            return
        state = self.check.copy()
        self._decide(scan(self.compiled.graph, self.emissions[lo:], state, self.max_frames), events)

    def _decide(self, comp, events: list[KeywordEvent]) -> None:
        c = self.compiled
        g = c.graph
        known_end = self.base + len(self.ids)
        floor = float(min(c.stable_log.min(), c.provisional_log.min()))
        rows, ks = np.nonzero(comp.log_score >= floor)
        for row, k in sorted(zip(rows.tolist(), ks.tolist())):
            value = float(comp.log_score[row, k])
            start, end = int(comp.start[row, k]), comp.first_frame + row + 1
            keyword = c.keywords[k]
            used = end
            if keyword.whole_word:
                ok, used = boundary(self.ids, self.base, start, end, int(g.first_token[k]), int(g.last_token[k]),
                                    self.vocab.blank, self.delimiter, self.gap, known_end)
                if not ok:
                    continue  # a longer word (False) or not decidable yet (None)
            provisional = used > self.stable_end
            if value < (c.provisional_log[k] if provisional else c.stable_log[k]):
                continue
            if self._suppressed(keyword.label, start, end, int(c.cooldown[k])):
                continue
            self.fired.setdefault(keyword.label, collections.deque(maxlen=16)).append((start, end))
            if provisional:
                self.stats.fired_provisional += 1
            else:
                self.stats.fired_stable += 1
            events.append(self._event(keyword, value, start, end))

    def _suppressed(self, label: str, start: int, end: int, cooldown: int) -> bool:
        for s, e in self.fired.get(label, ()):
            if start < e + cooldown and end > s - cooldown:
                self.stats.suppressed += 1
                return True
        return False

    def _event(self, keyword: Keyword, value: float, start: int, end: int) -> KeywordEvent:
        event = KeywordEvent(stream=self.stream_name or "", label=keyword.label, phrase=keyword.phrase,
                             score=round(float(to_score(value, keyword.boost)), 4),
                             start=round(start * self.frame_seconds, 3), end=round(end * self.frame_seconds, 3),
                             detector="ctc")
        if keyword.hook is not None and self.hooks is not None:
            self.hooks.offer(keyword.hook, event.to_json())
        return event

    def _trim(self) -> None:
        """Forget frames no path, boundary check or rescan can reach any more."""
        checkpoint = self.check.frame if self.check is not None else self._check_frame()
        keep_from = checkpoint - self.max_frames - 2 * self.gap
        cut = min(max(0, keep_from - self.base), len(self.ids))
        if cut > 256:  # trim in chunks: fewer copies
            self.emissions, self.ids = self.emissions[cut:], self.ids[cut:]
            self.base += cut
