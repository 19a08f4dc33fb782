"""SEW / SEW-D configuration, read from and written to Hugging Face ``config.json``.

Field names and defaults follow the published configs (``SEWConfig`` / ``SEWDConfig``
in transformers), so a ``config.json`` written by either library loads in the other.
Keys we do not model are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

ACTIVATIONS = ("gelu", "gelu_python", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "quick_gelu",
               "relu", "relu6", "silu", "swish", "tanh", "sigmoid", "mish", "linear")
PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")

# Keys the HF base config writes that carry no architecture information for us.
_BOOKKEEPING = ("model_type", "num_feat_extract_layers", "num_labels", "transformers_version")


class ConfigError(ValueError):
    """A config key has a value the model cannot be built from; the message names both."""


@dataclass
class SEWConfig:
    """Hyper-parameters of a SEW model (Wu et al. 2021), HF-compatible names and defaults."""

    model_type: ClassVar[str] = "sew"

    vocab_size: int = 32
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    squeeze_factor: int = 2
    hidden_act: str = "gelu"
    hidden_dropout: float = 0.1
    activation_dropout: float = 0.1
    attention_dropout: float = 0.1
    feat_proj_dropout: float = 0.0
    final_dropout: float = 0.1
    layerdrop: float = 0.1
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    conv_dim: tuple[int, ...] = (64, 128, 128, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512)
    conv_stride: tuple[int, ...] = (5, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1)
    conv_kernel: tuple[int, ...] = (10, 3, 1, 3, 1, 3, 1, 3, 1, 2, 1, 2, 1)
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    apply_spec_augment: bool = True
    mask_time_prob: float = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    ctc_loss_reduction: str = "mean"
    ctc_zero_infinity: bool = False
    use_weighted_layer_sum: bool = False
    classifier_proj_size: int = 256
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    # Generic HF fields that matter for heads and for round-tripping.
    architectures: list[str] | None = None
    id2label: dict[int, str] | None = None
    problem_type: str | None = None
    # Everything else found in config.json, written back as-is.
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("conv_dim", "conv_stride", "conv_kernel"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                setattr(self, name, tuple(value))
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        self.validate()

    # ----------------------------------------------------------------- derived
    @property
    def num_feat_extract_layers(self) -> int:
        return len(self.conv_dim)

    @property
    def num_labels(self) -> int:
        return len(self.id2label) if self.id2label else 2

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in (self.id2label or {}).items()}

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Audio samples per output frame: the product of the conv strides (320 for SEW)."""
        return math.prod(self.conv_stride)

    @property
    def receptive_field(self) -> int:
        """Audio samples that one feature-encoder frame depends on (400 for SEW)."""
        field_, jump = 1, 1
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            field_ += (kernel - 1) * jump
            jump *= stride
        return field_

    def num_frames(self, num_samples: int) -> int:
        """Frames the conv feature encoder produces for ``num_samples`` of audio (0 if too short)."""
        n = num_samples
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            n = (n - kernel) // stride + 1
            if n <= 0:
                return 0
        return n

    # -------------------------------------------------------------- validation
    def _fail(self, key: str, value: Any, why: str) -> None:
        raise ConfigError(f"{self.model_type} config: {key}={value!r} is invalid: {why}")

    def validate(self) -> None:
        """Raise ConfigError naming the first bad key and value."""
        n = len(self.conv_dim)
        if n == 0:
            self._fail("conv_dim", self.conv_dim, "the feature encoder needs at least one conv layer")
        for name in ("conv_stride", "conv_kernel"):
            if len(getattr(self, name)) != n:
                self._fail(name, getattr(self, name),
                           f"has {len(getattr(self, name))} entries but conv_dim has {n}; they must match")
        for name in ("conv_dim", "conv_stride", "conv_kernel"):
            for v in getattr(self, name):
                if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                    self._fail(name, getattr(self, name), "every entry must be a positive integer")
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "vocab_size",
                     "classifier_proj_size", "mask_time_length", "mask_feature_length"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "num_hidden_layers" else 1):
                self._fail(name, v, "must be a positive integer")
        if self.hidden_size % self.num_attention_heads:
            self._fail("hidden_size", self.hidden_size,
                       f"not divisible by num_attention_heads={self.num_attention_heads}")
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            self._fail("num_conv_pos_embedding_groups", self.num_conv_pos_embedding_groups,
                       f"must divide hidden_size={self.hidden_size}")
        if not isinstance(self.squeeze_factor, int) or isinstance(self.squeeze_factor, bool) \
                or self.squeeze_factor < 1:
            self._fail("squeeze_factor", self.squeeze_factor, "must be an integer >= 1")
        for name in ("hidden_act", "feat_extract_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                self._fail(name, getattr(self, name), f"unknown activation; known: {', '.join(ACTIVATIONS)}")
        if self.feat_extract_norm not in ("group", "layer"):
            self._fail("feat_extract_norm", self.feat_extract_norm, "must be 'group' or 'layer'")
        for name in ("hidden_dropout", "activation_dropout", "attention_dropout", "feat_proj_dropout",
                     "final_dropout", "mask_time_prob", "mask_feature_prob", "layerdrop"):
            v = getattr(self, name, 0.0)
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                self._fail(name, v, "must be a probability in [0, 1]")
        if self.ctc_loss_reduction not in ("mean", "sum", "none"):
            self._fail("ctc_loss_reduction", self.ctc_loss_reduction, "must be 'mean', 'sum' or 'none'")
        if self.problem_type not in PROBLEM_TYPES:
            self._fail("problem_type", self.problem_type, f"must be one of {PROBLEM_TYPES[1:]} or null")
        if not self.layer_norm_eps > 0:
            self._fail("layer_norm_eps", self.layer_norm_eps, "must be > 0")

    # ------------------------------------------------------------- (de)serialise
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SEWConfig:
        data = dict(data)
        model_type = data.get("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ConfigError(f"config.json has model_type={model_type!r}; expected {cls.model_type!r}")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: data.pop(k) for k in list(data) if k in known}
        if "label2id" in data and kwargs.get("id2label") is None:
            kwargs["id2label"] = {int(v): k for k, v in data["label2id"].items()}
        data.pop("label2id", None)
        if kwargs.get("id2label") is None and "num_labels" in data:
            kwargs["id2label"] = {i: f"LABEL_{i}" for i in range(int(data["num_labels"]))}
        for key in _BOOKKEEPING:
            data.pop(key, None)
        return cls(**kwargs, extra=data)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            if f.name == "id2label":
                if value is None:
                    continue
                out["id2label"] = {str(k): v for k, v in value.items()}
                out["label2id"] = self.label2id
                continue
            if f.name in ("architectures", "problem_type") and value is None:
                continue
            out[f.name] = value
        out["model_type"] = self.model_type
        out["num_feat_extract_layers"] = self.num_feat_extract_layers
        return dict(sorted(out.items()))

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def replace(self, **changes: Any) -> SEWConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


@dataclass
class SEWDConfig(SEWConfig):
    """SEW-D: SEW with a DeBERTa-style encoder (disentangled relative-position attention)."""

    model_type: ClassVar[str] = "sew-d"

    max_position_embeddings: int = 512
    position_buckets: int = 256
    share_att_key: bool = True
    relative_attention: bool = True
    pos_att_type: tuple[str, ...] = ("p2c", "c2p")
    norm_rel_ebd: str = "layer_norm"
    hidden_act: str = "gelu_python"
    layer_norm_eps: float = 1e-7
    feature_layer_norm_eps: float = 1e-5
    layerdrop: float = 0.0  # SEW-D has no layerdrop in the reference; kept for a uniform interface

    def __post_init__(self) -> None:
        if isinstance(self.pos_att_type, str):  # DeBERTa spelling: "p2c|c2p"
            self.pos_att_type = tuple(p.strip() for p in self.pos_att_type.lower().split("|") if p.strip())
        elif self.pos_att_type is None:
            self.pos_att_type = ()
        else:
            self.pos_att_type = tuple(self.pos_att_type)
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        for p in self.pos_att_type:
            if p not in ("p2c", "c2p"):
                self._fail("pos_att_type", list(self.pos_att_type), "entries must be 'p2c' or 'c2p'")
        for part in self.norm_rel_ebd.lower().split("|"):
            if part.strip() not in ("none", "layer_norm"):
                self._fail("norm_rel_ebd", self.norm_rel_ebd, "must be 'none' or 'layer_norm'")
        if not isinstance(self.max_position_embeddings, int) or self.max_position_embeddings < 2:
            self._fail("max_position_embeddings", self.max_position_embeddings, "must be an integer >= 2")
        if not isinstance(self.position_buckets, int):
            self._fail("position_buckets", self.position_buckets, "must be an integer (<= 0 disables bucketing)")
        if self.position_buckets > 0 and self.position_buckets < 4:
            self._fail("position_buckets", self.position_buckets, "must be >= 4 when bucketing is on")
        if not self.feature_layer_norm_eps > 0:
            self._fail("feature_layer_norm_eps", self.feature_layer_norm_eps, "must be > 0")

    @property
    def max_relative_positions(self) -> int:
        value = self.extra.get("max_relative_positions", -1)
        return value if value and value > 0 else self.max_position_embeddings

    @property
    def relative_span(self) -> int:
        """Half the size of the relative-position embedding table actually used."""
        return self.position_buckets if self.position_buckets > 0 else self.max_relative_positions

    @property
    def rel_layer_norm(self) -> bool:
        return "layer_norm" in [p.strip() for p in self.norm_rel_ebd.lower().split("|")]


CONFIG_CLASSES: dict[str, type[SEWConfig]] = {"sew": SEWConfig, "sew-d": SEWDConfig, "sew_d": SEWDConfig}


def config_from_dict(data: dict[str, Any]) -> SEWConfig:
    """Build the right config class from a config.json dict (by its model_type)."""
    model_type = data.get("model_type")
    if model_type not in CONFIG_CLASSES:
        raise ConfigError(f"config.json: model_type={model_type!r} is not a SEW model; "
                          "expected 'sew' or 'sew-d'")
    cls = CONFIG_CLASSES[model_type]
    return cls.from_dict({**data, "model_type": cls.model_type})


def load_config(path: str | Path) -> SEWConfig:
    """Read ``config.json`` (a file, or a directory containing one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no config.json at {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return config_from_dict(data)
