"""Hand-built CTC posteriors and a stand-in for the stream's provisional/stable call pattern."""

from __future__ import annotations

import textwrap

import numpy as np

from sewstream.stream.decode import Vocabulary

TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "|"] + list("ETAONIHSRDLUMWCFGYPBVK'XJQZ")
VOCAB = Vocabulary({i: t for i, t in enumerate(TOKENS)}, blank=0, delimiter="|", special=frozenset({1, 2, 3}))
ID = {t: i for i, t in enumerate(TOKENS)}


def frames(script: str, confidence: float = 8.0, soft: dict[int, tuple[str, float]] | None = None) -> np.ndarray:
    """Logits for a frame script: one character per 20 ms frame, '_' blank, ' ' or '|' delimiter.

    Each frame's token gets ``confidence`` over every other token (all at 0). ``soft`` maps
    frame index -> (token, logit) to raise a second token on that frame.
    """
    logits = np.zeros((len(script), len(TOKENS)), np.float32)
    for i, char in enumerate(script):
        token = "<pad>" if char == "_" else "|" if char in " |" else char
        logits[i, ID[token]] = confidence
    for i, (char, value) in (soft or {}).items():
        logits[i, ID[char]] = value
    return logits


def say(*words: str, gap: int = 8, lead: int = 10, tail: int = 20) -> str:
    """A frame script: each word's letters two frames apart, words ``gap`` frames apart with '|'."""
    parts = []
    for w in words:
        parts.append("_".join(w) if not w.startswith("_") else w)
    middle = ("_" * (gap // 2) + "|" + "_" * (gap - gap // 2 - 1)).join(parts)
    return "_" * lead + middle + "_" * tail


def simulate(spotter, logits: np.ndarray, *, chunk: int = 100, right: int = 30, every: int = 12,
             provisional: np.ndarray | None = None, incremental: bool = True) -> list[tuple[int, object]]:
    """Drive a frame listener like a Stream: a provisional window every ``every`` frames, committed
    chunks once ``right`` frames of look-ahead exist, the rest at the end. ``incremental``: each
    provisional window covers only frames no earlier one covered (the engine's way); otherwise it
    covers the whole uncommitted tail. ``provisional`` (if given) replaces the logits seen in
    provisional calls. Returns (frames available, event) pairs.
    """
    provisional = logits if provisional is None else provisional
    out, next_emit, covered, total = [], 0, 0, len(logits)
    for point in range(every, total + every, every):
        point = min(point, total)
        while next_emit + chunk + right <= point:
            out += [(point, e) for e in spotter(next_emit, logits[next_emit: next_emit + chunk], True) or ()]
            next_emit += chunk
        first = max(next_emit, covered) if incremental else next_emit
        if point > first:
            out += [(point, e) for e in spotter(first, provisional[first: point], False) or ()]
            covered = point
    if next_emit < total:
        out += [(total, e) for e in spotter(next_emit, logits[next_emit:], True) or ()]
    return out


def write_config(path, body: str):
    """Write a dedented YAML config (tests that reload it write the same path again)."""
    path.write_text(textwrap.dedent(body))
    return path
