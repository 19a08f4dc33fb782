"""scripts/export_eval_set.py --train-voices: the held-out sentences in training voices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sewstream.train import tts
from sewstream.train.corpus import CorpusConfig, build_corpus
from sewstream.train.texts import Sentence

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [Sentence(f"GO {w}", f"go {w}", "commands") for w in "UP DOWN LEFT RIGHT BACK".split()]


@pytest.mark.skipif(not tts.engine_available("espeak-ng"), reason="espeak-ng not installed")
def test_export_eval_set_with_training_voices(tmp_path):
    corpus = tmp_path / "corpus"
    config = CorpusConfig(seed=5, train_hours=0.0, test_utts=3, engine_weights={"espeak-ng": 1.0})
    build_corpus(corpus, config, workers=1, eval_dir=None, sentences={"commands": COMMANDS * 2})
    out = tmp_path / "eval"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "export_eval_set.py"), "--corpus", str(corpus),
                           "--out", str(out), "--train-voices", "--workers", "1"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    rows = (out / "trainvoices-espeak-ng" / "transcripts.txt").read_text().split("\n")[:-1]
    test = [json.loads(line)["text"] for line in (corpus / "test.jsonl").read_text().splitlines()]
    assert [r.split(" ", 1)[1] for r in rows] == test  # the held-out sentences, in order
    assert len(list((out / "trainvoices-espeak-ng").glob("*.flac"))) == len(test)
