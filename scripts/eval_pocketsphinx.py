#!/usr/bin/env python3
"""Reference recogniser: pocketsphinx 5.1.1 (US English model it ships) on the same sets.

    pip install pocketsphinx==5.1.1
    python scripts/eval_pocketsphinx.py ../shared/data/speech --json pocketsphinx.json

Greedy single pass, default settings; the numbers go next to ours in the model card.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from sewstream.audio.transcribed import load_transcribed
from sewstream.text.metrics import ErrorRate, char_errors, word_errors

SENTENCE_SETS = ("librispeech-dev-clean", "librivox-sense-and-sensibility", "vctk", "misc")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--json", help="write per-set results here")
    args = ap.parse_args()
    try:
        from pocketsphinx import Decoder
    except ImportError:
        print("needs pocketsphinx: pip install pocketsphinx==5.1.1", file=sys.stderr)
        return 2
    decoder = Decoder()
    results: dict[str, dict] = {}
    for clip in load_transcribed(args.root):
        if clip.set_name.startswith("speech-commands"):  # one-word clips: not a dictation task
            continue
        decoder.start_utt()
        decoder.process_raw((np.clip(clip.audio, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp().hypstr.upper() if decoder.hyp() else ""
        r = results.setdefault(clip.set_name, {"wer": ErrorRate(), "cer": ErrorRate(), "clips": 0})
        r["wer"].add(*word_errors(clip.text, hyp))
        r["cer"].add(*char_errors(clip.text, hyp))
        r["clips"] += 1
    out = {}
    for name, r in results.items():
        out[name] = {"clips": r["clips"], "wer": r["wer"].rate, "cer": r["cer"].rate,
                     "word_errors": r["wer"].errors, "words": r["wer"].total}
        print(f"{name:<32} WER {r['wer']}  CER {r['cer']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
