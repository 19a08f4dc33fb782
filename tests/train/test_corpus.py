"""Corpus storage (no TTS needed) and a tiny espeak-ng build with resume."""

import json
import logging

import numpy as np
import pytest

from sewstream.train import tts
from sewstream.train.corpus import (
    CorpusConfig,
    CorpusReader,
    SplitWriter,
    VoiceSampler,
    build_corpus,
    hold_out_sentences,
    split_voices,
)
from sewstream.train.texts import Sentence
from sewstream.train.tts import Voice


def _write(root, split, clips):
    w = SplitWriter(root, split)
    for i, clip in enumerate(clips):
        w.append({"id": f"{split}-{i}", "engine": "e", "voice": "e:v", "text": f"TEXT {i}"}, clip)
    w.close()


def test_reader_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    clips = [rng.uniform(-0.9, 0.9, n).astype(np.float32) for n in (1600, 3200, 800)]
    _write(tmp_path, "train", clips)
    r = CorpusReader(tmp_path, "train")
    assert len(r) == 3
    for i, clip in enumerate(clips):
        audio, text = r[i]
        assert text == f"TEXT {i}"
        assert audio.dtype == np.float32 and np.abs(audio - clip).max() < 1 / 16000
    assert r.hours == pytest.approx(5600 / 16000 / 3600)
    assert r.summary()["utterances"] == 3


def test_writer_recovers_from_torn_manifest_and_extra_audio(tmp_path):
    clips = [np.full(1000, 0.1 * (i + 1), np.float32) for i in range(3)]
    _write(tmp_path, "train", clips)
    with open(tmp_path / "train.jsonl", "a") as fh:
        fh.write('{"id": "train-3", "off')  # crash mid-line ...
    with open(tmp_path / "train.pcm", "ab") as fh:
        fh.write(b"\x01\x02" * 500)  # ... after its audio was written
    w = SplitWriter(tmp_path, "train")
    assert w.ids == {"train-0", "train-1", "train-2"} and w.end == 3000
    w.append({"id": "train-3", "text": "X"}, np.full(500, -0.5, np.float32))
    w.close()
    r = CorpusReader(tmp_path, "train")
    assert len(r) == 4 and r.entries[3]["offset"] == 3000
    assert np.allclose(r.audio(3), -0.5, atol=1e-4) and np.allclose(r.audio(2), 0.3, atol=1e-4)
    assert (tmp_path / "train.pcm").stat().st_size == 3500 * 2


def test_writer_drops_entries_whose_audio_is_missing(tmp_path):
    _write(tmp_path, "test", [np.zeros(1000, np.float32)] * 3)
    with open(tmp_path / "test.pcm", "r+b") as fh:
        fh.truncate(2500 * 2)  # last utterance only partly on disk
    w = SplitWriter(tmp_path, "test")
    assert len(w.entries) == 2 and w.end == 2000
    w.close()


def test_voice_and_sentence_holdout():
    cfg = CorpusConfig(test_espeak_variants=("m5",), test_voices=("flite:rms",))
    voices = [
        Voice("espeak-ng", "en-us", "m5"),
        Voice("espeak-ng", "en-gb", "m5"),
        Voice("espeak-ng", "en-us", "m3"),
        Voice("flite", "rms"),
        Voice("flite", "slt"),
    ]
    parts = split_voices(voices, cfg)
    assert {v.key for v in parts["test"]} == {"espeak-ng:en-us+m5", "espeak-ng:en-gb+m5", "flite:rms"}
    pool = {
        "austen": [Sentence(f"A {i}", f"a {i}", "austen") for i in range(50)],
        "commands": [Sentence(f"C {i}", f"c {i}", "commands") for i in range(50)],
    }
    test, train = hold_out_sentences(pool, 20, cfg)
    train_texts = {s.text for v in train.values() for s in v}
    assert len(test) == 20 and not train_texts & {s.text for s in test}
    assert len(train_texts) == 80


def test_voice_sampler_draws_engines_by_weight_not_by_voice_count():
    # 300 espeak-ng variants against 2 pico voices: per engine weight, not per voice.
    voices = [Voice("espeak-ng", "en-us", f"v{i}") for i in range(300)] + [Voice("pico", "en-US"),
                                                                          Voice("pico", "en-GB")]
    cfg = CorpusConfig(engine_weights={"espeak-ng": 0.25, "pico": 0.75, "flite": 0.5},
                       voice_weights={"pico:en-GB": 3.0}, rate_range=(0.9, 1.1), pitch_range=(1.0, 1.0))
    pick = VoiceSampler(voices, cfg)
    assert pick.engines == ["espeak-ng", "pico"]  # flite has no voices here: never drawn
    rng = np.random.default_rng(0)
    drawn = [pick(rng) for _ in range(4000)]
    pico = [v for v in drawn if v.engine == "pico"]
    assert abs(len(pico) / len(drawn) - 0.75) < 0.03
    assert abs(sum(v.name == "en-GB" for v in pico) / len(pico) - 0.75) < 0.03
    assert all(0.9 <= v.rate <= 1.1 and v.pitch == 1.0 for v in drawn)


def test_default_held_out_voices_cover_every_engine():
    held = CorpusConfig().test_voices
    assert {k.split(":")[0] for k in held} == set(tts.ENGINES) - {"espeak-ng"}


