#!/usr/bin/env python3
"""Choose the LM decoding weights (alpha, beta, unknown-word offset) for a model: every
combination decoded from one forward pass per clip.

    python scripts/sweep_lm_settings.py --tune /work/data/eval/synthetic-heldout \\
        --report ../shared/data/speech --alphas 0.3,0.4,0.5,0.6,0.7 --betas 1,2,3

Each clip is cut into utterances as ``sewstream eval``'s offline mode cuts it, and the
log-probabilities of every utterance are kept, so each setting costs only its beam searches
(spread over ``--workers`` processes). The table ranks the settings by WER on the ``--tune``
sets (CER breaks ties); ``--report`` sets are only printed beside them, so that weights are
never chosen on the recordings they are then measured on. The current defaults
(configs/default.yaml) are marked ``*``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

from sewstream.audio.transcribed import load_transcribed  # noqa: E402
from sewstream.defaults import resolve_model  # noqa: E402
from sewstream.progress import progress_bar  # noqa: E402
from sewstream.stream import Recognizer  # noqa: E402
from sewstream.stream.rescore import DecodingSettings  # noqa: E402
from sewstream.stream.transcribe import transcribe_offline  # noqa: E402
from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings  # noqa: E402
from sewstream.text.metrics import ErrorRate, char_errors, word_errors  # noqa: E402
from sewstream.text.ngram import NgramLM  # noqa: E402


def float_list(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of numbers: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"no values in {text!r}")
    return values


class _Recorder:
    """Stands in for the beam search inside ``transcribe_offline``: keeps each utterance's
    log-probabilities (so the cuts are exactly the offline mode's) and decodes nothing."""

    def __init__(self) -> None:
        self.kept: list[np.ndarray] = []

    def decode(self, log_probs: np.ndarray) -> list:
        self.kept.append(log_probs.astype(np.float32))
        return []


@dataclass
class Clip:
    group: str            # "tune", or the --report directory's name
    text: str
    utterances: list[np.ndarray]


_CLIPS: list[Clip] = []   # shared with the worker processes by fork
_DECODER_ARGS: tuple = ()


def _decode_setting(setting: tuple[float, float, float, int]) -> tuple[tuple, dict[str, tuple[ErrorRate, ErrorRate]]]:
    alpha, beta, unk, beam = setting
    id_to_token, blank, lm, delimiter, skip = _DECODER_ARGS
    dec = BeamSearchDecoder(id_to_token, blank, lm, BeamSettings(alpha=alpha, beta=beta, unk_offset=unk, beam=beam),
                            delimiter=delimiter, skip=skip)
    out: dict[str, tuple[ErrorRate, ErrorRate]] = {}
    for clip in _CLIPS:
        hyp = " ".join(w.word for lp in clip.utterances for w in dec.decode(lp))
        w, c = out.setdefault(clip.group, (ErrorRate(), ErrorRate()))
        w.add(*word_errors(clip.text, hyp))
        c.add(*char_errors(clip.text, hyp))
    return setting, out


def main() -> int:
    global _DECODER_ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    ap.add_argument("--lm", default=None, help="ARPA file (default: the model directory's lm.arpa.gz)")
    ap.add_argument("--tune", nargs="+", action="extend", required=True,
                    help="directories of audio + transcripts.txt (or of such sets) that rank the settings")
    ap.add_argument("--report", nargs="+", action="extend", default=[],
                    help="sets only printed beside the ranking (e.g. real recordings)")
    defaults = DecodingSettings()
    ap.add_argument("--alphas", type=float_list, default=[defaults.alpha])
    ap.add_argument("--betas", type=float_list, default=[defaults.beta])
    ap.add_argument("--unk-offsets", type=float_list, default=[defaults.unk_offset])
    ap.add_argument("--beam", type=int, default=defaults.beam)
    ap.add_argument("--workers", type=int, default=2, help="processes for the beam searches")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the forward passes")
    ap.add_argument("--top", type=int, default=15, help="rows to print (the defaults' row is always shown)")
    args = ap.parse_args()
    if args.beam < 1 or args.workers < 1 or args.threads < 1:
        ap.error("--beam, --workers and --threads must be >= 1")
    if any(a < 0 for a in args.alphas):
        ap.error(f"--alphas must be >= 0, got {args.alphas}")
    torch.set_num_threads(args.threads)

    model = resolve_model(args.model)
    lm_path = Path(args.lm) if args.lm else Path(model) / "lm.arpa.gz"
    if not lm_path.is_file():
        ap.error(f"no LM at {lm_path} (give --lm)")
    rec = Recognizer.from_pretrained(model, device="cpu")
    try:
        sets = [("tune", d) for d in args.tune] + [(Path(d).resolve().name, d) for d in args.report]
        loaded = []
        for group, directory in sets:
            try:
                loaded += [(group, c) for c in load_transcribed(directory)]
            except (FileNotFoundError, ValueError) as e:
                ap.error(str(e))
        for group, clip in progress_bar(loaded, desc="forward", unit="clip"):
            recorder = _Recorder()
            transcribe_offline(rec, clip.audio, decoder=recorder)
            _CLIPS.append(Clip(group, clip.text, recorder.kept))
        v = rec.vocab
        _DECODER_ARGS = (v.id_to_token, v.blank, NgramLM.load(lm_path), v.delimiter, v.special)
    finally:
        rec.close()

    grid = [(a, b, u, args.beam) for a in args.alphas for b in args.betas for u in args.unk_offsets]
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        results = list(progress_bar(pool.imap_unordered(_decode_setting, grid), total=len(grid),
                                    desc="settings", unit="setting"))

    current = (defaults.alpha, defaults.beta, defaults.unk_offset, args.beam)
    results.sort(key=lambda r: (r[1]["tune"][0].rate, r[1]["tune"][1].rate))
    groups = list(dict.fromkeys(c.group for c in _CLIPS))
    print(f"{len(grid)} settings, beam {args.beam}; clips: "
          + ", ".join(f"{g} {sum(c.group == g for c in _CLIPS)}" for g in groups))
    width = {g: max(10, len(g) + 4) for g in groups}
    header = f"{'':1} {'alpha':>5} {'beta':>5} {'unk':>5}" + "".join(
        f" {g + ' WER':>{width[g]}} {g + ' CER':>{width[g]}}" for g in groups)
    print(header)
    for rank, (setting, scores) in enumerate(results):
        if rank >= args.top and setting != current:
            continue
        mark = "*" if setting == current else " "
        a, b, u, _ = setting
        print(f"{mark} {a:>5.2f} {b:>5.2f} {u:>5.1f}" + "".join(
            f" {100 * scores[g][0].rate:>{width[g] - 1}.2f}% {100 * scores[g][1].rate:>{width[g] - 1}.2f}%"
            for g in groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
