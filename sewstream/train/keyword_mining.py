"""Hard-negative mining for a keyword classifier.

Random crops of keyword-free sentences rarely land on the few places that sound like a
keyword ("nobody", "go-", "don't"), yet those are where a trained classifier fires falsely.
Mining slides the classifier over keyword-free sentences on the eval grid (1 s windows every
``hop``) and keeps every window where some keyword is the top word label with probability
>= ``min_prob``; a next training run draws a share of its ``_unknown_`` windows from these
places (``WindowSampler(hard_negatives=...)``). Mine the *training* corpus only, so an
evaluation on held-out voices stays unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .keyword_windows import cut


@dataclass(frozen=True)
class HardNegative:
    sentence: int       # index in the corpus split
    start: int          # window start, samples from the sentence start (negative: hangs over)
    label: str          # the keyword the classifier took it for
    prob: float


def mine(score: Callable[[np.ndarray], np.ndarray], keywords: Sequence[str],
         sentences: Iterable[tuple[int, np.ndarray]], *, window: int = 16000, hop: int = 4000,
         pad: int = 8000, min_prob: float = 0.3, batch: int = 32) -> Iterable[HardNegative]:
    """Yield the windows of each ``(id, audio)`` sentence that ``score`` ((B, window) ->
    (B, keywords) support, e.g. ``sewstream.keywords.classifier.keyword_support`` of the
    classifier's probabilities) gives some keyword >= ``min_prob``.

    Windows end every ``hop`` samples over the audio padded by ``pad`` zeros on each side
    (as ``sewstream eval-keywords`` scores a clip), so a word at either end is seen whole.
    """
    for sid, audio in sentences:
        audio = np.asarray(audio, np.float32)
        starts = list(range(-pad, max(len(audio) + pad - window, -pad) + 1, hop))
        windows = np.stack([cut(audio, s, window) for s in starts])
        support = np.concatenate([score(windows[i:i + batch]) for i in range(0, len(windows), batch)])
        best = support.argmax(axis=1)
        for s, j, p in zip(starts, best, support[np.arange(len(best)), best]):
            if p >= min_prob:
                yield HardNegative(sid, s, keywords[int(j)], float(p))
