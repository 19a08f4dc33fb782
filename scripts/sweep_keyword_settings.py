#!/usr/bin/env python
"""Which classifier trigger settings (hop, patience, threshold) meet a false-accept budget, and
how fast they fire: every combination from one scoring pass (``sewstream.keywords.sweep``).

    python scripts/sweep_keyword_settings.py --classifier sewstream/assets/keyword-classifier \\
        --keywords yes,no,down,stop,go --positives ../shared/data/speech/speech-commands \\
        --negatives ../shared/data/speech/librispeech-dev-clean --scores /tmp/kw-scores.npz

Clips are read as ``sewstream eval-keywords`` reads them (positives: clips whose transcript is
one keyword; other clips there, and every negative clip that mentions no keyword, are
negatives). The fine grid's hop is ``--hop``; ``--steps 1,2`` also gives hops of 2x that.
``--scores`` caches the scoring pass: run again with other steps / patiences / budgets in
seconds. Latency is the firing window's end after the speech end, offline (no model time).
``--folds 2`` adds cross-validated rows: each half of the clips counted at the per-keyword
thresholds chosen on the other half (thresholds read off the same clips flatter themselves).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from sewstream.keywords import evaluation as ev
from sewstream.keywords.classifier import OfflineClassifier, keyword_support
from sewstream.keywords.commands import thresholds_arg
from sewstream.keywords.settings import KeywordError
from sewstream.keywords.sweep import ScoredClip, cross_validate, sweep
from sewstream.progress import progress_bar

WINDOW_S = 1.0


def int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"values must be >= 1: {text!r}")
    return values


def read_sets(positives: list[str], negatives: list[str], keywords: list[str]) -> list[tuple[ev.Clip, int | None]]:
    def keyword_of(clip: ev.Clip) -> int | None:
        words = clip.text.lower().split()
        return keywords.index(words[0]) if len(words) == 1 and words[0] in keywords else None

    def mentions_one(clip: ev.Clip) -> bool:
        return any(ev.mentions(clip.text, k) for k in keywords)

    out = []
    for d in positives:
        out += [(c, keyword_of(c)) for c in ev.read_clips(d) if keyword_of(c) is not None or not mentions_one(c)]
    for d in negatives:
        out += [(c, None) for c in ev.read_clips(d) if not mentions_one(c)]
    return out


def score(args, keywords: list[str]) -> list[ScoredClip]:
    try:
        model = OfflineClassifier(args.classifier)
        columns = [model.labels.index(k) for k in keywords]
    except (KeywordError, ValueError) as e:
        sys.exit(f"--classifier {args.classifier}: {e} (labels: the keywords must be among them)")
    clips = read_sets(args.positives, args.negatives, keywords)
    rng = np.random.default_rng(args.seed)
    out = []
    for clip, k in progress_bar(clips, desc="clips", unit="clip"):
        # a window of silence around the clip (every window that overlaps it), and the grid's
        # phase on the clip at random, as a live stream's falls
        pad = WINDOW_S + float(rng.uniform(0, args.hop))
        probs, ends = ev.window_probabilities(model, clip.audio, WINDOW_S, args.hop, pad, WINDOW_S)
        support = keyword_support(probs, model.labels, ("_unknown_", "_silence_"))[:, columns]
        out.append(ScoredClip(clip.name, clip.text, k, clip.seconds, ev.speech_end(clip.audio),
                              support.astype(np.float32), ends))
    return out


def save(path: Path, clips: list[ScoredClip], meta: dict) -> None:
    np.savez_compressed(path, meta=np.array([repr(meta)]),
                        names=np.array([c.name for c in clips]), texts=np.array([c.text for c in clips]),
                        keyword=np.array([-1 if c.keyword is None else c.keyword for c in clips]),
                        seconds=np.array([c.seconds for c in clips]),
                        speech_end=np.array([c.speech_end for c in clips]),
                        lengths=np.array([len(c.ends) for c in clips]),
                        support=np.concatenate([c.support for c in clips]),
                        ends=np.concatenate([c.ends for c in clips]))


def load(path: Path, meta: dict) -> list[ScoredClip] | None:
    if not path.is_file():
        return None
    z = np.load(path)
    if str(z["meta"][0]) != repr(meta):
        sys.exit(f"--scores {path} holds scores of other settings ({z['meta'][0]}); use another file")
    z = {key: z[key] for key in z.files}  # an NpzFile decompresses an array on every access
    bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
    return [ScoredClip(str(z["names"][i]), str(z["texts"][i]), None if z["keyword"][i] < 0 else int(z["keyword"][i]),
                       float(z["seconds"][i]), float(z["speech_end"][i]), z["support"][bounds[i]:bounds[i + 1]],
                       z["ends"][bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classifier", type=Path, required=True)
    p.add_argument("--keywords", default="yes,no,down,stop,go")
    p.add_argument("--positives", action="append", default=[], metavar="DIR")
    p.add_argument("--negatives", action="append", default=[], metavar="DIR")
    p.add_argument("--hop", type=float, default=0.125, help="the fine grid's hop (seconds)")
    p.add_argument("--steps", type=int_list, default=[1, 2], help="hops to try, in fine hops (e.g. 1,2)")
    p.add_argument("--patience", type=int_list, default=[1, 2, 3])
    p.add_argument("--thresholds", type=thresholds_arg, default="0.05:0.95:0.05")
    p.add_argument("--max-fa-per-hour", type=float, default=0.5)
    p.add_argument("--scores", type=Path, help="cache of the scoring pass (.npz)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=0,
                   help="also cross-validate the thresholds over this many folds (0: no)")
    p.add_argument("--fold-seed", type=int, default=0, help="how the clips are dealt into folds")
    args = p.parse_args(argv)
    if args.folds == 1 or args.folds < 0:
        p.error(f"--folds must be 0 (off) or at least 2, got {args.folds}")
    if not args.positives or not args.negatives:
        p.error("give at least one --positives DIR and one --negatives DIR")
    if not 0 < args.hop <= 1:
        p.error(f"--hop must be in (0, 1] seconds, got {args.hop}")
    torch.set_num_threads(args.threads)
    keywords = [k.strip().lower() for k in args.keywords.split(",") if k.strip()]
    meta = {"classifier": str(args.classifier), "keywords": keywords, "hop": args.hop, "seed": args.seed,
            "window_s": WINDOW_S, "pad": "window",
            "positives": args.positives, "negatives": args.negatives}
    clips = load(args.scores, meta) if args.scores else None
    if clips is None:
        clips = score(args, keywords)
        if args.scores:
            save(args.scores, clips, meta)
    hours = sum(c.seconds for c in clips if c.keyword is None) / 3600
    print(f"# {sum(c.keyword is not None for c in clips)} positives, {hours * 60:.1f} min of negatives; "
          f"budget {args.max_fa_per_hour} false accepts/hour; latency: offline, after the speech end")
    print(f"{'hop s':>6} {'patience':>8}  {'thresholds':<26} {'detection':>9} {'FA':>4} {'FA/h':>6} "
          f"{'p50 ms':>7} {'p95 ms':>7}")
    rows = sweep(clips, len(keywords), args.steps, args.patience, args.thresholds, args.max_fa_per_hour,
                 args.seed, per_keyword=None)  # one threshold for all, then one per keyword, from one pass
    for n, r in enumerate(rows):
        print_row(r, keywords if n >= len(rows) // 2 else None, args.hop)
    if args.folds:
        print(f"# cross-validated over {args.folds} folds: each fold counted at the thresholds chosen on the "
              "others (shown: chosen on all clips)")
        for per_keyword in (False, True):
            for r, _ in cross_validate(clips, len(keywords), args.steps, args.patience, args.thresholds,
                                       args.max_fa_per_hour, folds=args.folds, seed=args.seed, fold_seed=args.fold_seed,
                                       per_keyword=per_keyword):
                print_row(r, keywords if per_keyword else None, args.hop)
    return 0


def print_row(r, keywords: list[str] | None, hop: float) -> None:
    """One table row; ``keywords``: show each keyword's threshold, else the one shared threshold."""
    thresholds = (" ".join(f"{k}={t:.2f}" for k, t in zip(keywords, r.thresholds)) if keywords
                  else f"{r.thresholds[0]:.2f}")
    print(f"{r.step * hop:6.3f} {r.patience:8d}  {thresholds:<26} {100 * r.detection:8.1f}% {r.false_accepts:4d} "
          f"{r.fa_per_hour:6.2f} {1000 * r.latency_p50:7.0f} {1000 * r.latency_p95:7.0f}")


if __name__ == "__main__":
    sys.exit(main())
