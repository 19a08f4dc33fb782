"""CTC prefix beam search with a word LM, on hand-built posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from sewstream.stream.decode import Transcript, Vocabulary, frame_posteriors
from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings
from sewstream.text.ngram import NgramLM, build_bigram

TOKENS = ["<pad>", "|", "A", "E", "H", "L", "O", "W", "R", "D"]
ID = {t: i for i, t in enumerate(TOKENS)}
VOCAB = Vocabulary(dict(enumerate(TOKENS)), blank=0)
LM = NgramLM.parse(build_bigram(["HELLO WORLD", "HELLO", "WORLD HELLO", "HOLD", "HELD"]).splitlines())


def posteriors(frames: list[dict[str, float]]) -> np.ndarray:
    """Each frame: token -> probability; the rest spread evenly over the other tokens."""
    out = np.zeros((len(frames), len(TOKENS)))
    for t, frame in enumerate(frames):
        rest = (1 - sum(frame.values())) / (len(TOKENS) - len(frame))
        out[t] = [frame.get(tok, rest) for tok in TOKENS]
    return np.log(out)


def spell(text: str, p: float = 0.9) -> list[dict[str, float]]:
    """One frame per letter, a blank between letters (so doubled letters survive)."""
    frames = []
    for ch in text:
        frames += [{"|" if ch == " " else ch: p}, {"<pad>": p}]
    return frames


def decoder(alpha: float, beta: float = 0.0, beam: int = 16, unk_offset: float = 0.0) -> BeamSearchDecoder:
    return BeamSearchDecoder(VOCAB.id_to_token, VOCAB.blank, LM,
                             BeamSettings(alpha=alpha, beta=beta, beam=beam, unk_offset=unk_offset))


def text(words) -> str:
    return " ".join(w.word for w in words)


def greedy(log_probs: np.ndarray) -> str:
    t = Transcript(VOCAB, 0.02)
    t.append(*frame_posteriors(log_probs))
    return " ".join(t.text().split())


def test_without_an_lm_weight_it_agrees_with_greedy_on_confident_frames():
    rng = np.random.default_rng(0)
    for _ in range(20):  # random token runs (blanks, delimiters, repeats), each frame 90% sure
        best = rng.choice(len(TOKENS), size=60, p=[0.4, 0.1] + [0.5 / 8] * 8)
        probs = rng.dirichlet(np.ones(len(TOKENS)), size=60) * 0.1
        probs[np.arange(60), best] += 0.9
        log_probs = np.log(probs)
        assert text(decoder(alpha=0.0).decode(log_probs)) == greedy(log_probs)


def test_repeats_collapse_unless_a_blank_separates_them():
    lp = posteriors([{"L": 0.9}, {"L": 0.9}, {"O": 0.9}])
    assert text(decoder(alpha=0.0).decode(lp)) == "LO"
    lp = posteriors([{"L": 0.9}, {"<pad>": 0.9}, {"L": 0.9}, {"O": 0.9}])
    assert text(decoder(alpha=0.0).decode(lp)) == "LLO"


def test_the_lm_turns_an_ambiguous_spelling_into_a_known_word():
    frames = spell("HALLO WORLD")
    frames[2] = {"A": 0.5, "E": 0.4}  # the acoustics lean (wrongly) towards A
    lp = posteriors(frames)
    assert greedy(lp) == "HALLO WORLD"
    assert text(decoder(alpha=0.0).decode(lp)) == "HALLO WORLD"
    assert text(decoder(alpha=1.0, beta=1.0).decode(lp)) == "HELLO WORLD"
    confident = posteriors(spell("HALLO WORLD", p=0.99))  # clear acoustics win over the LM
    assert text(decoder(alpha=0.3, beta=1.0).decode(confident)) == "HALLO WORLD"



def test_the_unknown_word_offset_makes_the_vocabulary_bind():
    # the acoustics lean clearly to HALLO; a word bonus larger than alpha * ln P(<unk>) would
    # keep the unknown spelling, an offset on unknown words turns it into the known word
    lp = posteriors(spell("HALLO WORLD", p=0.95))
    assert text(decoder(alpha=0.3, beta=1.0).decode(lp)) == "HALLO WORLD"
    assert text(decoder(alpha=0.3, beta=1.0, unk_offset=-10.0).decode(lp)) == "HELLO WORLD"
    # known words pay nothing: the same text either way when every word is in the LM
    lp = posteriors(spell("HELD WORLD"))
    assert text(decoder(alpha=0.3, beta=1.0, unk_offset=-10.0).decode(lp)) == "HELD WORLD"

def test_words_carry_the_frames_their_letters_were_emitted_at():
    lp = posteriors([{"<pad>": 0.9}] * 3 + spell("HELD WORLD") + [{"<pad>": 0.9}] * 2)
    words = decoder(alpha=0.5, beta=1.0).decode(lp)
    assert [w.word for w in words] == ["HELD", "WORLD"]
    assert (words[0].first_frame, words[0].end_frame) == (3, 3 + 2 * 3 + 1)
    assert (words[1].first_frame, words[1].end_frame) == (3 + 2 * 5, 3 + 2 * 9 + 1)
    assert all(w.confidence == pytest.approx(0.9, abs=1e-6) for w in words)


def test_silence_gives_no_words():
    assert decoder(alpha=0.5, beta=2.0).decode(posteriors([{"<pad>": 0.95}] * 20)) == []
    assert decoder(alpha=0.5, beta=2.0).decode(np.zeros((0, len(TOKENS)))) == []


def _whole_prefix_score(dec: BeamSearchDecoder, prefix: str) -> float:
    """The LM part of a prefix's score straight from its definition, every word from the start."""
    s, lm = dec.settings, dec.lm
    words = prefix.split(" ")
    partial = words.pop()
    score, history = 0.0, ("<s>",)
    for w in words:
        score += s.alpha * lm.log_prob(history, w) + s.beta
        if w not in lm.words:
            score += s.unk_offset
        history = history + (w,)
    if partial and partial not in lm.prefixes:
        score += s.alpha * lm.unk + s.unk_offset
    return score


@pytest.mark.parametrize("order", [2, 3])
def test_prefix_scores_built_a_letter_at_a_time_equal_scoring_the_whole_prefix(order):
    from sewstream.text.ngram import build_ngram

    lm = NgramLM.parse(build_ngram(["HELLO WORLD HELLO", "HELLO", "WORLD HELLO WORLD", "HOLD", "HELD ALL"],
                                   order=order).splitlines())
    dec = BeamSearchDecoder(VOCAB.id_to_token, VOCAB.blank, lm,
                            BeamSettings(alpha=0.7, beta=1.5, unk_offset=-2.0))
    rng = np.random.default_rng(order)
    words = ["HELLO", "WORLD", "HOLD", "HELD", "ALL", "WOLD", "HX", "A"]  # known and unknown
    prefixes = ["", "H", "HELLO ", "HELLO", "HELLO WO", "XQ", "HELLO XQZ", "WORLD HELLO WORLD HELLO ",
                " HELLO", "HELLO  WORLD"]  # the last two never come from decode, but score alike
    for _ in range(300):  # random texts, each cut at a random point
        t = " ".join(rng.choice(words, int(rng.integers(1, 6)))) + rng.choice(["", " "])
        prefixes.append(t[: int(rng.integers(0, len(t) + 1))])
    for order_seen in (prefixes, prefixes[::-1]):  # cached ancestors or none: the same floats
        dec._lm_states.clear()
        for p in order_seen:
            assert dec._lm_score(p) == _whole_prefix_score(dec, p), p
