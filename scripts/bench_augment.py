#!/usr/bin/env python3
"""Cost of the training augmentation per core: what bounds batch building (a GPU's batch workers).

    python scripts/bench_augment.py --corpus /work/data/corpus6 --utterances 300

On N random utterances of a corpus (their lengths, as training sees them): the whole
``Augmenter`` pipeline with the default settings, and each costly transform on its own, as
seconds of audio processed per second of one core (x real time). Reference, in the same run:
coloured noise shaped at the utterance's own length (an FFT of a length with large prime
factors, as before 2026-12-04) against the fast length the pipeline uses now, and reading the
audio alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sewstream.train.augment import (  # noqa: E402
    Augmenter,
    band_limit,
    colored_noise,
    reverberate,
    speed_perturb,
    synthetic_rir,
)
from sewstream.train.corpus import CorpusReader  # noqa: E402

SR = 16000


def noise_at_own_length(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise shaped by an FFT of exactly n points (the earlier implementation)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    white = np.fft.irfft(spec * freqs ** -0.5, n)
    return (white / (np.sqrt(np.mean(white**2)) + 1e-12)).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, help="a corpus directory (build_corpus.py), its train split")
    ap.add_argument("--utterances", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        reader = CorpusReader(args.corpus, "train")
    except OSError as exc:
        ap.error(f"--corpus: {exc}")
    if len(reader) == 0:
        ap.error(f"--corpus {args.corpus}: the train split is empty")
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(len(reader), min(args.utterances, len(reader)), replace=False)
    started = time.perf_counter()
    audios = [reader.audio(int(i)) for i in picked]
    read_s = time.perf_counter() - started
    seconds = sum(len(a) for a in audios) / SR
    pool = [reader.audio(int(i)) for i in rng.choice(len(reader), min(100, len(reader)), replace=False)]
    aug = Augmenter(seed=args.seed, babble_pool=pool)

    cases = {
        "read from the corpus (reference)": None,
        "whole pipeline (defaults)": lambda a, r: aug(a, r),
        "pink noise, FFT at the utterance length (before)": lambda a, r: noise_at_own_length(len(a), r),
        "pink noise, FFT at a 5-smooth length (now)": lambda a, r: colored_noise(len(a), r, 1.0),
        "speed perturbation (soxr)": lambda a, r: speed_perturb(a, 1.07),
        "reverberation (synthetic RIR, rt60 0.5 s)": lambda a, r: reverberate(a, synthetic_rir(r, 0.5)),
        "band limit (300-3400 Hz)": lambda a, r: band_limit(a, 300.0, 3400.0),
    }
    print(f"{len(audios)} utterances, {seconds / 60:.1f} min of audio, one core")
    print(f"{'case':<52}{'s':>8}{'x real time':>13}{'vs pipeline':>13}")
    rates = {}
    for name, fn in cases.items():
        if fn is None:
            elapsed = read_s
        else:
            started = time.perf_counter()
            for k, audio in enumerate(audios):
                fn(audio, np.random.default_rng([args.seed, k]))
            elapsed = time.perf_counter() - started
        rates[name] = seconds / max(elapsed, 1e-9)
    for name, rate in rates.items():
        ratio = rate / rates["whole pipeline (defaults)"]
        print(f"{name:<52}{seconds / rate:>8.2f}{rate:>12.0f}x{ratio:>12.1f}x")
    before, now = (rates[k] for k in cases if k.startswith("pink noise"))
    print(f"coloured noise: {now / before:.1f}x faster at the smooth length")
    return 0


if __name__ == "__main__":
    sys.exit(main())
