"""What a lent GPU machine gets: a trimmed sentence pool that makes the same corpus, and TTS
engines that run from the bundle (scripts/device_bundle.py, scripts/device_train.sh)."""

from __future__ import annotations

import itertools
import json
import lzma
import os
import subprocess
import sys
import tarfile

import pytest

from sewstream.train import tts
from sewstream.train.corpus import CorpusConfig, build_corpus, hold_out_sentences, plan, split_voices, trim_pool
from sewstream.train.texts import Sentence
from sewstream.train.tts import Voice

from .conftest import ROOT, load_script


def _pool() -> dict[str, list[Sentence]]:
    prose = [Sentence(f"PROSE NUMBER {i}", f"prose number {i}", "austen") for i in range(400)]
    commands = [Sentence(f"GO {w}", f"go {w}", "commands") for w in "UP DOWN LEFT RIGHT BACK".split()]
    return {"austen": prose, "commands": commands}


def test_trimmed_pool_makes_the_same_plan_and_held_out_set():
    config = CorpusConfig(seed=3, test_utts=10, source_weights={"austen": 0.5, "commands": 0.5})
    voices = [Voice("espeak-ng", "en-us", v) for v in ("", "m1", "m2", "m5")] + [Voice("flite", "slt")]
    pool = _pool()
    trimmed = trim_pool(pool, config, voices, items=60)
    assert len(trimmed["austen"]) < 100 < len(pool["austen"])  # ~30 of 400 used, plus held-out ones
    assert trimmed["commands"] == pool["commands"]  # wrapped around within 60 items: kept whole
    (test_a, train_a), (test_b, train_b) = (hold_out_sentences(p, 10, config) for p in (pool, trimmed))
    assert test_a == test_b
    train_voices = split_voices(voices, config)["train"]
    a = list(itertools.islice(plan("train", train_voices, train_a, config), 60))
    b = list(itertools.islice(plan("train", train_voices, train_b, config), 60))
    assert a == b


@pytest.mark.skipif(not all(tts.engine_available(e) for e in tts.DEFAULT_ENGINES),
                    reason="needs espeak-ng, flite and festival installed (CI has no TTS engines)")
