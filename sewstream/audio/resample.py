"""Sample-rate conversion and channel mix-down for whole audio buffers.

Audio arrays follow the ``soundfile`` layout: 1-D ``(frames,)`` for mono,
2-D ``(frames, channels)`` for multi-channel. Results are always float32.

``resample`` is one-shot (it sees the whole buffer, so there are no chunk-edge
artefacts); a live source that resamples chunk by chunk should keep a
``soxr.ResampleStream`` instead.
"""

from __future__ import annotations

import numbers

import numpy as np
import soxr

#: Highest sample rate we accept; anything above is almost certainly a bug
#: (e.g. a sample count passed where a rate was expected).
MAX_SAMPLE_RATE = 384_000

#: soxr quality preset: "HQ" is 20-bit precision, plenty for 16 kHz ASR input.
RESAMPLE_QUALITY = "HQ"

_INT16_SCALE = 1.0 / 32768.0


def _check_rate(name: str, rate: object) -> None:
    """Reject rates that are not numbers in (0, MAX_SAMPLE_RATE]."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ValueError(f"{name} must be a sample rate in Hz (a number), got {rate!r}")
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"{name} must be a positive sample rate in Hz, got {rate!r}")
    if rate > MAX_SAMPLE_RATE:
        raise ValueError(
            f"{name}={rate!r} Hz is above the supported maximum of {MAX_SAMPLE_RATE} Hz;"
            " was a sample count passed instead of a rate?"
        )


def _as_float32(audio: np.ndarray) -> np.ndarray:
    """Convert float arrays to float32 and int16 PCM to [-1, 1) float32."""
    audio = np.asarray(audio)
    if audio.dtype == np.int16:
        return audio.astype(np.float32) * np.float32(_INT16_SCALE)
    if not np.issubdtype(audio.dtype, np.floating):
        raise TypeError(f"audio must be floating point or int16 PCM, got dtype {audio.dtype}")
    return audio.astype(np.float32, copy=False)


def _check_layout(audio: np.ndarray) -> None:
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must be 1-D (frames,) or 2-D (frames, channels), got shape {audio.shape}")


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``audio`` from ``orig_sr`` to ``target_sr`` Hz with soxr (HQ).

    Args:
        audio: ``(frames,)`` or ``(frames, channels)``; floating point, or int16
            PCM which is scaled by 1/32768.
        orig_sr: rate ``audio`` was recorded at, in Hz.
        target_sr: wanted rate in Hz (16000 for SEW / SEW-D).

    Returns:
        A new float32 array with the same layout and about
        ``frames * target_sr / orig_sr`` frames. When the rates are equal this is
        a float32 copy of the input.

    Raises:
        ValueError: a rate is not positive or above ``MAX_SAMPLE_RATE``, or the
            array is neither 1-D nor 2-D.
        TypeError: the samples are neither floating point nor int16.
    """
    _check_rate("orig_sr", orig_sr)
    _check_rate("target_sr", target_sr)
    samples = _as_float32(audio)
    _check_layout(samples)
    if orig_sr == target_sr or samples.shape[0] == 0:
        return samples.copy()
    # soxr wants C-contiguous frames; slices and transposes are not.
    samples = np.ascontiguousarray(samples)
    return soxr.resample(samples, orig_sr, target_sr, quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Mix ``(frames, channels)`` audio down to ``(frames,)`` by averaging channels.

    1-D input is already mono and comes back as float32 unchanged in value.
    int16 PCM is scaled by 1/32768 first. Channel-first ``(channels, frames)``
    arrays are not detected: transpose them before calling.
    """
    samples = _as_float32(audio)
    _check_layout(samples)
    if samples.ndim == 1:
        return samples.copy()
    if samples.shape[1] == 0:
        raise ValueError(f"audio has no channels: shape {samples.shape}")
    return samples.mean(axis=1, dtype=np.float32)
