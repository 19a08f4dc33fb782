"""The training log (RUN/log.jsonl) read back: loss and eval records, and the eval table.

The trainer appends a loss line every 25 steps and an eval line every 500; a resumed run
repeats the steps since its last checkpoint, and the later lines win. Revision lines record
recipe changes made to a stopped run; session lines the device each start of the run used.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_log(path: Path) -> tuple[dict[int, dict], dict[int, dict]]:
    """step -> loss record, step -> eval record (last occurrence of each step wins)."""
    losses, evals = {}, {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill mid-write
        if "eval" in rec:
            evals[rec["step"]] = rec["eval"]
        elif "loss" in rec:
            losses[rec["step"]] = rec
    return dict(sorted(losses.items())), dict(sorted(evals.items()))


def with_swa_evals(evals: dict[int, dict], path: Path) -> dict[int, dict]:
    """``evals`` with the log's weight-averaging evaluations merged in, each set as "NAME (swa)"
    (a run with ``swa_from_step`` evaluates its running mean beside the weights at each eval)."""
    merged = {step: dict(e) for step, e in evals.items()}
    for rec in read_records(path, "swa_eval"):
        merged.setdefault(rec["step"], {}).update({f"{name} (swa)": v for name, v in rec["swa_eval"].items()})
    return dict(sorted(merged.items()))


def read_records(path: Path, key: str) -> list[dict]:
    """The log's records that carry ``key``, in order: "revision" for mid-run recipe changes
    (``trainer.revise_run``: {revision, old, new, step}), "device" for the start of each
    training session ({step, device, workers})."""
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if key in rec:
            out.append(rec)
    return out


def read_revisions(path: Path) -> list[dict]:
    return read_records(path, "revision")


def eval_table(evals: dict[int, dict], losses: dict[int, dict]) -> str:
    sets = sorted({name for e in evals.values() for name in e})
    head = "| step | audio seen | " + " | ".join(f"{s} WER | {s} CER" for s in sets) + " |"
    rows = [head, "|---|---|" + "---|---|" * len(sets)]
    for step, e in evals.items():
        seen = next((f"{rec['hours_seen']:.0f} h" for s, rec in reversed(losses.items()) if s <= step), "-")
        cells = " | ".join(f"{100 * e[s]['wer']:.1f}% | {100 * e[s]['cer']:.1f}%" if s in e else "- | -" for s in sets)
        rows.append(f"| {step} | {seen} | {cells} |")
    return "\n".join(rows)
