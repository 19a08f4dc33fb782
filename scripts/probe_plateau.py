#!/usr/bin/env python3
"""How fast does a fresh stack leave the CTC blank plateau? Overfit one fixed batch and watch.

    python scripts/probe_plateau.py --layers 12 --steps 800
    python scripts/probe_plateau.py --layers 12 --inter-weight 0.3 --inter-layer 1 --steps 800

A deep post-LN stack trained from scratch sits for a long time at loss ~2.9, where the CTC
output is all blank, and a shallow one leaves it sooner (the model card's "Progressive
depth"). This trains a fresh model of the recipe's architecture with ``--layers`` layers on
one fixed batch (a few short utterances of the corpus; no dropout, no masking, no
augmentation) and prints the output head's CTC loss every ``--every`` steps (and the
intermediate head's, with ``--inter-weight``), then the first step the loss was below
``--threshold``. A probe of trainability, minutes on a CPU, not a measure of accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from sewstream.train.batches import Batcher
from sewstream.train.corpus import CorpusReader
from sewstream.train.recipe import Recipe
from sewstream.train.trainer import fresh_model, tokenizer, training_losses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="/work/data/corpus7", help="a corpus from build_corpus.py")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--inter-weight", type=float, default=0.0, help="intermediate CTC weight (0: off)")
    ap.add_argument("--inter-layer", type=int, default=1)
    ap.add_argument("--residual-scale", type=float, default=1.0,
                    help="residual branches' initial scale (the recipe trains at 0.1)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=6e-4, help="peak learning rate (20-step warm-up, then flat)")
    ap.add_argument("--batch-seconds", type=float, default=14.0, help="padded audio in the fixed batch")
    ap.add_argument("--every", type=int, default=10, help="print the loss every N steps")
    ap.add_argument("--threshold", type=float, default=2.0, help="'left the plateau' once the loss is below")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the curve here: [[step, output loss, intermediate loss or null], ...]")
    args = ap.parse_args()
    if min(args.layers, args.steps, args.every, args.threads) < 1:
        ap.error("--layers, --steps, --every and --threads must be >= 1")
    if not (Path(args.corpus) / "train.jsonl").is_file():
        ap.error(f"--corpus {args.corpus}: not a corpus (no train.jsonl); build one with scripts/build_corpus.py")
    recipe = Recipe(seed=args.seed, residual_init_scale=args.residual_scale, inter_ctc_weight=args.inter_weight,
                    inter_ctc_layer=args.inter_layer)
    recipe.architecture = {**recipe.architecture, "num_hidden_layers": args.layers, "mask_time_prob": 0.0,
                           "hidden_dropout": 0.0, "attention_dropout": 0.0}
    try:
        recipe.check()
    except ValueError as exc:
        ap.error(str(exc))
    torch.set_num_threads(args.threads)

    model = fresh_model(recipe).train()
    model.config.apply_spec_augment = False
    train = CorpusReader(args.corpus, "train")
    batch = Batcher(train, tokenizer().encode, seed=args.seed, batch_seconds=args.batch_seconds,
                    max_seconds=lambda _: args.batch_seconds / 4)(0)
    inter = f"{args.inter_weight} on layer {args.inter_layer}" if args.inter_weight else "off"
    print(f"{args.layers} layers, fixed batch of {len(batch.labels)} utterances ({batch.seconds:.1f} s), "
          f"lr {args.lr}, intermediate CTC {inter}", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=recipe.betas,
                                  weight_decay=recipe.weight_decay)
    curve, left_at, started = [], None, time.time()
    for step in range(1, args.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = args.lr * min(1.0, step / 20)
        loss, ctc, inter = training_losses(model, batch.input_values, batch.labels, batch.attention_mask, recipe)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if left_at is None and ctc.item() < args.threshold:
            left_at = step
        if step % args.every == 0:
            curve.append([step, round(ctc.item(), 4), None if inter is None else round(inter.item(), 4)])
            extra = "" if inter is None else f"  intermediate {inter.item():.3f}"
            print(f"step {step}  loss {ctc.item():.3f}{extra}  ({time.time() - started:.0f} s)", flush=True)
    print(f"left the plateau (loss < {args.threshold}) at step {left_at}" if left_at
          else f"still on the plateau after {args.steps} steps (loss {curve[-1][1] if curve else ctc.item():.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(curve))
    return 0


if __name__ == "__main__":
    sys.exit(main())
