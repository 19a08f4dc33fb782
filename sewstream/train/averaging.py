"""Weight averaging of two checkpoints of one lineage (a model and a warm-started descendant).

Two points of one training lineage lie in one loss basin, so their element-wise mean is a
model too, often better than either (Izmailov et al. 2018, "Averaging Weights Leads to Wider
Optima"). The mean is taken of the weights as the packages store them (float16), in float32,
so averaging two shipped packages and averaging a run with a package give the same tensors.
"""

from __future__ import annotations

import torch


class AveragingError(ValueError):
    """The two models cannot be averaged (different tensors or shapes)."""


def average_into(model: torch.nn.Module, other: torch.nn.Module, *, stored: torch.dtype = torch.float16) -> int:
    """Set ``model``'s floating-point weights to the mean of its own and ``other``'s, each first
    rounded to ``stored`` (the package precision); returns how many tensors were averaged."""
    mine, theirs = model.state_dict(), other.state_dict()
    if mine.keys() != theirs.keys():
        odd = sorted(set(mine) ^ set(theirs))
        raise AveragingError(f"the models differ in {len(odd)} tensors, e.g. {odd[0]}")
    for name, tensor in mine.items():
        if tensor.shape != theirs[name].shape:
            raise AveragingError(f"{name}: shape {tuple(tensor.shape)} vs {tuple(theirs[name].shape)}")
    averaged = 0
    with torch.no_grad():
        for name, tensor in mine.items():
            if tensor.is_floating_point():
                a, b = tensor.to(stored).float(), theirs[name].to(stored).float()
                tensor.copy_((a + b) / 2)
                averaged += 1
    return averaged