def _tiny_pool() -> dict[str, list[Sentence]]:
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
    sents = [" ".join(words[i : i + 2 + i % 4]) for i in range(len(words) - 5)]
    return {"commands": [Sentence(s.upper(), s, "commands") for s in sents]}


def _config(hours: float) -> CorpusConfig:
    return CorpusConfig(seed=5, train_hours=hours, test_utts=2, engine_weights={"espeak-ng": 1.0})


def _dump(root):
    return (
        (root / "train.jsonl").read_text(),
        (root / "train.pcm").read_bytes(),
        (root / "test.jsonl").read_text(),
    )


@pytest.mark.skipif(
    not tts.engine_available("espeak-ng"),
    reason="espeak-ng not installed (apt-get install espeak-ng); CI has no TTS engines",
)
def test_build_resume_is_deterministic(tmp_path):
    ref, res = tmp_path / "ref", tmp_path / "resumed"
    build_corpus(ref, _config(15 / 3600), workers=2, eval_dir=None, sentences=_tiny_pool())
    # Interrupted build: out of time at once, then a smaller target, then a crash mid-append, then resume.
    build_corpus(res, _config(15 / 3600), workers=2, eval_dir=None, sentences=_tiny_pool(), minutes=0.0)
    assert len(CorpusReader(res, "test")) == len(CorpusReader(res, "train")) == 0
    build_corpus(res, _config(6 / 3600), workers=2, eval_dir=None)
    partial = CorpusReader(res, "train")
    assert 6 / 3600 <= partial.hours < 15 / 3600
    with open(res / "train.pcm", "ab") as fh:
        fh.write(b"\0" * 777)
    with open(res / "train.jsonl", "a") as fh:
        fh.write('{"id": "train-9')
    build_corpus(res, _config(15 / 3600), workers=2, eval_dir=None)  # pool comes from the cache
    assert _dump(res) == _dump(ref)
    reader = CorpusReader(ref, "train")
    assert reader.hours >= 15 / 3600
    test = CorpusReader(ref, "test")
    assert len(test) == 2
    train_texts = {e["text"] for e in reader.entries}
    assert not train_texts & {e["text"] for e in test.entries}  # held-out sentences
    assert not {e["voice"] for e in reader.entries} & {e["voice"] for e in test.entries}
    cfg = json.loads((ref / "config.json").read_text())["config"]
    assert cfg["seed"] == 5
    with pytest.raises(ValueError, match="seed"):
        build_corpus(ref, CorpusConfig(seed=6, train_hours=1, test_utts=2), eval_dir=None)


@pytest.mark.skipif(not tts.engine_available("espeak-ng"), reason="espeak-ng not installed")
def test_voices_missing_here_are_skipped_and_named(tmp_path, caplog):
    root = tmp_path / "c"
    build_corpus(root, _config(0.0), workers=1, eval_dir=None, sentences=_tiny_pool(), minutes=0.0)
    saved = json.loads((root / "config.json").read_text())
    en_us = [v for v in saved["voices"] if v["engine"] == "espeak-ng" and v["name"] == "en-us"]
    real = en_us[:3] + [v for v in en_us if v["variant"] == "m5"]  # m5: a held-out test voice
    fake = {"engine": "espeak-ng", "name": "xx-nowhere", "variant": "", "rate": 1.0, "pitch": 1.0}
    saved["voices"] = [*real, fake]
    (root / "config.json").write_text(json.dumps(saved))
    with caplog.at_level(logging.WARNING):
        build_corpus(root, _config(20 / 3600), workers=2, eval_dir=None)
    assert "not installed here" in caplog.text and "espeak-ng:xx-nowhere" in caplog.text
    entries = CorpusReader(root, "train").entries
    assert entries and "espeak-ng:xx-nowhere" not in {e["voice"] for e in entries}
    ids = [int(e["id"].split("-")[1]) for e in entries]
    assert len(ids) < ids[-1] + 1  # plan items were skipped (those of the missing voice), order kept
    assert ids == sorted(ids)
    saved["voices"] = [v for v in saved["voices"] if v["variant"] == "m5"] + [fake]  # no trainable voice
    (root / "config.json").write_text(json.dumps(saved))
    with pytest.raises(tts.TTSUnavailable, match="none of this corpus's training voices"):
        build_corpus(root, _config(40 / 3600), workers=1, eval_dir=None)


def test_build_corpus_script_names_a_bad_engine_weight(tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "build_corpus.py"
    spec = importlib.util.spec_from_file_location("build_corpus", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--out", str(tmp_path / "c"), "--engine-weights", "espeak-ng=1,picoo=1"])
    assert exit_info.value.code == 2 and "unknown engine 'picoo'" in capsys.readouterr().err
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)  # nothing installed
    with pytest.raises(SystemExit):
        script.main(["--out", str(tmp_path / "c"), "--engine-weights", "pico=1"])
    assert "apt-get install libttspico-utils" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_resuming_with_other_engine_weights_is_refused(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    old = CorpusConfig(seed=5, test_utts=2, engine_weights={"espeak-ng": 1.0})
    (root / "config.json").write_text(json.dumps({"config": old.to_json(), "voices": []}))
    new = CorpusConfig(seed=5, test_utts=2, engine_weights={"espeak-ng": 0.5, "pico": 0.5})
    with pytest.raises(ValueError, match="engine weights"):
        build_corpus(root, new, workers=1, eval_dir=None)
