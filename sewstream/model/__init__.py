"""SEW and SEW-D (Wu et al. 2021, arXiv 2109.06870) in PyTorch, loading Hugging Face checkpoints.

This package knows nothing of audio devices, streams or servers: tensors in, tensors out.
"""

from .checkpoint import ModelLoadError, describe_checkpoint, load_model, save_pretrained
from .config import ConfigError, SEWConfig, SEWDConfig, config_from_dict, load_config
from .modeling import (
                       BaseOutput,
                       ClassifierOutput,
                       CTCOutput,
                       SEWDForCTC,
                       SEWDForSequenceClassification,
                       SEWDModel,
                       SEWForCTC,
                       SEWForSequenceClassification,
                       SEWModel,
                       build_model,
                       ctc_loss,
                       num_parameters,
)

__all__ = [
    "SEWConfig", "SEWDConfig", "ConfigError", "config_from_dict", "load_config",
    "SEWModel", "SEWForCTC", "SEWForSequenceClassification",
    "SEWDModel", "SEWDForCTC", "SEWDForSequenceClassification",
    "BaseOutput", "CTCOutput", "ClassifierOutput", "build_model", "ctc_loss", "num_parameters",
    "ModelLoadError", "load_model", "save_pretrained", "describe_checkpoint",
]
