"""eval-keywords: DET sweep arithmetic, data readers, live-paced latency, the command itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sewstream.keywords import evaluation as ev
from sewstream.keywords.settings import KeywordSettings, KeywordSpec
from sewstream.stream import StreamSettings

from . import fake_acoustics
from .fake_acoustics import audio_for, spoken

DATA = Path(__file__).resolve().parents[1] / "data" / "keywords"


def kset(*phrases: str) -> ev.KeywordSet:
    s = KeywordSettings()
    return ev.KeywordSet([s.resolve(KeywordSpec(phrase=p)) for p in phrases], s)


def clip(name: str, text: str, seconds: float = 1.0) -> ev.Clip:
    return ev.Clip(name, np.zeros(int(seconds * 16000), np.float32), text)


def test_det_table_counts_detections_and_false_accepts():
    ks = kset("yes", "no")
    pos = [ev.ClipScores(clip("a", "YES"), 0, [(0, 0.9, 0, 0)]),
           ev.ClipScores(clip("b", "YES"), 0, [(1, 0.8, 0, 0)]),    # only the wrong keyword fired
           ev.ClipScores(clip("c", "NO"), 1, [(1, 0.4, 0, 0)])]
    neg = [ev.ClipScores(clip("n", "SOMETHING ELSE", seconds=1800), None, [(0, 0.3, 0, 0), (1, 0.6, 0, 0)])]
    rows = ev.det_table(pos, neg, ks, [0.2, 0.5, 0.95])
    assert [r.false_accepts for r in rows] == [2, 1, 0]
    assert [r.fa_per_hour for r in rows] == [4.0, 2.0, 0.0]
    assert rows[0].per_keyword == {"yes": 0.5, "no": 1.0} and rows[0].detection == pytest.approx(2 / 3)
    assert rows[1].per_keyword == {"yes": 0.5, "no": 0.0}
    assert rows[0].fa_per_hour_by_keyword == {"yes": 2.0, "no": 2.0}
    assert rows[1].fa_per_hour_by_keyword == {"yes": 0.0, "no": 2.0}
    assert ev.operating_point(rows, 2.0).threshold == 0.5
    assert ev.operating_point(rows, 0.5).threshold == 0.95
    text = ev.format_table(rows, 0.5)
    assert "FA/h" in text and "30.0 min" in text


def test_strongest_false_accepts_name_the_words_that_fire():
    ks = kset("yes", "no")
    neg = [ev.ClipScores(clip("n1", "YOU KNOW IT"), None, [(1, 0.9, 0.4, 0.6), (0, 0.3, 1.0, 1.2)]),
           ev.ClipScores(clip("n2", "NOBODY"), None, [(1, 0.7, 0.0, 0.2), (0, 0.6, 0.5, 0.7)])]
    found = ev.strongest_false_accepts(neg, ks, 0.5)
    assert [(f.label, f.score, f.clip) for f in found] == [("no", 0.9, "n1"), ("no", 0.7, "n2"), ("yes", 0.6, "n2")]
    assert found[0].text == "YOU KNOW IT" and (found[0].start, found[0].end) == (0.4, 0.6)
    assert len(ev.strongest_false_accepts(neg, ks, 0.5, limit=1)) == 1
    assert ev.strongest_false_accepts(neg, ks, 0.95) == []
    text = ev.format_false_accepts(found)
    assert '"YOU KNOW IT"' in text and "n2" in text


def test_plot_is_written(tmp_path):
    rows = [ev.DetRow(t, 1 - t / 2, {"yes": 1 - t / 2}, int(10 * (1 - t)), 10 * (1 - t)) for t in (0.1, 0.5, 0.9)]
    path = ev.plot_det(rows, tmp_path / "det.png", "test", hours=1.0)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_mentions_whole_words():
    assert ev.mentions("I SAID YES TO HIM", "yes")
    assert not ev.mentions("YESTERDAY", "yes")
    assert ev.mentions("SAY HEY SEW NOW", "hey sew") and not ev.mentions("HEY THERE SEW", "hey sew")
    ks = kset("yes", "hey sew")
    assert ks.label_of(clip("x", "HEY SEW")) == 1 and ks.label_of(clip("y", "I SAID YES")) is None


def test_readers(tmp_path):
    clips = ev.read_clips(DATA)
    assert {c.text for c in clips} >= {"YES", "NO", "DOWN", "HEY SEW"}
    assert all(c.audio.dtype == np.float32 and 0.3 < c.seconds < 2 for c in clips)
    # the training corpus format: jsonl manifest + int16 pcm
    audio = (np.arange(3200) % 100).astype(np.int16)
    (tmp_path / "test.pcm").write_bytes(audio.tobytes())
    (tmp_path / "test.jsonl").write_text(json.dumps({"id": "u1", "text": "a b", "offset": 0, "num_samples": 1600})
                                         + "\n" + json.dumps({"id": "u2", "text": "c", "offset": 1600,
                                                              "num_samples": 1600}) + "\n")
    corpus = ev.read_clips(tmp_path)
    assert [c.text for c in corpus] == ["A B", "C"]
    np.testing.assert_allclose(corpus[1].audio * 32768, audio[1600:])
    assert len(ev.read_clips(tmp_path, limit_s=0.05)) == 1


def test_speech_end():
    audio = np.zeros(16000, np.float32)
    audio[3200:9600] = 0.3
    assert ev.speech_end(audio) == pytest.approx(0.6)


def test_window_probabilities_score_every_window_that_overlaps_the_clip():
    class Loudness:  # "probability" = the window's mean level, so each window's content shows
        def classify(self, windows):
            return np.abs(windows).mean(axis=1, keepdims=True)

    audio = np.full(8000, 0.5, np.float32)       # a 0.5 s clip
    probs, ends = ev.window_probabilities(Loudness(), audio, 1.0, 0.125)
    # by default a window of silence on each side: the first window ends at the clip's start,
    # the last one a window after its end, and each window holds what a live grid's would
    assert ends[0] == 0.0 and ends[-1] == 1.5 and np.allclose(np.diff(ends), 0.125)
    expected = np.clip(np.minimum(ends, 0.5) - np.maximum(ends - 1.0, 0.0), 0, None) * 0.5
    np.testing.assert_allclose(probs[:, 0], expected, atol=1e-6)
    _, short = ev.window_probabilities(Loudness(), audio, 1.0, 0.125, 0.5, 0.5)
    assert short[0] == 0.5 and short[-1] == 1.0  # the windows holding only the clip's edges are lost


def test_layout_places_clips_after_jittered_gaps():
    ks = kset("yes")
    word = np.concatenate([np.zeros(1600), 0.5 * np.ones(4800), np.zeros(1600)]).astype(np.float32)
    clips = [ev.Clip(f"c{i}", word, "YES") for i in range(20)]
    audio, placed = ev.layout(clips, ks, gap_s=1.0, jitter_s=0.5)
    for p in placed:   # each start is where the clip's samples really are
        i = round(p.start * 16000)
        assert np.array_equal(audio[i:i + len(word)], word) and not audio[i - 1]
    gaps = np.diff([p.start for p in placed]) - len(word) / 16000
    assert (gaps >= 1.0).all() and (gaps <= 1.5).all() and np.ptp(gaps) > 0.2  # varied, within bounds
    assert [p.start for p in ev.layout(clips, ks, gap_s=1.0, jitter_s=0.5)[1]] == [p.start for p in placed]
    _, fixed = ev.layout(clips, ks, gap_s=1.0)
    assert np.allclose(np.diff([p.start for p in fixed]), 1.0 + len(word) / 16000)


def test_live_run_latency_on_a_simulated_clock(recognizer):
    # certain frames everywhere: this measures the spotter and the window grid. (Provisional
    # windows are not recomputed once more audio arrives, so a real model's unsure window-end
    # frames can push a decision to the committed frames; scripts/bench_keywords.py shows it.)
    fake_acoustics.install(recognizer, soft_tail=0)
    ks = kset("yes", "no")
    clips = [ev.Clip("y", audio_for(spoken("YES", lead=10, tail=20)), "YES"),
             ev.Clip("n", audio_for(spoken("NO", lead=10, tail=20)), "NO"),
             ev.Clip("x", audio_for(spoken("NOTHING", lead=10, tail=20)), "NOTHING")]
    from sewstream.keywords import keyword_listeners

    # feature blocks on the partial-window grid (0.24 s): with the default 0.32 s blocks some
    # provisional windows fall between blocks and the tail is seen every 0.48 s instead
    settings = StreamSettings(feature_block_s=0.24)
    # (no gap jitter: the fake model reads levels on the 20 ms frame grid)
    res = ev.live_run(recognizer, ks, clips, listeners=lambda: keyword_listeners(recognizer, "yes,no"),
                      stream_settings=settings, gap_jitter_s=0.0)
    assert sorted(res.detections) == [0, 1] and res.false_accepts == []
    for event, latency in res.detections.values():
        # the word's audio ends 3 frames after its last letter; the boundary needs 5 frames of
        # blank after the letter and a provisional window comes every 12 frames (0.24 s)
        assert 0.0 < latency <= 0.3, (event, latency)


@pytest.mark.slow
def test_eval_keywords_command(tiny_ctc_dir, tmp_path, capsys):
    from sewstream.cli import main

    plot, report = tmp_path / "det.png", tmp_path / "det.json"
    rc = main(["eval-keywords", "--model", str(tiny_ctc_dir), "--device", "cpu", "--keywords", "yes,no,down",
               "--positives", str(DATA), "--negatives", str(DATA), "--no-live", "--plot", str(plot),
               "--json", str(report), "--thresholds", "0.1:0.9:0.4"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "FA/h" in out and "operating point" in out
    data = json.loads(report.read_text())
    assert data["positives"] == 4 and len(data["det"]) == 3
    assert data["negative_minutes"] > 0  # the clips that are not a keyword
    assert all(f["score"] >= 0.1 for f in data["strongest_false_accepts"])  # at the chosen threshold
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["eval-keywords", "--model", str(tiny_ctc_dir), "--keywords", "yes"]) == 2  # no data given


def test_threshold_sweeps_parse_ranges_and_lists_and_name_a_bad_one(capsys):
    import argparse

    from sewstream.cli import main
    from sewstream.keywords.commands import thresholds_arg

    assert thresholds_arg("0.1:0.9:0.4") == [0.1, 0.5, 0.9]
    assert thresholds_arg("0.7,0.3,0.5") == [0.3, 0.5, 0.7]
    for bad in ("0.1,x", "0.9:0.1:0.1", "0.1:0.9:0", "0.5,1.5", "0.1:0.9"):
        with pytest.raises(argparse.ArgumentTypeError, match="start:stop:step"):
            thresholds_arg(bad)
    from sewstream.keywords.commands import live_threshold_arg

    assert live_threshold_arg("0.85") == 0.85 and live_threshold_arg("Config") == "config"
    for bad in ("0", "1.5", "high", "nan"):
        with pytest.raises(argparse.ArgumentTypeError, match="or 'config'"):
            live_threshold_arg(bad)
    # the command refuses it while parsing its arguments (exit 2, the value named), before any scoring
    with pytest.raises(SystemExit) as exit_:
        main(["eval-keywords", "--keywords", "yes", "--positives", str(DATA), "--thresholds", "0.1;0.5"])
    assert exit_.value.code == 2 and "'0.1;0.5'" in capsys.readouterr().err


def test_set_flags_take_several_directories_each_and_repeat():
    from sewstream.cli import build_parser

    args = build_parser().parse_args(["eval-keywords", "--positives", "p1", "--negatives", "n1", "n2",
                                      "--positives", "p2", "--negatives", "n3"])
    assert args.positives == ["p1", "p2"] and args.negatives == ["n1", "n2", "n3"]


def test_live_negatives_take_turns_across_sets():
    a = [ev.Clip(f"a{i}", np.zeros(16000, np.float32), "", "set-a") for i in range(3)]
    b = [ev.Clip("b0", np.zeros(16000, np.float32), "", "set-b")]
    names = lambda clips: [c.name for c in clips]  # noqa: E731
    assert names(ev.across_sources(a + b, 2.5)) == ["a0", "b0", "a1"]  # not the first set alone
    assert names(ev.across_sources(a + b, 100)) == ["a0", "b0", "a1", "a2"]  # all, once each
    assert ev.across_sources(a + b, 0) == []


def test_eval_keywords_live_run_reports_the_offline_count_on_the_same_clips(tiny_ctc_dir, tmp_path, capsys):
    from sewstream.cli import main

    report = tmp_path / "det.json"
    rc = main(["eval-keywords", "--model", str(tiny_ctc_dir), "--device", "cpu", "--keywords", "yes,no,down",
               "--positives", str(DATA), "--negatives", str(DATA), "--live-negatives-s", "1",
               "--plot", str(tmp_path / "det.png"), "--json", str(report), "--thresholds", "0.1:0.9:0.4"])
    assert rc == 0
    assert "(offline on the same clips:" in capsys.readouterr().out
    live = json.loads(report.read_text())["live"]
    assert live["live_negative_minutes"] > 0
    assert isinstance(live["offline_false_accepts_same_clips"], int)
    assert live["live_fa_per_hour"] == pytest.approx(live["live_false_accepts"] / (live["live_negative_minutes"] / 60),
                                                     rel=0.01)


def test_live_events_match_the_clip_they_overlap_most():
    # two "yes" clips 1.6 s apart; a classifier-wide event span (0.75 s) reaching back within the
    # slack of the first but lying mostly on the second belongs to the second
    placed = [ev.Placed(clip("a", "YES", 0.6), 0, 1.0, 1.5), ev.Placed(clip("b", "YES", 0.6), 0, 2.6, 3.1),
              ev.Placed(clip("c", "NO", 0.6), 1, 4.2, 4.7)]
    Event = type("Event", (), {})

    def event(label, start, end):
        e = Event()
        e.label, e.start, e.end = label, start, end
        return e

    events = [(1.8, event("yes", 1.1, 1.5)), (3.4, event("yes", 2.1, 2.85)), (3.5, event("yes", 2.4, 3.0)),
              (4.0, event("no", 1.0, 1.5)), (6.0, event("yes", 6.0, 6.5))]
    detections, false_accepts = ev.match_events(events, placed, ["yes", "no"], slack_s=0.5)
    assert set(detections) == {0, 1}
    assert detections[1][0] is events[1][1]
    assert detections[1][1] == pytest.approx(3.4 - 3.1)  # latency after that clip's speech end
    # the second event on clip b is a duplicate; "no" far from the NO clip and a lone "yes" match nothing
    assert false_accepts == [events[2][1], events[3][1], events[4][1]]
