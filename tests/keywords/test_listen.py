"""`sewstream listen --keywords`: triggers printed from a (stand-in) microphone, end to end."""

from __future__ import annotations

import numpy as np
import pytest

from sewstream import cli
from sewstream.audio.ring import RingBuffer
from sewstream.config import load_config

from . import fake_acoustics
from .fake_acoustics import audio_for, spoken


class FileMicrophone:
    """Stands in for MicrophoneSource: the audio is in the ring when capture starts, then it ends."""

    audio = np.zeros(0, np.float32)

    def __init__(self, device=None) -> None:
        self.device = {"name": "test input"}
        self.ring = RingBuffer(len(self.audio) + 16000)

    def start(self) -> None:
        self.ring.write(self.audio)
        self.ring.close()

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("phrases, expected", [("yes,no", ["yes"]), ("no", [])])
def test_listen_prints_keyword_triggers(recognizer, monkeypatch, capsys, phrases, expected):
    fake_acoustics.install(recognizer, soft_tail=0)
    FileMicrophone.audio = audio_for(spoken("SAY", "YES", "NOW", tail=80))
    monkeypatch.setattr("sewstream.audio.mic.MicrophoneSource", FileMicrophone)
    monkeypatch.setattr(cli, "load_recognizer", lambda args: (load_config(None, args.set), recognizer))
    monkeypatch.setattr(recognizer, "close", lambda: None)  # the fixture closes it
    assert cli.main(["listen", "--keywords", phrases]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("[keyword]")] == expected
    assert "SAY YES NOW" in out  # the final line


def test_listen_rejects_a_phrase_the_model_cannot_spell(recognizer, monkeypatch, capsys):
    FileMicrophone.audio = np.zeros(1600, np.float32)
    monkeypatch.setattr("sewstream.audio.mic.MicrophoneSource", FileMicrophone)
    monkeypatch.setattr(cli, "load_recognizer", lambda args: (load_config(None, args.set), recognizer))
    closed = []
    monkeypatch.setattr(recognizer, "close", lambda: closed.append(True))
    assert cli.main(["listen", "--keywords", "caf\u00e9"]) == 2
    assert closed  # the model worker is shut down on the error path too
    err = capsys.readouterr().err
    assert "not in the model's vocabulary" in err and "Traceback" not in err


def test_listen_detector_classifier_uses_the_embedded_classifier(recognizer, monkeypatch, capsys):
    from pathlib import Path

    from sewstream.defaults import embedded_keyword_classifier
    from sewstream.keywords.evaluation import read_clips

    if embedded_keyword_classifier() is None:
        pytest.skip("this installation has no embedded keyword classifier")
    clips = {c.name: c for c in read_clips(Path(__file__).resolve().parents[1] / "data" / "keywords")}
    silence = np.zeros(8000, np.float32)
    FileMicrophone.audio = np.concatenate([silence, clips["yes_us_m5"].audio, silence, silence])
    monkeypatch.setattr("sewstream.audio.mic.MicrophoneSource", FileMicrophone)
    monkeypatch.setattr(cli, "load_recognizer", lambda args: (load_config(None, args.set), recognizer))
    monkeypatch.setattr(recognizer, "close", lambda: None)
    assert cli.main(["listen", "--keywords", "yes,no", "--detector", "classifier"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("[keyword]")] == ["yes"]


def test_listen_detector_without_keywords_is_an_error(capsys):
    assert cli.main(["listen", "--detector", "classifier"]) == 2
    err = capsys.readouterr().err
    assert "--detector applies to --keywords" in err and "Traceback" not in err
