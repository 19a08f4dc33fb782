"""CTC prefix beam search with a word language model (shallow fusion).

Greedy CTC picks the best token per frame; this keeps the ``beam`` best *texts*, summing
the probability of every frame path that collapses to the same text (blank-ending and
letter-ending paths kept apart so a repeated letter needs a blank between), and ranks
them by ``ln P_ctc + alpha * ln P_lm(words) + beta * words + unk_offset * unknown words``.
The LM scores a word when it is complete (at a delimiter, or the end); a partial word that
is no known word's prefix pays the unknown-word score at once, so impossible spellings are
pruned early. ``unk_offset`` (as pyctcdecode's ``unk_score_offset``) is what makes an LM's
vocabulary bind: an LM built from a few phrases reserves a large ``<unk>`` probability, so
without it an unknown spelling would cost less than the word bonus earns.

Pure Python over the tokens that matter per frame (log-prob above ``token_floor``):
about 4-7 ms per second of audio at beam 16 (a third of the model's forward pass),
so it suits finals and offline decoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .ngram import BOS, EOS, NgramLM

NEG_INF = -math.inf


@dataclass(frozen=True)
class DecodedWord:
    word: str
    first_frame: int      # frame of its first letter
    end_frame: int        # one past the frame of its last letter
    confidence: float     # mean posterior of its letters at the frames they were emitted


@dataclass(frozen=True)
class BeamSettings:
    alpha: float = 0.5          # LM weight
    beta: float = 2.0           # per-word bonus (offsets the LM's bias towards short outputs)
    beam: int = 16
    unk_offset: float = 0.0     # added per word outside the LM's vocabulary (on top of alpha * its <unk> score)
    token_floor: float = -8.0   # ignore tokens with ln p below this in a frame


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


class BeamSearchDecoder:
    """``decode(log_probs)`` -> words; ``log_probs`` is [frames, vocab] natural-log softmax."""

    def __init__(self, id_to_token: dict[int, str], blank: int, lm: NgramLM, settings: BeamSettings | None = None,
                 *, delimiter: str = "|", skip: frozenset[int] = frozenset()) -> None:
        self.lm, self.settings, self.blank = lm, settings or BeamSettings(), blank
        # token id -> character (" " for the word delimiter); specials and blank are never emitted
        self.chars = {i: (" " if t == delimiter else t) for i, t in id_to_token.items()
                      if i != blank and i not in skip and (t == delimiter or len(t) == 1)}
        # prefix -> (score, score of its complete words, their last order-1 words, its partial word)
        self._lm_states: dict[str, tuple[float, float, tuple[str, ...], str]] = {}

    def _lm_score(self, prefix: str) -> float:
        """alpha * ln P_lm of the complete words + beta per word + unk_offset per unknown one,
        + the unknown-word penalty at once for a partial word no known word starts with.

        Scored from the longest prefix already scored, one character at a time: a beam's
        candidates extend last frame's beams by one character, so this is one step each."""
        state = self._lm_states.get(prefix)
        if state is not None:
            return state[0]
        known = max(len(prefix) - 1, 0)
        while known > 0 and prefix[:known] not in self._lm_states:
            known -= 1
        state = self._lm_states[prefix[:known]] if known > 0 else (0.0, 0.0, (BOS,), "")
        if len(self._lm_states) > 200_000:  # bounded, like the LM's own cache
            self._lm_states.clear()
        for end in range(known + 1, len(prefix) + 1):
            state = self._extend(state, prefix[end - 1])
            self._lm_states[prefix[:end]] = state
        return state[0]

    def _extend(self, state: tuple[float, float, tuple[str, ...], str], ch: str
                ) -> tuple[float, float, tuple[str, ...], str]:
        """``state`` of a prefix -> that of the prefix + ``ch`` (a letter, or " " ending a word);
        the same sums in the same order as scoring the whole prefix, so the same floats."""
        s, lm = self.settings, self.lm
        _, complete, history, partial = state
        if ch == " ":
            complete += s.alpha * lm.log_prob(history, partial) + s.beta
            if partial not in lm.words:
                complete += s.unk_offset
            history = (history + (partial,))[-(lm.order - 1):] if lm.order > 1 else ()
            partial = ""
        else:
            partial += ch
        score = complete
        if partial and partial not in lm.prefixes:
            score += s.alpha * lm.unk + s.unk_offset
        return score, complete, history, partial

    def _final_score(self, prefix: str, ctc: float) -> float:
        text = prefix.strip()
        if not text:
            return ctc
        words = tuple(text.split(" "))
        s = self.settings
        return ctc + self._lm_score(text + " ") + s.alpha * self.lm.log_prob((BOS,) + words, EOS)

    def decode(self, log_probs: np.ndarray) -> list[DecodedWord]:
        s = self.settings
        self._lm_states.clear()
        # prefix -> [ln p(paths ending in blank), ln p(paths ending in its last letter)]
        beams: dict[str, list[float]] = {"": [0.0, NEG_INF]}
        # the frame each character was emitted at, along the likeliest way the prefix grew
        emitted: dict[str, tuple[int, ...]] = {"": ()}
        strongest: dict[str, float] = {"": 0.0}  # log-prob of the extension that set emitted[prefix]
        blank = self.blank
        for t, row in enumerate(np.asarray(log_probs, dtype=np.float64)):
            tokens = [(self.chars[i], float(row[i])) for i in np.flatnonzero(row > s.token_floor) if i in self.chars]
            p_blank = float(row[blank])
            nxt: dict[str, list[float]] = {}
            for prefix, (pb, pnb) in beams.items():
                total = _logaddexp(pb, pnb)
                entry = nxt.setdefault(prefix, [NEG_INF, NEG_INF])
                entry[0] = _logaddexp(entry[0], total + p_blank)
                last = prefix[-1:] or " "
                for ch, p in tokens:
                    if ch == " " and last == " ":  # a delimiter after a delimiter (or at the start)
                        entry[1] = _logaddexp(entry[1], total + p)
                        continue
                    grown = prefix + ch
                    target = nxt.setdefault(grown, [NEG_INF, NEG_INF])
                    if ch == last:  # the same letter again: only a path through blank makes a new one
                        entry[1] = _logaddexp(entry[1], pnb + p)
                        gain = pb + p
                    else:
                        gain = total + p
                    target[1] = _logaddexp(target[1], gain)
                    if grown not in emitted or gain > strongest[grown]:
                        strongest[grown], emitted[grown] = gain, emitted[prefix] + (t,)
            ranked = sorted(nxt.items(), key=lambda kv: _logaddexp(*kv[1]) + self._lm_score(kv[0]), reverse=True)
            beams = dict(ranked[:s.beam])
            emitted = {k: emitted[k] for k in beams}
            strongest = {k: strongest[k] for k in beams}
        best = max(beams, key=lambda k: self._final_score(k, _logaddexp(*beams[k])))
        return self._words(best, emitted[best], log_probs)

    def _words(self, prefix: str, frames: tuple[int, ...], log_probs: np.ndarray) -> list[DecodedWord]:
        ids = {ch: i for i, ch in self.chars.items()}
        out, letters, at = [], [], []
        for ch, frame in zip(prefix + " ", frames + (-1,)):
            if ch != " ":
                letters.append(ch)
                at.append(frame)
            elif letters:
                conf = float(np.mean([math.exp(log_probs[f, ids[c]]) for c, f in zip(letters, at)]))
                out.append(DecodedWord("".join(letters), at[0], at[-1] + 1, conf))
                letters, at = [], []
        return out
