"""Word and character error rates (Levenshtein alignment), for evaluation and training logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Minimum substitutions + deletions + insertions turning ``ref`` into ``hyp``."""
    if len(ref) < len(hyp):
        ref, hyp = hyp, ref  # keep the DP row short; the distance is symmetric
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


@dataclass
class ErrorRate:
    errors: int = 0
    total: int = 0  # reference units (words or characters)

    @property
    def rate(self) -> float:
        return self.errors / self.total if self.total else float(self.errors > 0)

    def add(self, errors: int, total: int) -> None:
        self.errors += errors
        self.total += total

    def __str__(self) -> str:
        return f"{100 * self.rate:.1f}% ({self.errors}/{self.total})"


def normalize_transcript(text: str) -> str:
    """Uppercase, single spaces: the LibriSpeech reference convention."""
    return " ".join(text.upper().split())


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    r, h = normalize_transcript(ref).split(), normalize_transcript(hyp).split()
    return edit_distance(r, h), len(r)


def char_errors(ref: str, hyp: str) -> tuple[int, int]:
    r, h = normalize_transcript(ref), normalize_transcript(hyp)
    return edit_distance(r, h), len(r)


def wer(refs: Sequence[str], hyps: Sequence[str]) -> ErrorRate:
    out = ErrorRate()
    for r, h in zip(refs, hyps, strict=True):
        out.add(*word_errors(r, h))
    return out


def cer(refs: Sequence[str], hyps: Sequence[str]) -> ErrorRate:
    out = ErrorRate()
    for r, h in zip(refs, hyps, strict=True):
        out.add(*char_errors(r, h))
    return out
