"""Weight averaging of checkpoints of one lineage (a model and its warm-started descendants).

Two points of one training lineage lie in one loss basin, so their element-wise mean is a
model too, often better than either (Izmailov et al. 2018, "Averaging Weights Leads to Wider
Optima"). The mean is taken of the weights as the packages store them (float16), in float32,
so averaging two shipped packages and averaging a run with a package give the same tensors.
"""

from __future__ import annotations

import torch


class AveragingError(ValueError):
    """The models cannot be averaged (different tensors or shapes)."""


def average_into(model: torch.nn.Module, *others: torch.nn.Module, stored: torch.dtype = torch.float16) -> int:
    """Set ``model``'s floating-point weights to the uniform mean of its own and ``others``',
    each first rounded to ``stored`` (the package precision); returns how many tensors were
    averaged. More than two points of one lineage make a "model soup" (Wortsman et al. 2022)."""
    if not others:
        raise AveragingError("nothing to average with")
    mine = model.state_dict()
    theirs = [other.state_dict() for other in others]
    for state in theirs:
        if mine.keys() != state.keys():
            odd = sorted(set(mine) ^ set(state))
            raise AveragingError(f"the models differ in {len(odd)} tensors, e.g. {odd[0]}")
        for name, tensor in mine.items():
            if tensor.shape != state[name].shape:
                raise AveragingError(f"{name}: shape {tuple(tensor.shape)} vs {tuple(state[name].shape)}")
    averaged = 0
    with torch.no_grad():
        for name, tensor in mine.items():
            if tensor.is_floating_point():
                total = tensor.to(stored).float()
                for state in theirs:
                    total = total + state[name].to(stored).float()
                tensor.copy_(total / (1 + len(theirs)))
                averaged += 1
    return averaged
