#!/usr/bin/env python3
"""Judge candidate default models against a baseline under the ship rule (v4), end to end.

    python scripts/judge_candidate.py CAND_DIR [CAND_DIR ...] --work /work/judge \\
        --synthetic /work/data/eval/synthetic-heldout --natural /work/data/nonfree-sents \\
        --keyword-positives /work/data/kw-clips --keyword-negatives /work/data/corpus6

Runs, for the baseline (the embedded package by default) and each candidate, what the rule
reads (``sewstream.ship_rule``): ``sewstream eval`` on the held-out synthetic voices (with
the model's LM), on the mbrola / pico sentences (greedy), on the real sentence sets streamed at
each ``--chunks`` window length (with the LM), and ``sewstream eval-keywords`` (CTC detector,
offline), and for guard (6) the anchor package on the real sets only (``--anchor``: a model
directory, or a git revision whose embedded package is unpacked into ``--work``; default
``ship_rule.ANCHOR_REV``). Each output is kept under ``--work`` keyed by a hash of the model's files and the
command, so a baseline (or any copy of a model) is measured once and a rerun only fills in what
is missing; the command's record holds each set directory's listing (names, sizes, modification
times), so a set rebuilt in place is measured again. Prints every check, and a verdict per
candidate; exits 0 if at least one candidate passes, else 1.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

from sewstream.cli import main as sewstream_main
from sewstream.ship_rule import ANCHOR_REV, Evals, Limits, beats_anchor, judge, summary

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sewstream" / "assets" / "default-model"
SHARED_SPEECH = ROOT.parent / "shared" / "data" / "speech"
REAL_SETS = ("librispeech-dev-clean", "librivox-sense-and-sensibility", "misc", "vctk")


def model_key(model: Path) -> str:
    """A short hash of what decides the model's output: weights, config, vocabulary, LM."""
    h = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin", "config.json", "vocab.json", "lm.arpa.gz"):
        f = model / name
        if f.is_file():
            h.update(name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def listing_key(directory: Path) -> str:
    """A short hash of a directory's files as listed (relative path, size, modification time):
    changes when a set is rebuilt or edited, without reading its audio."""
    h = hashlib.sha256()
    for f in sorted(p for p in directory.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(directory)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


class Measurements:
    """Runs the CLI for one model, or reuses a kept output of the same command."""

    def __init__(self, model: Path, work: Path):
        self.model = model
        self.dir = work / model_key(model)  # by content: a copy of a model is measured once
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "model.txt").write_text(f"{model.resolve()}\n")

    def run(self, name: str, argv: list[str]) -> Path:
        out = self.dir / f"{name}.json"
        stamp = self.dir / f"{name}.cmd"
        sets = {a: listing_key(Path(a)) for a in argv if Path(a).is_dir()}
        command = json.dumps({"argv": argv, "sets": sets})
        if out.is_file() and stamp.is_file() and stamp.read_text() == command:
            return out
        started = time.perf_counter()
        print(f"  {self.model.name}: {name} ...", file=sys.stderr, flush=True)
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            code = sewstream_main([*argv, "--model", str(self.model), "--json", str(out)])
        (self.dir / f"{name}.txt").write_text(log.getvalue())
        if code != 0 or not out.is_file():
            raise SystemExit(f"{self.model}: `sewstream {' '.join(argv)}` failed (exit {code}); see "
                             f"{self.dir / (name + '.txt')}")
        stamp.write_text(command)
        print(f"  {self.model.name}: {name} took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        return out


def load(path: Path):
    return json.loads(path.read_text())


def measure_real(m: Measurements, args) -> list[dict]:
    """The real sets streamed at each window length, rows concatenated (the guards pool them)."""
    real = []
    for chunk in args.chunks:
        rows = load(m.run(f"real-{chunk:g}", ["eval", str(args.real), "--quiet", "--stream",
                                               "--set", f"stream.chunk_s={chunk:g}"]))
        real += [r for r in rows if r["set"] not in args.skip_set]
    return real


def measure(model: Path, args) -> Evals:
    m = Measurements(model, args.work)
    synthetic = load(m.run("synthetic", ["eval", str(args.synthetic), "--quiet"]))
    natural = load(m.run("natural", ["eval", str(args.natural), "--quiet", "--lm", "none"]))
    real = measure_real(m, args)
    keywords = load(m.run("keywords", [
        "eval-keywords", "--detector", "ctc", "--keywords", args.keywords, "--no-live", "--lm", "none",
        "--thresholds", "0.1,0.3,0.5,0.7,0.9", "--plot", str(m.dir / "keywords-det.png"),
        *[a for d in args.keyword_positives for a in ("--positives", str(d))],
        *[a for d in args.keyword_negatives for a in ("--negatives", str(d))]]))
    return Evals(synthetic, natural, real, keywords)


def anchor_model(spec: str, work: Path) -> Path:
    """The anchor of guard (6): a model directory as given, or the embedded package at git revision
    ``spec``, unpacked once into ``work``."""
    if Path(spec).is_dir():
        return Path(spec)
    package = PACKAGE.relative_to(ROOT).as_posix()
    git = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, check=True)  # noqa: E731
    try:
        commit = git("rev-parse", "--verify", f"{spec}^{{commit}}").stdout.decode().strip()
        out = work / f"anchor-{commit[:12]}"  # by commit: a branch name that moves is unpacked again
        if out.is_dir():
            return out
        partial = out.with_name(out.name + ".partial")
        names = git("ls-tree", "--name-only", f"{spec}:{package}").stdout.decode().split()
        partial.mkdir(parents=True, exist_ok=True)
        for name in names:
            (partial / name).write_bytes(git("show", f"{spec}:{package}/{name}").stdout)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        raise SystemExit(f"--anchor {spec}: not a directory, and git cannot give the package at that revision "
                         f"({detail.decode().strip()}); pass the anchor model's directory instead") from None
    partial.rename(out)  # whole or not at all: a later run trusts a directory that exists
    return out


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such directory")
    return path


def chunks_arg(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0.2 <= v <= 30 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: expected window lengths in seconds, e.g. 1.8,2.0,2.2")
    return values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("candidates", nargs="+", type=existing_dir, metavar="CAND_DIR", help="model directories")
    ap.add_argument("--baseline", type=existing_dir, default=PACKAGE, help="default: the embedded package")
    ap.add_argument("--work", type=Path, required=True, help="where the measurements are kept")
    ap.add_argument("--synthetic", type=existing_dir, required=True,
                    help="held-out synthetic voices (export_eval_set.py)")
    ap.add_argument("--natural", type=existing_dir, required=True,
                    help="mbrola / pico sentences (make_keyword_clips.py --voices non-free --sentences 160)")
    ap.add_argument("--real", type=existing_dir, default=SHARED_SPEECH, help="the real sets (default: %(default)s)")
    ap.add_argument("--skip-set", action="append", default=None, metavar="NAME",
                    help="real set the guard leaves out (default: speech-commands; repeatable)")
    ap.add_argument("--chunks", type=chunks_arg, default=[1.8, 2.0, 2.2], help="stream.chunk_s values pooled")
    ap.add_argument("--anchor", default=ANCHOR_REV, metavar="DIR_OR_REV",
                    help="guard (6)'s fixed earlier package: a model directory or a git revision of this "
                         "repository (default: %(default)s)")
    ap.add_argument("--keywords", default="yes,no,down,stop,go")
    ap.add_argument("--keyword-positives", type=existing_dir, action="append", default=[], metavar="DIR",
                    help="TTS keyword clips (make_keyword_clips.py --phrases ...); the real speech-commands set "
                         "is added when present")
    ap.add_argument("--keyword-negatives", type=existing_dir, action="append", default=[], metavar="DIR",
                    help="e.g. a corpus' test split; the real sentence sets are added")
    args = ap.parse_args(argv)
    args.skip_set = args.skip_set or ["speech-commands"]
    if (args.real / "speech-commands").is_dir():
        args.keyword_positives.append(args.real / "speech-commands")
    args.keyword_negatives += [args.real / s for s in REAL_SETS if (args.real / s).is_dir()]
    if not args.keyword_positives or not args.keyword_negatives:
        ap.error("the keyword guard needs --keyword-positives and --keyword-negatives")

    anchor = anchor_model(args.anchor, args.work)
    for model in (args.baseline, anchor, *args.candidates):  # before minutes of measuring, not after
        if not (model / "lm.arpa.gz").is_file():
            ap.error(f"{model}: no lm.arpa.gz; the rule reads offline+lm output (copy the package's beside a "
                     "run's best/; scripts/average_models.py places it beside a mean)")
    base = measure(args.baseline, args)
    anchor_real = measure_real(Measurements(anchor, args.work), args)
    passed = []
    for cand in args.candidates:
        try:
            evals = measure(cand, args)
            checks = judge(base, evals, Limits(), anchor=anchor_real)
            lines = (summary(base), summary(evals))
        except ValueError as exc:
            ap.error(f"{cand}: {exc}")
        ok = all(c.passed for c in checks)
        print(f"\n{cand} against {args.baseline} (anchor {args.anchor}): {'PASSES' if ok else 'FAILS'}")
        print(f"  baseline:  {lines[0]}\n  candidate: {lines[1]}")
        for c in checks:
            print(f"  {c.rule} {'pass' if c.passed else 'FAIL'}  {c.what:<30} {c.detail}")
        if ok:
            passed.append(cand)
            if beats_anchor(evals, anchor_real):
                print("  better than the anchor in every real mode: if it ships, its commit becomes the anchor "
                      "(ANCHOR_REV in sewstream/ship_rule.py)")
    print(f"\n{len(passed)} of {len(args.candidates)} candidates pass" + (": " + ", ".join(map(str, passed))
                                                                      if passed else ""))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
