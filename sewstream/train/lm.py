"""Word language models from text: the default model's (its corpus's training sentences) or
a user's own (a text file, one sentence per line).

Only the corpus's training split is read: its held-out sentences and the evaluation
recordings' transcripts never entered it, so the default LM has not seen the test text.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from sewstream.text.ngram import NgramLM, build_ngram

from .corpus import CorpusReader
from .vocab import normalize_text


def corpus_sentences(corpus: str | Path) -> list[str]:
    """The corpus's distinct training sentences, each once whatever the voices that read it."""
    train = CorpusReader(corpus, "train")
    return sorted({train.text(i) for i in range(len(train))})


def text_file_sentences(path: str | Path) -> list[str]:
    """One sentence per non-empty line, normalised to the model's alphabet (upper-case
    letters and apostrophes; numbers and symbols spelled out)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [s for s in (normalize_text(line) for line in f) if s]


def write_lm(sentences: list[str], out: str | Path, *, order: int = 2, min_count: int = 2,
             discount: float = 0.75) -> NgramLM:
    """Write a gzipped ARPA n-gram of ``sentences`` to ``out``; returns it as loaded back."""
    with gzip.GzipFile(out, "wb", mtime=0) as f:  # mtime 0: the same text gives the same bytes
        f.write(build_ngram(sentences, order=order, discount=discount, min_count=min_count).encode())
    return NgramLM.load(out)


def write_corpus_lm(corpus: str | Path, out: str | Path, *, order: int = 2, min_count: int = 2,
                    discount: float = 0.75) -> tuple[NgramLM, int]:
    """The corpus's LM written to ``out``; returns it and the number of sentences."""
    sentences = corpus_sentences(corpus)
    return write_lm(sentences, out, order=order, min_count=min_count, discount=discount), len(sentences)
