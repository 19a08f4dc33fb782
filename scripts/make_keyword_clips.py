"""Synthetic keyword clips (TTS) for the keyword tests and for ``sewstream eval-keywords``.

    python scripts/make_keyword_clips.py                       # the few test clips -> tests/data/keywords/
    python scripts/make_keyword_clips.py --eval /tmp/kw-pos --phrases yes,no,down
    python scripts/make_keyword_clips.py --eval /tmp/kw-neg --sentences 200   # keyword-free sentences
    python scripts/make_keyword_clips.py --eval /tmp/unseen --sentences 200 --phrases '' \
        --text /usr/share/state/us-constitution.gz --text /usr/share/state/us-declaration.gz

Voices: the speakers the training corpus holds out for its test split (espeak-ng variants
m5 f3 Andy belinda klatt4 travis, flite rms, festival ked_diphone), so an evaluation never
hears a training voice; ``--voices non-free`` uses the held-out voices of the opt-in engines
instead (mbrola us3, pico en-GB, and English through the German de4 and French fr4 mbrola
databases; Debian contrib / non-free).
``--text FILE`` (plain or gzipped running text, repeatable) reads the sentences from there
instead of the built-in list of 20: split, normalised and filtered as the training corpus's
sources are, shuffled by ``--seed``. Text that no training source holds (the examples above,
from Debian's miscfiles) makes a set whose words the default model's LM was not estimated on,
as a user's speech would be: the set ``scripts/sweep_lm_settings.py`` tunes the LM weights on.
Output: 16 kHz mono 16-bit FLAC + ``transcripts.txt`` (stem TEXT).
Needs espeak-ng / flite / festival (apt); CI does not: it uses the committed test clips.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import random
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sewstream.progress import progress_bar  # noqa: E402
from sewstream.train.corpus import CorpusConfig  # noqa: E402
from sewstream.train.texts import make_sentence, split_sentences  # noqa: E402
from sewstream.train.tts import DEFAULT_ENGINES, Voice, engine_available, synthesize  # noqa: E402

HELD_OUT = ([Voice("espeak-ng", lang, var) for lang in ("en-us", "en-gb") for var in
             ("m5", "f3", "Andy", "belinda", "klatt4", "travis")]
            + [Voice("flite", "rms"), Voice("festival", "ked_diphone")])
HELD_OUT_NON_FREE = [Voice(*key.split(":", 1)) for key in CorpusConfig().test_voices
                     if key.split(":", 1)[0] not in DEFAULT_ENGINES]

# (stem, voice, rate, text): small and few, committed to the repository for the tests
TEST_CLIPS = [
    ("yes_us_m5", Voice("espeak-ng", "en-us", "m5"), 1.0, "yes"),
    ("yes_flite_rms", Voice("flite", "rms"), 1.0, "yes"),
    ("no_us_f3", Voice("espeak-ng", "en-us", "f3"), 1.0, "no"),
    ("down_gb_travis", Voice("espeak-ng", "en-gb", "travis"), 1.0, "down"),
    ("hey_sew_us_m5", Voice("espeak-ng", "en-us", "m5"), 1.0, "hey sew"),
    ("nothing_us_f3", Voice("espeak-ng", "en-us", "f3"), 1.0, "nothing yesterday"),
]

# keyword-free sentences (checked against the phrases at run time)
SENTENCES = [
    "the weather turned cold before the evening train arrived",
    "she kept the letters in a small wooden box",
    "we walked along the river until the lights came on",
    "his answer surprised everyone at the table",
    "please close the window when you leave the kitchen",
    "the children were reading quietly in the garden",
    "there is nothing left in the cupboard",
    "yesterday the market opened an hour late",
    "a narrow road leads over the hill to the village",
    "nobody noticed the clock had stopped",
    "the soup needs a little more salt",
    "they painted the fence a pale shade of green",
    "it was a long winter and the snow stayed for months",
    "the doctor said the results looked normal",
    "my brother plays the piano every sunday",
    "open the door slowly and look inside",
    "the meeting has been moved to thursday morning",
    "an old map was hanging above the fireplace",
    "several birds were sitting on the wire",
    "the town hall clock struck nine",
]


def write(directory: Path, stem: str, audio: np.ndarray) -> None:
    sf.write(directory / f"{stem}.flac", audio, 16000, subtype="PCM_16", format="FLAC")


def make_tests(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for stem, voice, rate, text in TEST_CLIPS:
        audio = synthesize(voice.with_prosody(rate, 1.0), text)
        write(out, stem, audio)
        lines.append(f"{stem} {text.upper()}")
        print(f"{stem}: {len(audio) / 16000:.2f} s, {(out / (stem + '.flac')).stat().st_size} bytes")
    (out / "transcripts.txt").write_text("\n".join(lines) + "\n")


def running_text_sentences(paths: list[Path], seed: int) -> list[tuple[str, str]]:
    """(what the voice reads, its transcript) for every usable distinct sentence of the files,
    shuffled: split and filtered as the corpus's text sources are (4 to 30 words, no acronyms)."""
    seen, out = set(), []
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for raw in split_sentences(f.read()):
                s = make_sentence(raw, path.name, min_words=4)
                if s and s.text not in seen:
                    seen.add(s.text)
                    out.append((s.spoken, s.text))
    random.Random(seed).shuffle(out)
    return out


