"""Shared fixtures: small random-weight SEW CTC checkpoints and the real-speech clips.

Random weights give garbage text, but deterministic garbage: enough to test plumbing,
reproducibility and batching invariance. Accuracy tests use the embedded trained model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SPEECH_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "speech"

TINY_CTC = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96,
                num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, conv_bias=True,
                hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, final_dropout=0.0,
                mask_time_prob=0.0, layerdrop=0.0)


def make_ctc_checkpoint(path: Path, *, feat_extract_norm: str = "layer", seed: int = 0, **overrides) -> Path:
    """A random CTC checkpoint with the LibriSpeech character vocab, saved in HF layout."""
    from sewstream.model import SEWConfig, build_model
    from sewstream.text import CTCTokenizer, FeatureExtractor
    from sewstream.train.vocab import VOCAB

    torch.manual_seed(seed)
    config = SEWConfig(**{**TINY_CTC, "feat_extract_norm": feat_extract_norm, **overrides})
    model = build_model(config, "SEWForCTC").eval()
    model.save_pretrained(path)
    CTCTokenizer(dict(VOCAB)).save_pretrained(path)
    # layer-norm models take raw audio (exact streaming feature cache); group-norm ones normalise
    FeatureExtractor(do_normalize=feat_extract_norm == "group",
                     return_attention_mask=feat_extract_norm == "layer").save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_ctc_dir(tmp_path_factory) -> Path:
    """Layer-norm features, raw input: the streaming engine caches conv features exactly."""
    return make_ctc_checkpoint(tmp_path_factory.mktemp("tiny-layer"), feat_extract_norm="layer")


@pytest.fixture(scope="session")
def tiny_group_ctc_dir(tmp_path_factory) -> Path:
    """Group-norm features, normalised input (the asapp checkpoints' kind): per-window audio."""
    return make_ctc_checkpoint(tmp_path_factory.mktemp("tiny-group"), feat_extract_norm="group")


@pytest.fixture
def recognizer(tiny_ctc_dir):
    from sewstream.stream import Recognizer

    rec = Recognizer.from_pretrained(tiny_ctc_dir, device="cpu")
    yield rec
    rec.close()


def speech_clip(relative: str) -> np.ndarray:
    """A real recording from ../shared/data/speech (skips the test when it is absent)."""
    from sewstream.audio.file_source import read_audio_file

    path = SPEECH_DIR / relative
    if not path.exists():
        pytest.skip(f"real speech not available at {path}")
    return read_audio_file(path)[0]


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    if not SPEECH_DIR.is_dir():
        pytest.skip(f"real speech not available at {SPEECH_DIR}")
    return SPEECH_DIR
