"""The convolutional feature encoder: raw 16 kHz waveform -> one vector per 20 ms frame.

A stack of strided 1-D convolutions (wav2vec 2.0 style). Two normalisation variants:
``group`` normalises only the first layer's output per channel over time (a GroupNorm
with one group per channel), ``layer`` puts a LayerNorm over channels after every conv.
Each layer sees only a fixed window of samples, which is what lets the streaming
engine reuse it incrementally.
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import Activation
from .config import SEWConfig


class ConvLayer(nn.Module):
    """Conv1d -> optional norm -> activation. Attribute names match HF checkpoints."""

    def __init__(self, config: SEWConfig, layer_id: int) -> None:
        super().__init__()
        in_dim = config.conv_dim[layer_id - 1] if layer_id > 0 else 1
        out_dim = config.conv_dim[layer_id]
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size=config.conv_kernel[layer_id],
                              stride=config.conv_stride[layer_id], bias=config.conv_bias)
        self.norm_kind = None
        if config.feat_extract_norm == "layer":
            self.norm_kind = "layer"
            self.layer_norm = nn.LayerNorm(out_dim, elementwise_affine=True)
        elif layer_id == 0:
            self.norm_kind = "group"
            self.layer_norm = nn.GroupNorm(num_groups=out_dim, num_channels=out_dim, affine=True)
        self.activation = Activation(config.feat_extract_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C', T')
        x = self.conv(x)
        if self.norm_kind == "layer":
            x = self.layer_norm(x.transpose(-2, -1)).transpose(-2, -1)
        elif self.norm_kind == "group":
            x = self.layer_norm(x)
        return self.activation(x)


class ConvFeatureEncoder(nn.Module):
    """(B, samples) -> (B, conv_dim[-1], frames)."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(ConvLayer(config, i) for i in range(config.num_feat_extract_layers))

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        x = input_values[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x


def frame_lengths(config: SEWConfig, sample_lengths: torch.Tensor) -> torch.Tensor:
    """Valid encoder frames for each valid sample count (the conv length formula, floor mode)."""
    lengths = sample_lengths
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
    return lengths.clamp(min=0)


def frame_mask(config: SEWConfig, attention_mask: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Boolean (B, num_frames) mask of valid frames, from a (B, samples) 0/1 sample mask."""
    lengths = frame_lengths(config, attention_mask.sum(-1).long())
    return torch.arange(num_frames, device=attention_mask.device)[None, :] < lengths[:, None]
