"""Batched model functions the worker runs: audio -> logits, audio -> features, features -> logits.

Each runner moves its batch to the model's device and dtype and hands back float32 on the
CPU, so streams never touch device memory.
"""

from __future__ import annotations

import torch

from sewstream.model import SEWForCTC

from .worker import Runner


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available on this machine")
    return torch.device(device)


def ctc_runners(model: SEWForCTC) -> dict[str, Runner]:
    param = next(model.parameters())
    device, dtype = param.device, param.dtype

    def to_model(x: torch.Tensor) -> torch.Tensor:
        return x.to(device=device, dtype=dtype, non_blocking=True)

    def back(x: torch.Tensor) -> torch.Tensor:
        return x.to(device="cpu", dtype=torch.float32)

    def features(audio: torch.Tensor) -> torch.Tensor:
        # One row at a time: on CPU the conv kernels chosen for a batch of 1 differ (in the last
        # bits) from those for larger batches, and results must not depend on what else was
        # batched. The encoder's matmuls are row-independent, so they stay batched.
        return torch.cat([model.backbone.features(row[None]) for row in audio])

    return {
        "logits": lambda audio: back(model.logits_from_features(features(to_model(audio)))),
        "features": lambda audio: back(features(to_model(audio))),
        "encode": lambda feats: back(model.logits_from_features(to_model(feats))),
    }
