"""Shared fixtures for the training tests."""

from __future__ import annotations

import numpy as np
import pytest

from sewstream.train.corpus import SplitWriter


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    words = ["YES", "NO", "GO", "STOP", "LEFT", "RIGHT"]
    (tmp_path / "corpus").mkdir()
    for split, n in (("train", 24), ("test", 4)):
        writer = SplitWriter(tmp_path / "corpus", split)
        for i in range(n):
            text = " ".join(rng.choice(words, 2))
            audio = (0.1 * np.sin(np.arange(int(rng.integers(6000, 16000))) * (0.05 + 0.01 * len(text)))
                     + 0.01 * rng.standard_normal(1)).astype(np.float32)
            writer.append({"id": f"{split}-{i}", "engine": "synthetic", "voice": "v", "text": text}, audio)
        writer.close()
    return tmp_path / "corpus"
