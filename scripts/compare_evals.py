#!/usr/bin/env python3
"""Compare two models' ``sewstream eval --json`` outputs on the same clips, clip by clip.

    sewstream eval ../shared/data/speech --model OLD --stream --json old.json
    sewstream eval ../shared/data/speech --model NEW --stream --json new.json
    python scripts/compare_evals.py old.json new.json --skip-set speech-commands

For each decoding mode both files hold, and for words and characters: each model's error
rate and on how many clips the second model makes fewer / more errors. On a small set the
aggregate moves by a word or two between checkpoints; the clip counts say whether that is a
trend or a tie (the default model's ship rule uses them, see the README). The last columns
resample the clips (a paired bootstrap, 2 000 draws, seed 0): the 95% interval of B's rate
minus A's in points, and in what share of draws B is better. An interval that spans 0 says the
clips cannot tell the two apart.

One streaming run is one draw of where the windows fall; ``--also A2 B2`` (repeatable) adds
the same two models' outputs from another run, e.g. ``--set stream.chunk_s=1.8``, and each
clip is then judged on its errors summed over the runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sewstream.evaluation import compare_clips


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="eval --json output of the reference model")
    ap.add_argument("b", help="eval --json output of the candidate")
    ap.add_argument("--also", nargs=2, action="append", default=[], metavar=("A2", "B2"),
                    help="the same two models' outputs from another run (repeatable); pooled per clip")
    ap.add_argument("--skip-set", action="append", default=[], metavar="NAME",
                    help="leave out this set (repeatable), e.g. speech-commands")
    args = ap.parse_args(argv)
    pairs = [(args.a, args.b), *args.also]
    rows: tuple[list, list] = ([], [])
    for pair in pairs:
        for side, path in zip(rows, pair):
            try:
                side.extend(json.loads(Path(path).read_text()))
            except (OSError, json.JSONDecodeError, TypeError) as exc:
                ap.error(f"{path}: {exc}")
    try:
        comparisons = compare_clips(*rows, skip_sets=tuple(args.skip_set))
    except (ValueError, KeyError, TypeError) as exc:
        ap.error(f"cannot compare {args.a} and {args.b}: {exc}")
    runs = f" over {len(pairs)} runs each" if len(pairs) > 1 else ""
    names_a, names_b = (", ".join(side) for side in zip(*pairs))
    print(f"{comparisons[0].clips} clips{runs}; A = {names_a}; B = {names_b}")
    print(f"{'mode':<12}{'unit':<6}{'A':>8}{'B':>8}{'B better':>10}{'B worse':>9}{'B-A 95% interval':>20}"
          f"{'P(B better)':>13}")
    for c in comparisons:
        low, high, p_better = c.interval()
        print(f"{c.mode:<12}{c.unit:<6}{100 * c.a.rate:>7.1f}%{100 * c.b.rate:>7.1f}%{c.better:>10}{c.worse:>9}"
              f"{f'{low:+.1f} .. {high:+.1f}':>20}{p_better:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
