"""Shared helpers for model tests: tiny random configs built and saved by transformers."""

from __future__ import annotations

from pathlib import Path

import torch

TOL = 1e-4

HEADS = {"ctc": "ForCTC", "cls": "ForSequenceClassification", "base": "Model"}


def tiny(model_type: str = "sew", **overrides) -> dict:
    """A small config (fast on CPU) that still exercises every code path."""
    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
              conv_dim=(16, 24, 32), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
              num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, vocab_size=12,
              hidden_dropout=0.0, activation_dropout=0.0, attention_dropout=0.0, final_dropout=0.0,
              feat_proj_dropout=0.0, mask_time_prob=0.0)
    if model_type == "sew":
        kw["layerdrop"] = 0.0
    else:
        kw.update(position_buckets=16, max_position_embeddings=64)
    kw.update(overrides)
    return kw


def hf_model(path: Path, head: str, model_type: str, *, seed: int = 0, attn_implementation: str | None = None,
             **overrides):
    """Build a random transformers SEW/SEW-D model, perturb every weight, save it to ``path``."""
    import transformers

    prefix = "SEW" if model_type == "sew" else "SEWD"
    config = getattr(transformers, f"{prefix}Config")(**tiny(model_type, **overrides))
    torch.manual_seed(seed)
    model = getattr(transformers, prefix + HEADS[head])(config)
    with torch.no_grad():  # move norms/biases off their 1/0 init so every parameter matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(path)
    if attn_implementation:
        model = getattr(transformers, prefix + HEADS[head]).from_pretrained(
            path, attn_implementation=attn_implementation)
    return model.eval()


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != {tuple(b.shape)}"
    return (a.float() - b.float()).abs().max().item()
