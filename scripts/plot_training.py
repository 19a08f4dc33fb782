#!/usr/bin/env python3
"""The default model's training curves: loss and held-out error rates against steps.

    python scripts/plot_training.py --run /work/runs/default --out training.png

Reads RUN/log.jsonl (the trainer appends a loss line every 25 steps and an eval line every
500, and with weight averaging one for the running mean, drawn as "NAME (swa)"; a resumed run
repeats the steps since its last checkpoint, and the later lines win)
and RUN/recipe.json (the depth schedule, drawn as vertical lines). Prints the eval points
as a Markdown table (the model card embeds it) and saves the plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sewstream.train.curves import eval_table, read_log, with_swa_evals


def plot(losses: dict[int, dict], evals: dict[int, dict], schedule: list, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    steps = list(losses)
    ax1.plot(steps, [losses[s]["loss"] for s in steps], lw=0.8)
    ax1.set_ylabel("CTC loss (train)")
    ax1.set_ylim(0, min(6.0, max(losses[s]["loss"] for s in steps)))
    for name in sorted({n for e in evals.values() for n in e}):
        pts = [(s, e[name]["cer"]) for s, e in evals.items() if name in e]
        ax2.plot(*zip(*pts), marker="o", label=f"{name} CER")
        pts = [(s, e[name]["wer"]) for s, e in evals.items() if name in e]
        ax2.plot(*zip(*pts), marker=".", ls="--", label=f"{name} WER")
    ax2.set_ylabel("error rate (greedy)")
    ax2.set_xlabel("optimizer step")
    ax2.set_ylim(0, 1.1)
    ax2.legend(fontsize=8)
    for step, layers in schedule:
        if 0 < step <= max(steps):
            for ax in (ax1, ax2):
                ax.axvline(step, color="grey", lw=0.6, ls=":")
            ax1.text(step, ax1.get_ylim()[1] * 0.95, f" {layers} layers", fontsize=7, va="top")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="/work/runs/default")
    ap.add_argument("--out", default="training.png", help="PNG to write ('' = table only)")
    args = ap.parse_args()
    run = Path(args.run)
    if not (run / "log.jsonl").is_file():
        print(f"error: no training log at {run / 'log.jsonl'}", file=sys.stderr)
        return 2
    losses, evals = read_log(run / "log.jsonl")
    evals = with_swa_evals(evals, run / "log.jsonl")  # a weight-averaging run's mean, as "NAME (swa)"
    if not losses:
        print(f"error: {run / 'log.jsonl'} has no loss records yet", file=sys.stderr)
        return 2
    recipe = json.loads((run / "recipe.json").read_text()) if (run / "recipe.json").is_file() else {}
    print(eval_table(evals, losses))
    if args.out:
        plot(losses, evals, recipe.get("depth_schedule", []), args.out)
        print(f"\nplot: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