def make_eval(out: Path, phrases: list[str], rates: list[float], sentences: int, seed: int,
              held_out: list[Voice] = HELD_OUT, text_files: list[Path] = ()) -> None:
    voices = [v for v in held_out if engine_available(v.engine)]
    if not voices:
        sys.exit("none of the held-out voices' engines is installed: "
                 + ", ".join(sorted({v.engine for v in held_out})))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = []
    if sentences:
        texts = (running_text_sentences(list(text_files), seed) if text_files
                 else [(s, s.upper()) for s in SENTENCES])
        keywords = [f" {p.upper()} " for p in phrases if p]  # --phrases '' keeps every sentence
        texts = [(spoken, label) for spoken, label in texts if not any(k in f" {label} " for k in keywords)]
        if not texts:
            sys.exit("no usable sentences in " + ", ".join(map(str, text_files)))
        for i in progress_bar(range(sentences), desc="sentences", unit="clip"):
            voice = voices[i % len(voices)].with_prosody(rng.uniform(0.85, 1.1), rng.uniform(0.9, 1.1))
            spoken, label = texts[i % len(texts)]
            stem = f"sent_{i:04d}"
            write(out, stem, synthesize(voice, spoken))
            lines.append(f"{stem} {label}")
    else:
        for n, (phrase, voice, rate) in enumerate(itertools.product(phrases, voices, rates)):
            stem = f"{phrase.replace(' ', '_')}_{n:04d}"
            audio = synthesize(voice.with_prosody(rate, rng.uniform(0.9, 1.1)), phrase)
            write(out, stem, audio)
            lines.append(f"{stem} {phrase.upper()}")
    (out / "transcripts.txt").write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} clips -> {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval", type=Path, help="write an evaluation set here instead of the test clips")
    p.add_argument("--phrases", default="yes,no,down")
    p.add_argument("--rates", default="0.85,1.0,1.15")
    p.add_argument("--sentences", type=int, default=0, help="write this many keyword-free sentences instead")
    p.add_argument("--voices", choices=("default", "non-free"), default="default",
                   help="held-out voices of the free engines, or of mbrola / pico")
    p.add_argument("--text", type=Path, action="append", default=[], metavar="FILE",
                   help="with --sentences: read them from this running text (.gz too; repeatable)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    missing = [str(f) for f in args.text if not f.is_file()]
    if missing:
        p.error(f"--text: no such file: {', '.join(missing)}")
    if args.text and (args.eval is None or not args.sentences):
        p.error("--text needs --eval DIR and --sentences N (it makes a set of sentence clips)")
    if args.eval is None:
        make_tests(ROOT / "tests" / "data" / "keywords")
    else:
        make_eval(args.eval, [s.strip() for s in args.phrases.split(",")], [float(r) for r in args.rates.split(",")],
                  args.sentences, args.seed, HELD_OUT if args.voices == "default" else HELD_OUT_NON_FREE, args.text)


if __name__ == "__main__":
    main()
