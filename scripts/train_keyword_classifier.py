"""Train a keyword classifier (SEW sequence classification) from synthetic speech.

    python scripts/train_keyword_classifier.py --run /work/runs/kwc --corpus /work/data/corpus \\
        --keywords yes,no,down,stop,go --steps 1500

The backbone starts from the embedded default model (its first ``--layers`` layers), the
conv feature encoder stays frozen, and a projector + mean-pool + linear head learns
``keywords + _unknown_ + _silence_`` on one-second windows (sewstream.train.keyword_windows):
keywords spoken alone by the corpus's *training* voices (TTS, cached in the run directory;
voices drawn per engine by ``--engine-weights``, and the mbrola and pico voices from Debian
contrib / non-free join when installed, except their held-out mbrola us3, de4-en, fr4-en and
pico en-GB),
other words, crops of keyword-free corpus sentences, and noise; all augmented like the
corpus. Held-out voices and real recordings stay for ``sewstream eval-keywords
--detector classifier --classifier RUN/model``. Checkpoints every ``--save-every`` steps;
running the same command again resumes. Needs espeak-ng / flite / festival for the clips.

A second round: mine where a trained classifier fires falsely on training sentences
(``scripts/mine_keyword_negatives.py``), then fine-tune it with those places as part of the
``_unknown_`` windows:

    python scripts/train_keyword_classifier.py --run /work/runs/kwc2 --corpus /work/data/corpus \
        --init-classifier sewstream/assets/keyword-classifier --hard-negatives HARD.json \
        [--hard-negatives HARD2.json ...] \
        --steps 800 --lr 1e-4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sewstream.defaults import resolve_model  # noqa: E402
from sewstream.model import SEWForSequenceClassification, load_model  # noqa: E402
from sewstream.text import FeatureExtractor  # noqa: E402
from sewstream.train import tts  # noqa: E402
from sewstream.train.batches import Prefetcher  # noqa: E402
from sewstream.train.corpus import (  # noqa: E402
    CorpusConfig,
    CorpusReader,
    VoiceSampler,
    parse_engine_weights,
    split_voices,
)
from sewstream.train.keyword_model import classifier_from_ctc, lr_at  # noqa: E402
from sewstream.train.keyword_windows import (  # noqa: E402
    WindowMix,
    WindowSampler,
    keyword_free,
    other_words,
    window_augmenter,
)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _synth(job: tuple[tts.Voice, str]) -> np.ndarray | None:
    voice, text = job
    try:
        return tts.synthesize(voice, text)
    except (tts.TTSError, tts.TTSUnavailable):
        return None


# Share of clips per engine. Drawing voices uniformly would leave ~99% of clips to espeak-ng's
# hundreds of variants and a handful to the few, more natural voices of the other engines,
# and a new voice of those engines is then what the classifier misses.
ENGINE_WEIGHTS = {"espeak-ng": 0.35, "flite": 0.2, "festival": 0.15, "mbrola": 0.2, "pico": 0.1}


def make_clips(path: Path, keywords: list[str], pick_voice: VoiceSampler, per_keyword: int,
               unknown_per_word: int, seed: int) -> tuple[dict[str, list[np.ndarray]], list[np.ndarray]]:
    """Clean TTS clips (cached in ``path``): keyword -> clips, and other-word clips."""
    if path.exists():
        data = np.load(path, allow_pickle=False)
        audio, spans, labels = data["audio"], data["spans"], [str(s) for s in data["labels"]]
        clips = [audio[a:b] for a, b in spans]  # index the array once: each data[...] re-reads the file
    else:
        rng = np.random.default_rng(seed)
        others = other_words(keywords)
        jobs = []
        for text, count in [(k, per_keyword) for k in keywords] + [(w, unknown_per_word) for w in others]:
            for _ in range(count):
                voice = pick_voice(rng)  # draw order (voice, rate, pitch) keeps runs reproducible
                rate = float(np.exp(rng.uniform(np.log(0.75), np.log(1.2))))
                pitch = float(np.exp(rng.uniform(np.log(0.85), np.log(1.18))))
                v = voice.with_prosody(rate, pitch)
                jobs.append((v, text))
        clips, labels = [], []
        with Pool(2) as pool:
            for i, audio in enumerate(pool.imap(_synth, jobs, chunksize=8)):
                if audio is not None:
                    clips.append(audio)
                    labels.append(jobs[i][1])
                if (i + 1) % 500 == 0 or i + 1 == len(jobs):
                    say(f"clips: {i + 1}/{len(jobs)}")
        ends = np.cumsum([len(c) for c in clips])
        spans = np.stack([ends - [len(c) for c in clips], ends], axis=1)
        np.savez(path, audio=np.concatenate(clips), spans=spans, labels=np.array(labels))
    by_keyword = {k: [c for c, lab in zip(clips, labels) if lab == k] for k in keywords}
    return by_keyword, [c for c, lab in zip(clips, labels) if lab not in keywords]


def read_hard_negatives(path: Path, corpus: Path, keywords: list[str]) -> list[tuple[int, int]]:
    """(sentence, start) pairs from a mining file; it must come from this corpus's train split."""
    try:
        data = json.loads(path.read_text())
        mined_from, windows = Path(data["corpus"]), data["windows"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"--hard-negatives {path}: not a mining file from scripts/mine_keyword_negatives.py ({e})")
    if mined_from.resolve() != corpus.resolve() or data.get("split") != "train":
        sys.exit(f"--hard-negatives {path} was mined from {mined_from} ({data.get('split')}), not {corpus} (train)")
    unknown = sorted({w[2] for w in windows} - set(keywords))
    if unknown:
        sys.exit(f"--hard-negatives {path} has windows for {', '.join(unknown)}, not among --keywords")
    if not windows:
        sys.exit(f"--hard-negatives {path} holds no windows")
    return [(int(w[0]), int(w[1])) for w in windows]


