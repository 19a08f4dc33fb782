"""Signal level per frame: what endpointing, keyword timing and training-clip trimming measure."""

from __future__ import annotations

import numpy as np


def frame_energy_db(audio: np.ndarray, stride: int) -> np.ndarray:
    """Mean power in dBFS of consecutive ``stride``-sample frames (digital silence -> -100)."""
    n = len(audio) // stride
    power = np.mean(np.square(audio[: n * stride].reshape(n, stride), dtype=np.float64), axis=1)
    return 10 * np.log10(np.maximum(power, 1e-10))
