#!/usr/bin/env python3
"""Synthesise the README's demo clip in a voice the default model never trained on.

    python scripts/make_example_clip.py   # writes sewstream/assets/examples/hello.flac (+ .txt)

Needs flite (apt-get install flite); the clip is committed, so users and CI never run this.
"""

from pathlib import Path

import soundfile as sf

from sewstream.train.tts import Voice, synthesize
from sewstream.train.vocab import normalize_text

TEXT = "Hello and welcome. This is a streaming speech recognizer, running on your own computer."
OUT = Path(__file__).resolve().parents[1] / "sewstream" / "assets" / "examples" / "hello.flac"

if __name__ == "__main__":
    audio = synthesize(Voice("flite", "rms"), TEXT)  # flite:rms is held out of the training corpus
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sf.write(OUT, audio, 16000, subtype="PCM_16")
    OUT.with_suffix(".txt").write_text(normalize_text(TEXT) + "\n")
    print(f"{OUT} ({len(audio) / 16000:.1f} s): {normalize_text(TEXT)}")