def hard_negative_union(paths: list[Path], corpus: Path, keywords: list[str]) -> list[tuple[int, int]]:
    """The windows of several mining rounds, each place once (in first-seen order)."""
    return list(dict.fromkeys(pair for path in paths for pair in read_hard_negatives(path, corpus, keywords)))


def load_classifier(path: Path, labels: list[str]):
    """A trained classifier to fine-tune: its labels must be ``labels``, in order."""
    model = load_model(path, dtype=torch.float32)
    if not isinstance(model, SEWForSequenceClassification):
        sys.exit(f"--init-classifier {path} is a {type(model).__name__}, not a sequence classifier")
    theirs = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if theirs != labels:
        sys.exit(f"--init-classifier {path} has labels {theirs}, --keywords gives {labels}")
    for q in model.backbone.feature_extractor.parameters():
        q.requires_grad_(False)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="run directory (clips cache, checkpoints, model/)")
    p.add_argument("--corpus", type=Path, required=True, help="the training corpus (keyword-free sentences)")
    p.add_argument("--keywords", default="yes,no,down,stop,go")
    p.add_argument("--init", type=Path, default=None, help="CTC checkpoint for the backbone (default: embedded)")
    p.add_argument("--init-classifier", type=Path, default=None,
                   help="start from this classifier (same labels) instead of a CTC backbone")
    p.add_argument("--hard-negatives", type=Path, action="append", default=[],
                   help="mined windows (scripts/mine_keyword_negatives.py) to use as _unknown_; repeat the "
                        "option to use several mining rounds (their union)")
    p.add_argument("--hard-share", type=float, default=0.1,
                   help="share of windows drawn from --hard-negatives (taken from the sentence crops' share)")
    p.add_argument("--layers", type=int, default=6, help="backbone layers to keep")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--per-keyword", type=int, default=600, help="TTS clips per keyword")
    p.add_argument("--per-other-word", type=int, default=12, help="TTS clips per other word")
    p.add_argument("--engine-weights", default=",".join(f"{k}={v}" for k, v in ENGINE_WEIGHTS.items()),
                   help="share of clips per TTS engine (engines not installed drop out)")
    p.add_argument("--trim-clips", action="store_true",
                   help="cut word clips to their speech before placing them, so keywords also end at a "
                        "window's end (teaches the classifier to fire soon after the word)")
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    try:
        engine_weights = parse_engine_weights(args.engine_weights)
    except ValueError as e:
        p.error(f"--engine-weights: {e}")
    if not 0 < args.hard_share <= WindowMix().unknown_sentences:
        p.error(f"--hard-share must be in (0, {WindowMix().unknown_sentences}] (it comes out of the sentence "
                f"crops' share), got {args.hard_share}")
    torch.set_num_threads(args.threads)
    keywords = [k.strip().lower() for k in args.keywords.split(",") if k.strip()]
    labels = [*keywords, "_unknown_", "_silence_"]
    args.run.mkdir(parents=True, exist_ok=True)
    settings = json.loads(json.dumps(vars(args), default=str))  # paths (and lists of them) as strings
    (args.run / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")

    corpus_config = CorpusConfig.from_json(json.loads((args.corpus / "config.json").read_text())["config"])
    # Hold out the corpus's test voices and today's defaults (an older corpus predates the
    # held-out voices of the opt-in engines).
    held_out = tuple(sorted(set(corpus_config.test_voices) | set(CorpusConfig().test_voices)))
    voice_config = replace(corpus_config, test_voices=held_out, engine_weights=engine_weights)
    voices = split_voices(tts.list_voices(tts.ENGINES), voice_config)["train"]
    pick_voice = VoiceSampler(voices, voice_config)
    say(f"{len(voices)} training voices; clips per engine: "
        + ", ".join(f"{e} {p:.0%}" for e, p in zip(pick_voice.engines, pick_voice.engine_p)))
    kw_clips, other_clips = make_clips(args.run / "clips.npz", keywords, pick_voice, args.per_keyword,
                                       args.per_other_word, args.seed)
    say("clips: " + ", ".join(f"{k} {len(v)}" for k, v in kw_clips.items()) + f", other words {len(other_clips)}")
    corpus = CorpusReader(args.corpus, "train")
    sentences = [i for i in range(len(corpus)) if keyword_free(corpus.text(i), keywords)]
    say(f"{len(sentences)}/{len(corpus)} corpus sentences are keyword-free")
    pool_rng = np.random.default_rng(args.seed)
    babble = [corpus.audio(int(i)) for i in pool_rng.choice(sentences, 100, replace=False)]
    hard, mix = [], WindowMix()
    if args.hard_negatives:
        hard = hard_negative_union(args.hard_negatives, args.corpus, keywords)
        mix = WindowMix(unknown_sentences=mix.unknown_sentences - args.hard_share, hard_negatives=args.hard_share)
        say(f"{len(hard)} hard negatives from {', '.join(map(str, args.hard_negatives))} "
            f"({args.hard_share:.0%} of windows)")
    sampler = WindowSampler(kw_clips, other_clips, corpus.audio, sentences, window_augmenter(args.seed, babble),
                            mix=mix, hard_negatives=hard, trim_clips=args.trim_clips)

    if args.init_classifier:
        model = load_classifier(args.init_classifier, labels).train()
    else:
        ctc = load_model(args.init or resolve_model(None), dtype=torch.float32)
        model = classifier_from_ctc(ctc, labels, min(args.layers, ctc.config.num_hidden_layers)).train()
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=args.lr, weight_decay=0.01)
    ckpt, step = args.run / "last.pt", 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = int(state["step"])
        say(f"resumed at step {step}")

    def make(s: int):  # deterministic per step, so a resumed run sees the same batches
        return sampler.batch(args.batch, np.random.default_rng([args.seed, s]))

    prefetch = Prefetcher(make, step)
    log = (args.run / "log.jsonl").open("a")
    loss_avg = acc_avg = None
    t0 = time.time()
    try:
        while step < args.steps:
            x, y = prefetch.next()
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args.steps, args.lr)
            out = model(torch.from_numpy(x), labels=torch.from_numpy(y))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            acc = float((out.logits.argmax(-1) == torch.from_numpy(y)).float().mean())
            loss_avg = out.loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * out.loss.item()
            acc_avg = acc if acc_avg is None else 0.95 * acc_avg + 0.05 * acc
            log.write(json.dumps({"step": step, "loss": round(out.loss.item(), 4), "acc": round(acc, 4),
                                  "lr": lr_at(step - 1, args.steps, args.lr)}) + "\n")
            if step % 20 == 0:
                log.flush()
                rate = (time.time() - t0) / 20
                t0 = time.time()
                say(f"step {step}/{args.steps} loss {loss_avg:.3f} acc {acc_avg:.3f} ({rate:.2f} s/step)")
            if step % args.save_every == 0 or step == args.steps:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt)
    finally:
        prefetch.close()
        log.close()
    out_dir = args.run / "model"
    model.eval().save_pretrained(out_dir, dtype=torch.float16)
    FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(out_dir)
    say(f"wrote {out_dir} ({labels})")


if __name__ == "__main__":
    main()
