"""SEW / SEW-D models: the backbone, the CTC head and the sequence-classification head.

    waveform (B, S) --conv feature encoder--> (B, C, T) --LN, project--> (B, T, H)
      --[SpecAugment when training]--> squeeze -> transformer -> upsample --> (B, T, H)
      --> CTC: linear to the vocabulary per frame  |  classifier: project, mean-pool, linear

Module attribute names follow the Hugging Face checkpoints so their state dicts load
as they are; SEW and SEW-D differ only in the encoder inside the squeeze.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import SEWConfig, SEWDConfig
from .deberta import SEWDEncoder
from .feature_encoder import ConvFeatureEncoder, frame_lengths, frame_mask
from .specaugment import span_mask
from .squeeze import PositionalConvEmbedding
from .transformer import SEWEncoder


@dataclass
class BaseOutput:
    last_hidden_state: torch.Tensor                 # (B, T, H), one vector per 20 ms frame
    hidden_states: list[torch.Tensor] | None = None  # squeezed rate: input of layer 0, then each layer
    attentions: list[torch.Tensor] | None = None
    frame_mask: torch.Tensor | None = None          # (B, T) valid frames, when a sample mask was given


@dataclass
class CTCOutput:
    logits: torch.Tensor                            # (B, T, vocab)
    loss: torch.Tensor | None = None
    hidden_states: list[torch.Tensor] | None = None
    attentions: list[torch.Tensor] | None = None


@dataclass
class ClassifierOutput:
    logits: torch.Tensor                            # (B, num_labels)
    loss: torch.Tensor | None = None
    hidden_states: list[torch.Tensor] | None = None
    attentions: list[torch.Tensor] | None = None


class PreTrained(nn.Module):
    """Shared plumbing: config, weight init, lengths, save/load (see checkpoint.py)."""

    config: SEWConfig

    def init_weights(self) -> None:
        """Fresh weights, the recipe of the original implementation (for training from scratch)."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, PositionalConvEmbedding):
                conv = module.conv
                weight = torch.randn_like(conv.weight) * 2 * math.sqrt(1 / (conv.kernel_size[0] * conv.in_channels))
                with torch.no_grad():
                    conv.weight = weight  # sets g and v through the parametrization
                    nn.init.zeros_(conv.bias)
            elif isinstance(module, nn.Conv1d) and not hasattr(module, "parametrizations"):
                nn.init.kaiming_normal_(module.weight)
                if module.bias is not None:
                    bound = 1 / math.sqrt(module.in_channels * module.kernel_size[0] / module.groups)
                    nn.init.uniform_(module.bias, -bound, bound)
            elif isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, SEWModel) and module.masked_spec_embed is not None:
                nn.init.uniform_(module.masked_spec_embed)

    def frame_lengths(self, sample_lengths: torch.Tensor) -> torch.Tensor:
        return frame_lengths(self.config, sample_lengths)

    @property
    def architecture(self) -> str:
        return type(self).__name__.replace("SEW", "SEWD" if isinstance(self.config, SEWDConfig) else "SEW", 1)

    def save_pretrained(self, directory, **kwargs) -> None:
        from .checkpoint import save_pretrained
        save_pretrained(self, directory, **kwargs)


def _check_input(input_values: torch.Tensor, config: SEWConfig) -> None:
    """Reject inputs the conv stack would turn into a cryptic error or silent garbage."""
    if not isinstance(input_values, torch.Tensor):
        raise TypeError(f"input_values must be a torch.Tensor, got {type(input_values).__name__}")
    if input_values.dim() != 2:
        raise ValueError(f"input_values must be (batch, samples); got shape {tuple(input_values.shape)}")
    if not input_values.is_floating_point():
        raise ValueError(f"input_values must be floating point audio, got {input_values.dtype}")
    if input_values.shape[1] < config.receptive_field:
        raise ValueError(f"input of {input_values.shape[1]} samples is shorter than one frame "
                         f"({config.receptive_field} samples, {config.receptive_field / 16:g} ms at 16 kHz)")
    if not torch.isfinite(input_values.sum()):  # one reduction: NaN/Inf anywhere poison the sum
        raise ValueError("input_values contain NaN or Inf samples")


