"""scripts/probe_plateau.py: overfit one fixed batch from scratch and report the loss curve."""

from __future__ import annotations

import json

from .conftest import run_script


def test_probe_prints_and_writes_both_heads_curves(corpus, tmp_path):
    out = tmp_path / "curve.json"
    res = run_script("probe_plateau.py", "--corpus", corpus, "--layers", "2", "--inter-weight", "0.3",
                     "--inter-layer", "1", "--steps", "4", "--every", "2", "--batch-seconds", "3",
                     "--threshold", "1000", "--json", out)
    assert res.returncode == 0, res.stderr
    assert "2 layers, fixed batch of" in res.stdout and "left the plateau (loss < 1000.0) at step 1" in res.stdout
    curve = json.loads(out.read_text())
    assert [row[0] for row in curve] == [2, 4] and all(row[1] > 0 and row[2] > 0 for row in curve)

    res = run_script("probe_plateau.py", "--corpus", corpus, "--layers", "1", "--steps", "2", "--every", "1",
                     "--batch-seconds", "3", "--threshold", "0")
    assert res.returncode == 0, res.stderr
    assert "still on the plateau after 2 steps" in res.stdout and "intermediate CTC off" in res.stdout
    assert "loss" in res.stdout and "  intermediate " not in res.stdout


def test_probe_names_bad_settings(corpus, tmp_path):
    res = run_script("probe_plateau.py", "--corpus", tmp_path)
    assert res.returncode == 2 and "not a corpus" in res.stderr
    res = run_script("probe_plateau.py", "--corpus", corpus, "--layers", "2", "--inter-weight", "0.3",
                     "--inter-layer", "2")
    assert res.returncode == 2 and "inter_ctc_layer=2: expected a layer number from 1 to 1" in res.stderr
