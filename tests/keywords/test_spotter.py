"""The streaming spotter: provisional vs committed frames, debounce, cooldown, reload."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sewstream.keywords.settings import KeywordSettings, KeywordSpec
from sewstream.keywords.spotter import KeywordSpotter

from .helpers import VOCAB, frames, say, simulate


def spotter(*phrases: str, settings: KeywordSettings | None = None, **spec) -> KeywordSpotter:
    s = settings or KeywordSettings()
    return KeywordSpotter(VOCAB, [s.resolve(KeywordSpec(phrase=p, **spec)) for p in phrases], settings=s)


def labels(events):
    return [e.label for _, e in events]


@pytest.mark.parametrize("incremental", [True, False])
def test_fires_once_per_occurrence_with_positions(incremental):
    sp = spotter("yes", "no", "hey sew")
    script = say("YES") + say("HEY", "SEW") + say("NOPE") + "_" * 100 + say("YES") + "_" * 100
    events = simulate(sp, frames(script), incremental=incremental)
    assert labels(events) == ["yes", "hey sew", "yes"]
    first = events[0][1]
    assert (first.start, first.end, first.detector, first.phrase) == (0.2, 0.3, "ctc", "yes")
    assert first.score > 0.98
    assert events[2][1].start == round(script.rindex("Y") * 0.02, 3)


def test_provisional_detection_is_not_repeated_by_committed_frames():
    sp = spotter("yes")
    script = say("YES", lead=10, tail=300)
    events = simulate(sp, frames(script))
    assert labels(events) == ["yes"]
    # decided on provisional frames, long before the committed chunk holding it (frame 130)
    available, _ = events[0]
    assert available <= 36
    assert sp.stats.fired_provisional == 1 and sp.stats.fired_stable == 0
    assert sp.stats.suppressed > 0  # the committed frames did find it again


def test_unclear_provisional_waits_for_committed_frames():
    sp = spotter("yes", settings=KeywordSettings(threshold=0.5, provisional_margin=0.3))
    script = say("YES", lead=10, tail=300)
    clear = frames(script)
    unsure = frames(script, confidence=8.0, soft={i: ("E", 9.0) for i, c in enumerate(script) if c == "Y"})
    # provisional frames: Y at 0.27 posterior -> score ~0.64 < 0.5 + 0.3; committed frames are clear
    events = simulate(sp, clear, provisional=unsure)
    assert labels(events) == ["yes"]
    assert events[0][0] >= 130  # only once the committed chunk arrived
    assert sp.stats.fired_provisional == 0 and sp.stats.fired_stable == 1


def test_provisional_only_occurrence_can_fire_then_refinement_does_not_repeat():
    sp = spotter("yes")
    script = say("YES", lead=40, tail=200)
    committed = frames(script)
    # the provisional view places the word a few frames earlier: same occurrence, shifted alignment
    shifted = np.roll(committed, -3, axis=0)
    events = simulate(sp, committed, provisional=shifted)
    assert labels(events) == ["yes"]


def test_repeated_occurrences_fire_each_time():
    sp = spotter("no")
    script = say("NO", tail=30) + say("NO", tail=30) + say("NO", tail=60)
    assert labels(simulate(sp, frames(script))) == ["no", "no", "no"]


def test_cooldown_suppresses_close_repeats():
    script = say("NO", tail=15) + say("NO", lead=5, tail=60)  # ~0.5 s between the two
    assert labels(simulate(spotter("no", cooldown_s=0.0), frames(script))) == ["no", "no"]
    assert labels(simulate(spotter("no", cooldown_s=2.0), frames(script))) == ["no"]


def test_threshold_and_boost():
    script = say("YES", tail=60)
    weak = frames(script, confidence=2.0)  # letters at ~0.19 posterior
    assert labels(simulate(spotter("yes"), weak)) == []
    assert labels(simulate(spotter("yes", threshold=0.1), weak)) == ["yes"]
    assert labels(simulate(spotter("yes", boost=2.0), weak)) == ["yes"]
    boosted = simulate(spotter("yes", boost=2.0), weak)[0][1]
    assert 0.5 <= boosted.score <= 1.0


def test_whole_word_setting():
    script = say("YESTERDAY", tail=60)
    assert labels(simulate(spotter("yes"), frames(script))) == []
    assert labels(simulate(spotter("yes", whole_word=False), frames(script))) == ["yes"]


def test_events_do_not_depend_on_chunking():
    script = say("NO", "YES") + "_" * 50 + say("HEY", "SEW") + say("YES", tail=80)
    logits = frames(script)
    runs = []
    for chunk, every, incremental in ((100, 12, True), (50, 12, True), (24, 6, True), (100, 12, False)):
        sp = spotter("yes", "no", "hey sew")
        events = simulate(sp, logits, chunk=chunk, every=every, incremental=incremental)
        runs.append([(e.label, e.start, e.end) for _, e in events])
    assert runs[0] == runs[1] == runs[2] == runs[3]
    assert len(runs[0]) == 4


def test_skipped_and_gapped_provisional_calls():
    sp = spotter("yes")
    script = say("YES", lead=60, tail=60)
    logits = frames(script)
    # a provisional tail that does not join the timeline (frames in between unknown) is ignored
    assert sp(40, logits[40:80], False) == []
    assert sp.stats.provisional_gaps == 1
    events = sp(0, logits[:100], True) + sp(100, logits[100:], True)
    assert [e.label for e in events] == ["yes"]


def test_long_stream_memory_is_bounded():
    sp = spotter("yes")
    noise = frames("_" * 2000)
    for start in range(0, 20000, 100):
        sp(start, noise[:100], True)
    assert len(sp.ids) < 600


class Source:
    def __init__(self, keywords):
        self.version, self.settings, self.items = 0, KeywordSettings(), keywords

    def keywords(self, stream, detector):
        return self.items


def test_new_keywords_take_effect_on_the_next_call():
    s = KeywordSettings()
    source = Source([s.resolve(KeywordSpec(phrase="yes"))])
    sp = KeywordSpotter(VOCAB, source, settings=s)
    logits = frames(say("NO", tail=40) + say("NO", tail=60))
    first = sp(0, logits[:40], True)
    source.items, source.version = [s.resolve(KeywordSpec(phrase="no"))], 1
    rest = sp(40, logits[40:], True)
    assert first == [] and [e.label for e in rest] == ["no"]
    assert sp.stats.reloads == 1
    source.items, source.version = [], 2
    assert sp(len(logits), frames(say("NO", tail=40)), True) == []
    assert sp.keywords == ()


def test_margin_values_are_capped():
    s = replace(KeywordSettings(), provisional_margin=0.5)
    sp = spotter("yes", settings=s, threshold=0.9)
    assert float(np.exp(sp.compiled.provisional_log[0])) <= 0.999 + 1e-6
