"""What-if sweep of classifier trigger settings from one scoring pass.

Scoring 3 hours of negatives takes ~10 minutes per setting on one core; the settings only
change which windows count. So the clips are scored once on a fine window grid (hop ``h``),
and every coarser hop (``step * h``), patience and threshold is read off those scores: a hop of
``step * h`` keeps every ``step``-th window (from a per-clip phase, as a live stream's grid
falls anywhere on a clip), and a keyword fires at threshold ``t`` on the first window that
ends a run of ``patience`` kept windows whose support (:func:`keyword_support`) all reach
``t``. That is the live rule (:class:`KeywordClassifier`); the latency it gives here is that
window's end after the clip's speech end, without model time and push granularity.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass
class ScoredClip:
    """One clip's keyword support on the fine grid."""

    name: str
    text: str
    keyword: int | None        # the keyword a positive clip says; None for a negative
    seconds: float
    speech_end: float          # seconds into the clip
    support: np.ndarray        # (windows, keywords): keyword_support of each keyword's label
    ends: np.ndarray           # (windows,) where each window ends, seconds into the clip


@dataclass
class SweepRow:
    step: int                  # hop = step * the fine hop
    patience: int
    thresholds: list[float]    # one per keyword
    detection: float
    detected: int
    positives: int
    false_accepts: int
    fa_per_hour: float
    latency_p50: float         # seconds after the speech end (nan: nothing detected)
    latency_p95: float


def fire_values(support: np.ndarray, step: int, patience: int, phase: int) -> tuple[np.ndarray, np.ndarray]:
    """For one keyword's support series: the value each kept window fires at (the minimum over
    the run of ``patience`` kept windows it ends) and those windows' indices in the fine grid."""
    kept = np.arange(phase % step, len(support), step)
    if len(kept) < patience:
        return np.zeros(0), np.zeros(0, int)
    values = np.lib.stride_tricks.sliding_window_view(support[kept], patience).min(axis=1)
    return values, kept[patience - 1:]


def _tables(clips: list[ScoredClip], n_keywords: int, step: int, patience: int, thresholds: np.ndarray,
            phases: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
    """Per keyword and threshold: detections, false accepts; per positive: (keyword, first
    firing time after the speech end at each threshold, inf where it never fires)."""
    detected = np.zeros((n_keywords, len(thresholds)), int)
    false = np.zeros((n_keywords, len(thresholds)), int)
    latency = []
    for clip, phase in zip(clips, phases):
        for k in range(n_keywords) if clip.keyword is None else [clip.keyword]:
            values, idx = fire_values(clip.support[:, k], step, patience, phase)
            if clip.keyword is None:  # one false accept per clip and keyword at most, as eval-keywords counts
                false[k] += values.max(initial=0.0) >= thresholds  # (thresholds are > 0)
                continue
            first = np.full(len(thresholds), np.inf)
            for j, t in enumerate(thresholds):
                hit = np.flatnonzero((values >= t) & (values > 0))
                if len(hit):
                    first[j] = clip.ends[idx[hit[0]]] - clip.speech_end
            detected[k] += np.isfinite(first)
            latency.append((k, first))
    return detected, false, latency


def best_per_keyword(detected: np.ndarray, false: np.ndarray, budget: int) -> list[int]:
    """Threshold index per keyword maximising total detections with at most ``budget`` false
    accepts in all (a knapsack over the small integer false-accept counts); of equal totals, the
    fewest false accepts, then the lowest thresholds (as ``eval-keywords`` picks its operating
    point). Where even the highest thresholds exceed the budget, those."""
    n_kw, n_t = detected.shape
    best: dict[int, tuple[int, list[int]]] = {0: (0, [])}   # false accepts used -> (detections, choice)
    for k in range(n_kw):
        nxt: dict[int, tuple[int, list[int]]] = {}
        for used, (det, choice) in best.items():
            for j in range(n_t):
                u = used + int(false[k, j])
                if u > budget:
                    continue
                cand = (det + int(detected[k, j]), [*choice, j])
                if u not in nxt or cand[0] > nxt[u][0]:
                    nxt[u] = cand
        best = nxt
    if not best:
        return [n_t - 1] * n_kw
    return max(best.items(), key=lambda item: (item[1][0], -item[0], -sum(item[1][1])))[1][1]


def sweep(clips: list[ScoredClip], n_keywords: int, steps: list[int], patiences: list[int],
          thresholds: list[float], max_fa_per_hour: float, seed: int = 0,
          per_keyword: bool | None = False) -> list[SweepRow]:
    """The operating point (best detection within the false-accept budget) of every (step,
    patience): one threshold for all keywords, or with ``per_keyword`` the best threshold each;
    ``None`` gives both from one pass (the one-threshold rows first)."""
    ths = np.array(sorted(thresholds))
    hours = sum(c.seconds for c in clips if c.keyword is None) / 3600
    positives = sum(c.keyword is not None for c in clips)
    budget = int(np.floor(max_fa_per_hour * hours + 1e-9))
    modes = (False, True) if per_keyword is None else (per_keyword,)
    rows: dict[bool, list[SweepRow]] = {mode: [] for mode in modes}
    for step in steps:
        phases = np.random.default_rng(seed).integers(0, step, len(clips))
        for patience, mode in itertools.product(patiences, modes):
            if mode is modes[0]:
                detected, false, latency = _tables(clips, n_keywords, step, patience, ths, phases)
            if mode:
                choice = best_per_keyword(detected, false, budget)
            else:
                ok = [j for j in range(len(ths)) if false[:, j].sum() <= budget] or [len(ths) - 1]
                j = max(ok, key=lambda j: (detected[:, j].sum(), -false[:, j].sum(), -j))
                choice = [j] * n_keywords
            det = int(sum(detected[k, j] for k, j in enumerate(choice)))
            fa = int(sum(false[k, j] for k, j in enumerate(choice)))
            lat = np.array([first[choice[k]] for k, first in latency])
            lat = lat[np.isfinite(lat)]
            p50, p95 = (np.percentile(lat, 50), np.percentile(lat, 95)) if len(lat) else (np.nan, np.nan)
            rows[mode].append(SweepRow(step, patience, [float(ths[j]) for j in choice], det / max(1, positives),
                                       det, positives, fa, fa / hours if hours else float("nan"), float(p50),
                                       float(p95)))
    return [row for mode in modes for row in rows[mode]]
