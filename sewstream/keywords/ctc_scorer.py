"""Keyword-vs-filler scoring over CTC posteriors: the maths, pure numpy.

For each keyword with letters k1 .. kn the keyword model is the CTC path

    k1+ gap k2+ gap ... kn+        gap = blank* (inside a word), (blank | "|")* (between words)

(a gap is optional, except between two equal letters, as CTC requires); outside the keyword
the filler is the best free path (each frame's argmax). One Viterbi pass, in which the
keyword may start at any frame, gives for every end frame the best

    D = sum over letter frames of log p_t(letter)
      + sum over gap frames of [log p_t(gap) - max_u log p_t(u)]

Letter frames are scored by their posterior: every letter must really be emitted (a flat,
unsure posterior gives log(1/V) per letter, not a free pass). Gap frames are scored against
the filler (the best free path), so blank stretches and a slow speaker cost nothing, while a
letter the model emits inside the span that the keyword does not have (YES vs Y-E-T-S) costs
its log ratio. Frames outside the span cost nothing, so D does not depend on padding.
D is divided by the number of letters n (not frames: long blank runs must not dilute it),
and ``score = exp(D / n)`` in (0, 1] is about the geometric mean of the letters' posteriors
at their spikes, discounted by anything that contradicts the keyword between them. Max over
alignments (not the forward sum) also yields the keyword's start and end frames; for peaky
CTC output the two barely differ.

A letter string inside a longer word ("yes" in "yesterday") fits the path above, so the
detectors also check word boundaries on the argmax tokens around the span (:func:`boundary`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEG = np.float32(-1e9)  # "impossible" in the log domain, kept finite so sums never make nan


# ------------------------------------------------------------------- posteriors
def emission_matrix(logits: np.ndarray, blank: int, delimiter: int | None) -> np.ndarray:
    """(T, V) logits -> (T, 2V + 1) per-frame scores the keyword states read.

    Columns [0, V): log posteriors (letter states); [V, 2V): log posteriors relative to the
    frame's best token (gap states; <= 0); 2V: the between-words gap, the better of blank and
    the word delimiter, relative.
    """
    logits = np.asarray(logits, dtype=np.float32)
    rel = logits - logits.max(axis=-1, keepdims=True)  # log p(v) - max log p: the normaliser cancels
    logp = rel - np.log(np.exp(rel).sum(axis=-1, keepdims=True))
    sep = rel[:, blank] if delimiter is None else np.maximum(rel[:, blank], rel[:, delimiter])
    return np.concatenate([logp, rel, sep[:, None]], axis=1).astype(np.float32)


# ------------------------------------------------------------------------ graph
@dataclass(frozen=True)
class KeywordGraph:
    """The CTC keyword paths of several keywords, laid end to end as one state vector.

    State j scores column ``emit[j]`` of the emission matrix; it may be entered from
    state j-1 (unless it is a keyword's first state), from j-2 when ``skip[j]`` (the gap
    between is optional), and the first state of each keyword from the filler at any frame.
    """

    emit: np.ndarray          # (S,) column of the emission matrix each state scores
    first: np.ndarray         # (S,) bool: a keyword's first letter (entered from the filler)
    skip: np.ndarray          # (S,) bool: may be entered from two states back
    final_state: np.ndarray   # (K,) index of each keyword's last letter state
    letters: np.ndarray       # (K,) letters per keyword (score normalisation)
    first_token: np.ndarray   # (K,) token id of the first letter
    last_token: np.ndarray    # (K,) token id of the last letter
    sep_column: int           # the gap-between-words column (2 * vocab size)

    @property
    def num_keywords(self) -> int:
        return len(self.final_state)

    @classmethod
    def compile(cls, keywords: list[list[list[int]]], vocab_size: int, blank: int) -> KeywordGraph:
        """``keywords[k]`` is a list of words, each a list of token ids (no blanks, no delimiters)."""
        if not keywords:
            raise ValueError("no keywords to compile")
        sep, relative = 2 * vocab_size, vocab_size  # see emission_matrix
        emit: list[int] = []
        first: list[bool] = []
        skip: list[bool] = []
        final, letters, first_tok, last_tok = [], [], [], []
        for k, words in enumerate(keywords):
            tokens = [(w, t) for w, word in enumerate(words) for t in word]
            if not tokens:
                raise ValueError(f"keyword {k} has no tokens")
            for i, (word, token) in enumerate(tokens):
                if i == 0:
                    emit.append(token), first.append(True), skip.append(False)
                    continue
                prev_word, prev_token = tokens[i - 1]
                emit.append(relative + blank if word == prev_word else sep)  # the gap state before this letter
                first.append(False), skip.append(False)
                emit.append(token), first.append(False)
                skip.append(token != prev_token)  # CTC: equal neighbours need something between
            final.append(len(emit) - 1)
            letters.append(len(tokens))
            first_tok.append(tokens[0][1])
            last_tok.append(tokens[-1][1])
        as_int = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
        return cls(as_int(emit), np.asarray(first, bool), np.asarray(skip, bool), as_int(final),
                   np.asarray(letters, np.float32), as_int(first_tok), as_int(last_tok), sep)


# ---------------------------------------------------------------------- viterbi
@dataclass
class ViterbiState:
    """Best partial keyword path ending in each state at frame ``frame - 1``."""

    score: np.ndarray   # (S,) float32 log score of the best partial path (<= 0), NEG if none
    start: np.ndarray   # (S,) int64 first frame of that path
    frame: int = 0      # next frame to be scanned (global index)

    @classmethod
    def fresh(cls, graph: KeywordGraph, frame: int = 0) -> ViterbiState:
        n = len(graph.emit)
        return cls(np.full(n, NEG, np.float32), np.zeros(n, np.int64), frame)

    def copy(self) -> ViterbiState:
        return ViterbiState(self.score.copy(), self.start.copy(), self.frame)


@dataclass
class Completions:
    """Per scanned frame and keyword: the best keyword path ending on that frame."""

    first_frame: int
    log_score: np.ndarray   # (T, K) D / n (<= 0; very negative: no match)
    start: np.ndarray       # (T, K) first frame of that path (the path ends at first_frame + row + 1)

    def __len__(self) -> int:
        return len(self.log_score)


def scan(graph: KeywordGraph, emissions: np.ndarray, state: ViterbiState, max_frames: int) -> Completions:
    """Run the keyword Viterbi over ``emissions`` (frames ``state.frame ..``), updating ``state``.

    ``max_frames`` bounds a keyword's duration, which bounds how far back a detector must
    keep posteriors.
    """
    score, start = state.score, state.start
    enter = np.where(graph.first, np.float32(0.0), NEG).astype(np.float32)
    no_skip = ~graph.skip
    out_score = np.empty((len(emissions), graph.num_keywords), np.float32)
    out_start = np.empty((len(emissions), graph.num_keywords), np.int64)
    cand = np.empty((4, len(graph.emit)), np.float32)
    cand_start = np.empty((4, len(graph.emit)), np.int64)
    rows = np.arange(len(graph.emit))
    for i, row in enumerate(emissions):
        t = state.frame + i
        cand[0] = score                                    # stay (a letter repeated / a longer gap)
        cand[1, 1:] = score[:-1]                           # advance from the previous state
        cand[1, 0] = NEG
        cand[1, graph.first] = NEG
        cand[2, 2:] = score[:-2]                           # advance over an optional gap
        cand[2, :2] = NEG
        cand[2, no_skip] = NEG
        cand[3] = enter                                    # leave the filler: keyword starts here
        cand_start[0] = start
        cand_start[1, 1:] = start[:-1]
        cand_start[2, 2:] = start[:-2]
        cand_start[3] = t
        best = cand.argmax(axis=0)
        score = np.maximum(cand[best, rows] + row[graph.emit], NEG)
        start = cand_start[best, rows]
        score[t - start >= max_frames] = NEG                # too long to be this keyword
        out_score[i] = score[graph.final_state] / graph.letters
        out_start[i] = start[graph.final_state]
    state.score, state.start, state.frame = score, start, state.frame + len(emissions)
    return Completions(state.frame - len(emissions), out_score, out_start)


# -------------------------------------------------------------------- boundaries
def boundary(ids: np.ndarray, base: int, start: int, end: int, first_token: int, last_token: int,
             blank: int, delimiter: int | None, gap: int, known_end: int) -> tuple[bool | None, int]:
    """Is the span [start, end) a whole word (or words) in the argmax tokens ``ids``?

    ``ids[i]`` is the argmax of global frame ``base + i``; frames before ``base`` count as
    silence. Left: going back from ``start`` (over the rest of the first letter's run), the
    first non-blank token within ``gap`` frames must be the delimiter, or none at all.
    Right: the same going forward from ``end``, which needs frames up to ``known_end``.
    Returns (True/False, or None when the right side needs frames not seen yet, and the
    last frame looked at + 1).
    """
    f = start - 1
    while f >= base and ids[f - base] == first_token:
        f -= 1
    for g in range(f, max(base - 1, f - gap), -1):
        token = ids[g - base]
        if token == blank:
            continue
        if token == delimiter:
            break
        return False, end
    f = end
    while f < known_end and ids[f - base] == last_token:
        f += 1
    stop = f + gap
    while f < stop:
        if f >= known_end:
            return None, known_end
        token = ids[f - base]
        if token == delimiter:
            return True, f + 1
        if token != blank:
            return False, f + 1
        f += 1
    return True, stop


# ---------------------------------------------------------------- offline search
@dataclass
class Occurrence:
    keyword: int
    start: int        # first frame of the best alignment
    end: int          # one past its last frame
    log_score: float  # best D / n over the occurrence's alignments


def occurrences(graph: KeywordGraph, logits: np.ndarray, blank: int, delimiter: int | None, *,
                whole_word: bool | list[bool] = True, gap: int = 5, max_frames: int = 150,
                floor: float = -3.0, first_frame: int = 0) -> list[Occurrence]:
    """Every keyword occurrence in a whole utterance, with its peak score (for DET sweeps).

    Completions scoring >= ``floor`` (D / n) that pass the word-boundary check are
    merged while their spans overlap; each merged group is one occurrence.
    """
    emissions = emission_matrix(logits, blank, delimiter)
    ids = logits.argmax(axis=-1) if len(logits) else np.zeros(0, np.int64)
    comp = scan(graph, emissions, ViterbiState.fresh(graph, first_frame), max_frames)
    whole = [whole_word] * graph.num_keywords if isinstance(whole_word, bool) else list(whole_word)
    end_known = first_frame + len(logits)
    out: list[Occurrence] = []
    for k in range(graph.num_keywords):
        current: Occurrence | None = None
        group_end = -1  # the union of the group's spans decides membership; the peak is reported
        for row in np.flatnonzero(comp.log_score[:, k] >= floor):
            s, e, value = int(comp.start[row, k]), first_frame + int(row) + 1, float(comp.log_score[row, k])
            if whole[k]:
                ok, _ = boundary(ids, first_frame, s, e, int(graph.first_token[k]), int(graph.last_token[k]),
                                 blank, delimiter, gap, end_known)
                if ok is False:
                    continue  # (None only at the very end: there is no more audio, accept)
            if current is not None and s < group_end:
                if value > current.log_score:
                    current.start, current.end, current.log_score = s, e, value
                group_end = max(group_end, e)
                continue
            current, group_end = Occurrence(k, s, e, value), e
            out.append(current)
    return sorted(out, key=lambda o: (o.start, o.keyword))


def to_score(log_score: float | np.ndarray, boost: float = 0.0) -> float | np.ndarray:
    """D / n (+ boost, in nats) -> the reported score in (0, 1]."""
    return np.exp(np.minimum(0.0, np.asarray(log_score) + boost))


# ------------------------------------------------------------------------ phrases
_DROP = str.maketrans({c: " " for c in ",.!?;:\"-_/()"})


def phrase_tokens(phrase: str, token_to_id: dict[str, int]) -> list[list[int]]:
    """A phrase as words of token ids in a character CTC vocabulary (its case, apostrophes kept).

    Punctuation and hyphens separate words; any other character the vocabulary lacks
    (digits, accents) is a ValueError naming it: spell numbers out.
    """
    letters = [t for t in token_to_id if len(t) == 1 and t.isalpha()]
    upper = sum(t.isupper() for t in letters) >= sum(t.islower() for t in letters)
    text = phrase.translate(_DROP)
    text = text.upper() if upper else text.lower()
    words = []
    for word in text.split():
        ids = []
        for char in word:
            if char not in token_to_id:
                raise ValueError(f"character {char!r} of {phrase!r} is not in the model's vocabulary"
                                 + (" (spell numbers out)" if char.isdigit() else ""))
            ids.append(token_to_id[char])
        words.append(ids)
    if not words:
        raise ValueError(f"phrase {phrase!r} has no letters")
    return words
