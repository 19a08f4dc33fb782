"""A keyword classifier started from a trained CTC model's backbone."""

from __future__ import annotations

import math

from sewstream.model import SEWForCTC, SEWForSequenceClassification


def classifier_from_ctc(ctc: SEWForCTC, labels: list[str], layers: int | None = None,
                        freeze_feature_encoder: bool = True) -> SEWForSequenceClassification:
    """A sequence classifier over ``labels`` whose backbone is a copy of ``ctc``'s first
    ``layers`` transformer layers (all by default); projector and head start random.

    The conv feature encoder is frozen by default (the usual fine-tuning practice: few
    labelled windows should not re-learn the front end).
    """
    n = ctc.config.num_hidden_layers
    layers = n if layers is None else layers
    if not 1 <= layers <= n:
        raise ValueError(f"layers must be in 1..{n} (the CTC model's depth), got {layers}")
    config = ctc.config.replace(num_hidden_layers=layers, architectures=["SEWForSequenceClassification"],
                                id2label=dict(enumerate(labels)), use_weighted_layer_sum=False, layerdrop=0.0)
    model = SEWForSequenceClassification(config)
    state = {k: v for k, v in ctc.backbone.state_dict().items()
             if not any(f".layers.{i}." in k for i in range(layers, n))}
    missing, unexpected = model.backbone.load_state_dict(state, strict=False)
    if unexpected or any(k != "masked_spec_embed" for k in missing):  # only SpecAugment's embedding may be new
        raise RuntimeError(f"backbone copy: missing {missing}, unexpected {unexpected}")
    if freeze_feature_encoder:
        for p in model.backbone.feature_extractor.parameters():
            p.requires_grad_(False)
    return model.to(next(ctc.parameters()).dtype)


def lr_at(step: int, total: int, peak: float, warmup: int = 50) -> float:
    """Linear warm-up, then a cosine down to a tenth of ``peak`` at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
