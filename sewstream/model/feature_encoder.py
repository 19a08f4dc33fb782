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
from torch.nn import functional as F

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

    def forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T', C')
        """The same layer on time-major input: the conv as one matmul over unfolded frames,
        the LayerNorm over the contiguous channel axis. For layer-norm stacks this avoids two
        transposed copies per layer and runs ~1.7x faster on CPU than oneDNN's conv1d."""
        conv = self.conv
        kernel, stride = conv.kernel_size[0], conv.stride[0]
        weight = conv.weight
        if kernel == 1 and stride == 1:
            x = F.linear(x, weight[:, :, 0], conv.bias)
        else:
            x = torch.matmul(x.unfold(1, kernel, stride).flatten(2), weight.flatten(1).T)
            if conv.bias is not None:
                x = x + conv.bias
        if self.norm_kind == "layer":
            x = self.layer_norm(x)
        return self.activation(x)


class ConvFeatureEncoder(nn.Module):
    """(B, samples) -> (B, conv_dim[-1], frames)."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(ConvLayer(config, i) for i in range(config.num_feat_extract_layers))

        self.layer_norm_stack = config.feat_extract_norm == "layer"

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        return self.channels_last(input_values).transpose(1, 2)

    def channels_last(self, input_values: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, frames, conv_dim[-1]): time-major, as the layers after it want."""
        if self.layer_norm_stack:
            x = input_values[:, :, None]
            for layer in self.conv_layers:
                x = layer.forward_channels_last(x)
            return x
        # group norm: no per-layer transposes to save, and oneDNN's conv1d is faster here
        x = input_values[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x.transpose(1, 2)


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