class SEWModel(PreTrained):
    """The bare backbone (SEW or SEW-D, chosen by the config type)."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.config = config
        is_d = isinstance(config, SEWDConfig)
        self.feature_extractor = ConvFeatureEncoder(config)
        eps = config.feature_layer_norm_eps if is_d else config.layer_norm_eps
        self.layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=eps)
        self.project_features = config.conv_dim[-1] != config.hidden_size
        if self.project_features:
            self.feature_projection = nn.Linear(config.conv_dim[-1], config.hidden_size)
        self.feature_dropout = nn.Dropout(config.feat_proj_dropout)
        self.masked_spec_embed = None
        if config.mask_time_prob > 0 or config.mask_feature_prob > 0:
            self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size).uniform_())
        self.encoder = SEWDEncoder(config) if is_d else SEWEncoder(config)

    def features(self, input_values: torch.Tensor) -> torch.Tensor:
        """Waveform -> normalised, projected frame features (B, T, H), before the encoder."""
        x = self.layer_norm(self.feature_extractor.channels_last(input_values))
        if self.project_features:
            x = self.feature_projection(x)
        return self.feature_dropout(x)

    def spec_augment(self, x: torch.Tensor, mask_time_indices: torch.Tensor | None,
                     valid_frames: list[int] | None) -> torch.Tensor:
        c = self.config
        if not c.apply_spec_augment:
            return x
        b, t, h = x.shape
        # span positions come from numpy, seeded from torch's RNG so torch.manual_seed governs them
        rng = np.random.default_rng(int(torch.randint(2**62, ()))) if self.training else None
        if mask_time_indices is None and c.mask_time_prob > 0 and self.training:
            mask_time_indices = torch.from_numpy(span_mask(
                b, t, c.mask_time_prob, c.mask_time_length, min_masks=c.mask_time_min_masks,
                valid_lengths=valid_frames, rng=rng)).to(x.device)
        if mask_time_indices is not None:
            if self.masked_spec_embed is None:
                raise ValueError("mask_time_indices given but this model has no masked_spec_embed "
                                 "(config mask_time_prob and mask_feature_prob are both 0)")
            x = torch.where(mask_time_indices.bool()[..., None], self.masked_spec_embed.to(x.dtype), x)
        if c.mask_feature_prob > 0 and self.training:
            channels = torch.from_numpy(span_mask(b, h, c.mask_feature_prob, c.mask_feature_length,
                                                  min_masks=c.mask_feature_min_masks, rng=rng)).to(x.device)
            x = x.masked_fill(channels[:, None, :], 0.0)
        return x

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                mask_time_indices: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> BaseOutput:
        _check_input(input_values, self.config)
        x = self.features(input_values)
        frames = None
        if attention_mask is not None:
            frames = frame_mask(self.config, attention_mask, x.shape[1])
        valid = frames.sum(-1).tolist() if (frames is not None and self.training) else None
        x = self.spec_augment(x, mask_time_indices, valid)
        out = self.encoder(x, frames, output_hidden_states, output_attentions)
        return BaseOutput(out.last_hidden_state, out.hidden_states, out.attentions, frames)


class _WithBackbone(PreTrained):
    """A head over a backbone registered as ``sew`` or ``sew_d`` (the checkpoint key prefix)."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__()
        self.config = config
        self.prefix = "sew_d" if isinstance(config, SEWDConfig) else "sew"
        self.add_module(self.prefix, SEWModel(config))

    @property
    def backbone(self) -> SEWModel:
        return getattr(self, self.prefix)


class SEWForCTC(_WithBackbone):
    """Per-frame character (or token) logits, trained with CTC."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(config.final_dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, mask_time_indices: torch.Tensor | None = None,
                output_hidden_states: bool = False, output_attentions: bool = False) -> CTCOutput:
        if labels is not None and labels.numel() and labels.max() >= self.config.vocab_size:
            raise ValueError(f"label ids must be < vocab_size={self.config.vocab_size}, got {int(labels.max())}")
        out = self.backbone(input_values, attention_mask, mask_time_indices,
                            output_hidden_states, output_attentions)
        logits = self.lm_head(self.dropout(out.last_hidden_state))
        loss = None
        if labels is not None:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_values, dtype=torch.long)
            loss = self.ctc_loss_of(logits, labels, attention_mask)
        return CTCOutput(logits, loss, out.hidden_states, out.attentions)

    def ctc_loss_of(self, logits: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The config's CTC loss of (B, T, V) ``logits`` at this model's frame rate, for audio whose
        sample mask is ``attention_mask``."""
        c = self.config
        return ctc_loss(logits, labels, self.frame_lengths(attention_mask.sum(-1).long()), blank=c.pad_token_id or 0,
                        reduction=c.ctc_loss_reduction, zero_infinity=c.ctc_zero_infinity)


    def logits_from_features(self, features: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """CTC logits from ``backbone.features`` output: the part after the conv encoder.

        The conv features of a frame depend only on its own 400 samples, so a streaming
        caller can compute them once per frame and re-run only this part per window.
        """
        hidden = self.backbone.encoder(features, frame_mask).last_hidden_state
        return self.lm_head(self.dropout(hidden))


def ctc_loss(logits: torch.Tensor, labels: torch.Tensor, logit_lengths: torch.Tensor, *, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False, ignore_index: int = -100) -> torch.Tensor:
    """CTC loss from padded (B, U) labels; ``ignore_index`` (and blank) entries are not targets."""
    keep = (labels != ignore_index) & (labels != blank)
    log_probs = F.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)
    with torch.backends.cudnn.flags(enabled=False):  # cudnn's CTC has stricter input rules
        return F.ctc_loss(log_probs, labels.masked_select(keep), logit_lengths, keep.sum(-1), blank=blank,
                          reduction=reduction, zero_infinity=zero_infinity)


