#!/usr/bin/env python
"""Merge built corpora into a new one, e.g. for a training stage over all of their voices:

    python scripts/merge_corpora.py /work/data/corpus /work/data/corpus5 --out /work/data/corpus-all

Splits are concatenated (ids prefixed c0-, c1-, ...); refused if a held-out voice or sentence of
one corpus is in another's training split. ``--train-repeats 1,3`` lists the second corpus's
training utterances three times (more weight for its voices; no extra disk).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from sewstream.train.corpus_merge import MergeError, merge_corpora


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", type=Path, help="built corpus directories")
    ap.add_argument("--out", type=Path, required=True, help="new directory for the merged corpus")
    ap.add_argument("--train-repeats", default=None, metavar="N,N,...",
                    help="times each source's training split is listed (default 1 each)")
    args = ap.parse_args(argv)
    repeats = None
    if args.train_repeats is not None:
        try:
            repeats = [int(n) for n in args.train_repeats.split(",")]
        except ValueError:
            ap.error(f"--train-repeats {args.train_repeats!r}: give whole numbers separated by commas, e.g. 1,3")
    try:
        summary = merge_corpora(args.sources, args.out, train_repeats=repeats)
    except MergeError as exc:
        print(f"merge_corpora: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary["splits"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
