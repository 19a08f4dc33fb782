#!/usr/bin/env python3
"""Build a word language model (gzipped ARPA) for `--lm`: the default model's, from its
corpus's training text, or your own, from a text file with one sentence per line.

    python scripts/build_lm.py --corpus /work/data/corpus --out sewstream/assets/default-model/lm.arpa.gz
    python scripts/build_lm.py --text my_commands.txt --order 3 --min-count 1 --out my-lm.arpa.gz
    sewstream listen --lm my-lm.arpa.gz

Only a corpus's training split is read: its held-out sentences and the evaluation
recordings' transcripts were kept out of it when the corpus was built, so the LM has not
seen the test text either. A text file's lines are normalised to the model's alphabet
(numbers and symbols spelled out). Any ARPA file (e.g. a LibriSpeech 3-gram) can be used
instead of one built here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sewstream.train.lm import corpus_sentences, text_file_sentences, write_lm

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "sewstream/assets/default-model/lm.arpa.gz"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--corpus", help="a corpus from build_corpus.py (default /work/data/corpus)")
    src.add_argument("--text", help="a UTF-8 text file, one sentence per line")
    ap.add_argument("--out", help=f"where to write (.arpa.gz); default with --corpus: {DEFAULT_OUT}")
    ap.add_argument("--order", type=int, default=2, help="n-gram order (2 = bigram, as shipped)")
    ap.add_argument("--min-count", type=int, default=2, help="leave out n-grams seen fewer times (file size)")
    ap.add_argument("--discount", type=float, default=0.75)
    args = ap.parse_args()
    if args.order < 2:
        ap.error(f"--order must be 2 or more, got {args.order}")
    if not 0 < args.discount < 1:
        ap.error(f"--discount must be between 0 and 1, got {args.discount}")
    if args.text:
        if not args.out:
            ap.error("--text needs --out (the embedded model's LM is only rebuilt from its corpus)")
        if not Path(args.text).is_file():
            ap.error(f"--text {args.text}: no such file")
        sentences = text_file_sentences(args.text)
    else:
        corpus = args.corpus or "/work/data/corpus"
        if not (Path(corpus) / "train.jsonl").is_file():
            ap.error(f"--corpus {corpus}: not a corpus (no train.jsonl); build one with scripts/build_corpus.py")
        sentences = corpus_sentences(corpus)
    if not sentences:
        ap.error("no sentences to build from (empty text after normalisation)")
    out = Path(args.out or DEFAULT_OUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    lm = write_lm(sentences, out, order=args.order, min_count=args.min_count, discount=args.discount)
    sizes = ", ".join(f"{sum(len(k) == n for k in lm.probs)} {n}-grams" for n in range(2, lm.order + 1))
    print(f"{len(sentences)} sentences -> {len(lm.words)} words, {sizes}, "
          f"{out.stat().st_size / 2**20:.1f} MB: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
