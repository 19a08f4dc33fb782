"""The "squeeze" of SEW: run the transformer at a lower frame rate, then upsample back.

Downsampling averages ``squeeze_factor`` neighbouring frames and adds a convolutional
positional embedding computed with the same stride; upsampling is a linear layer that
predicts ``squeeze_factor`` frames per squeezed frame (a learned sub-pixel shuffle).
``SqueezedEncoder`` wraps any transformer stack (SEW's or SEW-D's) in that pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from .activations import Activation
from .config import SEWConfig


class PositionalConvEmbedding(nn.Module):
    """Grouped, weight-normalised conv over time with stride = squeeze_factor.

    Weight norm uses torch's parametrization (state-dict keys
    ``conv.parametrizations.weight.original0/1``); legacy ``weight_g``/``weight_v``
    checkpoints are renamed on load.
    """

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        k = config.num_conv_pos_embeddings
        conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel_size=k, padding=k // 2,
                         groups=config.num_conv_pos_embedding_groups, stride=config.squeeze_factor)
        self.conv = weight_norm(conv, name="weight", dim=2)
        self.trim_last = k % 2 == 0  # an even kernel with k//2 padding yields one extra frame
        self.activation = Activation(config.feat_extract_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, T) -> (B, H, ~T/s)
        if x.device.type == "cpu" and (x.dtype == torch.bfloat16 or torch.is_autocast_enabled("cpu")):
            # oneDNN's bfloat16 grouped conv on CPUs with AMX returns wrong values (torch 2.13:
            # relative error ~1, tests/model/test_squeeze_bf16.py); this one conv runs in float32.
            c = self.conv
            with torch.autocast("cpu", enabled=False):
                x = F.conv1d(x.float(), c.weight.float(), None if c.bias is None else c.bias.float(),
                             stride=c.stride, padding=c.padding, groups=c.groups).to(x.dtype)
        else:
            x = self.conv(x)
        if self.trim_last:
            x = x[:, :, :-1]
        return self.activation(x)


class Upsampling(nn.Module):
    """(B, T', H) -> (B, T' * s, H): one linear layer emits s frames per squeezed frame."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.factor = config.squeeze_factor
        self.projection = nn.Linear(config.hidden_size, config.hidden_size * config.squeeze_factor)
        self.activation = Activation(config.feat_extract_activation)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        x = self.activation(self.projection(x))
        b, t, d = x.shape
        x = x.reshape(b, t * self.factor, d // self.factor)
        if x.shape[1] < num_frames:  # frames lost to pooling's floor come back as zeros
            x = F.pad(x, (0, 0, 0, num_frames - x.shape[1]))
        return x[:, :num_frames]  # longer only for an input shorter than one squeezed frame


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor                 # (B, T, H) at the frame rate
    hidden_states: list[torch.Tensor] | None = None  # at the squeezed rate: input of layer 0, then each layer
    attentions: list[torch.Tensor] | None = None    # (B, heads, T', T') per layer


class SqueezedEncoder(nn.Module):
    """Pool to T/s frames (+ positions), run ``transform``, upsample back to T frames."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.factor = config.squeeze_factor
        self.pos_conv_embed = PositionalConvEmbedding(config)
        self.upsample = Upsampling(config)

    def transform(self, x: torch.Tensor, key_mask: torch.Tensor | None, output_hidden_states: bool,
                  output_attentions: bool) -> tuple[torch.Tensor, list | None, list | None]:
        raise NotImplementedError

    def squeeze(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        positions = self.pos_conv_embed(x)
        pooled = F.avg_pool1d(x, self.factor, self.factor) if self.factor > 1 else x
        n = min(positions.shape[-1], pooled.shape[-1])
        return (pooled[..., :n] + positions[..., :n]).transpose(1, 2)

    def squeeze_mask(self, frame_mask: torch.Tensor) -> torch.Tensor:
        """A squeezed frame is valid if any of its frames is (max-pool of the mask)."""
        if self.factor == 1:
            return frame_mask
        return F.max_pool1d(frame_mask[:, None].float(), self.factor, self.factor)[:, 0] > 0

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None,
                output_hidden_states: bool = False, output_attentions: bool = False) -> EncoderOutput:
        num_frames = x.shape[1]
        if num_frames < self.factor:
            # Fewer frames than one squeezed frame pools to nothing; pad with zeros, as this row
            # would be in a batch with a longer one (transformers raises here instead).
            pad = self.factor - num_frames
            x = F.pad(x, (0, 0, 0, pad))
            if frame_mask is not None:
                frame_mask = F.pad(frame_mask, (0, pad))
        key_mask = None
        if frame_mask is not None:
            x = x.masked_fill(~frame_mask[..., None], 0.0)  # padding must not leak into pooling
            key_mask = self.squeeze_mask(frame_mask)
        x, hidden_states, attentions = self.transform(self.squeeze(x), key_mask,
                                                      output_hidden_states, output_attentions)
        return EncoderOutput(self.upsample(x, num_frames), hidden_states, attentions)
