#!/usr/bin/env python3
"""Package a trained run as the embedded default model, with a model card of measured numbers.

    python scripts/ship_default_model.py --run /work/runs/default \\
        --synthetic /work/data/eval/synthetic-heldout --real ../shared/data/speech \\
        --pocketsphinx /work/data/eval/pocketsphinx.json

Reads ``RUN/best`` (or ``RUN/swa`` with ``--weights swa``; HF layout, float32), writes fp16
safetensors + config + vocab + preprocessor config + lm.arpa.gz (a word bigram from the
training text, or --lm's) + README.md (the model card) into sewstream/assets/default-model/,
after evaluating it offline (greedy and with the LM) and streaming on the held-out synthetic
voices and on every real set. Fails if the package would exceed 30 MB. ``--average-with DIR``
ships the mean of the run's weights and DIR's (two stages of one lineage; repeated, the
uniform mean of all), and the card says so.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import sys
import time
from pathlib import Path

import torch

from sewstream.evaluation import evaluate, table, total
from sewstream.model import ModelLoadError, load_model, num_parameters
from sewstream.stream import Recognizer, StreamSettings
from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings
from sewstream.text.ngram import LanguageModelError, NgramLM
from sewstream.train.averaging import AveragingError, average_into
from sewstream.train.card import (
    corpus_line,
    earlier_history,
    earlier_stages,
    held_out_voices,
    path_md,
    recipe_at,
    training_section,
)
from sewstream.train.lm import write_corpus_lm
from sewstream.train.trainer import export

DEST = Path(__file__).resolve().parents[1] / "sewstream" / "assets" / "default-model"
LIMIT_MB = 30
FIRST_CORPUS = "/work/data/corpus"  # the 60 h corpus the card's Data section describes


def scores_md(scores, pocketsphinx: dict | None = None) -> str:
    rows = ["| set | clips | audio | WER offline | CER offline | WER streaming | CER streaming "
            "| WER offline+LM | CER offline+LM | WER streaming+LM | CER streaming+LM |"
            + (" pocketsphinx WER |" if pocketsphinx else ""),
            "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if pocketsphinx else "")]
    for s in [*scores, total(scores)]:
        ps = ""
        if pocketsphinx:
            if s.name in pocketsphinx:
                p = pocketsphinx[s.name]
                ps = f" {100 * p['wer']:.1f}% |"
            elif s.name == "all" and all(x.name in pocketsphinx for x in scores):
                errors = sum(pocketsphinx[x.name]["word_errors"] for x in scores)
                words = sum(pocketsphinx[x.name]["words"] for x in scores)
                ps = f" {100 * errors / words:.1f}% |"
            else:
                ps = " - |"
        rows.append(f"| {s.name} | {s.clips} | {s.seconds:.0f} s | {100 * s.wer['offline'].rate:.1f}% | "
                    f"{100 * s.cer['offline'].rate:.1f}% | {100 * s.wer['stream'].rate:.1f}% | "
                    f"{100 * s.cer['stream'].rate:.1f}% | {100 * s.wer['offline+lm'].rate:.1f}% | "
                    f"{100 * s.cer['offline+lm'].rate:.1f}% | {100 * s.wer['stream+lm'].rate:.1f}% | "
                    f"{100 * s.cer['stream+lm'].rate:.1f}% |" + ps)
    return "\n".join(rows)


def status_line(synthetic) -> str:
    """Say plainly what the measured accuracy means (the card must not promise more)."""
    wer = total(synthetic).wer["offline"].rate
    if wer > 0.5:
        return (f"An early checkpoint: {100 * wer:.0f}% WER on held-out synthetic voices means most words "
                "come out misspelled; the text shows what was said only loosely (letters, not words).")
    if wer > 0.15:
        return (f"{100 * wer:.0f}% WER on held-out synthetic voices: usable for rough captions of clear "
                "speech, not for exact transcripts.")
    return f"{100 * wer:.0f}% WER on held-out synthetic voices (clear synthetic speech is transcribed well)."


def lm_on_words(keywords) -> str:
    """What the sentence-trained LM does to isolated words, as measured (it has gone both ways)."""
    if not keywords:
        return "Its effect on isolated words was not measured (no keyword clips among the real sets)."
    w = total(keywords).wer
    greedy, lm = 100 * w["offline"].rate, 100 * w["offline+lm"].rate
    verdict = "helps" if lm < greedy else "hurts"
    return (f"It was estimated on sentences; on the isolated keyword clips above it {verdict} "
            f"(WER {greedy:.0f}% greedy, {lm:.0f}% with the LM).")


def later_corpus(recipe: dict, first_corpus: str | None) -> str:
    """Warm-started later stages may have trained on other corpora than the first stages: say so, and
    which corpus the last stage used (each stage's own corpus is named under the card's Recipe)."""
    corpus = recipe["corpus"]
    if not recipe.get("init_from") or not first_corpus or Path(corpus).resolve() == Path(first_corpus).resolve():
        return ""
    held = held_out_voices(corpus)
    held_out = f" Held-out voices there: {', '.join(held)} and the espeak variants." if held else ""
    return ("\n\nLater training stages used other corpora of the same kind (each named under Recipe; same"
            " held-out sentences); the last stage's: "
            + corpus_line(corpus).removeprefix("Corpus: ") + held_out)


MEAN_LEAD = "**The shipped weights are the element-wise mean** of this run's at step"
# lazy up to the last "(... above)": a machine-local path_md carries its own parenthesis first
AVERAGED = re.compile(re.escape(MEAN_LEAD) + r" \d+ and those of the package then at [^\n]*?\(([^()]*) above\)")


def averaged_with(others: list[Path], step: int) -> str:
    """The card's words on a shipped mean of this run's weights and ``others``' (the first the
    package then; which stage of the history above it is, counted from its own card; the rest
    named by their run's step when they are a run's best, else by their own card)."""
    def stage_of(path: Path) -> str:
        card = path / "README.md"
        text = card.read_text() if card.is_file() else ""
        stages = len(earlier_stages(earlier_history(text)))
        which = f"stage {stages} above" if stages else "a model whose card does not say how it was trained"
        if stages and (mean := AVERAGED.search(text)):  # the package was itself a mean: say of what
            which = f"itself the mean of stage {stages} and {mean.group(1).removeprefix('itself ')} above"
        return which

    def named(path: Path) -> str:
        if (path / "eval.json").is_file():  # a run's best: its step says which weights
            step = json.loads((path / "eval.json").read_text())["step"]
            if (path.parent / "recipe.json").is_file():  # the run is not shipped: this sentence is its card
                r, _ = recipe_at(path.parent, step)
                return (f"step {step} of a {r['total_steps']}-step run (lr {r['lr']:g}, seed {r['seed']}) "
                        f"at {path_md(path.parent)}")
            return f"step {step} of the run at {path_md(path.parent)}"
        return f"{path_md(path)} ({stage_of(path)})"

    first, *more = others
    also = f" and of {', '.join(named(p) for p in more)}" if more else ""
    return (f"\n\n{MEAN_LEAD} {step} and those of the "
            f"package then at {path_md(first)} ({stage_of(first)}){also}, each as stored in float16, averaged "
            f"{'uniformly ' if more else ''}in float32: "
            "points of one lineage, so one loss basin (the README's \"The embedded default model\" says how "
            "it was chosen).")


def place_lm(out: Path, lm_file: str | None, corpus: str) -> tuple[NgramLM, str]:
    """Write the package's ``lm.arpa.gz``: ``lm_file`` as it is (gzipped if plain), else a bigram
    of ``corpus``'s training sentences; returns the LM and the card's words on where it came from."""
    if lm_file:
        data = Path(lm_file).read_bytes()
        out.write_bytes(data if lm_file.endswith(".gz") else gzip.compress(data, mtime=0))
        lm = NgramLM.load(out)
        return lm, f"{len(lm.words)} words, carried over unchanged from an earlier package by `--lm`"
    lm, sentences = write_corpus_lm(corpus, out, min_count=2)
    return lm, f"{len(lm.words)} words from {sentences} distinct training sentences, bigrams seen at least twice"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="/work/runs/default")
    ap.add_argument("--synthetic", default="/work/data/eval/synthetic-heldout")
    ap.add_argument("--real", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/speech"))
    ap.add_argument("--pocketsphinx", default="/work/data/eval/pocketsphinx.json")
    ap.add_argument("--dest", default=str(DEST))
    ap.add_argument("--corpus", default=None,
                    help="the corpus whose training text makes the LM (default: the run's; a run trained on a "
                         "lent machine names a path that existed only there)")
    ap.add_argument("--lm", default=None, metavar="ARPA",
                    help="ship this word LM (ARPA, .gz ok) instead of building one from a corpus, e.g. the "
                         "shipped model's lm.arpa.gz when the corpora that made it are not on this machine")
    ap.add_argument("--average-with", action="append", default=[], metavar="DIR",
                    help="ship the mean of the run's best weights and this checkpoint's (same architecture; "
                         "e.g. the shipped model, an earlier stage of the same lineage); repeat it for a "
                         "uniform mean of several (the first is described as the package then)")
    ap.add_argument("--weights", choices=("best", "swa"), default="best",
                    help="which of the run's exports to ship: best/ (its best eval) or swa/ (the running weight "
                         "mean of a run with swa_from_step set); default best")
    args = ap.parse_args()
    if args.lm and args.corpus:
        ap.error("--lm and --corpus both choose the word LM: give one of them")
    if args.lm:
        try:
            NgramLM.load(args.lm)  # refuse a bad file before anything is built
        except LanguageModelError as e:
            ap.error(f"--lm: {e}")

    best = Path(args.run) / args.weights
    if not (best / "eval.json").is_file():
        ap.error(f"--run {args.run}: no {args.weights}/ export with its eval.json "
                 + ("(the run has no weight averaging: set swa_from_step)" if args.weights == "swa" else
                    "(no evaluation has finished yet)"))
    step_info = json.loads((best / "eval.json").read_text())
    recipe = json.loads((Path(args.run) / "recipe.json").read_text())
    # before the swap: init_from may be DEST itself
    training = training_section(args.run, step_info["step"], swa_samples=step_info.get("swa_count"))

    staging = Path(args.dest + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    model = load_model(best)
    if args.average_with:
        try:
            average_into(model, *(load_model(d) for d in args.average_with))
        except (AveragingError, ModelLoadError) as e:
            ap.error(f"--average-with: {e}")
        training += averaged_with([Path(d) for d in args.average_with], step_info["step"])
    export(model, staging, dtype=torch.float16)
    size_mb = sum(p.stat().st_size for p in staging.iterdir()) / 2**20
    if size_mb > LIMIT_MB:
        print(f"model is {size_mb:.1f} MB, over the {LIMIT_MB} MB limit", file=sys.stderr)
        return 1
    model_mb = size_mb

    # the word LM: every distinct training sentence (held-out and evaluation text never entered the corpus)
    lm, lm_origin = place_lm(staging / "lm.arpa.gz", args.lm, args.corpus or recipe["corpus"])
    size_mb = sum(p.stat().st_size for p in staging.iterdir()) / 2**20
    if size_mb > LIMIT_MB:
        print(f"model + LM is {size_mb:.1f} MB, over the {LIMIT_MB} MB limit", file=sys.stderr)
        return 1

    rec = Recognizer.from_pretrained(staging, device="cpu")
    settings = StreamSettings()
    beam = BeamSettings()
    rec.use_lm(BeamSearchDecoder(rec.vocab.id_to_token, rec.vocab.blank, lm, beam,
                                 delimiter=rec.vocab.delimiter, skip=rec.vocab.special))
    started = time.time()
    synthetic = evaluate(rec, args.synthetic, stream_settings=settings, streaming=True, show_progress=False)
    real_all = evaluate(rec, args.real, stream_settings=settings, streaming=True, show_progress=False)
    rec.close()
    real = [s for s in real_all if not s.name.startswith("speech-commands")]
    keywords = [s for s in real_all if s.name.startswith("speech-commands")]
    if not real:
        print(f"--real {args.real}: no sentence sets, only keyword clips; the card needs sentence WER/CER "
              "(nothing shipped)", file=sys.stderr)
        shutil.rmtree(staging, ignore_errors=True)
        return 1
    pocketsphinx = json.loads(Path(args.pocketsphinx).read_text()) if Path(args.pocketsphinx).exists() else None
    print(table(synthetic))
    print(table(real_all))

    c = model.config
    reference_note = "; pocketsphinx 5.1.1 greedy single pass as the reference" if pocketsphinx else ""
    card = f"""# sewstream default model