class SEWForSequenceClassification(_WithBackbone):
    """Utterance-level labels (e.g. keyword spotting): project, mean-pool valid frames, classify."""

    def __init__(self, config: SEWConfig) -> None:
        super().__init__(config)
        if config.use_weighted_layer_sum:
            n = config.num_hidden_layers + 1
            self.layer_weights = nn.Parameter(torch.ones(n) / n)
        self.projector = nn.Linear(config.hidden_size, config.classifier_proj_size)
        self.classifier = nn.Linear(config.classifier_proj_size, config.num_labels)

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> ClassifierOutput:
        out = self.backbone(input_values, attention_mask, None,
                            output_hidden_states or self.config.use_weighted_layer_sum, output_attentions)
        logits = self._classify(out)
        loss = None if labels is None else self.classification_loss(logits, labels)
        return ClassifierOutput(logits, loss, out.hidden_states if output_hidden_states else None,
                                out.attentions)

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Label logits from ``backbone.features`` output of whole windows (no padding): the
        part after the conv encoder, for callers that reuse conv frames across windows."""
        weighted = self.config.use_weighted_layer_sum
        out = self.backbone.encoder(features, None, weighted, False)
        return self._classify(BaseOutput(out.last_hidden_state, out.hidden_states, out.attentions, None))

    def _classify(self, out: BaseOutput) -> torch.Tensor:
        """Pool the encoder output over the valid frames and classify."""
        if self.config.use_weighted_layer_sum:
            # The layer outputs live at the squeezed rate, so the pooling mask is squeezed too
            # (transformers pools them with the frame-rate lengths instead; see README).
            stacked = torch.stack(out.hidden_states, dim=1)
            x = (stacked * self.layer_weights.softmax(-1).view(-1, 1, 1)).sum(dim=1)
            valid = None if out.frame_mask is None else self.backbone.encoder.squeeze_mask(out.frame_mask)
        else:
            x, valid = out.last_hidden_state, out.frame_mask
        x = self.projector(x)
        if valid is None:
            pooled = x.mean(dim=1)
        else:
            valid = valid[:, : x.shape[1]]
            pooled = x.masked_fill(~valid[..., None], 0.0).sum(dim=1) / valid.sum(dim=1, keepdim=True)
        return self.classifier(pooled)

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        problem = self.config.problem_type
        if problem is None:  # inferred the way HF heads always have
            if self.config.num_labels == 1:
                problem = "regression"
            elif labels.dtype in (torch.long, torch.int):
                problem = "single_label_classification"
            else:
                problem = "multi_label_classification"
        if problem == "regression":
            return F.mse_loss(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
        if problem == "single_label_classification":
            return F.cross_entropy(logits.view(-1, self.config.num_labels), labels.view(-1))
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


# The HF class names, for readers coming from transformers: the config type picks SEW vs SEW-D.
SEWDModel, SEWDForCTC, SEWDForSequenceClassification = SEWModel, SEWForCTC, SEWForSequenceClassification

ARCHITECTURES: dict[str, type[PreTrained]] = {
    "SEWModel": SEWModel, "SEWDModel": SEWModel,
    "SEWForCTC": SEWForCTC, "SEWDForCTC": SEWForCTC,
    "SEWForSequenceClassification": SEWForSequenceClassification,
    "SEWDForSequenceClassification": SEWForSequenceClassification,
}


def build_model(config: SEWConfig, architecture: str | None = None, *, init: bool = True) -> PreTrained:
    """Instantiate the architecture named in the config (or given), freshly initialised."""
    name = architecture or (config.architectures or ["SEWForCTC"])[0]
    if name not in ARCHITECTURES:
        raise ValueError(f"unsupported architecture {name!r}; supported: {', '.join(sorted(ARCHITECTURES))}")
    model = ARCHITECTURES[name](config)
    if init:
        model.init_weights()
    return model


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["SEWModel", "SEWForCTC", "SEWForSequenceClassification", "SEWDModel", "SEWDForCTC",
           "SEWDForSequenceClassification", "BaseOutput", "CTCOutput", "ClassifierOutput", "ctc_loss",
           "build_model", "num_parameters", "ARCHITECTURES"]
