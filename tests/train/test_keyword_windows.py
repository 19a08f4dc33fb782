"""Training windows for the keyword classifier: placement, cropping, labels, mix, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from sewstream.train.augment import Augmenter
from sewstream.train.keyword_windows import (
    SILENCE,
    UNKNOWN,
    WindowMix,
    WindowSampler,
    crop,
    cut,
    keyword_free,
    other_words,
    place,
    trim_silence,
    window_augmenter,
)

N = 16000


def tone(seconds: float, freq: float = 300.0) -> np.ndarray:
    t = np.arange(int(seconds * N)) / N
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def no_augment() -> Augmenter:
    zero = {f"p_{k}": 0.0 for k in ("speed", "reverb", "pad", "noise", "floor", "telephone", "lowpass",
                                    "highpass", "mulaw", "clip", "gain")}
    return Augmenter(0, **zero)


@pytest.mark.parametrize(("text", "free"), [
    ("nobody knows the way", True),   # "no" inside other words is not the keyword
    ("there is no way", False),
    ("GO NORTH", False),               # case-insensitive
    ("the stops were closed", True),
    ("turn it up then down", False),
])
def test_keyword_free_is_whole_word(text, free):
    assert keyword_free(text, ["yes", "no", "down", "stop", "go"]) is free


def test_keyword_free_multiword_phrase_needs_every_word():
    assert keyword_free("hey there", ["hey sew"])
    assert not keyword_free("hey sew", ["hey sew"])


def test_place_keeps_the_whole_clip_at_some_offset():
    rng = np.random.default_rng(0)
    clip = tone(0.4) + 0.5  # no zero samples: the first non-zero sample is the clip's start
    starts = set()
    for _ in range(20):
        w = place(clip, N, rng)
        assert w.shape == (N,)
        start = int(np.flatnonzero(w)[0])
        np.testing.assert_array_equal(w[start:start + len(clip)], clip)
        assert np.count_nonzero(w) == np.count_nonzero(clip)
        starts.add(start)
    assert len(starts) > 10  # the offset is random, not always the same place


def test_place_crops_a_clip_longer_than_the_window():
    w = place(np.arange(2 * N, dtype=np.float32), N, np.random.default_rng(1))
    assert w.shape == (N,)
    np.testing.assert_array_equal(np.diff(w), 1.0)  # one contiguous piece of the clip


def test_crop_is_window_long_and_overhangs_at_most_half():
    rng = np.random.default_rng(0)
    audio = np.ones(3 * N, np.float32)
    for _ in range(200):
        w = crop(audio, N, rng)
        assert w.shape == (N,)
        assert w.sum() >= N // 2
    short = crop(np.ones(N // 4, np.float32), N, rng)  # shorter than a window: zero-padded, kept
    assert short.shape == (N,) and short.sum() == N // 4


def sampler(**mix) -> WindowSampler:
    keywords = {"yes": [tone(0.4, 200)], "no": [tone(0.3, 400)]}
    return WindowSampler(keywords, [tone(0.5, 800)], lambda i: tone(3.0, 1600), [0, 1], no_augment(),
                         mix=WindowMix(p_speed=0.0, **mix))


def test_batch_shapes_labels_and_mix():
    s = sampler()
    assert s.labels == ["yes", "no", UNKNOWN, SILENCE]
    x, y = s.batch(2000, np.random.default_rng(0))
    assert x.shape == (2000, N) and x.dtype == np.float32 and y.dtype == np.int64
    share = np.bincount(y, minlength=4) / len(y)
    mix = WindowMix()
    keyword_share = (1 - mix.silence - mix.unknown_words - mix.unknown_sentences) / 2
    np.testing.assert_allclose(share, [keyword_share, keyword_share, mix.unknown_words + mix.unknown_sentences,
                                       mix.silence], atol=0.03)


def test_each_label_gets_its_own_material():
    s = sampler()
    x, y = s.batch(300, np.random.default_rng(1))
    freq_of = {0: 200, 1: 400}
    for w, label in zip(x, y):
        if label in freq_of:  # a keyword window holds that keyword's clip (its tone), nothing else
            peak = np.argmax(np.abs(np.fft.rfft(w))) * N / len(w)
            assert abs(peak - freq_of[label]) < 5
        elif label == 3:  # silence: quiet noise only
            assert 10 * np.log10(np.mean(w ** 2)) < -29
        else:
            peak = np.argmax(np.abs(np.fft.rfft(w))) * N / len(w)
            assert min(abs(peak - 800), abs(peak - 1600)) < 5


def test_windows_are_deterministic_given_the_rng_and_augmented_to_length():
    s = WindowSampler({"yes": [tone(0.4)]}, [tone(0.5, 800)], lambda i: tone(3.0), [0], window_augmenter(0))
    a, ya = s.batch(16, np.random.default_rng(7))
    b, yb = s.batch(16, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert a.shape == (16, N) and np.all(np.isfinite(a)) and np.abs(a).max() <= 1.0


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="at least one clip"):
        WindowSampler({"yes": []}, [tone(0.5)], lambda i: tone(1), [0], no_augment())
    with pytest.raises(ValueError, match="_unknown_"):
        WindowSampler({"yes": [tone(0.4)]}, [], lambda i: tone(1), [], no_augment())
    with pytest.raises(ValueError, match="no room for keywords"):
        WindowSampler({"yes": [tone(0.4)]}, [tone(0.5)], lambda i: tone(1), [0], no_augment(),
                      mix=WindowMix(silence=0.5, unknown_words=0.3, unknown_sentences=0.2))


def test_other_words_skip_keywords_and_their_homophones():
    words = other_words(["no", "down"])
    assert "know" not in words          # same sound as "no": would be label noise
    assert "no one" not in words and "down" not in words and "downtown" in words
    assert "now" in words and "gown" in words
    assert len(words) == len(set(words))
    assert "know" in other_words(["yes"])   # only a homophone of a chosen keyword is dropped


def test_cut_pads_outside_the_audio():
    audio = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(cut(audio, -2, 5), [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(cut(audio, 8, 4), [9, 10, 0, 0])
    np.testing.assert_array_equal(cut(audio, 20, 3), [0, 0, 0])


def test_hard_negatives_are_the_mined_places_labelled_unknown():
    # Sentence 0 is a 3 s ramp: a window's first sample tells where it was cut.
    ramp = np.arange(3 * N, dtype=np.float32) / (3 * N)
    keywords = {"yes": [tone(0.4, 200)]}
    mix = WindowMix(p_speed=0.0, silence=0.0, unknown_words=0.0, unknown_sentences=0.0, hard_negatives=0.5,
                    hard_jitter_s=0.1)
    s = WindowSampler(keywords, [tone(0.5, 800)], lambda i: ramp, [0], no_augment(), mix=mix,
                      hard_negatives=[(0, N)])
    x, y = s.batch(400, np.random.default_rng(0))
    hard = x[y == s.labels.index(UNKNOWN)]
    assert 150 < len(hard) < 250                      # half the windows
    starts = np.rint(hard[:, 0] * 3 * N)
    assert np.all(np.abs(starts - N) <= 0.1 * N)      # at the mined place, jittered by <= 0.1 s
    assert len(set(starts)) > 50
    np.testing.assert_allclose(np.diff(hard[0]), 1 / (3 * N), rtol=1e-2)  # one contiguous cut


def test_hard_negative_share_is_zero_without_hard_negatives():
    s = sampler(hard_negatives=0.3)   # none given: the share goes to nobody, keywords keep theirs
    _, y = s.batch(2000, np.random.default_rng(0))
    share = np.bincount(y, minlength=4) / len(y)
    mix = WindowMix()
    keyword_share = (1 - mix.silence - mix.unknown_words - mix.unknown_sentences) / 2
    np.testing.assert_allclose(share[:2], keyword_share, atol=0.03)


def padded_word(lead: float = 0.1, word: float = 0.3, tail: float = 0.2) -> np.ndarray:
    """A word (a tone) with TTS-like near-silence before and after it."""
    rng = np.random.default_rng(0)
    quiet = lambda seconds: (1e-4 * rng.standard_normal(int(seconds * N))).astype(np.float32)  # noqa: E731
    return np.concatenate([quiet(lead), tone(word), quiet(tail)])


def test_trim_silence_keeps_the_word_and_a_margin():
    trimmed = trim_silence(padded_word(), margin=160)
    assert len(trimmed) == int(0.3 * N) + 2 * 160
    assert np.abs(trimmed[160:-160]).max() > 0.29 and np.abs(trimmed[:100]).max() < 1e-3
    assert len(trim_silence(np.zeros(100, np.float32))) == 100  # shorter than a frame: as it was


@pytest.mark.parametrize("trim", [False, True])
def test_trimmed_keywords_can_end_at_the_window_end(trim):
    s = WindowSampler({"yes": [padded_word()]}, [padded_word(word=0.2)], lambda i: tone(3.0), [0], no_augment(),
                      mix=WindowMix(p_speed=0.0), trim_clips=trim)
    rng = np.random.default_rng(1)
    gaps = []  # from the word's end to the window's end
    for _ in range(300):
        x, label = s.window_for("yes", rng)
        loud = np.flatnonzero(np.abs(x) > 0.1)
        gaps.append((N - loud[-1]) / N)
    if trim:
        assert min(gaps) < 0.02  # right at the end, as a live trigger needs
    else:
        assert min(gaps) >= 0.2  # never closer than the clip's silent tail
