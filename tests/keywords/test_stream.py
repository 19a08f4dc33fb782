"""Keyword events through a real Stream: fields, seq order, debounce, hot reload."""

from __future__ import annotations

import numpy as np
import pytest

from sewstream.config import ConfigError, load_config
from sewstream.keywords import KeywordError, KeywordRegistry, KeywordSettings, KeywordSpec, keyword_listeners
from sewstream.keywords.evaluation import settle
from sewstream.stream import StreamSettings

from . import fake_acoustics
from .fake_acoustics import audio_for, spoken
from .helpers import write_config


@pytest.fixture
def rec(recognizer):
    fake_acoustics.install(recognizer, soft_tail=0)  # every frame certain (see the unsure test below)
    return recognizer


def run(rec, audio: np.ndarray, listeners: dict, name: str = "s1", chunk_s: float = 0.04,
        settings: StreamSettings | None = None):
    """Push like a live source on a simulated clock: the worker finishes each push's jobs first."""
    events = []
    stream = rec.stream(name, settings or StreamSettings(), on_event=events.append, **listeners)
    step = int(chunk_s * 16000)
    for i in range(0, len(audio), step):
        stream.push(audio[i: i + step])
        settle(stream)
    stream.end()
    assert stream.wait(30)
    return events, stream


def keywords(events):
    return [e for e in events if e.type == "keyword"]


def test_keyword_event_fields_and_order(rec):
    audio = audio_for(spoken("SAY", "YES", "NOW", tail=60))
    events, stream = run(rec, audio, keyword_listeners(rec, "yes,no"))
    (kw,) = keywords(events)
    assert (kw.label, kw.phrase, kw.detector, kw.stream) == ("yes", "yes", "ctc", "s1")
    assert kw.score > 0.9
    script = spoken("SAY", "YES", "NOW", tail=60)
    y = script.index("Y", script.index("|"))
    assert kw.start == pytest.approx(y * 0.02, abs=0.021)
    assert kw.end == pytest.approx((y + 5) * 0.02, abs=0.021)
    assert kw.to_json()["type"] == "keyword"
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1))  # one numbering for every event type
    final = next(e for e in events if e.type == "final")
    assert "YES" in final.text
    assert kw.seq < final.seq  # decided on provisional frames, before the utterance was final


def test_one_event_per_occurrence_and_cooldown(rec):
    script = spoken("NO", tail=40) + spoken("NO", lead=5, tail=60)
    audio = audio_for(script)
    events, stream = run(rec, audio, keyword_listeners(rec, "no"))
    assert [e.label for e in keywords(events)] == ["no", "no"]
    spotter = stream.frame_listeners[0]
    assert spotter.stats.stable_calls > 0 and spotter.stats.provisional_calls > 0
    assert spotter.stats.fired_provisional == 2  # decided early...
    assert spotter.stats.suppressed > 0  # ...and the committed frames re-found them without a second event
    cooled = KeywordSettings(cooldown_s=3.0)
    events, _ = run(rec, audio, keyword_listeners(rec, "no", settings=cooled))
    assert [e.label for e in keywords(events)] == ["no"]


def test_unsure_window_ends_wait_for_committed_frames(recognizer):
    # the last frames of every window unsure (no right context). Without provisional overlap
    # those frames are never redone until the committed windows (0.6 s of look-ahead) decide,
    # seconds later; with it (the default) the next provisional window redoes them and the
    # keyword fires from provisional frames. Once per occurrence either way.
    fake_acoustics.install(recognizer, soft_tail=6)
    script = spoken("NO", tail=40) + spoken("NO", lead=5, tail=60) + spoken("YES", tail=150)
    audio, heard = audio_for(script), {}
    for overlap in (0.0, StreamSettings().partial_overlap_s):
        events, pushed = [], [0.0]  # pushed: stream seconds when each keyword event came out
        stream = recognizer.stream("s1", StreamSettings(partial_overlap_s=overlap),
                                   on_event=lambda e: events.append((e, pushed[0])),
                                   **keyword_listeners(recognizer, "yes,no"))
        for i in range(0, len(audio), 640):
            stream.push(audio[i: i + 640])
            pushed[0] = (i + 640) / 16000
            settle(stream)
        stream.end()
        assert stream.wait(30)
        fired = [(e, at) for e, at in events if e.type == "keyword"]
        assert [e.label for e, _ in fired] == ["no", "no", "yes"]
        stats = stream.frame_listeners[0].stats
        assert stats.fired_stable + stats.fired_provisional == 3
        if overlap == 0:
            assert stats.fired_stable > 0
        else:
            assert stats.fired_provisional == 3
        heard[overlap] = [at - e.end for e, at in fired]  # audio after the word's end, at the trigger
    assert max(heard[StreamSettings().partial_overlap_s]) < 0.35 < max(heard[0.0])


def test_nothing_fires_on_other_words(rec):
    audio = audio_for(spoken("NOTHING", "KNOWS", "YESTERDAY", tail=60))
    events, _ = run(rec, audio, keyword_listeners(rec, "yes,no"))
    assert keywords(events) == []
    assert any(e.type == "final" for e in events)


