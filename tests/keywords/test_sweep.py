"""The settings sweep: the live trigger rule replayed on a fine grid, budgets, per-keyword thresholds."""

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

from sewstream.keywords.sweep import ScoredClip, best_per_keyword, cross_validate, fire_values, folds_of, sweep

ROOT = Path(__file__).resolve().parents[2]


def test_fire_values_is_the_patience_minimum_on_the_kept_windows():
    s = np.array([0.0, 0.6, 0.7, 0.2, 0.8, 0.9])
    values, idx = fire_values(s, 1, 2, 0)
    np.testing.assert_allclose(values, [0.0, 0.6, 0.2, 0.2, 0.8])
    assert idx.tolist() == [1, 2, 3, 4, 5]
    values, idx = fire_values(s, 2, 1, 1)       # hop 2x, grid on the odd windows
    np.testing.assert_allclose(values, [0.6, 0.2, 0.9])
    assert idx.tolist() == [1, 3, 5]
    values, idx = fire_values(s, 2, 2, 0)       # windows 0, 2, 4 -> runs (0, 2), (2, 4)
    np.testing.assert_allclose(values, [0.0, 0.7])
    assert idx.tolist() == [2, 4]
    assert len(fire_values(s, 4, 3, 0)[0]) == 0  # fewer kept windows than the patience


def clip(keyword, support, speech_end=0.3, seconds=1.0):
    support = np.asarray(support, np.float32)
    ends = 0.125 * np.arange(1, len(support) + 1)
    return ScoredClip("c", "", keyword, seconds, speech_end, support, ends)


def test_sweep_counts_detections_false_accepts_and_latency():
    # keyword 0 rises over windows ending at 0.5, 0.625, 0.75 s; speech ends at 0.3 s
    pos = clip(0, [[0, 0], [0, 0], [0, 0], [0.6, 0], [0.9, 0], [0.9, 0]])
    neg = clip(None, [[0, 0], [0.95, 0], [0, 0], [0, 0.4], [0, 0.4], [0, 0]], seconds=3600)  # one hour
    rows = {(r.step, r.patience): r for r in sweep([pos, neg], 2, [1], [1, 2], [0.5, 0.8, 0.96], 1.0)}
    p1, p2 = rows[(1, 1)], rows[(1, 2)]
    # patience 1: the lone 0.95 spike is a false accept below 0.96; 1 in 1 h fits a budget of
    # 1/h, and 0.5 and 0.8 detect alike with one false accept: the lower threshold
    assert (p1.thresholds, p1.detected, p1.false_accepts) == ([0.5, 0.5], 1, 1)
    assert p1.latency_p50 == pytest.approx(0.5 - 0.3)
    # patience 2 ignores the spike; the pair of 0.4 windows of keyword 1 stays below 0.5
    assert (p2.thresholds, p2.detected, p2.false_accepts) == ([0.5, 0.5], 1, 0)
    assert p2.latency_p50 == pytest.approx(0.625 - 0.3)
    strict = {(r.step, r.patience): r for r in sweep([pos, neg], 2, [1], [1], [0.5, 0.8, 0.96], 0.5)}
    assert strict[(1, 1)].false_accepts == 0 and strict[(1, 1)].detected == 0   # only 0.96 fits; it misses


def test_folds_deal_out_each_keyword_and_the_negatives():
    clips = [clip(k, [[0]]) for k in [0] * 7 + [1] * 4 + [None] * 9]
    fold = folds_of(clips, 3, seed=1)
    for group in (0, 1, None):
        sizes = np.bincount([f for f, c in zip(fold, clips) if c.keyword == group], minlength=3)
        assert sizes.max() - sizes.min() <= 1
    assert folds_of(clips, 3, seed=1).tolist() == fold.tolist() != folds_of(clips, 3, seed=2).tolist()


