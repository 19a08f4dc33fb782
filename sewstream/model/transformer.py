"""SEW's encoder: a post-LayerNorm transformer (wav2vec 2.0 style) inside the squeeze."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .activations import Activation
from .config import SEWConfig
from .squeeze import SqueezedEncoder


def key_padding_bias(key_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, T) valid-key mask -> additive (B, 1, 1, T) bias; padded keys get the dtype's minimum."""
    if key_mask is None:
        return None
    bias = torch.zeros(key_mask.shape, dtype=dtype, device=key_mask.device)
    return bias.masked_fill(~key_mask, torch.finfo(dtype).min)[:, None, None, :]


@dataclass(frozen=True)
class ChunkAttention:
    """Training-time attention without look-ahead past a chunk (dynamic chunk training, as in
    U2): queries in chunk ``c`` (frames ``[offset + c*chunk, offset + (c+1)*chunk)``; the frames
    before ``offset`` are a first, shorter chunk) attend to keys from ``left`` frames before their
    chunk up to their chunk's end, in squeezed frames.

    A model trained only on whole utterances leans on future context that a streaming window
    cuts off; under this mask a frame sees between 0 and ``chunk`` frames ahead, at every depth
    (a key in an earlier chunk never saw past that chunk). There is no look-ahead term: a
    right-context key's own state would see further ahead, layer by layer, which a window does
    not; on the left the same growth only adds history."""

    chunk: int
    left: int
    offset: int = 0

    def bias(self, frames: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """(1, 1, T, T) additive bias: 0 where a query may attend to a key, dtype minimum elsewhere."""
        index = torch.arange(frames, device=device)
        chunk_of = torch.div(index - self.offset, self.chunk, rounding_mode="floor")
        start = torch.clamp(self.offset + chunk_of * self.chunk, min=0)
        end = self.offset + (chunk_of + 1) * self.chunk
        allowed = (index[None, :] >= (start - self.left)[:, None]) & (index[None, :] < end[:, None])
        bias = torch.zeros((frames, frames), dtype=dtype, device=device)
        return bias.masked_fill(~allowed, torch.finfo(dtype).min)[None, None]


class SelfAttention(nn.Module):
    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.attention_dropout
        h = config.hidden_size
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(h, h) for _ in range(4))

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None,
                output_attentions: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, t, _ = x.shape
        q, k, v = (proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        dropout = self.dropout if self.training else 0.0
        weights = None
        if output_attentions:  # the fused kernel cannot return the probabilities
            scores = (q @ k.transpose(-1, -2)) * self.head_dim ** -0.5
            if bias is not None:
                scores = scores + bias
            weights = scores.softmax(dim=-1)
            out = F.dropout(weights, dropout, self.training) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1)), weights


class FeedForward(nn.Module):
    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = Activation(config.hidden_act)
        self.intermediate_dropout = nn.Dropout(config.activation_dropout)
        self.output_dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.intermediate_dropout(self.intermediate_act_fn(self.intermediate_dense(x)))
        return self.output_dropout(self.output_dense(x))


class EncoderLayer(nn.Module):
    """Post-LN block: x = LN(x + attn(x)); x = LN(x + ffn(x))."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(config)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None,
                output_attentions: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(x, bias, output_attentions)
        x = self.layer_norm(x + self.dropout(attended))
        return self.final_layer_norm(x + self.feed_forward(x)), weights


class SEWEncoder(SqueezedEncoder):
    def __init__(self, config: SEWConfig) -> None:
        super().__init__(config)
        self.layerdrop = config.layerdrop
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_hidden_layers))
        # Training-time progressive depth: use only the first N layers (None: all). Not part
        # of the config; a saved model always runs every layer.
        self.active_layers: int | None = None
        # Training-time chunk attention (see ChunkAttention; None: full attention); also not in the config.
        self.chunk_attention: ChunkAttention | None = None

    def transform(self, x, key_mask, output_hidden_states, output_attentions):
        x = self.dropout(self.layer_norm(x))
        bias = key_padding_bias(key_mask, x.dtype)
        if self.chunk_attention is not None:
            chunks = self.chunk_attention.bias(x.shape[1], x.dtype, x.device)
            # the dtype minimum twice would overflow to -inf; either mask alone suffices
            bias = chunks if bias is None else torch.minimum(bias, chunks)
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers[: self.active_layers]:
            if self.training and self.layerdrop > 0 and torch.rand(()) < self.layerdrop:
                continue  # LayerDrop (Fan et al. 2019): skip whole layers while training
            x, weights = layer(x, bias, output_attentions)
            if hidden_states is not None:
                hidden_states.append(x)
            if attentions is not None:
                attentions.append(weights)
        return x, hidden_states, attentions
