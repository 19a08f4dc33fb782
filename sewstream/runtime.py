"""What every model-using command shares: the --model/--config/--set/--device arguments,
and the config + recognizer they describe. Subcommands in other packages (serve,
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


def add_lm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lm", metavar="ARPA",
                   help="offline decoding: CTC beam search with this word n-gram LM (ARPA, .gz ok); "
                        "'auto' = the model directory's lm.arpa.gz (the embedded model ships one)")
    p.add_argument("--lm-alpha", type=float, default=0.5, help="LM weight (default 0.5)")
    p.add_argument("--lm-beta", type=float, default=2.0, help="per-word bonus (default 2.0)")
    p.add_argument("--beam", type=int, default=16, help="beam width (default 16)")


def load_lm_decoder(args, rec):
    """A BeamSearchDecoder for --lm, or None (greedy CTC)."""
    from pathlib import Path

    from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings
    from sewstream.text.ngram import LanguageModelError, NgramLM

    if not getattr(args, "lm", None):
        return None
    path = Path(args.lm)
    if args.lm == "auto":
        path = Path(rec.path or ".") / "lm.arpa.gz"
        if rec.path is None or not path.is_file():
            raise LanguageModelError(f"--lm auto: the model directory {rec.path} has no lm.arpa.gz; "
                                    "pass --lm PATH to an ARPA file")
    if args.beam < 1:
        raise LanguageModelError(f"--beam must be at least 1, got {args.beam}")
    v = rec.vocab
    return BeamSearchDecoder(v.id_to_token, v.blank, NgramLM.load(path),
                             BeamSettings(alpha=args.lm_alpha, beta=args.lm_beta, beam=args.beam),
                             delimiter=v.delimiter, skip=v.special)


def load_recognizer(args):
    """Config + recognizer from the common arguments (--model/--config/--set/--device)."""
    import torch

    from sewstream.config import load_config
    from sewstream.defaults import resolve_model
    from sewstream.stream.recognizer import Recognizer

    overrides = list(args.set)
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
    return config, rec
