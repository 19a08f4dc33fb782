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

    matmul_convs = model.config.feat_extract_norm == "layer"

    def features(audio: torch.Tensor) -> torch.Tensor:
        # Results must not depend on what else was batched. Matmuls are row-independent (the
        # layer-norm conv stack runs as matmuls, see feature_encoder.py), but oneDNN's conv1d
        # picks other kernels for a batch of 1 than for larger batches (last-bit differences),
        # so group-norm stacks go one row at a time.
        if matmul_convs:
            return model.backbone.features(audio)
        return torch.cat([model.backbone.features(row[None]) for row in audio])

    return {
        "logits": lambda audio: back(model.logits_from_features(features(to_model(audio)))),
        "features": lambda audio: back(features(to_model(audio))),
        "encode": lambda feats: back(model.logits_from_features(to_model(feats))),
    }
