#!/usr/bin/env python3
"""Write the corpus's held-out test split as eval directories (one set per TTS engine).

    python scripts/export_eval_set.py --corpus /work/data/corpus --out /work/data/eval/synthetic-heldout
    sewstream eval /work/data/eval/synthetic-heldout

The test split's voices and sentences never occur in training (see sewstream/train/corpus.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf

from sewstream.train.corpus import CorpusReader


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="/work/data/corpus")
    ap.add_argument("--out", default="/work/data/eval/synthetic-heldout")
    args = ap.parse_args()
    test = CorpusReader(args.corpus, "test")
    lines: dict[str, list[str]] = {}
    for i, entry in enumerate(test.entries):
        engine = entry["engine"]
        folder = Path(args.out) / f"synthetic-{engine}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{engine}-{i:04d}"
        sf.write(folder / f"{stem}.flac", test.audio(i), 16000, subtype="PCM_16")
        lines.setdefault(engine, []).append(f"{stem} {entry['text']}")
    for engine, rows in lines.items():
        (Path(args.out) / f"synthetic-{engine}" / "transcripts.txt").write_text("\n".join(rows) + "\n")
        print(f"synthetic-{engine}: {len(rows)} utterances")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
