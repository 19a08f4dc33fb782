#!/usr/bin/env python3
"""Train (or resume) the embedded default model on the synthetic corpus.

    python scripts/build_corpus.py --out /work/data/corpus --hours 30      # once
    python scripts/train_default_model.py --run runs/default --minutes 240  # resumable
    python scripts/train_default_model.py --run runs/more --init-from sewstream/assets/default-model

Re-running the same command resumes from runs/default/last.pt. The best model so far
(by held-out synthetic CER) is exported to runs/default/best/ in Hugging Face layout;
`scripts/ship_default_model.py` turns it into the packaged fp16 model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sewstream.audio.transcribed import load_transcribed
from sewstream.model.config import ConfigError, load_config
from sewstream.stream.runners import pick_device
from sewstream.train.corpus import CorpusReader
from sewstream.train.recipe import Recipe
from sewstream.train.trainer import EvalSet, Trainer, export_last, revise_run

REAL_SETS = ("librispeech-dev-clean", "librivox-sense-and-sensibility", "vctk", "misc")


def parse_field(ap: argparse.ArgumentParser, item: str) -> tuple[str, object]:
    key, sep, value = item.partition("=")
    if key not in Recipe.__dataclass_fields__:
        ap.error(f"unknown recipe field {key!r}")
    if not sep:
        ap.error(f"{item!r}: expected KEY=JSON, e.g. total_steps=13500")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError as e:
        ap.error(f"{key}: value {value!r} is not JSON ({e.msg})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/default", help="run directory (resumes if it has last.pt)")
    ap.add_argument("--corpus", default=None, help="corpus directory (default: the recipe's)")
    ap.add_argument("--minutes", type=float, default=None, help="stop (and save) after this long")
    ap.add_argument("--steps", type=int, default=None, help="stop after this global step")
    ap.add_argument("--real-speech", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/speech"),
                    help="real recordings evaluated at every eval (never trained on)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override a recipe field for a NEW run, e.g. --set lr=5e-4")
    ap.add_argument("--init-from", metavar="DIR",
                    help="start a NEW run from an exported checkpoint's weights, e.g. sewstream/assets/default-model "
                         "(the shipped model: run directories do not survive a machine change); all its layers are "
                         "on from step 0 and the learning rate re-warms (Recipe.warm_started; --set still wins)")
    ap.add_argument("--device", default="auto", help="auto (cuda when present, else cpu), cpu, cuda, cuda:N")
    ap.add_argument("--workers", type=int, default=None,
                    help="processes building batches (default: 0 on cpu, one per core less one on a GPU)")
    ap.add_argument("--revise", action="append", default=[], metavar="KEY=JSON",
                    help="change a recipe field of an EXISTING, stopped run from its last checkpoint on (e.g. shorten "
                         "total_steps to fit the compute left); recorded in recipe.json and log.jsonl")
    ap.add_argument("--export", metavar="DIR",
                    help="write the run's latest weights (last.pt) to DIR as a Hugging Face checkpoint (float32), "
                         "then exit")
    args = ap.parse_args()

    run = Path(args.run)
    if args.export:
        if not (run / "last.pt").exists():
            ap.error(f"--export: {run} has no last.pt")
        step = export_last(run, args.export)
        print(f"exported {run}/last.pt (step {step}) to {args.export}")
        return 0
    if (run / "recipe.json").exists():
        recipe = Recipe.from_dict(json.loads((run / "recipe.json").read_text()))
        if args.set:
            print("note: --set is ignored when resuming; the run's recipe.json wins (see --revise)", file=sys.stderr)
        if args.init_from:
            ap.error(f"--init-from starts a new run, but {run} exists "
                     "(resume it without --init-from, or pick a new --run)")
        if args.revise:
            recipe = revise_run(run, [parse_field(ap, item) for item in args.revise], log=print)
    else:
        if args.revise:
            ap.error("--revise changes an existing run; use --set for a new one")
        recipe = Recipe()
        if args.init_from:
            try:
                layers = load_config(args.init_from).num_hidden_layers
            except (ConfigError, OSError) as exc:
                ap.error(f"--init-from {args.init_from}: {exc}")
            recipe = recipe.warm_started(layers)
            recipe.init_from = str(Path(args.init_from).resolve())
        for key, value in (parse_field(ap, item) for item in args.set):
            setattr(recipe, key, value)
    if args.corpus:
        recipe.corpus = args.corpus
    try:
        recipe.check()
    except ValueError as exc:
        ap.error(str(exc))

    train = CorpusReader(recipe.corpus, "train")
    test = CorpusReader(recipe.corpus, "test")
    n = min(recipe.eval_utterances, len(test))
    eval_sets = [EvalSet("synthetic-test", [test.audio(i) for i in range(n)], [test.text(i) for i in range(n)])]
    real = Path(args.real_speech)
    if real.is_dir():
        clips = [c for s in REAL_SETS if (real / s).is_dir() for c in load_transcribed(real / s)]
        eval_sets.append(EvalSet("real", [c.audio for c in clips], [c.text for c in clips]))
    print(f"train: {len(train)} utterances; eval: " + ", ".join(f"{s.name} ({len(s.texts)})" for s in eval_sets),
          flush=True)
    try:
        device = pick_device(args.device)
    except RuntimeError as exc:
        ap.error(str(exc))
    workers = args.workers if args.workers is not None else (0 if device.type == "cpu" else max(1, os.cpu_count() - 1))
    print(f"device {device}, {workers} batch workers", flush=True)
    Trainer(recipe, run, train, eval_sets, log=lambda m: print(m, flush=True), device=device, workers=workers,
            reload_train=lambda: CorpusReader(recipe.corpus, "train")).run(args.steps, args.minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
