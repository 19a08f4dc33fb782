"""Averaging checkpoints' weights (the ship script's --average-with)."""

from __future__ import annotations

import pytest
import torch

from sewstream.train.averaging import AveragingError, average_into


def test_mean_of_the_stored_float16_weights():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    wa, wb = a.weight.detach().clone(), b.weight.detach().clone()
    assert average_into(a, b) == 2  # weight and bias
    expected = (wa.half().float() + wb.half().float()) / 2
    assert torch.equal(a.weight, expected)
    assert torch.equal(b.weight, wb)  # the other model is left alone
    # saved as float16, it is what averaging the two float16 packages gives
    assert torch.equal(a.weight.half(), expected.half())


def test_non_float_buffers_are_kept():
    a, b = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    b.num_batches_tracked += 5
    average_into(a, b)
    assert int(a.num_batches_tracked) == 0


def test_refuses_models_of_different_shapes_naming_the_tensor():
    with pytest.raises(AveragingError, match=r"weight: shape \(3, 4\) vs \(3, 5\)"):
        average_into(torch.nn.Linear(4, 3), torch.nn.Linear(5, 3))
    with pytest.raises(AveragingError, match="differ in 1 tensors, e.g. bias"):
        average_into(torch.nn.Linear(4, 3), torch.nn.Linear(4, 3, bias=False))


def test_uniform_mean_of_several_models_a_soup():
    torch.manual_seed(1)
    models = [torch.nn.Linear(4, 3) for _ in range(4)]
    weights = [m.weight.detach().clone() for m in models]
    assert average_into(models[0], *models[1:]) == 2
    expected = sum(w.half().float() for w in weights) / 4
    assert torch.allclose(models[0].weight, expected, atol=1e-7)
    assert not torch.allclose(models[0].weight, (weights[0].half().float() + weights[1].half().float()) / 2)
    with pytest.raises(AveragingError, match=r"weight: shape \(3, 4\) vs \(3, 5\)"):
        average_into(torch.nn.Linear(4, 3), torch.nn.Linear(4, 3), torch.nn.Linear(5, 3))
    with pytest.raises(AveragingError, match="nothing to average with"):
        average_into(torch.nn.Linear(4, 3))