A small SEW CTC model (character vocabulary) trained by this project from scratch on
synthetic speech only, shipped inside the package so that `sewstream transcribe`,
`listen` and `serve` work offline with no download. It is a plain Hugging Face SEW
checkpoint: `transformers.SEWForCTC.from_pretrained` loads it too.

## Architecture
- SEW, {c.num_hidden_layers} transformer layers, hidden {c.hidden_size}, {c.num_attention_heads} heads,
  FFN {c.intermediate_size}, squeeze factor {c.squeeze_factor}; the 13-layer sew-tiny conv feature
  encoder with `feat_extract_norm="layer"` and conv biases; {num_parameters(model) / 1e6:.1f} M parameters,
  stored as float16 ({model_mb:.1f} MB), run in float32; the word LM adds
  {(staging / "lm.arpa.gz").stat().st_size / 2**20:.1f} MB.
- Raw 16 kHz audio in (`do_normalize: false`): with per-frame LayerNorms in every conv layer
  the features need no whole-utterance statistics, so the streaming engine caches them exactly.
- Output: 32 characters (LibriSpeech wav2vec2 vocabulary), one frame per 20 ms.

## Data
Synthetic English speech only (no recorded speech was used for training):
espeak-ng (many accents and voice variants), flite and festival voices, about 60 hours,
638 voices, 47,896 distinct sentences from offline text (public-domain prose, fortunes,
WordNet glosses, command phrases, word strings), normalised to the character set.
Augmentation on the fly: speed perturbation, reverberation (synthetic RIRs), noise at
random SNR (coloured and babble), band limiting, mu-law, clipping, random level.
Held out for testing: whole voices (espeak variants m5, f3, Andy, belinda, klatt4, travis;
flite rms; festival ked) and whole sentences; the evaluation recordings'
transcripts were removed from the training text.{later_corpus(recipe, args.corpus or FIRST_CORPUS)}

