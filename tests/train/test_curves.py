"""Reading the training log back: resumed steps, cut-short lines, the eval table."""

from __future__ import annotations

import json

from sewstream.train.curves import eval_table, read_log, read_revisions


def test_later_lines_win_and_a_cut_line_is_skipped(tmp_path):
    lines = [{"step": 25, "loss": 3.0, "hours_seen": 0.3}, {"step": 50, "loss": 2.9, "hours_seen": 0.6},
             {"step": 50, "eval": {"synthetic-test": {"wer": 0.9, "cer": 0.5}}},
             {"step": 50, "loss": 2.5, "hours_seen": 0.6}]  # resumed from step 25: step 50 again
    text = "\n".join(json.dumps(x) for x in lines) + '\n{"step": 75, "lo'
    (tmp_path / "log.jsonl").write_text(text)
    losses, evals = read_log(tmp_path / "log.jsonl")
    assert list(losses) == [25, 50] and losses[50]["loss"] == 2.5
    assert evals == {50: {"synthetic-test": {"wer": 0.9, "cer": 0.5}}}
    table = eval_table(evals, losses).splitlines()
    assert table[0] == "| step | audio seen | synthetic-test WER | synthetic-test CER |"
    assert table[2] == "| 50 | 1 h | 90.0% | 50.0% |"


def test_revisions_are_read_back_in_order_and_do_not_disturb_the_curves(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"step": 25, "loss": 3.0, "hours_seen": 0.1},
        {"revision": "total_steps", "old": 40000, "new": 13500, "step": 30},
        {"step": 50, "loss": 2.0, "hours_seen": 0.2},
        {"revision": "lr", "old": 0.001, "new": 0.0005, "step": 50},
    ]) + "\n")
    assert [r["revision"] for r in read_revisions(log)] == ["total_steps", "lr"]
    losses, evals = read_log(log)
    assert sorted(losses) == [25, 50] and evals == {}


def test_weight_averaging_evals_join_the_table_as_their_own_columns(tmp_path):
    from sewstream.train.curves import with_swa_evals

    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"step": 50, "loss": 2.0, "hours_seen": 0.6},
        {"step": 50, "eval": {"synthetic-test": {"wer": 0.9, "cer": 0.5}}},
        {"step": 50, "swa_eval": {"synthetic-test": {"wer": 0.8, "cer": 0.4}}, "swa_count": 3}]) + "\n")
    losses, evals = read_log(log)
    assert evals == {50: {"synthetic-test": {"wer": 0.9, "cer": 0.5}}}  # the run's own curve, unchanged
    merged = with_swa_evals(evals, log)
    assert merged[50]["synthetic-test (swa)"] == {"wer": 0.8, "cer": 0.4} and "synthetic-test" in merged[50]
    assert eval_table(merged, losses).splitlines()[2] == "| 50 | 1 h | 90.0% | 50.0% | 80.0% | 40.0% |"
