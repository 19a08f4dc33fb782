"""Mine hard negatives for a keyword classifier from the training corpus.

    python scripts/mine_keyword_negatives.py --classifier sewstream/assets/keyword-classifier \\
        --corpus /work/data/corpus --out /work/runs/kwc-hard/hard-negatives.json --hours 3

Slides the classifier over keyword-free sentences of the corpus's *train* split (training
voices only; held-out voices stay for evaluation) in a seeded random order and writes every
1 s window it takes for a keyword (probability >= ``--min-prob``) as JSON. Give the file to
``scripts/train_keyword_classifier.py --hard-negatives``. Keywords: the classifier's labels
minus ``_unknown_`` / ``_silence_``.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sewstream.keywords.classifier import OfflineClassifier, keyword_support  # noqa: E402
from sewstream.keywords.settings import KeywordError  # noqa: E402
from sewstream.progress import progress_bar  # noqa: E402
from sewstream.train.corpus import CorpusReader  # noqa: E402
from sewstream.train.keyword_mining import mine  # noqa: E402
from sewstream.train.keyword_windows import SILENCE, UNKNOWN, keyword_free  # noqa: E402

SAMPLE_RATE = 16000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classifier", type=Path, required=True, help="sequence-classification checkpoint")
    p.add_argument("--corpus", type=Path, required=True, help="training corpus (its train split is mined)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--hours", type=float, default=3.0, help="hours of sentences to scan")
    p.add_argument("--hop", type=float, default=0.25, help="seconds between windows")
    p.add_argument("--min-prob", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.hours <= 0 or args.hop <= 0 or not 0 < args.min_prob <= 1:
        p.error("--hours and --hop must be > 0 and --min-prob in (0, 1]")
    torch.set_num_threads(args.threads)

    try:
        classifier = OfflineClassifier(args.classifier)
    except KeywordError as e:
        p.error(f"--classifier {args.classifier}: not a sequence classifier ({e})")
    labels = classifier.labels
    keywords = [x for x in labels if x not in (UNKNOWN, SILENCE)]
    columns = [labels.index(k) for k in keywords]

    def score(windows: np.ndarray) -> np.ndarray:  # keyword support, as eval-keywords scores a window
        return keyword_support(classifier.classify(windows), labels, (UNKNOWN, SILENCE))[:, columns]

    corpus = CorpusReader(args.corpus, "train")
    order = np.random.default_rng(args.seed).permutation(len(corpus))
    chosen, seconds = [], 0.0
    for i in order:
        if seconds >= args.hours * 3600:
            break
        if keyword_free(corpus.text(int(i)), keywords):
            chosen.append(int(i))
            seconds += float(corpus.durations[i])
    print(f"mining {len(chosen)} keyword-free sentences ({seconds / 3600:.2f} h) for {', '.join(keywords)}",
          flush=True)

    t0 = time.time()
    bar = progress_bar(total=seconds, unit="s", desc="audio",
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")

    def sentences():
        for i in chosen:
            audio = corpus.audio(i)
            yield i, audio
            bar.update(len(audio) / SAMPLE_RATE)

    found = list(mine(score, keywords, sentences(), hop=round(args.hop * SAMPLE_RATE),
                      min_prob=args.min_prob))
    bar.close()
    by_label = collections.Counter(h.label for h in found)
    print(f"{len(found)} hard negatives in {time.time() - t0:.0f} s ({len(found) / (seconds / 3600):.0f} per hour): "
          + ", ".join(f"{k} {by_label[k]}" for k in keywords), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "classifier": str(args.classifier), "corpus": str(args.corpus), "split": "train",
        "hours": round(seconds / 3600, 3), "hop_s": args.hop, "min_prob": args.min_prob,
        "windows": [[h.sentence, h.start, h.label, round(h.prob, 4)] for h in found],
    }) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
