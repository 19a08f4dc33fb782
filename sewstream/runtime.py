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
