"""SEW-D's encoder: DeBERTa-v2 style layers with disentangled relative-position attention.

Each attention score adds to content->content (q.k) a content->position term
(q . key-projection of the relative-distance embedding, "c2p") and a
position->content term (k . query-projection of it, "p2c"). Distances are
log-bucketed beyond ``position_buckets // 2`` so far-apart frames share embeddings.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .activations import Activation
from .config import SEWDConfig
from .squeeze import SqueezedEncoder
from .transformer import key_padding_bias


def log_bucket_positions(relative: torch.Tensor, bucket_size: int, max_position: int) -> torch.Tensor:
    """Map signed distances to buckets: exact up to bucket_size // 2, logarithmic beyond."""
    sign = torch.sign(relative)
    mid = bucket_size // 2
    near = (relative < mid) & (relative > -mid)
    abs_pos = torch.where(near, torch.tensor(mid - 1).type_as(relative), relative.abs())
    # float32 arithmetic in this exact order: checkpoints were trained with these buckets
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid))
                         * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, relative.type_as(log_pos), log_pos * sign).long()


def relative_position_index(length: int, span: int, bucket_size: int, max_position: int,
                            device: torch.device) -> torch.Tensor:
    """(T, T) index into the 2*span relative embedding table, for query i and key j."""
    ids = torch.arange(length, device=device)
    relative = ids[:, None] - ids[None, :]
    if bucket_size > 0 and max_position > 0:
        relative = log_bucket_positions(relative, bucket_size, max_position)
    return torch.clamp(relative + span, 0, 2 * span - 1)


class DisentangledSelfAttention(nn.Module):
    def __init__(self, config: SEWDConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        h = config.hidden_size
        self.query_proj, self.key_proj, self.value_proj = (nn.Linear(h, h) for _ in range(3))
        self.pos_att_type = tuple(config.pos_att_type) if config.relative_attention else ()
        self.share_att_key = config.share_att_key
        if config.relative_attention and not config.share_att_key:
            if "c2p" in self.pos_att_type:
                self.pos_key_proj = nn.Linear(h, h)
            if "p2c" in self.pos_att_type:
                self.pos_query_proj = nn.Linear(h, h)
        self.pos_dropout = nn.Dropout(config.activation_dropout)
        self.dropout = config.attention_dropout
        self.scale = math.sqrt(self.head_dim * (1 + len(set(config.pos_att_type) & {"c2p", "p2c"})))

    def heads(self, x: torch.Tensor) -> torch.Tensor:  # (..., T, H*d) -> (..., heads, T, d)
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(-3, -2)

    def relative_bias(self, q: torch.Tensor, k: torch.Tensor, rel: torch.Tensor,
                      index: torch.Tensor) -> torch.Tensor:
        """c2p[i, j] = q_i . Kr[idx(i, j)];  p2c[i, j] = k_j . Qr[idx(i, j)] (idx is odd-symmetric).

        The 1/scale goes on q and k (T x d) rather than on the T x T terms, and the terms are
        summed in place: on long inputs these T x T passes dominate the layer.
        """
        rel = self.pos_dropout(rel)
        bias = None
        if "c2p" in self.pos_att_type:
            pos_key = self.heads(self.key_proj(rel) if self.share_att_key else self.pos_key_proj(rel))
            c2p = (q / self.scale) @ pos_key.transpose(-1, -2)  # (B, heads, T, R)
            bias = c2p.gather(-1, index.expand(*c2p.shape[:2], -1, -1))
        if "p2c" in self.pos_att_type:
            pos_query = self.heads(self.query_proj(rel) if self.share_att_key else self.pos_query_proj(rel))
            p2c = (k / self.scale) @ pos_query.transpose(-1, -2)  # (B, heads, T_key, R)
            term = p2c.gather(-1, index.T.expand(*p2c.shape[:2], -1, -1)).transpose(-1, -2)
            bias = term.contiguous() if bias is None else bias.add_(term)
        return bias

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor | None, rel: torch.Tensor | None,
                index: torch.Tensor | None, output_attentions: bool = False):
        q, k, v = (self.heads(proj(x)) for proj in (self.query_proj, self.key_proj, self.value_proj))
        bias = key_bias
        if rel is not None and self.pos_att_type:
            rel_bias = self.relative_bias(q, k, rel, index)
            bias = rel_bias if bias is None else rel_bias.add_(bias)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if output_attentions:
            scores = (q @ k.transpose(-1, -2)) / self.scale
            if bias is not None:
                scores = scores + bias
            weights = scores.softmax(-1)
            out = F.dropout(weights, dropout, self.training) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout,
                                                 scale=1.0 / self.scale)
        return out.transpose(1, 2).flatten(2), weights


