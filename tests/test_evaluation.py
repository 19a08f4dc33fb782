"""`sewstream eval`: per-set WER/CER table, streaming gap, plot and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sewstream.cli import main
from sewstream.evaluation import compare_clips
from sewstream.text.metrics import cer, edit_distance, wer
from sewstream.text.ngram import build_bigram

ROOT = Path(__file__).resolve().parents[1]


def test_metrics():
    assert edit_distance("kitten", "sitting") == 3 and edit_distance([], ["a"]) == 1
    assert wer(["A B C D"], ["A X C"]).errors == 2 and wer(["A B C D"], ["A X C"]).total == 4
    assert cer(["AB"], ["ab"]).rate == 0.0  # case and spacing are normalised


def test_eval_command(tiny_ctc_dir, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for set_name in ("alpha", "beta"):
        d = tmp_path / "sets" / set_name
        d.mkdir(parents=True)
        lines = []
        for i in range(2):
            sf.write(d / f"{set_name}{i}.wav", (0.05 * rng.standard_normal(12000)).astype(np.float32), 16000)
            lines.append(f"{set_name}{i} HELLO WORLD")
        (d / "transcripts.txt").write_text("\n".join(lines) + "\n")
    plot = tmp_path / "errors.png"
    lm = tmp_path / "lm.arpa"
    lm.write_text(build_bigram(["HELLO WORLD", "HELLO THERE"]))
    assert main(["eval", str(tmp_path / "sets"), "--model", str(tiny_ctc_dir), "--stream", "--quiet",
                 "--plot", str(plot), "--json", str(tmp_path / "rows.json"), "--lm", str(lm), "--beam", "4"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "WER stream" in out and "streaming - offline gap" in out
    assert "WER offline+lm" in out
    assert plot.stat().st_size > 1000
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert len(rows) == 4 and {"ref", "offline", "offline+lm", "stream"} <= set(rows[0])


def test_eval_errors(tiny_ctc_dir, tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--model", str(tiny_ctc_dir)]) == 2
    assert "has no transcripts.txt" in capsys.readouterr().err
    (tmp_path / "transcripts.txt").write_text("missing HELLO\n")
    assert main(["eval", str(tmp_path), "--model", str(tiny_ctc_dir)]) == 2
    assert "no audio for missing" in capsys.readouterr().err


def _rows(hyps: dict[str, str], mode: str = "offline") -> list[dict]:
    refs = {"c1": "THE CAT SAT", "c2": "A DOG RAN", "c3": "NO WORDS HERE", "k1": "YES"}
    return [{"set": "kw" if clip == "k1" else "sents", "clip": clip, "ref": refs[clip], mode: hyp}
            for clip, hyp in hyps.items()]


def test_compare_clips_counts_each_way():
    a = _rows({"c1": "THE CAT SAT", "c2": "A DOG", "c3": "NO WORDS HERE", "k1": "YES"})
    b = _rows({"c1": "THE BAT SAT", "c2": "A DOG RAN", "c3": "NO WORDS HERE", "k1": "NO"})
    by = {c.unit: c for c in compare_clips(a, b)}
    assert (by["word"].better, by["word"].worse) == (1, 2)         # c2 better; c1, k1 worse; c3 same
    assert (by["word"].a.errors, by["word"].b.errors, by["word"].a.total) == (1, 2, 10)
    by = {c.unit: c for c in compare_clips(a, b, skip_sets=("kw",))}
    assert (by["word"].better, by["word"].worse, by["word"].a.total) == (1, 1, 9)
    assert by["char"].mode == "offline" and by["char"].b.errors == 1  # one letter in c1


def test_compare_clips_refuses_different_clips_and_modes():
    a = _rows({"c1": "THE CAT SAT", "c2": "A DOG"})
    with pytest.raises(ValueError, match="different clips, e.g. sents/c2"):
        compare_clips(a, _rows({"c1": "THE CAT SAT"}))
    with pytest.raises(ValueError, match="share no decoding mode"):
        compare_clips(a, _rows({"c1": "THE CAT SAT", "c2": "A DOG"}, mode="stream"))


def test_compare_clips_pools_a_clips_runs_before_judging_it():
    # run 1: B one word worse on c1; run 2: B two words better on c1 -> c1 is better over the two
    a = _rows({"c1": "THE CAT SAT", "c2": "A DOG RAN"}) + _rows({"c1": "X Y Z", "c2": "A DOG RAN"})
    b = _rows({"c1": "THE CAT SIT", "c2": "A DOG RAN"}) + _rows({"c1": "THE Y SAT", "c2": "A DOG RAN"})
    word = next(c for c in compare_clips(a, b) if c.unit == "word")
    assert (word.clips, word.better, word.worse) == (2, 1, 0)
    assert (word.a.errors, word.b.errors, word.a.total) == (3, 2, 12)   # three words of c1 wrong in run 2
    with pytest.raises(ValueError, match="c1 has 2 runs on one side and 1 on the other"):
        compare_clips(a, b[:2] + b[3:])


def test_paired_bootstrap_separates_a_steady_gain_from_a_tie():
    from sewstream.evaluation import paired_bootstrap

    steady = [(5, 3, 50)] * 20  # B two errors fewer on every clip: -4 points, whatever is drawn
    low, high, p_better = paired_bootstrap(steady)
    assert low == pytest.approx(-4.0) and high == pytest.approx(-4.0) and p_better == 1.0
    tie = [(5, 3, 50), (3, 5, 50)] * 10  # as many clips better as worse
    low, high, p_better = paired_bootstrap(tie)
    assert low < 0 < high and 0.3 < p_better < 0.7
    assert paired_bootstrap(tie, seed=1) != paired_bootstrap(tie, seed=2)
    assert paired_bootstrap(tie, seed=1) == paired_bootstrap(tie, seed=1)
    with pytest.raises(ValueError, match="no clips"):
        paired_bootstrap([])


def test_compare_clips_keeps_each_clips_errors_for_resampling():
    a = _rows({"c1": "THE CAT SAT", "c2": "A DOG"})
    b = _rows({"c1": "THE CAT", "c2": "A DOG RAN"})
    word = next(c for c in compare_clips(a, b) if c.unit == "word")
    assert word.per_clip == ((0, 1, 3), (1, 0, 3))
    low, high, _ = word.interval()
    assert low < 0 < high


def test_compare_evals_script(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_rows({"c1": "THE CAT SAT", "c2": "A DOG"})))
    b.write_text(json.dumps(_rows({"c1": "THE CAT", "c2": "A DOG RAN"})))
    script = [sys.executable, str(ROOT / "scripts" / "compare_evals.py")]
    done = subprocess.run([*script, str(a), str(b)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2 clips" in done.stdout
    word = next(line for line in done.stdout.splitlines() if line.startswith("offline") and "word" in line)
    assert word.split()[2:6] == ["16.7%", "16.7%", "1", "1"]
    assert "B-A 95% interval" in done.stdout and "P(B better)" in done.stdout
    done = subprocess.run([*script, str(a), str(b), "--also", str(b), str(a)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2 clips over 2 runs each" in done.stdout   # swapped second run: each clip ties
    word = next(line for line in done.stdout.splitlines() if line.startswith("offline") and "word" in line)
    assert word.split()[2:] == ["16.7%", "16.7%", "0", "0", "+0.0", "..", "+0.0", "0.00"]  # nothing differs
    done = subprocess.run([*script, str(a), str(tmp_path / "missing.json")], capture_output=True, text=True)
    assert done.returncode == 2 and "missing.json" in done.stderr and "Traceback" not in done.stderr
