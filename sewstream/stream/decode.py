"""Greedy CTC over a growing sequence of frames: text, words with times and confidences.

Frames arrive in order (stable ones from stitched windows); one CTC collapse over the
concatenation, so a character split across two windows is neither lost nor doubled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .events import Word


def frame_posteriors(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the argmax token id and its softmax probability."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=-1, keepdims=True)
    ids = probs.argmax(axis=-1)
    return ids.astype(np.int32), probs[np.arange(len(ids)), ids].astype(np.float32)


@dataclass
class Vocabulary:
    """The CTC tokens as the decoder needs them."""

    id_to_token: dict[int, str]
    blank: int
    delimiter: str = "|"
    special: frozenset[int] = frozenset()

    @classmethod
    def from_tokenizer(cls, tokenizer) -> Vocabulary:
        vocab = tokenizer.get_vocab()
        special = {vocab[t] for t in (tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token)
                   if t is not None and t in vocab}
        return cls({i: t for t, i in vocab.items()}, tokenizer.pad_token_id,
                   tokenizer.word_delimiter_token or "|", frozenset(special))

    def char(self, token_id: int) -> str:
        token = self.id_to_token.get(int(token_id), "")
        return " " if token == self.delimiter else token


def collapse(ids: np.ndarray, blank: int, previous: int = -1) -> list[tuple[int, int]]:
    """CTC collapse: (token id, first frame index) of each emitted token.

    ``previous`` is the id of the frame just before ``ids`` (to merge a repeat across
    the boundary), or -1.
    """
    out = []
    for j, token in enumerate(ids):
        token = int(token)
        if token != previous and token != blank:
            out.append((token, j))
        previous = token
    return out


@dataclass
class Transcript:
    """The stable frames of one utterance and what they say."""

    vocab: Vocabulary
    frame_seconds: float
    first_frame: int = 0                       # global index of ids[0]
    ids: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    num_frames: int = 0
    # every token's log-probability per frame, kept only when finals are re-decoded with an LM
    log_probs: list[np.ndarray] | None = None

    _text: str | None = None

    def append(self, ids: np.ndarray, probs: np.ndarray, log_probs: np.ndarray | None = None) -> None:
        self.ids.append(ids)
        self.probs.append(probs)
        if self.log_probs is not None:
            if log_probs is None or len(log_probs) != len(ids):
                raise ValueError("this transcript keeps log-probs: append them with every frame")
            self.log_probs.append(log_probs)
        self.num_frames += len(ids)
        self._text = None

    def all_log_probs(self) -> np.ndarray:
        if self.log_probs is None:
            raise ValueError("this transcript does not keep log-probs")
        return np.concatenate(self.log_probs) if self.log_probs else np.zeros((0, len(self.vocab.id_to_token)))

    def invalidate(self) -> None:
        self._text = None

    def all_ids(self) -> np.ndarray:
        return np.concatenate(self.ids) if self.ids else np.zeros(0, np.int32)

    def all_probs(self) -> np.ndarray:
        return np.concatenate(self.probs) if self.probs else np.zeros(0, np.float32)

    def text(self, extra_ids: np.ndarray | None = None) -> str:
        """The collapsed text (delimiters as spaces); ``extra_ids`` are frames that follow."""
        if extra_ids is None or not len(extra_ids):
            if self._text is None:
                self._text = self._chars(self.all_ids())
            return self._text
        return self._chars(np.concatenate([self.all_ids(), extra_ids]))

    def _chars(self, ids: np.ndarray) -> str:
        return "".join(self.vocab.char(t) for t, _ in collapse(ids, self.vocab.blank) if t not in self.vocab.special)

    @property
    def has_text(self) -> bool:
        return bool(self.text().strip())

    def words(self) -> list[Word]:
        """Words with start/end (stream seconds) and the mean max-posterior of their letters' frames."""
        ids, probs = self.all_ids(), self.all_probs()
        words: list[Word] = []
        letters: list[str] = []
        frames: list[int] = []  # non-blank frames of the current word
        start = end = 0
        previous = -1

        def flush() -> None:
            if letters:
                conf = float(probs[frames].mean())
                words.append(Word("".join(letters), round(self.time(start), 3), round(self.time(end), 3),
                                  round(conf, 3)))
                letters.clear()
                frames.clear()

        for j, token in enumerate(ids.tolist()):
            new = token != previous
            previous = token
            if token == self.vocab.blank or token in self.vocab.special:
                continue
            char = self.vocab.char(token)
            if char == " ":
                if new:
                    flush()
                continue
            if new:
                if not letters:
                    start = j
                letters.append(char)
            frames.append(j)
            end = j + 1
        flush()
        return words

    def time(self, frame: int) -> float:
        return (self.first_frame + frame) * self.frame_seconds
