"""The keyword-vs-filler CTC score on hand-built posteriors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sewstream.keywords.ctc_scorer import (
    KeywordGraph,
    ViterbiState,
    boundary,
    emission_matrix,
    occurrences,
    phrase_tokens,
    scan,
    to_score,
)

from .helpers import ID, TOKENS, frames, say

V = len(TOKENS)


def graph(*phrases: str) -> KeywordGraph:
    return KeywordGraph.compile([phrase_tokens(p, ID) for p in phrases], V, blank=0)


def found(logits, *phrases, **kwargs):
    return [(phrases[o.keyword], round(float(to_score(o.log_score)), 3), o.start, o.end)
            for o in occurrences(graph(*phrases), logits, 0, ID["|"], floor=-20.0, **kwargs)]


def test_phrase_scores_high_other_phrase_and_silence_low():
    logits = frames(say("YES"))
    (yes,) = [f for f in found(logits, "yes", "no") if f[0] == "yes" and f[1] > 0.5]
    assert yes[1] > 0.98
    no = [f for f in found(logits, "yes", "no") if f[0] == "no"]
    assert all(score < 0.01 for _, score, _, _ in no)
    silence = found(frames("_" * 60), "yes", "no")
    assert silence and all(score < 0.01 for _, score, _, _ in silence)


def test_flat_posteriors_are_no_evidence():
    # an unsure model (every token equally likely) must not look like every keyword
    (occ,) = found(np.zeros((40, V), np.float32), "yes")
    assert occ[1] == pytest.approx(1 / V, abs=1e-3)


def test_span_and_alignment_positions():
    script = "_" * 10 + "Y_E__S" + "_" * 10
    ((_, score, start, end),) = [f for f in found(frames(script), "yes") if f[1] > 0.5]
    assert (start, end) == (10, 16)  # Y at frame 10, S at frame 15
    assert score > 0.98


def test_letter_inside_the_span_costs():
    # Y E T S: the keyword must pass the T frame in a gap, where T beats blank by 8 nats
    score_yets = max(f[1] for f in found(frames("__Y_E_T_S__"), "yes", whole_word=False))
    assert score_yets < math.exp(-8 / 3) * 1.01
    # a missing letter has to be forced on a blank frame: also low
    assert max(f[1] for f in found(frames("__Y___S__"), "yes", whole_word=False)) < 0.1


def test_repeated_occurrences_are_separate():
    occ = [f for f in found(frames(say("YES") + say("YES")), "yes") if f[1] > 0.5]
    assert len(occ) == 2 and occ[0][3] <= occ[1][2]


def test_double_letters_need_a_blank_between():
    g = graph("hello")
    assert g.skip.tolist().count(False) > 0
    good = found(frames("__H_E_L_L_O__"), "hello")
    assert max(f[1] for f in good) > 0.98
    # "HELO" (one L run) cannot be read as HELLO: one L would sit on a blank/O frame
    assert max(f[1] for f in found(frames("__H_E_LL_O__"), "hello", whole_word=False)) < 0.1


def test_word_delimiter_between_words_is_optional():
    with_delim = found(frames("__H_E_Y_|_S_E_W__"), "hey sew")
    without = found(frames("__H_E_Y___S_E_W__"), "hey sew")
    assert max(f[1] for f in with_delim) > 0.98 and max(f[1] for f in without) > 0.98
    # but a delimiter inside a word is a letter that does not belong there
    assert max(f[1] for f in found(frames("__Y_|_E_S__"), "yes", whole_word=False)) < 0.1


def test_whole_word_boundaries():
    # "YES" inside "YESTERDAY" (T three frames after S) is not the keyword...
    script = "_" * 8 + "Y_E_S_T_E_R_D_A_Y" + "_" * 10
    assert not [f for f in found(frames(script), "yes") if f[1] > 0.5]
    assert [f for f in found(frames(script), "yes", whole_word=False) if f[1] > 0.5]
    # ...nor "NO" at the start of "NOTHING", or at the end of "KNO"
    assert not [f for f in found(frames("___N_O_T_H_I_N_G___"), "no") if f[1] > 0.5]
    assert not [f for f in found(frames("___K_N_O_____"), "no") if f[1] > 0.5]
    # delimiters or silence around it are boundaries
    assert [f for f in found(frames("_A_|_N_O_|_W__"), "no") if f[1] > 0.5]


def test_boundary_undecided_until_frames_arrive():
    ids = frames("__Y_E_S__").argmax(1)
    ok, used = boundary(ids, 0, 2, 7, ID["Y"], ID["S"], 0, ID["|"], gap=5, known_end=9)
    assert ok is None and used == 9
    ok, used = boundary(np.concatenate([ids, [0, 0, 0]]), 0, 2, 7, ID["Y"], ID["S"], 0, ID["|"], gap=5, known_end=12)
    assert ok is True and used == 12


def test_incremental_scan_equals_one_pass():
    logits = frames(say("NO", "YES") + say("HEY", "SEW"))
    g = graph("yes", "no", "hey sew")
    em = emission_matrix(logits, 0, ID["|"])
    whole = scan(g, em, ViterbiState.fresh(g), 150)
    state = ViterbiState.fresh(g)
    parts = [scan(g, em[a:b], state, 150) for a, b in ((0, 7), (7, 31), (31, len(em)))]
    np.testing.assert_allclose(np.concatenate([p.log_score for p in parts]), whole.log_score)
    np.testing.assert_array_equal(np.concatenate([p.start for p in parts]), whole.start)


def test_max_duration_bounds_a_path():
    script = "__Y" + "_" * 60 + "E_S__"
    assert max(f[1] for f in found(frames(script), "yes")) > 0.98
    assert not [f for f in found(frames(script), "yes", max_frames=30) if f[1] > 0.5]


def test_phrase_tokens_checks_the_vocabulary():
    assert phrase_tokens("Hey, Sew!", ID) == [[ID["H"], ID["E"], ID["Y"]], [ID["S"], ID["E"], ID["W"]]]
    assert phrase_tokens("don't", ID) == [[ID["D"], ID["O"], ID["N"], ID["'"], ID["T"]]]
    with pytest.raises(ValueError, match="spell numbers out"):
        phrase_tokens("route 66", ID)
    with pytest.raises(ValueError, match="'É'"):
        phrase_tokens("café", ID)
    lower = {t.lower(): i for t, i in ID.items()}
    assert phrase_tokens("YES", lower) == [[ID["Y"], ID["E"], ID["S"]]]


def test_boost_shifts_the_score():
    assert to_score(-1.0) == pytest.approx(math.exp(-1))
    assert to_score(-1.0, boost=0.5) == pytest.approx(math.exp(-0.5))
    assert to_score(-0.2, boost=1.0) == 1.0
