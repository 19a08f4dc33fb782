"""Labelled one-second windows for training a keyword classifier (Speech Commands style).

A window is one of: a keyword spoken alone, placed at a random offset (label = the keyword);
an other word spoken alone, a crop of a keyword-free sentence, or a mined hard negative (the
place in a keyword-free sentence where an earlier classifier nearly fired; ``_unknown_``);
noise only (``_silence_``). The clean clip is placed first and the whole window is augmented after, so
noise, reverberation and gain cover the window evenly and padding never shows as digital
zeros around the word (a cue the real stream would not give).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sewstream.audio.levels import frame_energy_db

from .augment import Augmenter, apply_gain, colored_noise, speed_perturb

SILENCE, UNKNOWN = "_silence_", "_unknown_"
SAMPLE_RATE = 16000


def keyword_free(text: str, keywords: Sequence[str]) -> bool:
    """True when no keyword occurs in ``text`` as a whole word (case-insensitive)."""
    words = set(re.findall(r"[a-z']+", text.lower()))
    return not any(all(w in words for w in k.lower().split()) for k in keywords)


# Other words spoken alone for _unknown_: near neighbours of common keywords first (the false
# accepts that matter), then everyday short words.
OTHER_WORDS = """know now snow note nose toe tow dough though so show low yet yeah yell less mess
guess bless dead town down gown crown done dawn top stock stomp step stoop shop got goat gone
good grow glow ago oh no-one noon moon yo yellow yesterday downtown stopped going
the and that have with this from they will would there their what about which when make like time
just him take people into year your some could them see other than then look only come over think
also back after use two how our work first well way even new want because any these give day most
us cat dog bed bird tree house happy wow left right up off on one three four five six seven eight
nine zero learn follow forward backward visual sheila marvin
""".split()

# Words a keyword sounds exactly like: an isolated "know" is the same audio as "no", so
# labelling it _unknown_ only teaches the model to doubt every "no" (contradictory labels).
# They are never used as other words; in a sentence the context tells them apart.
HOMOPHONES = {"no": {"know"}, "right": {"write", "rite"}, "two": {"to", "too"}, "four": {"for"},
              "eight": {"ate"}, "one": {"won"}}


def other_words(keywords: Sequence[str]) -> list[str]:
    """``OTHER_WORDS`` that are neither a keyword, nor contain one, nor sound exactly like one."""
    sound_alike = set().union(*(HOMOPHONES.get(k.lower(), set()) for k in keywords))
    texts = [w.replace("-", " ") for w in OTHER_WORDS if w not in sound_alike]
    return [t for t in dict.fromkeys(texts) if keyword_free(t, keywords)]


def place(clip: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``clip`` at a random offset in ``n`` samples of silence (a random ``n`` of it if longer)."""
    out = np.zeros(n, np.float32)
    if len(clip) >= n:
        start = int(rng.integers(0, len(clip) - n + 1))
        out[:] = clip[start:start + n]
    else:
        start = int(rng.integers(0, n - len(clip) + 1))
        out[start:start + len(clip)] = clip
    return out


def trim_silence(clip: np.ndarray, drop_db: float = 40.0, margin: int = 160) -> np.ndarray:
    """``clip`` cut to its speech: from the first to the last 10 ms frame within ``drop_db`` of
    the loudest, plus ``margin`` samples either side.

    TTS clips carry 80-250 ms of near-silence after the word (median 150 ms). Placed whole,
    a keyword then never ends closer than that to a training window's end, so the classifier
    only learns to fire ~150 ms after the word, and triggers late."""
    energy = frame_energy_db(clip, 160)
    if not len(energy):
        return clip
    loud = np.flatnonzero(energy >= energy.max() - drop_db)
    return clip[max(0, int(loud[0]) * 160 - margin): min(len(clip), (int(loud[-1]) + 1) * 160 + margin)]


