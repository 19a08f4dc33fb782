"""Word LMs from text: the default model's from its corpus (training sentences only, deterministic
bytes), a user's from a text file, and scripts/build_lm.py's argument checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sewstream.text.ngram import NgramLM
from sewstream.train.corpus import CorpusReader
from sewstream.train.lm import text_file_sentences, write_corpus_lm, write_lm


def test_corpus_lm_uses_each_training_sentence_once_and_is_reproducible(corpus, tmp_path):
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
    lm, sentences = write_corpus_lm(corpus, tmp_path / "a" / "lm.arpa.gz", min_count=1)
    train = CorpusReader(corpus, "train")
    assert sentences == len({train.text(i) for i in range(len(train))}) < len(train)
    assert lm.words == {w for i in range(len(train)) for w in train.text(i).split()}
    write_corpus_lm(corpus, tmp_path / "b" / "lm.arpa.gz", min_count=1)
    assert (tmp_path / "a" / "lm.arpa.gz").read_bytes() == (tmp_path / "b" / "lm.arpa.gz").read_bytes()


def test_text_file_lm_normalises_each_line_and_builds_the_asked_order(tmp_path):
    text = tmp_path / "commands.txt"
    text.write_text("Turn the lights on.\n\n  turn the lights OFF\nSet a timer for 5 minutes\n", encoding="utf-8")
    sentences = text_file_sentences(text)
    assert sentences == ["TURN THE LIGHTS ON", "TURN THE LIGHTS OFF", "SET A TIMER FOR FIVE MINUTES"]
    lm = write_lm(sentences, tmp_path / "lm.arpa.gz", order=3, min_count=1)
    assert lm.order == 3 and ("TURN", "THE", "LIGHTS") in lm.probs and "FIVE" in lm.words
    # two words of context: after "THE LIGHTS", ON and OFF share the mass; TIMER is only reached by back-off
    assert lm.log_prob(("THE", "LIGHTS"), "ON") > lm.log_prob(("THE", "LIGHTS"), "TIMER") + 1.0


def test_build_lm_script_refuses_bad_arguments_by_name(tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts" / "build_lm.py"
    text = tmp_path / "t.txt"
    text.write_text("hello world\n", encoding="utf-8")
    cases = {("--text", str(text)): "--text needs --out",
             ("--text", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "a.gz")): "no such file",
             ("--corpus", str(tmp_path), "--out", str(tmp_path / "a.gz")): "not a corpus",
             ("--text", str(text), "--order", "1", "--out", str(tmp_path / "a.gz")): "--order must be 2 or more"}
    for args, message in cases.items():
        done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, args
    done = subprocess.run([sys.executable, str(script), "--text", str(text), "--out", str(tmp_path / "ok.arpa.gz"),
                           "--min-count", "1"], capture_output=True, text=True)
    assert done.returncode == 0 and "2 words" in done.stdout
    assert NgramLM.load(tmp_path / "ok.arpa.gz").log_prob(("HELLO",), "WORLD") > -1.0
