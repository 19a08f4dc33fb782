"""Text side of the model: waveform features in, CTC ids <-> text out.

Compatible with the ``preprocessor_config.json`` / ``vocab.json`` files of
Hugging Face wav2vec2-style checkpoints (SEW, SEW-D), without depending on
transformers.
"""

from sewstream.text.features import BatchFeatures, FeatureExtractor
from sewstream.text.processor import Processor
from sewstream.text.tokenizer import CharOffset, CTCTokenizer, Decoded, WordOffset

__all__ = [
    "BatchFeatures",
    "CTCTokenizer",
    "CharOffset",
    "Decoded",
    "FeatureExtractor",
    "Processor",
    "WordOffset",
]
