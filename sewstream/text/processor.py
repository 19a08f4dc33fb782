"""Feature extractor + CTC tokenizer of one checkpoint, loaded and saved together."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from sewstream.text.features import BatchFeatures, FeatureExtractor
from sewstream.text.tokenizer import CTCTokenizer, Decoded

MODEL_CONFIG_NAME = "config.json"


class Processor:
    """Pairs a ``FeatureExtractor`` (audio in) with a ``CTCTokenizer`` (text out).

    The files it reads and writes are those of transformers' ``Wav2Vec2Processor``.
    """

    def __init__(self, feature_extractor: FeatureExtractor, tokenizer: CTCTokenizer) -> None:
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        target_lang: str | None = None,
        frame_seconds: float | None = None,
    ) -> Processor:
        """Load both halves from a checkpoint directory.

        ``frame_seconds`` (for offset times) defaults to the product of the
        model's ``conv_stride`` in ``config.json`` divided by the sampling
        rate, when that file is present.
        """
        feature_extractor = FeatureExtractor.from_pretrained(path)
        if frame_seconds is None:
            frame_seconds = frame_seconds_from_model_config(path, feature_extractor.sampling_rate)
        tokenizer = CTCTokenizer.from_pretrained(path, target_lang=target_lang, frame_seconds=frame_seconds)
        return cls(feature_extractor, tokenizer)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        """Write preprocessor_config.json and the tokenizer files into ``directory``."""
        self.feature_extractor.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def __call__(self, audio: Any, **kwargs: Any) -> BatchFeatures:
        """Features for ``audio``; see ``FeatureExtractor.__call__``."""
        return self.feature_extractor(audio, **kwargs)

    def decode(self, ids: Any, **kwargs: Any) -> str | Decoded:
        """See ``CTCTokenizer.decode``."""
        return self.tokenizer.decode(ids, **kwargs)

    def batch_decode(self, batch_of_ids: Any, **kwargs: Any) -> list[str] | list[Decoded]:
        """See ``CTCTokenizer.batch_decode``."""
        return self.tokenizer.batch_decode(batch_of_ids, **kwargs)


def frame_seconds_from_model_config(path: str | os.PathLike[str], sampling_rate: int) -> float | None:
    """Seconds per logit frame from ``config.json``'s ``conv_stride``, or None if unknown."""
    config_path = Path(path) / MODEL_CONFIG_NAME
    if not config_path.is_file():
        return None
    with open(config_path, encoding="utf-8") as handle:
        strides = json.load(handle).get("conv_stride")
    if not strides:
        return None
    return math.prod(strides) / sampling_rate
