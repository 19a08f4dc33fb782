"""SpecAugment-style span masks over encoder frames (Park et al. 2019), as SEW trains with."""

from __future__ import annotations

import numpy as np


def span_mask(batch_size: int, length: int, mask_prob: float, span: int, *, min_masks: int = 0,
              valid_lengths: list[int] | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """Boolean (batch, length) mask made of spans of ``span`` frames.

    Each row gets ``int(mask_prob * valid_length / span + u)`` span starts (u ~ U[0, 1) shared
    by the batch, i.e. probabilistic rounding; at least ``min_masks``), drawn without
    replacement among positions where a whole span fits in the valid part. Spans may
    overlap, so ``mask_prob`` is an upper bound on the masked fraction.
    """
    if span < 1:
        raise ValueError(f"mask span length must be >= 1, got {span}")
    if span > length:
        raise ValueError(f"mask span length {span} is longer than the sequence ({length} frames)")
    rng = rng or np.random.default_rng()
    epsilon = rng.random()
    mask = np.zeros((batch_size, length), dtype=bool)
    for row, valid in enumerate(valid_lengths or [length] * batch_size):
        starts_available = valid - span + 1
        count = max(int(mask_prob * valid / span + epsilon), min_masks)
        count = min(count, length // span, max(starts_available, 0))
        if count == 0:
            continue
        starts = rng.choice(starts_available, count, replace=False)
        mask[row, (starts[:, None] + np.arange(span)).ravel()] = True
    return mask
