"""Activation functions by their config names (HF spellings)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _gelu_python(x: torch.Tensor) -> torch.Tensor:
    # The erf form written out, as BERT-era checkpoints (SEW-D) were trained with.
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _gelu_fast(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


_FUNCTIONS = {
    "gelu": F.gelu,
    "gelu_python": _gelu_python,
    "gelu_new": _gelu_new,
    "gelu_fast": _gelu_fast,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "relu": F.relu,
    "relu6": F.relu6,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "mish": F.mish,
    "linear": lambda x: x,
}


class Activation(nn.Module):
    """A named activation as a module (no parameters)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in _FUNCTIONS:
            raise ValueError(f"unknown activation {name!r}; known: {', '.join(_FUNCTIONS)}")
        self.name = name
        self.fn = _FUNCTIONS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name