def test_bundle_engines_run_from_the_bundle_alone(tmp_path):
    corpus = tmp_path / "corpus"
    config = CorpusConfig(seed=5, train_hours=4 / 3600, test_utts=2, engine_weights={"espeak-ng": 1.0})
    build_corpus(corpus, config, workers=1, eval_dir=None, sentences={"commands": _pool()["commands"] * 2})
    out = tmp_path / "bundle"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "device_bundle.py"), "--corpus", str(corpus),
                           "--out", str(out), "--no-wheels", "--level", "0"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "corpus" / "config.json").read_text())["config"]["seed"] == 5
    assert set(json.loads(lzma.decompress((out / "corpus" / "sentences.json.xz").read_bytes()))) == {"commands"}

    unpacked = tmp_path / "tts"
    with tarfile.open(out / "tts.tar.xz") as tar:
        tar.extractall(unpacked, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
    # every library beyond the C/C++ runtime resolves inside the bundle
    for binary in (unpacked / "libexec").iterdir():
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True,
                             env={**os.environ, "LD_LIBRARY_PATH": str(unpacked / "lib")}).stdout
        for line in ldd.splitlines():
            name, _, path = line.strip().partition(" => ")
            if path and not any(s in name for s in ("libc.so", "libm.so", "libstdc++", "libgcc_s", "ld-linux")):
                assert path.startswith(str(unpacked / "lib")), (binary.name, line)
    # and the engines synthesise through the wrappers, found first on PATH
    probe = ("from sewstream.train import tts; import shutil\n"
             "for v in (tts.Voice('espeak-ng', 'en-us'), tts.Voice('flite', 'slt'), "
             "tts.Voice('festival', 'kal_diphone')):\n"
             f"    assert shutil.which(v.engine).startswith({str(unpacked)!r}), shutil.which(v.engine)\n"
             "    print(v.engine, len(tts.synthesize(v, 'hello there')))\n")
    env = {**os.environ, "PATH": f"{unpacked / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert ran.returncode == 0, ran.stderr
    lengths = dict(line.split() for line in ran.stdout.splitlines())
    assert set(lengths) == set(tts.DEFAULT_ENGINES) and all(int(n) > 8000 for n in lengths.values())



def _bundle_module():
    return load_script("device_bundle.py")


def test_bundle_packs_mbrola_and_pico_only_for_a_corpus_that_weights_them():
    bundle = _bundle_module()
    free = CorpusConfig()
    assert bundle.bundled_voices(free, ("us1",)) == (tuple(tts.DEFAULT_ENGINES), (), ())
    five = CorpusConfig(engine_weights={"espeak-ng": 0.3, "flite": 0.25, "festival": 0.17, "mbrola": 0.16,
                                        "pico": 0.12})
    engines, mbrola, pico = bundle.bundled_voices(five, ())
    assert engines == (*tts.DEFAULT_ENGINES, "mbrola", "pico") and mbrola == ()
    assert pico == ("en-US",)  # en-GB is the corpus's held-out pico voice: never trained on
    with pytest.raises(SystemExit, match="us3 is a held-out test voice"):
        bundle.bundled_voices(five, ("us3",))


def test_the_voice_list_travels_cut_to_the_bundle_and_engines_keep_their_share():
    bundle = _bundle_module()
    config = CorpusConfig(seed=1, test_utts=4, engine_weights={"espeak-ng": 0.6, "mbrola": 0.2, "pico": 0.2},
                          source_weights={"austen": 0.5, "commands": 0.5})
    mbrola = [Voice("mbrola", v) for v in ("us1", "us2", "us3", "en1", "de1-en", "de2-en", "fr1-en", "fr4-en")]
    voices = [Voice("espeak-ng", "en-us", v) for v in ("", "m1", "m5")] + mbrola + [
        Voice("pico", "en-US"), Voice("pico", "en-GB")]
    kept = bundle.travelling_voices(voices, config, ("us1", "us2"), ("en-US",))
    keys = {v.key for v in kept}
    assert {"mbrola:us1", "mbrola:us2", "pico:en-US"} <= keys and "mbrola:de1-en" not in keys
    assert {"mbrola:us3", "pico:en-GB", "mbrola:fr4-en"} <= keys  # held out: still listed, for the test split
    assert all(v in kept for v in voices if v.engine == "espeak-ng")

    def mbrola_share(listed):  # share of train utterances the device can make with us1 / us2
        items = list(itertools.islice(plan("train", split_voices(listed, config)["train"],
                                           hold_out_sentences(_pool(), 4, config)[1], config), 2000))
        return sum(i.voice.key in ("mbrola:us1", "mbrola:us2") for i in items) / len(items)

    assert mbrola_share(kept) == pytest.approx(0.2, abs=0.03)
    assert mbrola_share(voices) < 0.1  # 2 of the 6 listed training voices: the share the device lost


def test_size_check_leaves_out_what_the_call_moves_aside():
    bundle = _bundle_module()
    classifier = ROOT / "sewstream" / "assets" / "keyword-classifier"
    size = sum(f.stat().st_size for f in classifier.rglob("*") if f.is_file())
    assert size > 0
    assert bundle.tree_bytes() - bundle.tree_bytes(("sewstream/assets/keyword-classifier/",)) == size


@pytest.mark.skipif(not all(tts.engine_available(e) for e in tts.ENGINES) or "us1" not in tts.mbrola_voices(),
                    reason="needs all five TTS engines and mbrola-us1 (CI has no TTS engines)")
def test_bundle_of_a_five_engine_corpus_carries_mbrola_unwrapped_and_no_held_out_voice(tmp_path):
    corpus = tmp_path / "corpus"
    config = CorpusConfig(seed=5, train_hours=2 / 3600, test_utts=2,
                          engine_weights={"espeak-ng": 0.5, "mbrola": 0.25, "pico": 0.25})
    build_corpus(corpus, config, workers=1, eval_dir=None, sentences={"commands": _pool()["commands"] * 2})
    out = tmp_path / "bundle"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "device_bundle.py"), "--corpus", str(corpus),
                           "--out", str(out), "--no-wheels", "--level", "0", "--mbrola-voices", "us1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with tarfile.open(out / "tts.tar.xz") as tar:
        names = set(tar.getnames())
        mbrola = tar.extractfile("bin/mbrola").read(4)
    assert mbrola == b"\x7fELF"  # the program itself: espeak-ng's mbrowrap cannot drive a shell wrapper
    assert "mbrola/us1/us1" in names and not any(n.startswith("mbrola/us3") for n in names)
    assert any(n.startswith("pico/lang/en-US") for n in names)
    assert not any(n.startswith("pico/lang/en-GB") for n in names)
    assert "espeak-ng-data/mbrola_ph" in names
    frozen = json.loads((out / "corpus" / "config.json").read_text())
    listed = {(v["engine"], v["name"]) for v in frozen["voices"]}
    assert ("mbrola", "us1") in listed and ("mbrola", "us2") not in listed  # only what travels trains there
    assert ("mbrola", "us3") in listed  # held out: listed for the test split
    assert frozen["config"] == json.loads((corpus / "config.json").read_text())["config"]
