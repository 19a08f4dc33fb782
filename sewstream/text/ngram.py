"""A word n-gram language model in ARPA format: read any order, build one from text.

ARPA is the common interchange format (SRILM, KenLM, pyctcdecode read it), so a user can
bring their own LM; ``build_ngram`` makes one from text (the default model's bigram from
its training text, or a user's from theirs). Scores are natural-log probabilities with standard back-off:
``log P(w | h) = log p(h w)`` if the n-gram is listed, else ``bow(h) + log P(w | h[1:])``.
Words outside the unigram list score ``unk`` (the file's ``<unk>`` entry, or a floor).
"""

from __future__ import annotations

import collections
import gzip
import math
from collections.abc import Iterable
from pathlib import Path

LN10 = math.log(10.0)
BOS, EOS, UNK = "<s>", "</s>", "<unk>"


class LanguageModelError(ValueError):
    """An LM file that cannot be used; the message names the file and line."""


class NgramLM:
    """Back-off n-gram model; ``log_prob(history, word)`` in natural log."""

    def __init__(self, probs: dict[tuple[str, ...], float], backoffs: dict[tuple[str, ...], float],
                 order: int, unk: float | None = None) -> None:
        self.probs, self.backoffs, self.order = probs, backoffs, order
        self.words = frozenset(k[0] for k in probs if len(k) == 1) - {BOS, EOS, UNK}
        self.unk = unk if unk is not None else probs.get((UNK,), math.log(1e-7))
        # every prefix of a known word: lets a beam search penalise an impossible spelling early
        self.prefixes = frozenset(w[:i] for w in self.words for i in range(1, len(w) + 1))
        self._cache: dict[tuple[tuple[str, ...], str], float] = {}

    @classmethod
    def load(cls, path: str | Path) -> NgramLM:
        path = Path(path)
        if not path.is_file():
            raise LanguageModelError(f"language model {path}: no such file")
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                return cls.parse(f, str(path))
        except (OSError, UnicodeDecodeError, EOFError) as e:  # not gzip, not text, cut short
            raise LanguageModelError(f"language model {path}: cannot read it as ARPA text ({e})") from None

    @classmethod
    def parse(cls, lines: Iterable[str], name: str = "<arpa>") -> NgramLM:
        probs: dict[tuple[str, ...], float] = {}
        backoffs: dict[tuple[str, ...], float] = {}
        section, order = None, 0
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("ngram ") or line == "\\data\\":
                continue
            if line == "\\end\\":
                break
            if line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:line.index("-")])
                order = max(order, section)
                continue
            if section is None:
                raise LanguageModelError(f"{name}:{number}: expected an ARPA header (\\data\\, \\1-grams:), "
                                         f"got {line[:40]!r}")
            parts = line.split()
            if len(parts) not in (section + 1, section + 2):
                raise LanguageModelError(f"{name}:{number}: a {section}-gram line needs {section + 1} or {section + 2} "
                                 f"fields, got {len(parts)}")
            try:
                key = tuple(parts[1:section + 1])
                probs[key] = float(parts[0]) * LN10
                if len(parts) == section + 2:
                    backoffs[key] = float(parts[-1]) * LN10
            except ValueError:
                raise LanguageModelError(f"{name}:{number}: not a number in {line[:60]!r}") from None
        if not any(len(k) == 1 for k in probs):
            raise LanguageModelError(f"{name}: no unigrams: not an ARPA language model")
        return cls(probs, backoffs, order)

    def log_prob(self, history: tuple[str, ...], word: str) -> float:
        """ln P(word | history); only the last ``order - 1`` history words matter."""
        history = history[len(history) - self.order + 1:] if self.order > 1 else ()
        key = (history, word)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if word not in self.words and word != EOS:
            score = self.unk
        else:
            score, h = 0.0, history
            while True:
                p = self.probs.get(h + (word,))
                if p is not None:
                    score += p
                    break
                if not h:
                    score = self.unk
                    break
                score += self.backoffs.get(h, 0.0)
                h = h[1:]
        if len(self._cache) > 1_000_000:  # bounded: a long-running daemon must not grow forever
            self._cache.clear()
        self._cache[key] = score
        return score


