"""The default model's architecture and training recipe, in one place.

Architecture: the sew-tiny shape (hidden 256, 4 heads, FFN 1024, squeeze 2, the 13-layer
conv stack) with two deliberate changes for streaming, both still plain SEW configs that
transformers loads:

* ``feat_extract_norm="layer"``: every conv layer normalises over channels per frame, so
  the feature encoder is exactly local in time (no statistics over the whole input),
  padding-safe and batch-invariant; the group-norm variant normalises each channel over
  the whole input, which a streaming window cannot reproduce.
* ``conv_bias=True`` with nonzero biases: a LayerNorm over an all-zero frame (digital
  silence, padding) has gradient ~1/sqrt(eps) per layer, which explodes through 13 layers
  when the conv has no bias term to keep the frame off zero.

The preprocessor does not normalise each utterance (``do_normalize=False``): the per-frame
LayerNorms make the features nearly level-invariant already, and without a whole-input
statistic the conv features of already-seen audio can be cached exactly while streaming.
Training applies a random level to every utterance instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sewstream.model import SEWConfig

from .augment import augment_config
from .vocab import VOCAB

DEFAULT_ARCHITECTURE: dict[str, Any] = dict(
    vocab_size=len(VOCAB), hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
    intermediate_size=1024, squeeze_factor=2, feat_extract_norm="layer", conv_bias=True,
    num_conv_pos_embeddings=31, num_conv_pos_embedding_groups=16,
    hidden_dropout=0.05, activation_dropout=0.0, attention_dropout=0.05, final_dropout=0.0,
    feat_proj_dropout=0.0, layerdrop=0.0, mask_time_prob=0.05, mask_time_length=5, mask_time_min_masks=1,
    mask_feature_prob=0.0, ctc_loss_reduction="mean", ctc_zero_infinity=True,
    pad_token_id=VOCAB["<pad>"], bos_token_id=VOCAB["<s>"], eos_token_id=VOCAB["</s>"],
)


@dataclass
class Recipe:
    """Every knob of a training run; saved in the run directory and restored on resume."""

    corpus: str = "/work/data/corpus"
    architecture: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_ARCHITECTURE))
    seed: int = 0
    # optimisation
    lr: float = 1e-3
    warmup_steps: int = 500
    total_steps: int = 40_000          # cosine decay to min_lr_ratio * lr by then
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 5.0
    bf16: bool = True                 # autocast matmuls to bfloat16 (fp32 master weights)
    # the conv feature encoder takes no gradient (as in wav2vec 2.0 fine-tuning): a step costs
    # about half on CPU, where its backward pass dominates; for runs whose encoder has trained
    freeze_feature_encoder: bool = False
    # residual branches start small, so every post-LN layer begins close to identity and a
    # deep stack trains like a shallow one until the branches grow (see the model card)
    residual_init_scale: float = 0.1
    # progressive depth: [step, active layers] pairs; deep post-LN stacks sit on the CTC blank
    # plateau far longer than shallow ones, so start shallow and switch further layers on
    depth_schedule: list = field(default_factory=lambda: [[0, 2], [4000, 4], [7000, 6], [10000, 8],
                                                          [13000, 10], [16000, 12]])
    # batches: contiguous runs of length-sorted utterances, about batch_seconds of padded audio
    batch_seconds: float = 40.0
    max_utterance_seconds: float = 16.0
    curriculum_steps: int = 3000      # the longest utterance allowed grows 4 s -> max over these steps
    # regularisation switched on once the model has left the CTC blank plateau
    augment_from_step: int = 1500
    augment_ramp_steps: int = 3000    # augmentation probability ramps 0 -> 1 over these steps
    spec_augment_from_step: int = 6000
    # streaming-robust training: this share of steps attends within chunks (no look-ahead past
    # the chunk; see ChunkAttention), [shortest chunk, longest chunk, left context] seconds, the
    # chunk drawn per step between the two at a random offset; 0.6-2.6 s spans the look-ahead
    # a default streaming window gives (right_context_s to chunk_s + right_context_s)
    chunk_attention_prob: float = 0.0
    chunk_attention_s: tuple[float, float, float] = (0.6, 2.6, 1.6)
    # stochastic weight averaging (SWA, Izmailov et al. 2018): from swa_from_step on, the weights
    # every swa_every steps join a running mean, evaluated and exported as swa/ at each eval; with
    # a flat learning rate (min_lr_ratio 1.0) the mean spans a stretch of the trajectory, a wider
    # optimum than any one point of it (None: off)
    swa_from_step: int | None = None
    swa_every: int = 100
    # intermediate CTC (InterCTC, Lee & Watanabe 2021): the loss becomes (1 - w) times the CTC
    # loss plus w times that of the same output head reading layer inter_ctc_layer (1-based), so
    # a lower layer is pushed towards characters too, a regulariser for the layers above it;
    # w = inter_ctc_weight, 0: off. Used only while that layer has layers above it switched on.
    inter_ctc_weight: float = 0.0
    inter_ctc_layer: int = 5
    # waveform augmentation: overrides of AugmentConfig's fields, e.g. {"speed_range": [0.8, 1.2]}
    # (empty: its defaults, tuned for moving TTS audio towards real recordings)
    augment: dict[str, Any] = field(default_factory=dict)
    # bookkeeping
    eval_every: int = 500
    eval_utterances: int = 200
    real_speech_dir: str | None = None  # evaluated (never trained on) at every eval
    # a new run may start from an exported checkpoint's weights (e.g. the shipped model: a
    # run directory does not survive a machine change, the package does); see warm_start
    init_from: str | None = None
    checkpoint_every_s: float = 600.0
    log_every: int = 25
    threads: int = 2

    def warm_started(self, source_layers: int) -> Recipe:
        """This recipe for a run that starts from a trained checkpoint (``init_from``): the
        model has left the CTC blank plateau, so every loaded layer is on from step 0, the
        curriculum and augmentation start in full, and the learning rate re-warms to half the
        from-scratch peak (the shipped model ended at the cosine floor)."""
        return Recipe.from_dict({**self.to_dict(), "depth_schedule": [[0, source_layers]],
                                 "curriculum_steps": 1, "augment_from_step": 0, "augment_ramp_steps": 1,
                                 "spec_augment_from_step": 0, "warmup_steps": 200, "lr": self.lr / 2})

    def check(self) -> None:
        """Raise ValueError naming the first field whose value cannot work."""
        prob = self.chunk_attention_prob
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
            raise ValueError(f"chunk_attention_prob={prob!r}: expected a probability in [0, 1]")
        shape = self.chunk_attention_s
        if (not isinstance(shape, (list, tuple)) or len(shape) != 3
                or not all(isinstance(v, (int, float)) and v >= 0 for v in shape) or not 0 < shape[0] <= shape[1]):
            raise ValueError(f"chunk_attention_s={shape!r}: expected [shortest chunk, longest chunk, left] "
                             "seconds, 0 < shortest <= longest, left >= 0")
        start = self.swa_from_step
        if start is not None and (isinstance(start, bool) or not isinstance(start, int) or start < 1):
            raise ValueError(f"swa_from_step={start!r}: expected a step number >= 1, or null (no averaging)")
        if isinstance(self.swa_every, bool) or not isinstance(self.swa_every, int) or self.swa_every < 1:
            raise ValueError(f"swa_every={self.swa_every!r}: expected a whole number of steps >= 1")
        w = self.inter_ctc_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w < 1.0:
            raise ValueError(f"inter_ctc_weight={w!r}: expected a weight in [0, 1) (0: off)")
        layers = self.architecture.get("num_hidden_layers", DEFAULT_ARCHITECTURE["num_hidden_layers"])
        k = self.inter_ctc_layer
        if isinstance(k, bool) or not isinstance(k, int) or (w > 0 and not 1 <= k < layers):
            raise ValueError(f"inter_ctc_layer={k!r}: expected a layer number from 1 to {layers - 1} "
                             f"(the model has {layers}; the last one feeds the output head already)")
        if w > 0 and self.architecture.get("layerdrop", 0.0):
            raise ValueError("inter_ctc_weight > 0 needs layerdrop 0 (a dropped layer shifts which output is read)")
        if not isinstance(self.augment, dict):
            raise ValueError(f"augment={self.augment!r}: expected a mapping of augmentation settings")
        augment_config(self.augment)

    def model_config(self) -> SEWConfig:
        return SEWConfig(**self.architecture)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("betas", "chunk_attention_s"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)
