"""A recogniser whose 'model' reads CTC tokens straight out of the audio, for end-to-end tests.

Every 20 ms frame of the test audio is a constant level that names a token: silence is
blank ('_'), 0.1 is blank while speaking ('.', loud enough for the energy endpointer),
0.2 + 0.01 * id is token ``id``. The worker's runners are replaced by functions that decode
those levels into one-hot logits, so a real ``Stream`` (windows, feature cache, worker,
partial and committed results, endpointing, event numbering) runs on posteriors the test
chose. The last ``soft_tail`` frames of every window come out unsure (a window's end has no
right context), so provisional tails differ from the committed frames, as with a real model.
"""

from __future__ import annotations

import numpy as np
import torch

from .helpers import ID

STRIDE, FIELD = 320, 400


def audio_for(script: str) -> np.ndarray:
    levels = []
    for char in script:
        if char == "_":
            levels.append(0.0)
        elif char == ".":
            levels.append(0.1)
        else:
            levels.append(0.2 + 0.01 * ID["|" if char == " " else char])
    # exactly one stride per frame, so scripts can be concatenated on the frame grid
    # (the last frame of the whole stream lacks its final 80 samples: scripts end in silence)
    return np.repeat(np.asarray(levels, np.float32), STRIDE)


def spoken(*words: str, lead: int = 25, tail: int = 50) -> str:
    """Silence, the words (letters two frames apart, '|' between words), silence."""
    inner = ".|.".join(".".join(w) for w in words)
    return "_" * lead + "..." + inner + "..." + "_" * tail


def _frames_of(audio: torch.Tensor) -> torch.Tensor:
    n = (audio.shape[-1] - FIELD) // STRIDE + 1
    return audio[..., : n * STRIDE].reshape(*audio.shape[:-1], n, STRIDE).mean(-1, keepdim=True)


def _logits(levels: torch.Tensor, vocab_size: int, soft_tail: int) -> torch.Tensor:
    code = levels[..., 0]
    ids = torch.where(code < 0.15, torch.zeros_like(code), torch.round((code - 0.2) / 0.01)).long()
    logits = torch.nn.functional.one_hot(ids, vocab_size).float() * 8.0
    if soft_tail:
        logits[..., -soft_tail:, :] *= 0.25  # the window's end: unsure
    return logits


def install(recognizer, soft_tail: int = 4) -> None:
    """Replace the recogniser's model runners with the level decoder."""
    v = recognizer.config.vocab_size
    w = recognizer.worker
    w.add_runner("features", _frames_of)
    w.add_runner("encode", lambda feats: _logits(feats, v, soft_tail))
    w.add_runner("logits", lambda audio: _logits(_frames_of(audio), v, soft_tail))
