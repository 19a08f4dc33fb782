"""What every model-using command shares: the --model/--config/--set/--device/--lm
arguments, and the config + recognizer they describe (LM finals when configured). Subcommands in other packages (serve,
eval-keywords, eval) use this module, so they never import the CLI that registers them.
"""

from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="checkpoint directory or hub id (default: the embedded model)")
    p.add_argument("--config", help="YAML config (see configs/default.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set stream.chunk_s=1.5 (repeatable)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (overrides model.device)")
    add_lm_args(p)


def add_lm_args(p: argparse.ArgumentParser) -> None:
    """--lm and its knobs: shorthands for the config's ``decoding`` section."""
    p.add_argument("--lm", metavar="ARPA|auto|none",
                   help="decode finals (and offline output) with this word n-gram LM (ARPA, .gz ok); "
                        "auto (the default) = the model directory's lm.arpa.gz if it has one (the embedded "
                        "model does); none = greedy CTC; same as --set decoding.lm=...")
    p.add_argument("--lm-alpha", type=float, help="LM weight (decoding.alpha, default 0.5)")
    p.add_argument("--lm-beta", type=float, help="per-word bonus (decoding.beta, default 2.0)")
    p.add_argument("--lm-unk-offset", type=float,
                   help="penalty per word outside the LM's vocabulary (decoding.unk_offset, default 0; "
                        "about -10 keeps the output to an LM built from your own phrases)")
    p.add_argument("--beam", type=int, help="beam width (decoding.beam, default 16)")


def _lm_overrides(args) -> list[str]:
    pairs = (("lm", "lm"), ("lm_alpha", "alpha"), ("lm_beta", "beta"), ("lm_unk_offset", "unk_offset"),
             ("beam", "beam"))
    return [f"decoding.{key}={getattr(args, name)}" for name, key in pairs if getattr(args, name, None) is not None]


def lm_decoder(decoding, rec):
    """The BeamSearchDecoder the ``decoding`` settings ask for, or None (greedy CTC)."""
    from pathlib import Path

    from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings
    from sewstream.text.ngram import NgramLM

    if not decoding.lm or decoding.lm == "none":
        return None
    path = Path(decoding.lm)
    if decoding.lm == "auto":
        if rec.path is None or not (Path(rec.path) / "lm.arpa.gz").is_file():
            return None  # this model ships no LM: greedy
        path = Path(rec.path) / "lm.arpa.gz"
    v = rec.vocab
    return BeamSearchDecoder(v.id_to_token, v.blank, NgramLM.load(path),
                             BeamSettings(alpha=decoding.alpha, beta=decoding.beta, beam=decoding.beam,
                                          unk_offset=decoding.unk_offset),
                             delimiter=v.delimiter, skip=v.special)


def load_recognizer(args):
    """Config + recognizer from the common arguments (--model/--config/--set/--device)."""
    import torch

    from sewstream.config import load_config
    from sewstream.defaults import resolve_model
    from sewstream.stream.recognizer import Recognizer

    overrides = list(args.set) + _lm_overrides(args)
    if args.model:
        overrides.append(f"model.path={args.model}")
    if args.device:
        overrides.append(f"model.device={args.device}")
    config = load_config(args.config, overrides)
    m = config.model
    if m.threads:
        torch.set_num_threads(m.threads)
    rec = Recognizer.from_pretrained(resolve_model(m.path), device=m.device, dtype=m.dtype,
                                     max_batch=m.max_batch, max_wait_ms=m.max_wait_ms)
    try:
        decoder = lm_decoder(config.decoding, rec)
    except BaseException:
        rec.close()
        raise
    if decoder is not None:
        rec.use_lm(decoder, config.decoding.max_pending)
    return config, rec
