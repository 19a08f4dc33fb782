#!/usr/bin/env python
"""Build (or resume) the synthetic TTS training corpus.

    python scripts/build_corpus.py --out /work/data/corpus --hours 30 --test-utts 400 --workers 2 --seed 0

Re-running the same command continues an interrupted build; a larger
``--hours`` grows an existing corpus.  Debian packages (engines, voices, texts):

    apt-get update
    apt-get install --no-install-recommends espeak-ng flite festival
    apt-get install --no-install-recommends festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
    apt-get install --no-install-recommends fortunes fortunes-min wordnet-base bible-kjv
    apt-get install --no-install-recommends dict-devil wamerican miscfiles r-cran-janeaustenr

Missing text sources are skipped with a warning; missing engines drop out of
the engine mix (at least one is required).  The opt-in engines mbrola and pico
(Debian contrib + non-free: mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
libttspico-utils) join only through ``--engine-weights``, which must then name
installed engines; a corpus keeps its weights for good (resume with the same ones).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from sewstream.train import tts
from sewstream.train.corpus import CorpusConfig, build_corpus, parse_engine_weights
from sewstream.train.texts import DEFAULT_EVAL_DIR


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="corpus directory")
    ap.add_argument("--hours", type=float, default=30.0, help="hours of train audio")
    ap.add_argument("--test-utts", type=int, default=400, help="held-out test utterances")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=None,
                    help="stop after this long (resumable: the same command continues)")
    ap.add_argument("--engine-weights", default=None,
                    help="share of utterances per TTS engine, e.g. espeak-ng=0.3,flite=0.25,festival=0.2,"
                         "mbrola=0.15,pico=0.1 (default: the three free engines, "
                         + ",".join(f"{k}={v}" for k, v in CorpusConfig().engine_weights.items()) + ")")
    ap.add_argument(
        "--eval-dir",
        type=Path,
        default=DEFAULT_EVAL_DIR,
        help="real speech sets whose transcripts must not be trained on",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = CorpusConfig(seed=args.seed, train_hours=args.hours, test_utts=args.test_utts)
    if args.engine_weights is not None:
        try:
            config.engine_weights = parse_engine_weights(args.engine_weights)
            for engine, weight in config.engine_weights.items():
                if weight > 0:
                    tts.require_engine(engine)
        except (ValueError, tts.TTSUnavailable) as e:
            ap.error(f"--engine-weights: {e}")
    eval_dir = args.eval_dir if args.eval_dir.is_dir() else None
    if eval_dir is None:
        logging.warning("eval dir %s not found: eval transcripts are not filtered", args.eval_dir)
    summary = build_corpus(args.out, config, workers=args.workers, eval_dir=eval_dir, minutes=args.minutes)
    print(json.dumps({k: {kk: vv for kk, vv in v.items()} for k, v in summary["splits"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
