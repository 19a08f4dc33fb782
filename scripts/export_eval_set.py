#!/usr/bin/env python3
"""Write the corpus's held-out test split as eval directories (one set per TTS engine).

    python scripts/export_eval_set.py --corpus /work/data/corpus --out /work/data/eval/synthetic-heldout
    sewstream eval /work/data/eval/synthetic-heldout

The test split's voices and sentences never occur in training (see sewstream/train/corpus.py).
``--train-voices`` instead re-speaks the same held-out sentences with TRAINING voices of the same
engine (seeded choice, same rate and pitch; needs the TTS engines): the difference between the
two sets is what unseen voices cost, the rest is unseen sentences and the model itself.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from pathlib import Path

import numpy as np
import soundfile as sf

from sewstream.train import tts
from sewstream.train.corpus import CorpusReader, load_frozen_config, split_voices
from sewstream.train.tts import Voice


def _speak(job: tuple[Voice, str]) -> np.ndarray | None:
    voice, text = job
    try:
        return tts.synthesize(voice, text.lower())  # corpus text is normalised: letters, apostrophes
    except (tts.TTSError, OSError, ValueError):
        return None


def train_voice_audio(corpus: Path, entries: list[dict], seed: int = 11, workers: int = 2) -> list:
    """Each entry's sentence spoken by a training voice of its engine (None where synthesis failed)."""
    config, voices = load_frozen_config(corpus)
    by_engine: dict[str, list[Voice]] = {}
    for v in split_voices(voices, config)["train"]:
        by_engine.setdefault(v.engine, []).append(v)
    rng = np.random.default_rng(seed)
    jobs = [(by_engine[e["engine"]][int(rng.integers(len(by_engine[e["engine"]])))].with_prosody(e["rate"], e["pitch"]),
             e["text"]) for e in entries]
    with mp.get_context("spawn").Pool(workers) as pool:
        return pool.map(_speak, jobs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="/work/data/corpus")
    ap.add_argument("--out", default="/work/data/eval/synthetic-heldout")
    ap.add_argument("--train-voices", action="store_true",
                    help="re-speak the held-out sentences with training voices (sets named trainvoices-<engine>)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    test = CorpusReader(args.corpus, "test")
    prefix = "trainvoices" if args.train_voices else "synthetic"
    audios = (train_voice_audio(Path(args.corpus), test.entries, workers=args.workers) if args.train_voices
              else [test.audio(i) for i in range(len(test))])
    lines: dict[str, list[str]] = {}
    for i, (entry, audio) in enumerate(zip(test.entries, audios)):
        if audio is None:
            print(f"skipped {entry['id']}: synthesis failed")
            continue
        engine = entry["engine"]
        folder = Path(args.out) / f"{prefix}-{engine}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{engine}-{i:04d}"
        sf.write(folder / f"{stem}.flac", audio, 16000, subtype="PCM_16")
        lines.setdefault(engine, []).append(f"{stem} {entry['text']}")
    for engine, rows in lines.items():
        (Path(args.out) / f"{prefix}-{engine}" / "transcripts.txt").write_text("\n".join(rows) + "\n")
        print(f"{prefix}-{engine}: {len(rows)} utterances")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
