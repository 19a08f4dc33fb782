#!/usr/bin/env python3
"""Cost of LM decoding (CTC prefix beam search + word bigram) against greedy CTC and the model.

    python scripts/bench_lm.py                       # embedded model + its lm.arpa.gz, real sentences
    python scripts/bench_lm.py --beams 4 8 16 32 --threads 1

For every clip of the real sentence sets: one model forward (the reference), greedy CTC on its
logits, and the beam search at each beam width, all on the same logits in the same run.
Prints milliseconds per second of audio, the real-time factor, the ratio to greedy decoding and
to the forward pass, and WER/CER, so a beam width can be chosen for finals or offline use.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sewstream.audio.transcribed import load_transcribed  # noqa: E402
from sewstream.defaults import resolve_model  # noqa: E402
from sewstream.stream import Recognizer  # noqa: E402
from sewstream.stream.decode import Transcript, frame_posteriors  # noqa: E402
from sewstream.stream.rescore import log_softmax  # noqa: E402
from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings  # noqa: E402
from sewstream.text.metrics import cer, wer  # noqa: E402
from sewstream.text.ngram import NgramLM  # noqa: E402

SETS = ("librispeech-dev-clean", "librivox-sense-and-sensibility", "vctk", "misc")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    ap.add_argument("--lm", default=None, help="ARPA file (default: the model directory's lm.arpa.gz)")
    ap.add_argument("--speech", default=str(ROOT.parent / "shared/data/speech"))
    ap.add_argument("--beams", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = resolve_model(args.model)
    rec = Recognizer.from_pretrained(model, device="cpu")
    lm = NgramLM.load(args.lm or Path(model) / "lm.arpa.gz")
    clips = [c for s in SETS for c in load_transcribed(Path(args.speech) / s)]
    seconds = sum(len(c.audio) for c in clips) / 16000
    refs = [c.text for c in clips]

    started = time.perf_counter()
    logits = [rec.logits(c.audio) for c in clips]
    forward = time.perf_counter() - started

    def greedy(x: np.ndarray) -> str:
        t = Transcript(rec.vocab, 0.02)
        t.append(*frame_posteriors(x))
        return " ".join(t.text().split())

    rows = []
    started = time.perf_counter()
    hyps = [greedy(x) for x in logits]
    greedy_s = time.perf_counter() - started
    rows.append(("greedy", greedy_s, hyps))
    log_probs = [log_softmax(x) for x in logits]  # as the stream's rescorer computes them
    for beam in args.beams:
        dec = BeamSearchDecoder(rec.vocab.id_to_token, rec.vocab.blank, lm, BeamSettings(beam=beam),
                                delimiter=rec.vocab.delimiter, skip=rec.vocab.special)
        started = time.perf_counter()
        hyps = [" ".join(w.word for w in dec.decode(lp)) for lp in log_probs]
        rows.append((f"beam {beam} + LM", time.perf_counter() - started, hyps))
    rec.close()

    print(f"{len(clips)} clips, {seconds:.1f} s of real speech; model forward {1000 * forward / seconds:.1f} ms "
          f"per audio second ({args.threads} thread(s))")
    print(f"{'decoder':<16} {'ms / audio s':>12} {'RTF':>8} {'x greedy':>9} {'x forward':>10} {'WER':>7} {'CER':>7}")
    for name, spent, hyps in rows:
        print(f"{name:<16} {1000 * spent / seconds:>12.2f} {spent / seconds:>8.4f} {spent / greedy_s:>9.1f} "
              f"{spent / forward:>10.2f} {100 * wer(refs, hyps).rate:>6.1f}% {100 * cer(refs, hyps).rate:>6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
