"""scripts/average_models.py and scripts/judge_candidate.py end to end, on a few real clips."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from sewstream.defaults import DEFAULT_MODEL_DIR
from sewstream.model import load_model
from sewstream.train.trainer import export
from tests.conftest import SPEECH_DIR as SPEECH

from .conftest import ROOT, clip_set, load_script
from .conftest import run_script as script


def test_average_models_writes_the_fp16_mean_with_the_lm(tmp_path):
    package = Path(DEFAULT_MODEL_DIR)
    shifted = load_model(package)
    with torch.no_grad():
        shifted.lm_head.bias.add_(1.0)
    export(shifted, tmp_path / "shifted", dtype=torch.float16)

    done = script("average_models.py", tmp_path / "mean", package, tmp_path / "shifted")
    assert done.returncode == 0, done.stderr
    mean, original = load_model(tmp_path / "mean"), load_model(package)
    assert torch.allclose(mean.lm_head.bias, original.lm_head.bias + 0.5, atol=2e-3)
    assert torch.equal(mean.lm_head.weight, original.lm_head.weight)
    assert (tmp_path / "mean" / "lm.arpa.gz").read_bytes() == (package / "lm.arpa.gz").read_bytes()

    small = type(shifted)(shifted.config.replace(num_hidden_layers=2))
    export(small, tmp_path / "small")
    refused = script("average_models.py", tmp_path / "bad", package, tmp_path / "small")
    assert refused.returncode == 2 and "the models differ in" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "bad").exists()


@pytest.mark.skipif(not (SPEECH / "misc").is_dir(), reason="needs ../shared/data/speech")
def test_judge_measures_once_and_applies_the_rule(tmp_path):
    sentences = clip_set(tmp_path / "sentences", SPEECH / "misc", 2)
    real = tmp_path / "real"
    clip_set(real / "misc", SPEECH / "misc", 2)
    clip_set(real / "speech-commands", SPEECH / "speech-commands", 3)
    same = tmp_path / "same"  # the package itself: ties on every set, so the deciding checks fail
    shutil.copytree(DEFAULT_MODEL_DIR, same)
    common = ["--work", tmp_path / "work", "--synthetic", sentences, "--natural", sentences, "--real", real,
              "--chunks", "2.0", "--keyword-positives", real / "speech-commands", "--keyword-negatives", sentences,
              "--anchor", same]

    first = script("judge_candidate.py", same, *common)
    assert first.returncode == 1, first.stderr
    assert "FAILS" in first.stdout and "(1) FAIL" in first.stdout and "(2) FAIL" in first.stdout
    assert "(3) pass" in first.stdout and "(5) pass" in first.stdout and "(6) pass" in first.stdout
    assert "0 of 1 candidates pass" in first.stdout
    # the candidate's measurements are the baseline's (same files): measured once, then kept
    assert first.stderr.count("synthetic took") == 1
    again = script("judge_candidate.py", same, *common)
    assert again.returncode == 1 and "took" not in again.stderr and again.stdout == first.stdout
    # a set rebuilt in place (here: one file rewritten later) is measured again; the others are kept
    transcripts = sentences / "transcripts.txt"
    stat = transcripts.stat()
    os.utime(transcripts, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rebuilt = script("judge_candidate.py", same, *common)
    assert rebuilt.returncode == 1 and rebuilt.stdout == first.stdout
    assert "synthetic took" in rebuilt.stderr and "natural took" in rebuilt.stderr
    assert "real-2 took" not in rebuilt.stderr

    no_lm = tmp_path / "no-lm"
    shutil.copytree(DEFAULT_MODEL_DIR, no_lm, ignore=shutil.ignore_patterns("lm.arpa.gz"))
    refused = script("judge_candidate.py", no_lm, *common)
    assert refused.returncode == 2 and "no-lm" in refused.stderr and "offline+lm" in refused.stderr
    assert "Traceback" not in refused.stderr

    missing = script("judge_candidate.py", tmp_path / "nowhere", *common)
    assert missing.returncode == 2 and "nowhere: no such directory" in missing.stderr


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_the_anchor_is_a_directory_or_the_package_at_a_git_revision(tmp_path):
    import subprocess

    anchor_model = load_script("judge_candidate.py").anchor_model
    assert anchor_model(str(tmp_path), tmp_path / "work") == tmp_path  # a directory is used as it is
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    unpacked = anchor_model(head, tmp_path / "work")
    committed = subprocess.run(["git", "-C", str(ROOT), "show", f"{head}:sewstream/assets/default-model/vocab.json"],
                               capture_output=True, check=True).stdout
    assert (unpacked / "vocab.json").read_bytes() == committed and (unpacked / "model.safetensors").is_file()
    assert load_model(unpacked) is not None
    with pytest.raises(SystemExit, match="--anchor no-such-rev: .*pass the anchor model's directory"):
        anchor_model("no-such-rev", tmp_path / "work")
    assert [p.name for p in (tmp_path / "work").iterdir()] == [unpacked.name]  # nothing half-made is left
