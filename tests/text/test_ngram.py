"""The word n-gram LM: ARPA in and out, back-off maths, errors that name the file and line."""

from __future__ import annotations

import gzip
import math

import pytest

from sewstream.text.ngram import EOS, LanguageModelError, NgramLM, build_bigram, build_ngram

SENTENCES = ["HELLO WORLD", "HELLO THERE", "SAY HELLO", "THE WORLD IS BIG", "HELLO WORLD AGAIN"]


def test_built_bigram_is_a_distribution_for_every_history():
    lm = NgramLM.parse(build_bigram(SENTENCES).splitlines())
    assert lm.order == 2 and lm.words == {w for s in SENTENCES for w in s.split()}
    for history in [("<s>",), ("HELLO",), ("WORLD",), ("BIG",)]:
        total = sum(math.exp(lm.log_prob(history, w)) for w in [*lm.words, EOS])
        # what is missing is the unigram mass reserved for unknown words, reached by back-off
        unknown = math.exp(lm.backoffs[history] + lm.probs[("<unk>",)])
        assert total + unknown == pytest.approx(1.0, abs=1e-4), history
        assert unknown < 0.05


def test_seen_bigrams_outscore_backoff_and_unknown_words_score_unk():
    lm = NgramLM.parse(build_bigram(SENTENCES).splitlines())
    assert lm.log_prob(("HELLO",), "WORLD") > lm.log_prob(("HELLO",), "BIG")
    assert lm.log_prob(("<s>", "SAY"), "HELLO") == lm.log_prob(("SAY",), "HELLO")  # only order-1 words of history
    assert lm.log_prob(("HELLO",), "ZEBRA") == lm.unk < lm.log_prob(("HELLO",), "BIG")
    assert "HEL" in lm.prefixes and "HELLO" in lm.prefixes and "HEX" not in lm.prefixes


def test_min_count_leaves_rare_bigrams_to_the_backoff():
    full = NgramLM.parse(build_bigram(SENTENCES).splitlines())
    pruned = NgramLM.parse(build_bigram(SENTENCES, min_count=2).splitlines())
    assert sum(len(k) == 2 for k in pruned.probs) < sum(len(k) == 2 for k in full.probs)
    assert pruned.log_prob(("HELLO",), "WORLD") == pytest.approx(full.log_prob(("HELLO",), "WORLD"))  # seen 2x
    assert pruned.log_prob(("THE",), "WORLD") < full.log_prob(("THE",), "WORLD")  # seen once: backed off



def test_built_trigram_is_a_distribution_for_every_history_and_uses_two_words_of_context():
    sentences = [*SENTENCES, "SAY THE WORLD", "THE BIG WORLD", "SAY HELLO AGAIN"]
    lm = NgramLM.parse(build_ngram(sentences, order=3).splitlines())
    assert lm.order == 3
    for history in [("<s>", "HELLO"), ("SAY", "HELLO"), ("THE", "WORLD"), ("HELLO",), ("<s>",), ("ZEBRA", "THE")]:
        total = sum(math.exp(lm.log_prob(history, w)) for w in [*lm.words, EOS])
        # the rest is the unigram mass reserved for unknown words, reached by backing off to it
        unknown = math.exp(sum(lm.backoffs.get(history[i:], 0.0) for i in range(len(history)))
                           + lm.probs[("<unk>",)])
        assert total + unknown == pytest.approx(1.0, abs=1e-4), history
    # the word before the last one matters: AGAIN follows "SAY HELLO", never "<s> HELLO"
    assert lm.log_prob(("SAY", "HELLO"), "AGAIN") > lm.log_prob(("<s>", "HELLO"), "AGAIN") + 0.5
    bigram = NgramLM.parse(build_ngram(sentences, order=2).splitlines())
    assert lm.log_prob(("SAY", "HELLO"), "AGAIN") > bigram.log_prob(("HELLO",), "AGAIN")


def test_lower_orders_use_continuation_counts():
    # WORLD follows three different words; FRANCISCO follows only SAN, however often
    sentences = ["SAN FRANCISCO"] * 5 + ["HELLO WORLD", "BIG WORLD", "THE WORLD"]
    lm = NgramLM.parse(build_ngram(sentences, order=2).splitlines())
    assert lm.probs[("WORLD",)] > lm.probs[("FRANCISCO",)]


def test_build_ngram_rejects_order_below_two_and_prunes_rare_trigrams():
    with pytest.raises(ValueError, match="order"):
        build_ngram(SENTENCES, order=1)
    full = NgramLM.parse(build_ngram(SENTENCES, order=3).splitlines())
    pruned = NgramLM.parse(build_ngram(SENTENCES, order=3, min_count=2).splitlines())
    assert ("<s>", "HELLO", "WORLD") in pruned.probs and ("SAY", "HELLO", "<s>") not in full.probs
    assert ("THE", "WORLD", "IS") in full.probs and ("THE", "WORLD", "IS") not in pruned.probs

TRIGRAM = """
\\data\\
ngram 1=4
ngram 2=2
ngram 3=1

\\1-grams:
-1.0 <unk>
-0.5 A -0.3
-0.6 B -0.2
-0.7 </s>

\\2-grams:
-0.2 A B -0.1
-0.4 B A

\\3-grams:
-0.05 A B A
\\end\\
"""


def test_reads_any_order_with_standard_backoff(tmp_path):
    path = tmp_path / "lm.arpa.gz"
    with gzip.open(path, "wt") as f:
        f.write(TRIGRAM)
    lm = NgramLM.load(path)
    ln10 = math.log(10)
    assert lm.order == 3
    assert lm.log_prob(("A", "B"), "A") == pytest.approx(-0.05 * ln10)            # listed trigram
    assert lm.log_prob(("A", "B"), "B") == pytest.approx((-0.1 - 0.2 - 0.6) * ln10)  # bow(A B) + bow(B) + p(B)
    assert lm.log_prob(("B",), "A") == pytest.approx(-0.4 * ln10)
    assert lm.log_prob((), "C") == pytest.approx(-1.0 * ln10)                       # the file's <unk>


@pytest.mark.parametrize("text,message", [
    ("hello world\n", ":1: expected an ARPA header"),
    ("\\data\\\n\\1-grams:\n-1.0\n", ":3: a 1-gram line needs 2 or 3 fields, got 1"),
    ("\\data\\\n\\1-grams:\nx A\n", ":3: not a number"),
    ("\\data\\\n\\end\\\n", "no unigrams"),
])
def test_bad_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    with pytest.raises(LanguageModelError, match=message):
        NgramLM.load(path)
    with pytest.raises(LanguageModelError, match="no such file"):
        NgramLM.load(tmp_path / "missing.arpa")
    (tmp_path / "fake.arpa.gz").write_bytes(b"not gzip at all")
    with pytest.raises(LanguageModelError, match="cannot read it as ARPA text"):
        NgramLM.load(tmp_path / "fake.arpa.gz")
