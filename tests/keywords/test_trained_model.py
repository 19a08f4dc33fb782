"""The CTC detector with the trained model on the committed TTS clips (skipped without one).

The model: ``SEWSTREAM_TEST_MODEL`` if set, else the embedded default model.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sewstream.keywords import keyword_listeners
from sewstream.keywords.evaluation import read_clips, settle

DATA = Path(__file__).resolve().parents[1] / "data" / "keywords"


@pytest.fixture(scope="module")
def trained():
    from sewstream.defaults import DEFAULT_MODEL_DIR
    from sewstream.stream import Recognizer

    path = os.environ.get("SEWSTREAM_TEST_MODEL") or DEFAULT_MODEL_DIR
    if not (Path(path) / "config.json").is_file():
        pytest.skip(f"no trained model at {path}")
    rec = Recognizer.from_pretrained(path, device="cpu")
    yield rec
    rec.close()


def padded(audio: np.ndarray) -> np.ndarray:
    """The clip as a live stream hears it: silence before, and after for the endpoint."""
    silence = np.zeros(8000, np.float32)
    return np.concatenate([silence, audio, silence, silence, silence])


def spot(rec, audio: np.ndarray, phrases: str) -> list:
    events = []
    stream = rec.stream("t", on_event=lambda e: e.type == "keyword" and events.append(e),
                        **keyword_listeners(rec, phrases))
    for i in range(0, len(audio), 640):
        stream.push(audio[i: i + 640])
        settle(stream)
    stream.end()
    settle(stream)
    return events


@pytest.mark.slow
def test_keywords_on_tts_clips(trained):
    """The spotter fires where the model hears the word, and not where it hears nothing like it.

    Preconditions measured, not assumed, from full-context decoding of each clip: a clip is
    a positive for "yes" if that transcript holds the word YES; a keyword not said in a clip
    must stay silent there unless the transcript holds its letters in a row (NOTIN for
    "nothing" does hold N-O: whether that fires is the model's spelling, not the spotter's).
    Accuracy itself is measured by ``sewstream eval-keywords``.
    """
    from sewstream.stream import transcribe_offline

    phrases = ("yes", "no", "down")
    clips = {c.name: c for c in read_clips(DATA)}
    names = ("yes_us_m5", "yes_flite_rms", "no_us_f3", "down_gb_travis", "nothing_us_f3")
    # the same audio for both: a weak model's output depends on the silence around the word
    text = {name: transcribe_offline(trained, padded(clips[name].audio)).text for name in names}
    hits = {name: [e.label for e in spot(trained, padded(clips[name].audio), ",".join(phrases))] for name in names}
    for name in names:  # true negatives (not said) that the model's output does not resemble either
        unlike = [p for p in phrases if p.upper() not in clips[name].text.split()
                  and p.upper() not in text[name].replace(" ", "")]
        assert not set(hits[name]) & set(unlike), (name, text[name], hits[name])
    heard = [(name, clips[name].text.lower()) for name in names
             if clips[name].text.lower() in phrases and clips[name].text in text[name].split()]
    if not heard:
        pytest.skip(f"the model transcribes none of the keyword clips ({text}); false-accept checks passed")
    for name, phrase in heard:  # said, and heard by the model: the spotter must find it
        assert phrase in hits[name], (name, text[name], hits[name])


@pytest.mark.slow
def test_embedded_classifier_on_tts_clips(trained):
    """The shipped keyword classifier, with no model configured: each committed keyword clip
    (held-out TTS voices) fires its own keyword once, and keyword-free speech fires nothing."""
    from sewstream.defaults import embedded_keyword_classifier
    from sewstream.keywords import KeywordSettings, parse_keywords

    if embedded_keyword_classifier() is None:
        pytest.skip("this installation has no embedded keyword classifier")
    settings = KeywordSettings(default=[replace(s, detector="classifier") for s in parse_keywords("yes,no,down")])
    clips = {c.name: c for c in read_clips(DATA)}
    expected = {"yes_us_m5": ["yes"], "yes_flite_rms": ["yes"], "no_us_f3": ["no"], "down_gb_travis": ["down"],
                "nothing_us_f3": [], "hey_sew_us_m5": []}
    heard = {name: [e.label for e in spot(trained, padded(clips[name].audio), settings)] for name in expected}
    assert heard == expected
