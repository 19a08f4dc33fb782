"""Whole-file transcription (offline and streaming), output formats and the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from sewstream.cli import main
from sewstream.formats import render
from sewstream.stream import StreamSettings, transcribe_offline, transcribe_streaming
from sewstream.stream.endpoint import EndpointSettings
from sewstream.stream.transcribe import utterance_cuts

from ..conftest import speech_clip
from .test_stream import bursts

WHOLE = StreamSettings(chunk_s=60.0, left_context_s=0.0, right_context_s=0.0, partial_every_s=0.0, max_backlog_s=120.0)


def test_offline_cuts_at_the_silences(recognizer):
    audio = bursts([(0.3, 1.5), (2.6, 3.8)], 5.0)
    cuts = utterance_cuts(audio, recognizer, EndpointSettings())
    g = recognizer.geometry
    assert [g.seconds(c) for c in cuts[:2]] == pytest.approx([2.1, 4.4], abs=0.04)
    assert cuts[-1] == g.frames_in(len(audio))
    long = utterance_cuts(bursts([(0.0, 9.0)], 9.0), recognizer, EndpointSettings(max_utterance_s=2.0))
    assert all(b - a <= g.frames(2.0) for a, b in zip([0] + long, long))


@pytest.mark.parametrize("fixture", ["tiny_ctc_dir", "tiny_group_ctc_dir"])
def test_a_window_as_long_as_the_utterance_reproduces_offline(request, fixture):
    """Streaming differs from offline only by the context each frame sees: give every
    utterance one window and the two agree word for word."""
    from sewstream.stream import Recognizer

    rec = Recognizer.from_pretrained(request.getfixturevalue(fixture), device="cpu")
    try:
        audio = speech_clip("misc/jfk.wav")
        offline = transcribe_offline(rec, audio)
        streamed = transcribe_streaming(rec, audio, settings=WHOLE)
        assert streamed.text == offline.text and offline.text
        assert [len(s.words) for s in streamed.segments] == [len(s.words) for s in offline.segments]
    finally:
        rec.close()


def test_formats(recognizer):
    result = transcribe_offline(recognizer, bursts([(0.3, 1.5), (2.6, 3.8)], 4.4))  # ends at the 2nd cut
    assert len(result.segments) == 2
    data = json.loads(render(result, "json"))
    assert data["text"] == result.text and len(data["segments"]) == 2
    assert set(data["segments"][0]["words"][0]) == {"word", "start", "end", "conf"}
    srt = render(result, "srt")
    assert re.match(r"1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\n\S", srt)
    vtt = render(result, "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.") and "-->" in vtt
    times = re.findall(r"(\d\d):(\d\d):(\d\d)[.,](\d{3})", vtt)
    seconds = [int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000 for h, m, s, ms in times]
    assert seconds == sorted(seconds)
    with pytest.raises(ValueError, match="unknown format"):
        render(result, "doc")


def test_cli_transcribe_writes_every_format(tiny_ctc_dir, tmp_path, capsys):
    audio = bursts([(0.3, 1.5)], 2.5)
    stereo_44k = np.stack([audio, audio], axis=1)
    import soxr
    path = tmp_path / "clip.flac"
    sf.write(path, soxr.resample(stereo_44k, 16000, 44100), 44100)  # any rate and channel count
    for fmt in ("txt", "json", "srt", "vtt"):
        assert main(["transcribe", str(path), "--model", str(tiny_ctc_dir), "--format", fmt,
                     "--output", str(tmp_path / "out")]) == 0
        assert (tmp_path / "out" / f"clip.{fmt}").stat().st_size > 0
    assert main(["transcribe", str(path), "--model", str(tiny_ctc_dir), "--stream"]) == 0
    streamed = capsys.readouterr().out.strip()
    assert main(["transcribe", str(path), "--model", str(tiny_ctc_dir)]) == 0
    assert capsys.readouterr().out.strip() and streamed


def test_cli_transcribe_with_a_language_model(tiny_ctc_dir, tmp_path, capsys):
    from sewstream.text.ngram import build_bigram

    path = tmp_path / "clip.wav"
    sf.write(path, bursts([(0.3, 1.5), (2.5, 3.5)], 4.5), 16000)
    lm = tmp_path / "lm.arpa"
    lm.write_text(build_bigram(["HELLO WORLD", "A BIG HELLO"]))
    assert main(["transcribe", str(path), "--model", str(tiny_ctc_dir), "--lm", str(lm), "--beam", "4",
                 "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    words = [w for seg in result["segments"] for w in seg["words"]]
    assert result["text"] == " ".join(w["word"] for w in words)
    assert all(0 <= w["start"] < w["end"] <= result["duration"] and 0 < w["conf"] <= 1 for w in words)


@pytest.mark.parametrize("argv,message", [
    (["transcribe", "missing.wav"], "audio file not found: missing.wav"),
    (["transcribe", "."], ". is a directory: pass its audio files"),
    (["transcribe", "{clip}", "--model", "/nonexistent/model"], "no checkpoint directory"),
    (["transcribe", "{clip}", "--model", "{model}", "--set", "stream.chunk_s=-1"], "stream.chunk_s"),
    (["transcribe", "{clip}", "--model", "{model}", "--set", "stream.bogus=1"], "unknown config key 'stream.bogus'"),
    (["transcribe", "{bad}", "--model", "{model}"], "bad.wav"),
    (["info", "/nonexistent"], "no checkpoint directory"),
    (["transcribe", "{clip}", "--model", "{model}", "--lm", "{bad}"], "expected an ARPA header"),
    (["transcribe", "{clip}", "--model", "{model}", "--lm", "x.arpa", "--stream"], "language model x.arpa: no such"),
    (["transcribe", "{clip}", "--model", "{model}", "--beam", "0"], "'decoding.beam': 0 must be >= 1"),
    (["transcribe", "{clip}", "--model", "{model}", "--lm-unk-offset", "2"], "'decoding.unk_offset': 2.0 must be <= 0"),
])
def test_cli_errors_are_one_line(tiny_ctc_dir, tmp_path, capsys, argv, message):
    clip = tmp_path / "clip.wav"
    sf.write(clip, bursts([(0.1, 0.5)], 1.0), 16000)
    (tmp_path / "bad.wav").write_bytes(b"RIFF this is not audio")
    argv = [a.format(clip=clip, model=tiny_ctc_dir, bad=tmp_path / "bad.wav") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("sewstream: error: ") and message in err and "Traceback" not in err


def test_the_default_lm_is_the_models_own_when_it_ships_one(tiny_ctc_dir, tmp_path, capsys):
    import gzip
    import shutil

    from sewstream.text.ngram import build_bigram

    clip = tmp_path / "clip.wav"
    sf.write(clip, speech_clip("misc/jfk.wav"), 16000)

    def text(model, *extra) -> str:
        assert main(["transcribe", str(clip), "--model", str(model), "--quiet", *extra]) == 0
        return capsys.readouterr().out.strip()

    assert text(tiny_ctc_dir) == text(tiny_ctc_dir, "--lm", "none")  # no lm.arpa.gz: greedy
    with_lm = tmp_path / "model"
    shutil.copytree(tiny_ctc_dir, with_lm)
    with gzip.open(with_lm / "lm.arpa.gz", "wt") as f:
        f.write(build_bigram(["AND SO MY FELLOW AMERICANS", "ASK NOT WHAT YOUR COUNTRY CAN DO FOR YOU"]))
    default, greedy = text(with_lm), text(with_lm, "--lm", "none")
    assert default == text(with_lm, "--lm", str(with_lm / "lm.arpa.gz")) and default != greedy


def test_info_names_the_models_language_model(tiny_ctc_dir, tmp_path, capsys):
    import gzip
    import shutil

    from sewstream.text.ngram import build_bigram

    assert main(["info", str(tiny_ctc_dir)]) == 0
    assert "language model" not in capsys.readouterr().out
    model = tmp_path / "model"
    shutil.copytree(tiny_ctc_dir, model)
    with gzip.open(model / "lm.arpa.gz", "wt") as f:
        f.write(build_bigram(["HELLO WORLD", "GOOD MORNING WORLD"]))
    assert main(["info", str(model)]) == 0
    assert re.search(r"language model\s+lm\.arpa\.gz: 2-gram, 4 words", capsys.readouterr().out)


def test_cli_transcribes_clips_shorter_than_the_model_needs(tiny_ctc_dir, tmp_path, capsys):
    """No audio, less than one frame, and one frame (fewer than one squeezed frame) all give
    an empty or short transcript, offline and streaming; too-short clips say why."""
    from sewstream.model import load_config

    config = load_config(tiny_ctc_dir)
    field, stride = config.receptive_field, config.inputs_to_logits_ratio
    lengths = {"empty": 0, "sub-frame": field - 1, "one-frame": field, "two-frames": field + stride}
    for name, n in lengths.items():
        sf.write(tmp_path / f"{name}.wav", 0.1 * np.sin(np.arange(n) / 5.0).astype(np.float32), 16000)
    files = [str(tmp_path / f"{name}.wav") for name in lengths]
    for extra in ([], ["--stream"]):
        assert main(["transcribe", *files, "--model", str(tiny_ctc_dir), "--format", "json", *extra]) == 0
        out, err = capsys.readouterr()
        durations = [json.loads(doc)["duration"] for doc in out.replace("}\n{", "}\x00{").split("\x00")]
        assert durations == [round(n / 16000, 3) for n in lengths.values()]
        assert "empty.wav holds 0 ms of audio, less than one" in err and "sub-frame.wav holds" in err
        assert "one-frame.wav" not in err and "Traceback" not in err


def test_lm_flags_reach_the_beam_search(tiny_ctc_dir, tmp_path):
    import argparse

    from sewstream.runtime import add_model_args, load_recognizer
    from sewstream.text.ngram import build_bigram

    lm = tmp_path / "lm.arpa"
    lm.write_text(build_bigram(["HELLO WORLD"]))
    p = argparse.ArgumentParser()
    add_model_args(p)
    args = p.parse_args(["--model", str(tiny_ctc_dir), "--lm", str(lm), "--lm-alpha", "0.7", "--lm-beta", "1.5",
                         "--lm-unk-offset", "-9", "--beam", "4"])
    config, rec = load_recognizer(args)
    try:
        s = rec.rescorer.decoder.settings
        assert (s.alpha, s.beta, s.unk_offset, s.beam) == (0.7, 1.5, -9.0, 4)
        assert config.decoding.unk_offset == -9.0
    finally:
        rec.close()


def test_a_phrase_lm_with_an_unknown_word_offset_binds_the_embedded_model_to_its_words(tmp_path):
    """The README's domain-LM recipe on the demo clip: an LM of a few phrases (the clip's among
    them) only binds with a strong unknown-word offset; without it the spelling stays."""
    from sewstream.defaults import DEFAULT_MODEL_DIR
    from sewstream.stream.recognizer import Recognizer
    from sewstream.text.beam_search import BeamSearchDecoder, BeamSettings
    from sewstream.text.metrics import word_errors
    from sewstream.text.ngram import NgramLM, build_ngram

    examples = DEFAULT_MODEL_DIR.parent / "examples"
    ref = (examples / "hello.txt").read_text().strip()
    lm = NgramLM.parse(build_ngram([ref, "TURN THE LIGHTS ON", "WHAT TIME IS IT"], order=3).splitlines())
    audio, rate = sf.read(examples / "hello.flac", dtype="float32")
    assert rate == 16000
    rec = Recognizer.from_pretrained(DEFAULT_MODEL_DIR)
    try:
        errors = {}
        for offset in (0.0, -10.0):
            v = rec.vocab
            dec = BeamSearchDecoder(v.id_to_token, v.blank, lm, BeamSettings(unk_offset=offset),
                                    delimiter=v.delimiter, skip=v.special)
            errors[offset] = word_errors(ref, transcribe_offline(rec, audio, decoder=dec).text)[0]
    finally:
        rec.close()
    assert 2 * errors[-10.0] <= errors[0.0], errors  # 5 vs 14 of 14 words wrong when written