def test_cross_validation_counts_each_fold_at_thresholds_tuned_on_the_other():
    # one positive (0.7) and one hour of negatives per fold; fold a's negatives spike to 0.8,
    # fold b's to 0.6. Over both hours a budget of 0.6/h allows one false accept: 0.65 detects
    # both. Tuned on b alone (budget 0) 0.65 is chosen and a's spike fires; tuned on a alone only
    # 0.85 is clean, and it misses b's positive.
    clips = [clip(0, [[0.0]]), clip(0, [[0.0]]), clip(None, [[0.0]], seconds=3600), clip(None, [[0.0]], seconds=3600)]
    fold = folds_of(clips, 2)
    for c, f in zip(clips, fold):
        c.support = np.array([[0.7 if c.keyword == 0 else (0.8 if f == 0 else 0.6)]], np.float32)
    (full,) = sweep(clips, 1, [1], [1], [0.65, 0.85], 0.6)
    assert (full.thresholds, full.detected, full.false_accepts) == ([0.65], 2, 1)
    ((row, chosen),) = cross_validate(clips, 1, [1], [1], [0.65, 0.85], 0.6, folds=2)
    assert chosen == [[0.65], [0.85]]   # fold 0 tested at fold 1's choice and vice versa
    assert (row.detected, row.positives, row.false_accepts, row.fa_per_hour) == (1, 2, 1, 0.5)
    assert row.thresholds == [0.65]     # what the whole set would ship
    with pytest.raises(ValueError, match="at least 2 folds"):
        cross_validate(clips, 1, [1], [1], [0.65], 0.6, folds=1)


def test_per_keyword_thresholds_spend_the_budget_where_it_buys_detections():
    detected = np.array([[10, 9, 5], [10, 10, 10]])   # (keywords, thresholds low -> high)
    false = np.array([[0, 0, 0], [3, 1, 0]])
    assert best_per_keyword(detected, false, 0) == [0, 2]
    assert best_per_keyword(detected, false, 1) == [0, 2]           # equal detections: fewer false accepts
    assert best_per_keyword(detected, np.zeros_like(false), 0) == [0, 0]   # then the lower threshold
    assert best_per_keyword(detected, false + 1, 0) == [2, 2]       # nothing fits: the highest thresholds
    rng = np.random.default_rng(0)
    for _ in range(20):                                              # the knapsack equals brute force
        det = np.sort(rng.integers(0, 20, (3, 4)), axis=1)[:, ::-1]
        fa = np.sort(rng.integers(0, 4, (3, 4)), axis=1)[:, ::-1]
        budget = int(rng.integers(0, 5))
        choice = best_per_keyword(det, fa, budget)
        feasible = [sum(det[k, j] for k, j in enumerate(c)) for c in itertools.product(range(4), repeat=3)
                    if sum(fa[k, j] for k, j in enumerate(c)) <= budget]
        if not feasible:
            assert choice == [3, 3, 3]
            continue
        assert sum(fa[k, j] for k, j in enumerate(choice)) <= budget
        assert sum(det[k, j] for k, j in enumerate(choice)) == max(feasible)


def test_sweep_script_scores_once_and_rereads_the_cache(speech_dir, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("sweep_script", ROOT / "scripts" / "sweep_keyword_settings.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    classifier = ROOT / "sewstream" / "assets" / "keyword-classifier"
    cache = tmp_path / "scores.npz"
    argv = ["--classifier", str(classifier), "--keywords", "yes,no,down,stop,go", "--positives",
            str(speech_dir / "speech-commands"), "--negatives", str(speech_dir / "misc"), "--scores", str(cache),
            "--steps", "1,2", "--patience", "1,2"]
    assert script.main(argv) == 0
    first = capsys.readouterr().out
    rows = [line for line in first.splitlines() if line and not line.startswith(("#", " hop"))]
    assert len(rows) == 8                     # 2 hops x 2 patiences, one threshold and per keyword
    assert cache.is_file()
    assert script.main(argv) == 0             # from the cache: same table
    assert capsys.readouterr().out == first
    assert script.main([*argv, "--folds", "2"]) == 0   # plus the cross-validated rows
    cv = capsys.readouterr().out
    assert cv.startswith(first) and "# cross-validated over 2 folds" in cv
    assert len(cv.splitlines()) == len(first.splitlines()) + 1 + 8
    with pytest.raises(SystemExit, match="other settings"):
        script.main([*argv[:-4], "--hop", "0.25", "--steps", "1"])
    with pytest.raises(SystemExit):
        script.main([*argv[:-2], "--patience", "0"])
    assert "values must be >= 1" in capsys.readouterr().err
