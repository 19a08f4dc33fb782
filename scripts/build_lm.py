#!/usr/bin/env python3
"""Build the default model's word language model from its training text (ARPA bigram, gzip).

    python scripts/build_lm.py --corpus /work/data/corpus --out sewstream/assets/default-model/lm.arpa.gz

Only the corpus's training split is read: its held-out sentences and the evaluation
recordings' transcripts were kept out of it when the corpus was built, so the LM has not
seen the test text either. Any ARPA file (e.g. a LibriSpeech 3-gram) can be used instead
with `--lm PATH`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sewstream.train.lm import write_corpus_lm


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="/work/data/corpus")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1]
                                         / "sewstream/assets/default-model/lm.arpa.gz"))
    ap.add_argument("--min-count", type=int, default=2, help="leave out bigrams seen fewer times (file size)")
    ap.add_argument("--discount", type=float, default=0.75)
    args = ap.parse_args()

    out = Path(args.out)
    lm, sentences = write_corpus_lm(args.corpus, out, min_count=args.min_count, discount=args.discount)
    print(f"{sentences} sentences -> {len(lm.words)} words, {sum(len(k) == 2 for k in lm.probs)} bigrams, "
          f"{out.stat().st_size / 2**20:.1f} MB: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
