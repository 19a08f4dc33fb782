"""Sentence sources: splitting, filtering, determinism, eval exclusion."""

import random

from sewstream.train.texts import (
    EvalFilter,
    build_sentence_pool,
    command_phrases,
    load_eval_transcripts,
    make_sentence,
    split_sentences,
)
from sewstream.train.vocab import ALPHABET


def test_split_sentences_respects_abbreviations():
    text = "Mr. Knightley arrived. He was late! Was he? Yes."
    assert split_sentences(text) == ["Mr. Knightley arrived.", "He was late!", "Was he?", "Yes."]


def test_long_sentences_are_cut_to_max_words():
    long = ", ".join(f"word{i} and more text here" for i in range(20)) + "."
    pieces = split_sentences(long.replace("word", "w"), max_words=30)
    assert len(pieces) > 1
    assert all(len(p.split()) <= 30 for p in pieces)


def test_make_sentence_filters():
    assert make_sentence("Only", "x") is None  # too short
    assert make_sentence("The IBM machine works.", "x") is None  # acronym: TTS reading unknown
    assert make_sentence(" ".join(["word"] * 31), "x") is None  # too long
    s = make_sentence("I met Dr. Smith in 1984.", "x")
    assert s is not None and s.text == "I MET DOCTOR SMITH IN NINETEEN EIGHTY FOUR"
    assert s.spoken == "I met Doctor Smith in nineteen eighty four."


def test_eval_filter():
    f = EvalFilter(["DOWN", "ASK NOT WHAT YOUR COUNTRY CAN DO FOR YOU"])
    assert not f("DOWN")
    assert f("DOWN THE STAIRS")  # short eval texts only match exactly
    assert not f("AND SO ASK NOT WHAT YOUR COUNTRY CAN DO FOR YOU MY FRIENDS")  # contains
    assert not f("WHAT YOUR COUNTRY CAN DO")  # is contained (5+ words)
    assert f("WHAT YOUR COUNTRY")


def test_load_eval_transcripts(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "transcripts.txt").write_text("a1 HELLO THERE\nsilence\nb2 GO 2 MILES\n")
    assert load_eval_transcripts(tmp_path) == {"HELLO THERE", "GO TWO MILES"}


def test_command_phrases_deterministic_and_cover_keywords():
    a = list(command_phrases(random.Random(1), 3000))
    assert a == list(command_phrases(random.Random(1), 3000))
    words = {w for p in a for w in p.split()}
    for kw in ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "call", "hearts"]:
        assert kw in words


def test_pool_is_deterministic_deduplicated_and_eval_free(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "transcripts.txt").write_text("x1 TURN ON THE LIGHTS\nx2 STOP\n")
    pool = build_sentence_pool(seed=3, eval_dir=tmp_path, sources=["commands"], n_commands=2000)
    again = build_sentence_pool(seed=3, eval_dir=tmp_path, sources=["commands"], n_commands=2000)
    assert pool == again
    texts = [s.text for s in pool["commands"]]
    assert len(texts) == len(set(texts)) > 100
    assert "TURN ON THE LIGHTS" not in texts and "STOP" not in texts
    assert all(set(t) <= ALPHABET for t in texts)
    other = build_sentence_pool(seed=4, eval_dir=tmp_path, sources=["commands"], n_commands=2000)
    assert [s.text for s in other["commands"]] != texts
