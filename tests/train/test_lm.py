"""The default model's LM from its corpus: training sentences only, deterministic bytes."""

from __future__ import annotations

from sewstream.train.corpus import CorpusReader
from sewstream.train.lm import write_corpus_lm


def test_corpus_lm_uses_each_training_sentence_once_and_is_reproducible(corpus, tmp_path):
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
    lm, sentences = write_corpus_lm(corpus, tmp_path / "a" / "lm.arpa.gz", min_count=1)
    train = CorpusReader(corpus, "train")
    assert sentences == len({train.text(i) for i in range(len(train))}) < len(train)
    assert lm.words == {w for i in range(len(train)) for w in train.text(i).split()}
    write_corpus_lm(corpus, tmp_path / "b" / "lm.arpa.gz", min_count=1)
    assert (tmp_path / "a" / "lm.arpa.gz").read_bytes() == (tmp_path / "b" / "lm.arpa.gz").read_bytes()
