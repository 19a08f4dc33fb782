"""Tests for sewstream.audio.resample: lengths, pitch preservation, identity, errors."""

import numpy as np
import pytest

from sewstream.audio.resample import MAX_SAMPLE_RATE, resample, to_mono


def _sine(freq_hz: float, sr: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _peak_hz(signal: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / sr)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("orig_sr", "target_sr"), [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000)]
)
def test_length_follows_rate_ratio(orig_sr, target_sr):
    audio = np.random.default_rng(0).standard_normal(orig_sr * 2).astype(np.float32)
    out = resample(audio, orig_sr, target_sr)
    assert out.dtype == np.float32
    assert out.ndim == 1
    assert abs(len(out) - len(audio) * target_sr / orig_sr) <= 1


@pytest.mark.parametrize(
    ("orig_sr", "target_sr", "freq"), [(44100, 16000, 440.0), (48000, 16000, 1000.0), (8000, 16000, 3000.0)]
)
def test_sine_keeps_its_frequency(orig_sr, target_sr, freq):
    out = resample(_sine(freq, orig_sr), orig_sr, target_sr)
    bin_hz = target_sr / len(out)
    assert abs(_peak_hz(out, target_sr) - freq) <= bin_hz
    # Amplitude survives too (well inside the passband).
    assert np.max(np.abs(out[100:-100])) == pytest.approx(0.5, abs=0.02)


def test_multichannel_layout_is_kept():
    stereo = np.stack([_sine(440, 48000), _sine(1000, 48000)], axis=1)
    out = resample(stereo, 48000, 16000)
    assert out.shape == (16000, 2)
    assert abs(_peak_hz(out[:, 0], 16000) - 440) <= 1
    assert abs(_peak_hz(out[:, 1], 16000) - 1000) <= 1


def test_identity_when_rates_equal():
    audio = np.random.default_rng(1).standard_normal(1000)  # float64 in
    out = resample(audio, 16000, 16000)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, audio.astype(np.float32))
    out[0] = 123.0  # a copy, never a view of the caller's buffer
    assert audio[0] != 123.0


def test_int16_is_scaled_to_unit_range():
    pcm = np.array([-32768, 0, 16384], dtype=np.int16)
    np.testing.assert_array_equal(resample(pcm, 16000, 16000), [-1.0, 0.0, 0.5])


def test_empty_audio_stays_empty():
    assert resample(np.zeros(0, np.float32), 44100, 16000).shape == (0,)


@pytest.mark.parametrize("bad", [0, -16000, 384_001, 10**9, float("nan")])
@pytest.mark.parametrize("which", ["orig_sr", "target_sr"])
def test_bad_rates_are_named(bad, which):
    rates = {"orig_sr": 16000, "target_sr": 16000, which: bad}
    with pytest.raises(ValueError) as err:
        resample(np.zeros(100, np.float32), **rates)
    assert which in str(err.value)
    assert repr(bad) in str(err.value)


def test_absurd_rate_message_mentions_limit():
    with pytest.raises(ValueError, match=str(MAX_SAMPLE_RATE)):
        resample(np.zeros(100, np.float32), 16000, 1_000_000)


def test_non_numeric_rate_rejected():
    with pytest.raises(ValueError, match="'16k'"):
        resample(np.zeros(100, np.float32), "16k", 16000)


def test_wrong_rank_and_dtype_rejected():
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\)"):
        resample(np.zeros((2, 3, 4), np.float32), 44100, 16000)
    with pytest.raises(TypeError, match="int32"):
        resample(np.zeros(10, np.int32), 44100, 16000)


def test_to_mono_averages_channels():
    stereo = np.array([[1.0, 0.0], [0.5, -0.5], [0.2, 0.4]], dtype=np.float32)
    np.testing.assert_allclose(to_mono(stereo), [0.5, 0.0, 0.3], rtol=1e-6)
    assert to_mono(stereo).dtype == np.float32


def test_to_mono_passes_mono_through_and_rejects_bad_rank():
    mono = np.arange(5, dtype=np.float64)
    out = to_mono(mono)
    assert out.dtype == np.float32 and out.shape == (5,)
    np.testing.assert_array_equal(out, mono)
    with pytest.raises(ValueError, match="shape"):
        to_mono(np.zeros((2, 2, 2)))
