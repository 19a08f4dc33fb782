"""Finals re-decoded with a word LM on the rescorer thread: same words as offline, events in
order, nothing lost under overload or when the decoder fails."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from sewstream.stream import Final, Recognizer, UtteranceEnd, transcribe_offline, transcribe_streaming
from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings
from sewstream.text.ngram import NgramLM, build_bigram

from ..conftest import speech_clip
from .test_stream import bursts
from .test_transcribe import WHOLE

TEXT = ["AND SO MY FELLOW AMERICANS ASK NOT WHAT YOUR COUNTRY CAN DO FOR YOU",
        "ASK WHAT YOU CAN DO FOR YOUR COUNTRY", "A NEW DAY", "TO BE OR NOT TO BE"]


@pytest.fixture
def lm_recognizer(tiny_ctc_dir):
    rec = Recognizer.from_pretrained(tiny_ctc_dir, device="cpu")
    rec.use_lm(decoder_for(rec))
    yield rec
    rec.close()


def decoder_for(rec: Recognizer, cls=BeamSearchDecoder) -> BeamSearchDecoder:
    lm = NgramLM.parse(build_bigram(TEXT).splitlines())
    v = rec.vocab
    return cls(v.id_to_token, v.blank, lm, BeamSettings(alpha=1.0, beta=2.0, beam=8),
               delimiter=v.delimiter, skip=v.special)


def test_streamed_lm_finals_match_offline_lm_decoding_given_the_same_context(lm_recognizer):
    audio = speech_clip("misc/jfk.wav")
    offline = transcribe_offline(lm_recognizer, audio, decoder=lm_recognizer.rescorer.decoder)
    streamed = transcribe_streaming(lm_recognizer, audio, settings=WHOLE)
    assert streamed.text == offline.text and offline.text
    greedy = transcribe_streaming(lm_recognizer, audio, settings=WHOLE, rescorer=None)
    assert greedy.text != streamed.text  # the LM did change the finals
    assert [[w.word for w in s.words] for s in streamed.segments] == [s.text.split() for s in streamed.segments]
    assert lm_recognizer.rescorer.stats.rescored == len(streamed.segments)


def collect(rec: Recognizer, audio: np.ndarray, **kwargs):
    events = []
    stream = rec.stream(on_event=events.append, **kwargs)
    for i in range(0, len(audio), 1600):
        stream.push(audio[i:i + 1600])
    stream.end()
    assert stream.wait(30)
    return events


def test_events_stay_in_order_while_a_final_is_held(lm_recognizer):
    audio = bursts([(0.3, 1.5), (2.6, 3.8), (5.0, 6.0)], 7.5)
    events = collect(lm_recognizer, audio)
    greedy = collect(lm_recognizer, audio, rescorer=None)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events if e.type != "partial"] == [e.type for e in greedy if e.type != "partial"]
    finals = [e for e in events if isinstance(e, Final)]
    ends = [e for e in events if isinstance(e, UtteranceEnd)]
    assert finals and all(f.seq < e.seq for f, e in zip(finals, ends))


class SlowDecoder(BeamSearchDecoder):
    release = threading.Event()

    def decode(self, log_probs):
        self.release.wait(10)
        return super().decode(log_probs)


class BrokenDecoder(BeamSearchDecoder):
    def decode(self, log_probs):
        raise RuntimeError("decoder bug")


def test_overload_keeps_greedy_finals_and_counts_them(tiny_ctc_dir):
    rec = Recognizer.from_pretrained(tiny_ctc_dir, device="cpu")
    try:
        rec.use_lm(decoder_for(rec, SlowDecoder), max_pending=1)
        audio = bursts([(0.3, 1.2), (2.2, 3.1), (4.1, 5.0), (6.0, 6.9)], 8.0)
        greedy = [e.text for e in collect(rec, audio, rescorer=None) if isinstance(e, Final)]
        events = []
        stream = rec.stream(on_event=events.append)
        for i in range(0, len(audio), 1600):
            stream.push(audio[i:i + 1600])
        stream.end()
        assert not stream.wait(1.0)           # the first final is held by the (blocked) rescorer ...
        assert not any(isinstance(e, Final) for e in events)
        SlowDecoder.release.set()
        assert stream.wait(30)                # ... then everything arrives, in order
        finals = [e for e in events if isinstance(e, Final)]
        assert len(finals) == len(greedy) >= 3
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        stats = rec.rescorer.stats
        assert stats.skipped >= 1 and stats.rescored + stats.skipped == len(finals)
        skipped_texts = [f.text for f in finals if f.text in greedy]
        assert len(skipped_texts) >= stats.skipped
    finally:
        SlowDecoder.release.set()
        rec.close()


def test_a_failing_decoder_never_loses_a_final(tiny_ctc_dir):
    rec = Recognizer.from_pretrained(tiny_ctc_dir, device="cpu")
    try:
        audio = bursts([(0.3, 1.5), (2.6, 3.8)], 5.0)
        greedy = [e.text for e in collect(rec, audio) if isinstance(e, Final)]
        rec.use_lm(decoder_for(rec, BrokenDecoder))
        started = time.monotonic()
        finals = [e.text for e in collect(rec, audio) if isinstance(e, Final)]
        assert finals == greedy and greedy
        assert rec.rescorer.stats.failed == len(finals)
        assert time.monotonic() - started < 30
    finally:
        rec.close()
