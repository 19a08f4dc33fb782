"""TTS interface: WAV parsing, trimming, errors, and (where installed) engines."""

import shutil
import struct

import numpy as np
import pytest

from sewstream.train import tts
from sewstream.train.tts import TTSUnavailable, Voice, parse_wav, synthesize, trim_silence


def wav_bytes(samples: np.ndarray, rate: int, bogus_sizes: bool = False) -> bytes:
    data = (samples * 32767).astype("<i2").tobytes()
    riff, size = (0x7FFFF000, 0x7FFFF000) if bogus_sizes else (36 + len(data), len(data))
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16)
    return struct.pack("<4sI4s", b"RIFF", riff, b"WAVE") + fmt + struct.pack("<4sI", b"data", size) + data


@pytest.mark.parametrize("bogus", [False, True])
def test_parse_wav(bogus):
    x = np.linspace(-0.5, 0.5, 1001).astype(np.float32)
    y, rate = parse_wav(wav_bytes(x, 22050, bogus))
    assert rate == 22050 and len(y) == len(x)
    assert np.allclose(x, y, atol=1e-4)


def test_trim_silence_keeps_margin():
    sr = 16000
    x = np.zeros(3 * sr, np.float32)
    x[sr : 2 * sr] = 0.5 * np.sin(np.arange(sr) / 5)
    y = trim_silence(x, sr, keep_s=0.15)
    assert abs(len(y) - (sr + 2 * int(0.15 * sr))) <= sr // 100
    assert np.abs(y[: int(0.1 * sr)]).max() == 0  # some silence kept in front
    assert len(trim_silence(np.zeros(sr, np.float32))) == 0


def test_missing_engine_error_names_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(TTSUnavailable, match="apt-get install festival"):
        synthesize(Voice("festival", "kal_diphone"), "hello there")
    with pytest.raises(ValueError):
        tts.require_engine("no-such-engine")


def test_voice_key_ignores_prosody():
    v = Voice("espeak-ng", "en-us", "m3")
    assert v.key == "espeak-ng:en-us+m3" == v.with_prosody(1.2, 0.9).key
    assert Voice("flite", "slt").key == "flite:slt"


def _duration(voice: Voice, text: str) -> float:
    return len(synthesize(voice, text)) / tts.SAMPLE_RATE


ENGINE_VOICES = [
    Voice("espeak-ng", "en-us", "m3"),
    Voice("flite", "slt"),
    Voice("festival", "kal_diphone"),
    Voice("festival", "cmu_us_slt_arctic_hts"),
]


@pytest.mark.parametrize("voice", ENGINE_VOICES, ids=lambda v: v.key)
def test_engine_synthesizes_16k_speech_with_rate_control(voice):
    if not tts.engine_available(voice.engine):
        pytest.skip(f"{voice.engine} not installed (apt-get install {voice.engine}); CI has no TTS")
    if voice.engine == "festival" and voice.name not in tts.festival_voices():
        pytest.skip(f"festival voice {voice.name} not installed")
    text = "The quick brown fox jumps over the lazy dog."
    audio = synthesize(voice, text)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 1.0 < len(audio) / 16000 < 6.0
    assert np.sqrt(np.mean(audio**2)) > 0.01 and np.abs(audio).max() <= 1.0
    assert _duration(voice.with_prosody(1.3, 1.0), text) < 0.9 * _duration(voice, text)


def test_list_voices_has_english_espeak():
    if not tts.engine_available("espeak-ng"):
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng); CI has no TTS")
    voices = tts.list_voices(("espeak-ng",))
    assert any(v.name == "en-us" for v in voices)
    assert len({v.key for v in voices}) == len(voices) > 50