class DenseResidualNorm(nn.Module):
    """LN(x_residual + dropout(dense(x))): DeBERTa's SelfOutput / Output."""

    def __init__(self, config: SEWDConfig, in_features: int) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.dropout = nn.Dropout(config.activation_dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, config: SEWDConfig) -> None:
        super().__init__()
        self.self = DisentangledSelfAttention(config)
        self.output = DenseResidualNorm(config, config.hidden_size)


class Intermediate(nn.Module):
    def __init__(self, config: SEWDConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = Activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class DebertaLayer(nn.Module):
    def __init__(self, config: SEWDConfig) -> None:
        super().__init__()
        self.attention = Attention(config)
        self.intermediate = Intermediate(config)
        self.output = DenseResidualNorm(config, config.intermediate_size)

    def forward(self, x, key_bias, rel, index, output_attentions=False):
        context, weights = self.attention.self(x, key_bias, rel, index, output_attentions)
        x = self.attention.output(context, x)
        return self.output(self.intermediate(x), x), weights


class DebertaStack(nn.Module):
    """The layers plus the shared relative-position embedding table."""

    def __init__(self, config: SEWDConfig) -> None:
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList(DebertaLayer(config) for _ in range(config.num_hidden_layers))
        if config.relative_attention:
            self.rel_embeddings = nn.Embedding(2 * config.relative_span, config.hidden_size)
        if config.rel_layer_norm:  # checkpoints carry this norm even when relative attention is off
            self.LayerNorm = nn.LayerNorm(config.hidden_size, config.layer_norm_eps, elementwise_affine=True)
        self._index_cache: dict[tuple[int, str], tuple[torch.Tensor, int, int]] = {}

    def relative_index(self, length: int, device: torch.device) -> tuple[torch.Tensor, int, int]:
        """Index matrix restricted to the embedding rows [lo, hi) that T frames can reach.

        Only 2T-1 distances occur in T frames, so projecting just those rows of the
        table is exact and saves most of the position projections for short inputs.
        """
        key = (length, str(device))
        if key not in self._index_cache:
            c = self.config
            index = relative_position_index(length, c.relative_span, c.position_buckets,
                                            c.max_relative_positions, device)
            lo, hi = int(index.min()), int(index.max()) + 1
            if len(self._index_cache) > 64:
                self._index_cache.clear()
            self._index_cache[key] = (index - lo, lo, hi)
        return self._index_cache[key]

    def forward(self, x, key_mask, output_hidden_states, output_attentions):
        rel = index = None
        if self.config.relative_attention:
            index, lo, hi = self.relative_index(x.shape[1], x.device)
            rel = self.rel_embeddings.weight[lo:hi]
            if self.config.rel_layer_norm:  # per-row norm: slicing first is exact and cheaper
                rel = self.LayerNorm(rel)
        key_bias = key_padding_bias(key_mask, x.dtype)
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layer:
            x, weights = layer(x, key_bias, rel, index, output_attentions)
            if hidden_states is not None:
                hidden_states.append(x)
            if attentions is not None:
                attentions.append(weights)
        return x, hidden_states, attentions


class SEWDEncoder(SqueezedEncoder):
    def __init__(self, config: SEWDConfig) -> None:
        super().__init__(config)
        self.encoder = DebertaStack(config)

    def transform(self, x, key_mask, output_hidden_states, output_attentions):
        return self.encoder(x, key_mask, output_hidden_states, output_attentions)
