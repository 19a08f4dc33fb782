"""Hard-negative mining: which windows of keyword-free sentences a classifier confuses."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sewstream.keywords.classifier import keyword_support
from sewstream.model import load_model
from sewstream.text import FeatureExtractor
from sewstream.train.corpus import CorpusReader
from sewstream.train.keyword_mining import HardNegative, mine
from sewstream.train.keyword_model import classifier_from_ctc
from sewstream.train.keyword_windows import keyword_free

N = 16000
LABELS = ["yes", "no", "_unknown_", "_silence_"]


def tone_at(seconds: float, where: list[float], freq: float) -> np.ndarray:
    """``seconds`` of quiet with a 0.3 s tone of ``freq`` starting at each of ``where``."""
    audio = np.zeros(int(seconds * N), np.float32)
    t = np.arange(int(0.3 * N)) / N
    for w in where:
        audio[int(w * N):int(w * N) + len(t)] = 0.5 * np.sin(2 * np.pi * freq * t)
    return audio


def fake_classifier(windows: np.ndarray) -> np.ndarray:
    """"yes" (p 0.9) for a window holding the whole 400 Hz tone, "no" (0.4) for 800 Hz, else
    _unknown_; a tone cut by the window edge does not count."""
    out = np.tile([0.0, 0.0, 0.9, 0.1], (len(windows), 1))
    for k, w in enumerate(windows):
        loud = np.flatnonzero(np.abs(w) > 0.01)
        if not len(loud) or loud[-1] - loud[0] < 0.29 * N or loud[0] < 50 or loud[-1] > len(w) - 50:
            continue
        spectrum = np.abs(np.fft.rfft(w))
        freq = np.argmax(spectrum) * N / len(w)
        out[k] = [0.9, 0.05, 0.05, 0.0] if abs(freq - 400) < 10 else [0.05, 0.4, 0.55, 0.0]
    return out


def fake_support(windows: np.ndarray) -> np.ndarray:
    return keyword_support(fake_classifier(windows), LABELS, ["_unknown_", "_silence_"])[:, :2]


def test_mines_the_windows_around_each_confusion_with_their_place_and_label():
    sentences = [(7, tone_at(3.0, [1.0], 400)), (9, tone_at(2.0, [0.2], 800)), (11, tone_at(2.0, [], 400))]
    found = list(mine(fake_support, LABELS[:2], sentences, hop=2000, pad=8000,
                      min_prob=0.3))
    assert {h.sentence for h in found} == {7, 9}              # the tone-free sentence gives nothing
    yes = [h for h in found if h.sentence == 7]
    assert all(h.label == "yes" and abs(h.prob - 0.9) < 1e-6 for h in yes)
    # every window that holds the whole tone (1.0-1.3 s) is found, on the hop grid, and no other
    expected = [s - 8000 for s in range(0, 3 * N + 16000 - N + 1, 2000) if s - 8000 < N and s - 8000 + N > 1.3 * N]
    assert [h.start for h in yes] == expected
    no = [h for h in found if h.sentence == 9]
    assert no and all(h.label == "no" for h in no)
    assert min(h.start for h in no) < 0                        # a tone near the start: the window hangs over


def test_min_prob_and_windows_without_a_keyword():
    sentences = [(9, tone_at(2.0, [0.5], 800))]
    assert list(mine(fake_support, LABELS[:2], sentences, min_prob=0.5)) == []   # "no" only reaches 0.4
    found = list(mine(fake_support, LABELS[:2], sentences, min_prob=0.01))
    # windows the classifier calls _unknown_ (no whole tone) support no keyword at any min_prob
    assert found and all(isinstance(h, HardNegative) and h.label == "no" for h in found)
    assert all(h.start <= 0.5 * N and h.start + N >= 0.8 * N for h in found)


ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mining_script_writes_a_file_the_trainer_reads(tiny_ctc_dir, corpus, tmp_path):
    classifier = tmp_path / "classifier"
    classifier_from_ctc(load_model(tiny_ctc_dir), LABELS).eval().save_pretrained(classifier)
    FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(classifier)
    out = tmp_path / "hard.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "mine_keyword_negatives.py"),
                           "--classifier", str(classifier), "--corpus", str(corpus), "--out", str(out),
                           "--hours", "1", "--min-prob", "0.01", "--hop", "0.5"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    reader = CorpusReader(corpus, "train")
    free = [i for i in range(len(reader)) if keyword_free(reader.text(i), ["yes", "no"])]
    assert 0 < len(free) < len(reader)
    # min-prob 0.01: a random classifier's top keyword passes everywhere, so every window of every
    # keyword-free sentence (and of no other) is listed, on the 0.5 s grid from -0.5 s
    assert {w[0] for w in data["windows"]} == set(free)
    assert all(w[1] % 8000 == 0 and w[1] >= -8000 and w[2] in ("yes", "no") for w in data["windows"])
    expected = sum(len(range(0, reader.entries[i]["num_samples"] + 16000 - N + 1, 8000)) for i in free)
    assert len(data["windows"]) == expected

    trainer = load_script("train_keyword_classifier")
    pairs = trainer.read_hard_negatives(out, corpus, ["yes", "no"])
    assert pairs == [(w[0], w[1]) for w in data["windows"]]
    # a second mining round: its new places join, the places both rounds found count once
    again = tmp_path / "hard2.json"
    again.write_text(json.dumps({**data, "windows": [*data["windows"][:2], [free[0], 123, "yes", 0.9]]}))
    assert trainer.hard_negative_union([out, again], corpus, ["yes", "no"]) == [*pairs, (free[0], 123)]
    with pytest.raises(SystemExit, match="was mined from"):
        trainer.read_hard_negatives(out, tmp_path, ["yes", "no"])
    # which keywords the random head fires on depends on the RNG state (test order): leave one it did out
    fired = sorted({w[2] for w in data["windows"]})
    with pytest.raises(SystemExit, match=f"windows for {fired[0]}.*not among --keywords"):
        trainer.read_hard_negatives(out, corpus, [k for k in ("yes", "no") if k != fired[0]])
    with pytest.raises(SystemExit, match="has labels"):
        trainer.load_classifier(classifier, ["no", "yes", "_unknown_", "_silence_"])
    assert not any(p.requires_grad for p in
                   trainer.load_classifier(classifier, LABELS).backbone.feature_extractor.parameters())


def test_mining_script_refuses_a_ctc_model(tiny_ctc_dir, corpus, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "mine_keyword_negatives.py"),
                           "--classifier", str(tiny_ctc_dir), "--corpus", str(corpus), "--out",
                           str(tmp_path / "x.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "not a sequence classifier" in done.stderr
    assert "Traceback" not in done.stderr


def test_trainer_refuses_a_hard_share_outside_the_sentence_share_before_doing_anything(corpus, tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_keyword_classifier.py"), "--run", str(run),
                           "--corpus", str(corpus), "--hard-share", "0.5"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--hard-share must be in (0, 0.3]" in done.stderr
    assert not run.exists()


def test_trainer_names_a_bad_engine_weight_before_doing_anything(corpus, tmp_path):
    run = tmp_path / "run"
    for weights, message in [("espeak-ng=0.5,festvial=0.5", "unknown engine 'festvial'"),
                             ("flite=lots", "weight of flite is not a number: 'lots'"),
                             ("flite=-1", "weight of flite must be >= 0"),
                             ("pico=0", "no engine has a positive weight")]:
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_keyword_classifier.py"), "--run",
                               str(run), "--corpus", str(corpus), "--engine-weights", weights],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert not run.exists()
    assert load_script("train_keyword_classifier").parse_engine_weights(" flite=0.25, pico=1 ") == \
        {"flite": 0.25, "pico": 1.0}