def build_bigram(sentences: Iterable[str], discount: float = 0.75, min_count: int = 1) -> str:
    """``build_ngram`` of order 2."""
    return build_ngram(sentences, order=2, discount=discount, min_count=min_count)


def build_ngram(sentences: Iterable[str], order: int = 2, discount: float = 0.75, min_count: int = 1) -> str:
    """An interpolated Kneser-Ney n-gram (one absolute discount per order) as ARPA text.

    The highest order counts occurrences; lower orders count distinct left contexts
    (continuation counts: a word seen after many words is a likelier guess for a new
    history than one seen often after one), except n-grams that start at ``<s>``, which
    have no left context. Interpolation is written in back-off form: a listed n-gram
    carries its interpolated probability, and ``bow(h) = discount * distinct_followers(h)
    / count(h)`` weighs the lower order for the rest. N-grams (order >= 2) seen fewer than
    ``min_count`` times are left out (their mass stays in the back-off), which keeps the
    file small.
    """
    if order < 2:
        raise ValueError(f"order must be 2 or more, got {order}")
    raw: list[collections.Counter[tuple[str, ...]]] = [collections.Counter() for _ in range(order + 1)]
    for sentence in sentences:
        words = [BOS, *sentence.split(), EOS]
        for n in range(2, order + 1):  # unigram occurrences are never used: continuation counts come from bigrams
            raw[n].update(zip(*(words[i:] for i in range(n))))
    # what each order is estimated from: occurrences at the top, distinct left contexts below
    counts = [collections.Counter() for _ in range(order)] + [raw[order]]
    for n in range(1, order):
        for gram in raw[n + 1]:
            counts[n][gram[1:]] += 1
        if n > 1:  # nothing precedes <s>: its n-grams keep their occurrence counts
            counts[n].update({g: c for g, c in raw[n].items() if g[0] == BOS})
    totals: list[collections.Counter[tuple[str, ...]]] = [collections.Counter() for _ in range(order + 1)]
    followers: list[collections.Counter[tuple[str, ...]]] = [collections.Counter() for _ in range(order + 1)]
    for n in range(2, order + 1):
        for gram, c in counts[n].items():
            totals[n][gram[:-1]] += c
            followers[n][gram[:-1]] += 1
    # reserve a little unigram mass for unknown words, as a standard <unk> entry
    types = sum(counts[1].values())
    unk_mass = 0.5 / types
    probs: list[dict[tuple[str, ...], float]] = [{}, {g: (1 - unk_mass) * c / types for g, c in counts[1].items()}]
    for n in range(2, order + 1):
        probs.append({g: (c - discount) / totals[n][g[:-1]]
                      + discount * followers[n][g[:-1]] / totals[n][g[:-1]] * probs[n - 1][g[1:]]
                      for g, c in counts[n].items()})

    def log10(p: float) -> str:
        return f"{math.log10(p):.5f}"

    def bow(gram: tuple[str, ...]) -> str:
        n = len(gram) + 1
        if n > order or not totals[n][gram]:
            return ""
        return f"\t{log10(discount * followers[n][gram] / totals[n][gram])}"

    sections = [[f"{log10(unk_mass)}\t{UNK}"]
                + [f"{'-99' if w == (BOS,) else log10(probs[1][w])}\t{w[0]}{bow(w)}"
                   for w in sorted(set(probs[1]) | {(BOS,)})]]
    for n in range(2, order + 1):
        sections.append([f"{log10(p)}\t{' '.join(g)}{bow(g)}" for g, p in sorted(probs[n].items())
                         if raw[n][g] >= min_count])
    header = ["\\data\\", *(f"ngram {n}={len(lines)}" for n, lines in enumerate(sections, 1)), ""]
    body = []
    for n, lines in enumerate(sections, 1):
        body += [f"\\{n}-grams:", *lines, ""]
    return "\n".join(header + body + ["\\end\\", ""])
