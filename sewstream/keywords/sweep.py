"""What-if sweep of classifier trigger settings from one scoring pass.

Scoring 3 hours of negatives takes ~10 minutes per setting on one core; the settings only
change which windows count. So the clips are scored once on a fine window grid (hop ``h``),
and every coarser hop (``step * h``), patience and threshold is read off those scores: a hop of
``step * h`` keeps every ``step``-th window (from a per-clip phase, as a live stream's grid
falls anywhere on a clip), and a keyword fires at threshold ``t`` on the first window that
ends a run of ``patience`` kept windows whose support (:func:`keyword_support`) all reach
``t``. That is the live rule (:class:`KeywordClassifier`); the latency it gives here is that
window's end after the clip's speech end, without model time and push granularity.

Thresholds read off the set they are scored on flatter it (most so per keyword, with few
false accepts to spend). :func:`cross_validate` gives the honest figure: the clips are split
into folds, each fold is scored at the thresholds chosen on the others, and the counts summed.
"""

from __future__ import annotations

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


def _choose(detected: np.ndarray, false: np.ndarray, budget: int, per_keyword: bool) -> list[int]:
    """Threshold index per keyword at the operating point (best detection within budget)."""
    if per_keyword:
        return best_per_keyword(detected, false, budget)
    n_t = detected.shape[1]
    ok = [j for j in range(n_t) if false[:, j].sum() <= budget] or [n_t - 1]
    return [max(ok, key=lambda j: (detected[:, j].sum(), -false[:, j].sum(), -j))] * detected.shape[0]


def _budget(max_fa_per_hour: float, hours: float) -> int:
    return int(np.floor(max_fa_per_hour * hours + 1e-9))


def _row(step: int, patience: int, thresholds: list[float], counts: list[tuple[int, int, np.ndarray]],
         positives: int, hours: float) -> SweepRow:
    """A row from (detections, false accepts, latencies) of one or more scored parts."""
    det, fa = sum(c[0] for c in counts), sum(c[1] for c in counts)
    lat = np.concatenate([c[2] for c in counts]) if counts else np.zeros(0)
    lat = lat[np.isfinite(lat)]
    p50, p95 = (np.percentile(lat, 50), np.percentile(lat, 95)) if len(lat) else (np.nan, np.nan)
    return SweepRow(step, patience, thresholds, det / max(1, positives), det, positives, fa,
                    fa / hours if hours else float("nan"), float(p50), float(p95))


def _at(choice: list[int], detected: np.ndarray, false: np.ndarray,
        latency: list[tuple[int, np.ndarray]]) -> tuple[int, int, np.ndarray]:
    return (int(sum(detected[k, j] for k, j in enumerate(choice))),
            int(sum(false[k, j] for k, j in enumerate(choice))),
            np.array([first[choice[k]] for k, first in latency]))


def sweep(clips: list[ScoredClip], n_keywords: int, steps: list[int], patiences: list[int],
          thresholds: list[float], max_fa_per_hour: float, seed: int = 0,
          per_keyword: bool | None = False) -> list[SweepRow]:
    """The operating point (best detection within the false-accept budget) of every (step,
    patience): one threshold for all keywords, or with ``per_keyword`` the best threshold each;
    ``None`` gives both from one pass (the one-threshold rows first)."""
    ths = np.array(sorted(thresholds))
    hours = sum(c.seconds for c in clips if c.keyword is None) / 3600
    positives = sum(c.keyword is not None for c in clips)
    budget = _budget(max_fa_per_hour, hours)
    modes = (False, True) if per_keyword is None else (per_keyword,)
    rows: dict[bool, list[SweepRow]] = {mode: [] for mode in modes}
    for step in steps:
        phases = np.random.default_rng(seed).integers(0, step, len(clips))
        for patience in patiences:
            detected, false, latency = _tables(clips, n_keywords, step, patience, ths, phases)
            for mode in modes:
                choice = _choose(detected, false, budget, mode)
                rows[mode].append(_row(step, patience, [float(ths[j]) for j in choice],
                                       [_at(choice, detected, false, latency)], positives, hours))
    return [row for mode in modes for row in rows[mode]]


def folds_of(clips: list[ScoredClip], folds: int, seed: int = 0) -> np.ndarray:
    """Fold index per clip: each keyword's positives and the negatives dealt out in turn from a
    shuffled order, so every fold has its share of each."""
    rng = np.random.default_rng([seed, folds])
    out = np.zeros(len(clips), int)
    for group in sorted({c.keyword for c in clips}, key=lambda k: -1 if k is None else k):
        members = rng.permutation([i for i, c in enumerate(clips) if c.keyword == group])
        out[members] = np.arange(len(members)) % folds
    return out


def cross_validate(clips: list[ScoredClip], n_keywords: int, steps: list[int], patiences: list[int],
                   thresholds: list[float], max_fa_per_hour: float, folds: int = 2, seed: int = 0,
                   per_keyword: bool = True, fold_seed: int = 0) -> list[tuple[SweepRow, list[list[float]]]]:
    """Each (step, patience) measured on thresholds it was not tuned on: for each fold, the
    operating point is chosen on the other folds (budget scaled to their hours) and counted on
    this one; the rows sum the folds. Returns (row, thresholds chosen per fold); the row's own
    thresholds are those chosen on all clips (what one would ship). ``seed`` places the hop
    grids as :func:`sweep` does; ``fold_seed`` deals the folds."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    ths = np.array(sorted(thresholds))
    fold = folds_of(clips, folds, fold_seed)
    parts = [[i for i in range(len(clips)) if fold[i] == f] for f in range(folds)]
    hours = [sum(clips[i].seconds for i in part if clips[i].keyword is None) / 3600 for part in parts]
    positives = sum(c.keyword is not None for c in clips)
    out = []
    for step in steps:
        phases = np.random.default_rng(seed).integers(0, step, len(clips))
        for patience in patiences:
            tables = [_tables([clips[i] for i in part], n_keywords, step, patience, ths, phases[part])
                      for part in parts]
            counts, chosen = [], []
            for f, (det_f, false_f, lat_f) in enumerate(tables):
                det_rest = sum(t[0] for g, t in enumerate(tables) if g != f)
                false_rest = sum(t[1] for g, t in enumerate(tables) if g != f)
                choice = _choose(det_rest, false_rest, _budget(max_fa_per_hour, sum(hours) - hours[f]), per_keyword)
                chosen.append([float(ths[j]) for j in choice])
                counts.append(_at(choice, det_f, false_f, lat_f))
            det_all, false_all = sum(t[0] for t in tables), sum(t[1] for t in tables)
            full = _choose(det_all, false_all, _budget(max_fa_per_hour, sum(hours)), per_keyword)
            out.append((_row(step, patience, [float(ths[j]) for j in full], counts, positives, sum(hours)), chosen))
    return out