def crop(audio: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A window of ``n`` samples from a sentence; it may hang over either end by up to half."""
    return cut(audio, int(rng.integers(-(n // 2), max(len(audio) - n // 2, -(n // 2) + 1))), n)


def cut(audio: np.ndarray, start: int, n: int) -> np.ndarray:
    """``audio[start:start + n]``, zero-padded where that range lies outside the audio."""
    out = np.zeros(n, np.float32)
    lo, hi = max(start, 0), min(start + n, len(audio))
    if hi > lo:
        out[lo - start:hi - start] = audio[lo:hi]
    return out


@dataclass(frozen=True)
class WindowMix:
    """Shares of each kind of window in a batch (the rest: keywords, evenly)."""

    silence: float = 0.08
    unknown_words: float = 0.2
    unknown_sentences: float = 0.3
    hard_negatives: float = 0.1         # only when the sampler is given hard negatives
    hard_jitter_s: float = 0.1          # a hard negative's crop moves by up to this much
    p_speed: float = 0.6                # chance a word clip is speed-perturbed (0.85-1.15) first


class WindowSampler:
    """Random labelled windows: ``sampler.batch(size, rng) -> (audio (B, n), label ids (B,))``.

    ``keywords`` maps each keyword label to its clean clips; ``unknown_words`` are clean clips
    of other words; ``sentence`` (i -> audio) with ``sentence_ids`` gives keyword-free sentences;
    ``hard_negatives`` are (sentence id, window start sample) places in those sentences that a
    classifier confused with a keyword (``scripts/mine_keyword_negatives.py``). ``trim_clips``
    cuts word clips to their speech first (:func:`trim_silence`), so a keyword may end right
    at a window's end, as it does live when the trigger should come.
    Labels are ordered keywords first, then ``_unknown_``, ``_silence_``.
    """

    def __init__(self, keywords: dict[str, list[np.ndarray]], unknown_words: list[np.ndarray],
                 sentence, sentence_ids: Sequence[int], augment: Augmenter, *,
                 window: int = 16000, mix: WindowMix = WindowMix(),
                 hard_negatives: Sequence[tuple[int, int]] = (), trim_clips: bool = False) -> None:
        if not keywords or any(not clips for clips in keywords.values()):
            raise ValueError("every keyword needs at least one clip")
        if not unknown_words and not sentence_ids:
            raise ValueError("no _unknown_ material: give other-word clips or keyword-free sentences")
        if trim_clips:  # keywords and other words alike: a cut edge must not tell them apart
            keywords = {k: [trim_silence(c) for c in clips] for k, clips in keywords.items()}
            unknown_words = [trim_silence(c) for c in unknown_words]
        self.keywords = keywords
        self.labels = [*keywords, UNKNOWN, SILENCE]
        self.unknown_words = unknown_words
        self.sentence = sentence
        self.sentence_ids = list(sentence_ids)
        self.augment = augment
        self.window = window
        self.hard_negatives = [(int(i), int(start)) for i, start in hard_negatives]
        self.hard_jitter = round(mix.hard_jitter_s * SAMPLE_RATE)
        shares = [mix.silence, mix.unknown_words if unknown_words else 0.0,
                  mix.unknown_sentences if self.sentence_ids else 0.0,
                  mix.hard_negatives if self.hard_negatives else 0.0]
        rest = 1.0 - sum(shares)
        if rest <= 0:
            raise ValueError(f"window mix {mix} leaves no room for keywords")
        self.p_speed = mix.p_speed
        self.kinds = ["silence", "unknown_word", "unknown_sentence", "hard_negative", *keywords]
        p = np.array(shares + [rest / len(keywords)] * len(keywords))
        self.p = p / p.sum()

    def window_for(self, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """One augmented window of ``kind`` and its label."""
        n = self.window
        if kind == "silence":  # noise at a random level, sometimes nearly nothing
            x = colored_noise(n, rng, float(rng.uniform(0, 2)))
            return apply_gain(x, float(rng.uniform(-75, -30)) - 10 * np.log10(np.mean(x ** 2) + 1e-12)), SILENCE
        if kind == "unknown_sentence":
            i = self.sentence_ids[int(rng.integers(len(self.sentence_ids)))]
            x, label = crop(np.asarray(self.sentence(i), np.float32), n, rng), UNKNOWN
        elif kind == "hard_negative":
            i, start = self.hard_negatives[int(rng.integers(len(self.hard_negatives)))]
            start += int(rng.integers(-self.hard_jitter, self.hard_jitter + 1))
            x, label = cut(np.asarray(self.sentence(i), np.float32), start, n), UNKNOWN
        else:
            clips, label = ((self.unknown_words, UNKNOWN) if kind == "unknown_word" else (self.keywords[kind], kind))
            clip = clips[int(rng.integers(len(clips)))]
            if rng.random() < self.p_speed:  # speed before placing, so the window keeps its length
                clip = speed_perturb(clip, float(rng.uniform(0.85, 1.15)))
            x = place(clip, n, rng)
        x = self.augment(x, rng)
        return (x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))), label

    def batch(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        kinds = rng.choice(len(self.kinds), size=size, p=self.p)
        audio, labels = [], []
        for k in kinds:
            x, label = self.window_for(self.kinds[int(k)], rng)
            audio.append(x)
            labels.append(self.labels.index(label))
        return np.stack(audio).astype(np.float32), np.array(labels, np.int64)


def window_augmenter(seed: int = 0, babble_pool: Sequence[np.ndarray] = ()) -> Augmenter:
    """The corpus augmentation minus what would change the window's length (speed, padding)."""
    return Augmenter(seed, babble_pool=babble_pool, p_speed=0.0, p_pad=0.0)
