#!/usr/bin/env python3
"""Write the uniform weight mean of several checkpoints of one lineage as a candidate package.

    python scripts/average_models.py /work/judge/cand-35 /work/runs/st35/best sewstream/assets/default-model

The mean is what ``ship_default_model.py --average-with`` ships (each ingredient rounded to
float16 first, then averaged, stored as float16), so a candidate judged with
``scripts/judge_candidate.py`` is tensor for tensor the package it would become. The word LM
is copied from the first ingredient that has one (``--lm`` chooses another), so the candidate
decodes like the package does.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from sewstream.model import ModelLoadError, load_model
from sewstream.text.ngram import LanguageModelError, NgramLM
from sewstream.train.averaging import AveragingError, average_into
from sewstream.train.trainer import export


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="directory to write (replaced if it exists)")
    ap.add_argument("models", nargs="+", type=Path, metavar="DIR", help="two or more checkpoints of one lineage")
    ap.add_argument("--lm", type=Path, metavar="ARPA", help="word LM to place beside it (default: the first DIR's)")
    args = ap.parse_args(argv)
    if len(args.models) < 2:
        ap.error("give at least two checkpoints to average")
    if args.out.resolve() in {m.resolve() for m in args.models}:
        ap.error(f"{args.out} is one of the ingredients; write the mean somewhere else")
    lm = args.lm or next((m / "lm.arpa.gz" for m in args.models if (m / "lm.arpa.gz").is_file()), None)
    try:
        if lm is not None:
            NgramLM.load(lm)  # refuse a bad LM before anything is written
        first, *others = (load_model(m) for m in args.models)
        n = average_into(first, *others)
    except (ModelLoadError, AveragingError, LanguageModelError, OSError) as exc:
        ap.error(str(exc))
    staging = args.out.with_name(args.out.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    export(first, staging, dtype=torch.float16)
    if lm is not None:
        shutil.copyfile(lm, staging / "lm.arpa.gz")
    shutil.rmtree(args.out, ignore_errors=True)
    staging.rename(args.out)
    print(f"{args.out}: mean of {len(args.models)} models ({n} tensors averaged)"
          + (f", LM {lm}" if lm else ", no LM"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
