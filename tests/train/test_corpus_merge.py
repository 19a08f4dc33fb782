"""Merging built corpora: audio and manifests intact, held-out items checked, no resume."""

import json

import numpy as np
import pytest

from sewstream.train.corpus import CorpusConfig, CorpusReader, SplitWriter, build_corpus
from sewstream.train.corpus_merge import MergeError, merge_corpora

from .conftest import load_script


def _corpus(root, tag, voices=("train", "test"), n=3, seed=0):
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    clips = {}
    for split, voice in zip(("train", "test"), voices, strict=True):
        w = SplitWriter(root, split)
        clips[split] = [rng.uniform(-0.5, 0.5, 400 * (i + 1)).astype(np.float32) for i in range(n)]
        for i, clip in enumerate(clips[split]):
            w.append({"id": f"{split}-{i}", "engine": tag, "voice": f"{tag}:{voice}",
                      "text": f"{tag} {split.upper()} {i}"}, clip)
        w.close()
    (root / "config.json").write_text(json.dumps({"config": {}, "voices": []}))
    return clips


def test_merge_keeps_every_utterance_and_its_audio(tmp_path):
    a, b = _corpus(tmp_path / "a", "a"), _corpus(tmp_path / "b", "b", seed=1)
    with open(tmp_path / "b" / "train.pcm", "ab") as fh:
        fh.write(b"\1" * 50)  # a torn build's tail past the manifest: not copied
    summary = merge_corpora([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    for split in ("train", "test"):
        merged = CorpusReader(tmp_path / "m", split)
        want = a[split] + b[split]
        assert len(merged) == len(want)
        for i, clip in enumerate(want):
            assert np.abs(merged.audio(i) - clip).max() < 1 / 16000
        assert [e["id"] for e in merged.entries][:1] == [f"c0-{split}-0"]
        assert merged.entries[3]["id"] == f"c1-{split}-0" and merged.text(3) == f"b {split.upper()} 0"
        assert summary["splits"][split]["engine_hours"].keys() == {"a", "b"}
    assert (tmp_path / "m" / "train.pcm").stat().st_size == 2 * sum(map(len, a["train"] + b["train"]))
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["merged_from"][1].endswith("b")


def test_merge_refuses_a_held_out_voice_trained_on_elsewhere(tmp_path):
    _corpus(tmp_path / "a", "x", voices=("v1", "v2"))
    _corpus(tmp_path / "b", "x", voices=("v2", "v3"))  # b trains on a's held-out voice
    with pytest.raises(MergeError, match="voice x:v2"):
        merge_corpora([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_merge_refuses_bad_sources_and_a_used_output(tmp_path):
    _corpus(tmp_path / "a", "a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MergeError, match="not a built corpus"):
        merge_corpora([tmp_path / "a", tmp_path / "empty"], tmp_path / "m")
    with pytest.raises(MergeError, match="at least two"):
        merge_corpora([tmp_path / "a"], tmp_path / "m")
    _corpus(tmp_path / "b", "b")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("")
    with pytest.raises(MergeError, match="not empty"):
        merge_corpora([tmp_path / "a", tmp_path / "b"], tmp_path / "m")


def test_a_merged_corpus_cannot_be_built_further(tmp_path):
    _corpus(tmp_path / "a", "a")
    _corpus(tmp_path / "b", "b")
    merge_corpora([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    with pytest.raises(ValueError, match="is a merge of"):
        build_corpus(tmp_path / "m", CorpusConfig(seed=0, train_hours=1, test_utts=2), eval_dir=None)


def test_merge_script_reports_errors_without_a_traceback(tmp_path, capsys):
    script = load_script("merge_corpora.py")
    _corpus(tmp_path / "a", "a")
    assert script.main([str(tmp_path / "a"), str(tmp_path / "nope"), "--out", str(tmp_path / "m")]) == 2
    assert "not a built corpus" in capsys.readouterr().err


def test_train_repeats_list_a_source_again_without_copying_audio(tmp_path):
    a, b = _corpus(tmp_path / "a", "a"), _corpus(tmp_path / "b", "b", seed=1)
    summary = merge_corpora([tmp_path / "a", tmp_path / "b"], tmp_path / "m", train_repeats=[1, 3])
    train, test = CorpusReader(tmp_path / "m", "train"), CorpusReader(tmp_path / "m", "test")
    assert len(train) == 3 + 3 * 3 and len(test) == 6  # held-out split never repeated
    assert [e["id"] for e in train.entries[3:]][::3] == ["c1-train-0", "c1r1-train-0", "c1r2-train-0"]
    for i in range(3, len(train)):  # every repeat reads its source's audio
        assert np.abs(train.audio(i) - b["train"][(i - 3) % 3]).max() < 1 / 16000
    assert (tmp_path / "m" / "train.pcm").stat().st_size == 2 * sum(map(len, a["train"] + b["train"]))
    assert summary["train_repeats"] == [1, 3] and summary["splits"]["train"]["utterances"] == 12
    # a merged corpus with repeats merges again (its audio ends before its last entry)
    _corpus(tmp_path / "c", "c", voices=("c1", "c2"), seed=2)
    merge_corpora([tmp_path / "m", tmp_path / "c"], tmp_path / "m2")
    again = CorpusReader(tmp_path / "m2", "train")
    assert len(again) == 15 and np.abs(again.audio(11) - b["train"][2]).max() < 1 / 16000


def test_bad_train_repeats_are_named(tmp_path):
    _corpus(tmp_path / "a", "a"), _corpus(tmp_path / "b", "b")
    for bad in ([1], [1, 0], [1, 2.5]):
        with pytest.raises(MergeError, match="train repeats"):
            merge_corpora([tmp_path / "a", tmp_path / "b"], tmp_path / "m", train_repeats=bad)
    assert not (tmp_path / "m").exists()