## Recipe
{training}

## Measured accuracy
Offline = one forward pass per utterance, greedy CTC; streaming = the engine's defaults
(2 s chunks, 1.6 s left / 0.6 s right context), greedy CTC; +LM = finals decoded by CTC prefix
beam search (beam {beam.beam}) with the shipped word bigram `lm.arpa.gz` ({lm_origin}), alpha {beam.alpha},
beta {beam.beta} (chosen on the held-out synthetic set; the real sets played no part),
unknown-word offset {beam.unk_offset} (the README's "Decoding with a word language model" says why).
sewstream uses this LM by default for finals and offline text (`decoding.lm: auto`);
`--lm none` gives greedy decoding.

Held-out synthetic voices and sentences:

{scores_md(synthetic)}

Real recordings (../shared/data/speech; never used for training){reference_note}:

{scores_md(real, pocketsphinx)}

One-second keyword clips (speech-commands; the transcript is the single word):

{scores_md(keywords) if keywords else "(none among the real sets given)"}

## Limits
- {status_line(synthetic)}
- Trained on synthetic voices only: real recordings come out worse than synthetic speech
  (tables above); expect many errors on real microphones, accents and noise. For real use
  pass a stronger checkpoint with `--model DIR` (any HF SEW / SEW-D CTC checkpoint).
- Partials (and `--lm none`) are greedy and spell phonetically where the acoustics are
  ambiguous; the LM turns more of the finals into words, but only words from the training
  text (others pay an unknown-word penalty). {lm_on_words(keywords)}
- English only, 16 kHz; the character set has no digits (numbers come out as words).

Reproduce: `python scripts/ship_default_model.py` (evaluation took {time.time() - started:.0f} s).
"""
    (staging / "README.md").write_text(card)
    shutil.rmtree(args.dest, ignore_errors=True)
    staging.rename(args.dest)
    print(f"shipped {args.dest} ({size_mb:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
