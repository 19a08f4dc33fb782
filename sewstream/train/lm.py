"""The default model's word language model, built from its own training text.

Only the corpus's training split is read: its held-out sentences and the evaluation
recordings' transcripts never entered it, so the LM has not seen the test text either.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from sewstream.text.ngram import NgramLM, build_bigram

from .corpus import CorpusReader


def write_corpus_lm(corpus: str | Path, out: str | Path, *, min_count: int = 2,
                    discount: float = 0.75) -> tuple[NgramLM, int]:
    """Write a gzipped ARPA bigram of the corpus's distinct training sentences to ``out``;
    returns the LM as loaded back and the number of sentences."""
    train = CorpusReader(corpus, "train")
    sentences = sorted({train.text(i) for i in range(len(train))})  # each sentence once, whatever the voices
    with gzip.GzipFile(out, "wb", mtime=0) as f:  # mtime 0: the same text gives the same bytes
        f.write(build_bigram(sentences, discount=discount, min_count=min_count).encode())
    return NgramLM.load(out), len(sentences)