def test_hot_reload_swaps_lists_and_keeps_old_on_error(rec, tmp_path):
    cfg = write_config(tmp_path / "sewstream.yaml", """
        keywords:
          default:
            - {phrase: "yes"}
          streams:
            kitchen: {keywords: [{phrase: "stop", label: halt}], include_default: false}
    """)
    config = load_config(cfg)
    registry = KeywordRegistry.from_config(config, rec, path=cfg)
    assert [k.label for k in registry.keywords("kitchen", "ctc")] == ["halt"]
    no = audio_for(spoken("NO", tail=60))
    assert keywords(run(rec, no, registry.listeners("s1"))[0]) == []

    write_config(cfg, """
        keywords:
          threshold: 0.6
          default:
            - {phrase: "yes"}
            - {phrase: "no", label: negative}
    """)
    registry.reload()
    assert registry.version == 1
    (kw,) = keywords(run(rec, no, registry.listeners("s1"))[0])
    assert kw.label == "negative"

    write_config(cfg, """
        keywords:
          default:
            - {phrase: "yes"}
            - {phrase: "no", threshold: 2.0}
    """)
    with pytest.raises(ConfigError, match=r"keywords\.default\[1\].*threshold"):
        registry.reload()
    write_config(cfg, """
        keywords:
          default:
            - {phrase: "caf\u00e9"}
    """)
    with pytest.raises(KeywordError, match=r"keywords\.default\[0\].*not in the model's vocabulary"):
        registry.reload()
    write_config(cfg, "keywords: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        registry.reload()
    with pytest.raises(ConfigError, match="threshold"):  # settings built in code are checked too
        registry.reload(KeywordSettings(threshold=0.0))
    assert registry.version == 1 and registry.last_error
    assert [k.label for k in registry.keywords("s1", "ctc")] == ["yes", "negative"]
    (kw,) = keywords(run(rec, no, registry.listeners("s1"))[0])
    assert kw.label == "negative"


def test_running_stream_picks_up_a_reload(rec):
    registry = KeywordRegistry(KeywordSettings(default=[KeywordSpec(phrase="yes")]), rec)
    events = []
    stream = rec.stream("live", on_event=events.append, **registry.listeners("live"))
    no = audio_for(spoken("NO", tail=60))
    for i in range(0, len(no), 1600):
        stream.push(no[i: i + 1600])
    assert stream.wait(30)
    assert keywords(events) == []
    registry.reload({"default": [{"phrase": "no"}]})
    for i in range(0, len(no), 1600):
        stream.push(no[i: i + 1600])
    stream.end()
    assert stream.wait(30)
    (kw,) = keywords(events)
    assert kw.label == "no" and kw.start > len(no) / 16000  # the second "no"


def test_config_section_is_registered_and_checked(monkeypatch, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", """
        keywords:
          default: [{phrase: "hey sew", label: wake, boost: 0.5}]
          classifier: {window_s: 1.0, hop_s: 0.5}
    """)
    section = load_config(cfg).section("keywords")
    assert isinstance(section, KeywordSettings)
    assert section.default[0].label == "wake" and section.classifier.hop_s == 0.5
    bad = write_config(tmp_path / "bad.yaml", """
        keywords:
          default: [{phrase: "yes"}, {phrase: "no", colour: red}]
    """)
    with pytest.raises(ConfigError, match=r"keywords\.default\[1\]\.colour"):
        load_config(bad)
    dup = write_config(tmp_path / "dup.yaml", """
        keywords:
          default: [{phrase: "yes"}, {phrase: "Yes "}]
    """)
    with pytest.raises(ConfigError, match=r"keywords\.default\[1\] repeats"):
        load_config(dup)
    needs_model = write_config(tmp_path / "cls.yaml", """
        keywords:
          default: [{phrase: "yes", detector: classifier}]
    """)
    # no model configured: the embedded keyword classifier, if this installation has one
    from sewstream import defaults

    assert load_config(needs_model).section("keywords").classifier.model_path() == str(defaults.KEYWORD_CLASSIFIER_DIR)
    monkeypatch.setattr(defaults, "KEYWORD_CLASSIFIER_DIR", tmp_path / "absent")
    with pytest.raises(ConfigError, match=r"keywords\.default\[0\].*classifier\.model is not set"):
        load_config(needs_model)


def test_keyword_listeners_accepts_the_cli_forms(rec):
    from sewstream.keywords import parse_keywords

    for specs in ("yes,no=0.7", parse_keywords("yes,no=0.7"),
                  KeywordSettings(default=parse_keywords("yes,no=0.7"))):
        listeners = keyword_listeners(rec, specs)
        assert set(listeners) == {"frame_listeners", "audio_listeners"}
        assert [k.threshold for k in listeners["frame_listeners"][0].keywords] == [0.5, 0.7]
    with pytest.raises(KeywordError, match="item 2"):
        parse_keywords("yes,no=high")
    with pytest.raises(KeywordError, match="not in the model's vocabulary"):
        keyword_listeners(rec, "route 66")
