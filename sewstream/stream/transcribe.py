"""Whole-file transcription, offline (full context per utterance) or through a stream.

Offline cuts the audio where the stream's energy endpointer would (trailing silence after
speech, and a maximum length), then runs one forward pass per utterance: the reference
that streaming output is measured against. Offline decoding can also use a word language
model (CTC beam search, ``sewstream.text.beam_search``); the stream decodes greedily.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sewstream.audio.levels import frame_energy_db

from .decode import Transcript, frame_posteriors
from .endpoint import Endpointer, EndpointSettings
from .events import Event, Final, Word
from .recognizer import Recognizer
from .rescore import decode_words, log_softmax
from .stream import StreamSettings

if TYPE_CHECKING:
    from sewstream.text.beam_search import BeamSearchDecoder


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Result:
    segments: list[Segment]
    duration: float
    compute_seconds: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    def to_json(self) -> dict:
        return {"text": self.text, "duration": round(self.duration, 3),
                "segments": [asdict(s) for s in self.segments]}


def utterance_cuts(audio: np.ndarray, rec: Recognizer, settings: EndpointSettings) -> list[int]:
    """Frames where the energy endpointer ends utterances, plus max-length splits, plus the end."""
    g = rec.geometry
    total = g.frames_in(len(audio))
    endpointer = Endpointer(settings, g.seconds(1))
    cuts = []
    for frame, energy in enumerate(frame_energy_db(audio, g.stride)):
        decision = endpointer.on_energy(frame, float(energy))
        if decision and decision[0] == "silence" and decision[1] < total:
            cuts.append(decision[1])
            endpointer.ended(decision[1])
    cuts.append(total)
    # split anything longer than the maximum at its quietest frame in the last third
    energy = frame_energy_db(audio, g.stride)
    limit = g.frames(settings.max_utterance_s)
    out, start = [], 0
    for cut in cuts:
        while cut - start > limit:
            lo = start + limit * 2 // 3
            split = lo + int(np.argmin(energy[lo:start + limit])) + 1
            out.append(split)
            start = split
        if cut > start:
            out.append(cut)
            start = cut
    return out


def transcribe_offline(rec: Recognizer, audio: np.ndarray, *, endpoint: EndpointSettings | None = None,
                       progress: Callable[[float], None] | None = None,
                       decoder: BeamSearchDecoder | None = None) -> Result:
    """One forward pass per utterance (cut at silences); greedy CTC, or ``decoder``'s beam
    search with a language model."""
    g = rec.geometry
    started = time.perf_counter()
    segments, start = [], 0
    for cut in utterance_cuts(audio, rec, endpoint or EndpointSettings()):
        lo, hi = g.sample_span(start, cut)
        logits = rec.logits(audio[lo:hi])
        if decoder is not None:
            words = decode_words(decoder, log_softmax(logits[: cut - start]), start, g.seconds(1))
            text = " ".join(w.word for w in words)
        else:
            t = Transcript(rec.vocab, g.seconds(1), first_frame=start)
            t.append(*frame_posteriors(logits[: cut - start]))
            text = " ".join(t.text().split())
            words = t.words() if text else []
        if text:
            segments.append(Segment(words[0].start, words[-1].end, text, words))
        start = cut
        if progress:
            progress(g.seconds(cut))
    return Result(segments, len(audio) / g.sample_rate, time.perf_counter() - started)


_DEFAULT = object()


def transcribe_streaming(rec: Recognizer, audio: np.ndarray, *, settings: StreamSettings | None = None,
                         realtime: bool = False, chunk_s: float = 0.1, rescorer=_DEFAULT,
                         on_event: Callable[[Event], None] | None = None,
                         progress: Callable[[float], None] | None = None) -> Result:
    """Feed the audio through a stream (as fast as possible, or paced like a live source).
    ``rescorer``: the recognizer's LM rescorer by default; None for greedy finals."""
    finals: list[Final] = []

    def collect(event: Event) -> None:
        if isinstance(event, Final):
            finals.append(event)
        if on_event:
            on_event(event)

    extra = {} if rescorer is _DEFAULT else {"rescorer": rescorer}
    stream = rec.stream(settings=settings, on_event=collect, **extra)
    chunk = max(1, int(chunk_s * rec.geometry.sample_rate))
    started = time.perf_counter()
    for i in range(0, len(audio), chunk):
        if realtime:
            delay = started + (i + chunk) / rec.geometry.sample_rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        stream.push(audio[i:i + chunk])
        if progress:
            progress(min(len(audio), i + chunk) / rec.geometry.sample_rate)
    stream.end()
    stream.wait()
    segments = [Segment(f.start, f.end, f.text, f.words) for f in finals]
    return Result(segments, len(audio) / rec.geometry.sample_rate, time.perf_counter() - started)
