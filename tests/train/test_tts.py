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
    Voice("mbrola", "us1"),
    Voice("mbrola", "de4-en"),
    Voice("pico", "en-GB"),
]


@pytest.mark.parametrize("voice", ENGINE_VOICES, ids=lambda v: v.key)
def test_engine_synthesizes_16k_speech_with_rate_control(voice):
    if not tts.engine_available(voice.engine):
        pytest.skip(f"{voice.engine} not installed (apt-get install {voice.engine}); CI has no TTS")
    if voice.engine == "festival" and voice.name not in tts.festival_voices():
        pytest.skip(f"festival voice {voice.name} not installed")
    if voice.engine == "mbrola" and voice.name not in tts.mbrola_voices():
        pytest.skip(f"mbrola database {tts.mbrola_database(voice.name)} not installed")
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


def test_default_voice_list_is_the_free_engines_only():
    # Corpora freeze list_voices() at their first run: the opt-in non-free engines must not
    # enter (and change the plan of) a default corpus just because they are installed.
    assert tts.DEFAULT_ENGINES == ("espeak-ng", "flite", "festival")
    assert {v.engine for v in tts.list_voices()} <= set(tts.DEFAULT_ENGINES)


def test_mbrola_and_pico_voices_listed_when_installed():
    if not (tts.engine_available("mbrola") and tts.engine_available("pico")):
        pytest.skip("mbrola / pico not installed (Debian contrib + non-free); CI has no TTS")
    keys = {v.key for v in tts.list_voices(("mbrola", "pico"))}
    assert {"mbrola:us1", "pico:en-US", "pico:en-GB"} <= keys
    assert all(k.split(":")[1] in tts.mbrola_voices() for k in keys if k.startswith("mbrola:"))


def test_accented_mbrola_voice_uses_its_language_database(tmp_path, monkeypatch):
    # "de4-en" is English spoken through the German de4 database: listed iff de4 is installed.
    assert tts.mbrola_database("de4-en") == "de4" and tts.mbrola_database("us1") == "us1"
    for db in ("us1", "de4"):
        (tmp_path / db).mkdir()
        (tmp_path / db / db).write_bytes(b"")
    monkeypatch.setattr(tts, "MBROLA_VOICE_ROOT", tmp_path)
    tts.mbrola_voices.cache_clear()
    try:
        assert tts.mbrola_voices() == ["us1", "de4-en"]
    finally:
        monkeypatch.undo()
        tts.mbrola_voices.cache_clear()


def test_pico_and_mbrola_pitch_factor_moves_f0():
    for voice in (Voice("pico", "en-US"), Voice("mbrola", "us2")):
        if not tts.engine_available(voice.engine):
            pytest.skip(f"{voice.engine} not installed; CI has no TTS")
        text = "hello there, how are you"
        low, high = (_median_f0(synthesize(voice.with_prosody(1.0, p), text)) for p in (0.85, 1.2))
        assert high > 1.2 * low, (voice.key, low, high)


def _median_f0(audio: np.ndarray, sr: int = tts.SAMPLE_RATE) -> float:
    """Median autocorrelation pitch (60-400 Hz) of the voiced 40 ms frames."""
    frame, f0s = int(0.04 * sr), []
    for i in range(0, len(audio) - frame, frame):
        x = audio[i : i + frame] - audio[i : i + frame].mean()
        if np.sqrt(np.mean(x**2)) < 0.02:
            continue
        ac = np.correlate(x, x, "full")[frame - 1 :]
        lo, hi = sr // 400, sr // 60
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            f0s.append(sr / lag)
    return float(np.median(f0s))


def test_unknown_mbrola_or_pico_voice_is_named():
    if not (tts.engine_available("mbrola") and tts.engine_available("pico")):
        pytest.skip("mbrola / pico not installed; CI has no TTS")
    with pytest.raises(TTSUnavailable, match="'xx9'.*known: en1, us1"):
        synthesize(Voice("mbrola", "xx9"), "hello")
    with pytest.raises(TTSUnavailable, match="en-AU"):
        synthesize(Voice("pico", "en-AU"), "hello")
