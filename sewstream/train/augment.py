"""Waveform augmentation that moves clean synthetic speech towards real recordings.

TTS output is too clean: exact digital silence, no room, no microphone, no
noise, a fixed level.  Each transform below undoes one of those tells.  All
are numpy (+ soxr for resampling) and cheap enough to run on the fly in a
data-loader worker: measured on corpus utterances, about 12 s of CPU per hour
of audio with the default probabilities and 17 s with every transform on
(i.e. ~0.3-0.5 % of one core in real time).

Every transform takes its randomness from an explicit ``np.random.Generator``
so a pipeline is reproducible given the generator's seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import soxr

SAMPLE_RATE = 16000


def _fft_len(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def _smooth_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: an FFT length within a few per cent of ``n`` that is fast
    (an utterance's own length can have large prime factors, which make pocketfft several times
    slower). Noise shaped at it differs from before 2026-12-04 draw by draw, not in distribution:
    a run resumed across that change sees other, equally likely, augmentations."""
    best = _fft_len(n)
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


# --------------------------------------------------------------------------
# Levels
# --------------------------------------------------------------------------
def active_power(audio: np.ndarray, sr: int = SAMPLE_RATE, floor_db: float = 30.0) -> float:
    """Mean power of the 10 ms frames within ``floor_db`` of the loudest one.

    A crude active speech level: using the whole clip would make the SNR
    depend on how much silence surrounds the speech.
    """
    frame = sr // 100
    n = len(audio) // frame
    if n == 0:
        return float(np.mean(audio.astype(np.float64) ** 2)) if len(audio) else 0.0
    power = np.mean(audio[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1)
    active = power[power >= power.max() * 10 ** (-floor_db / 10)]
    return float(active.mean())


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by ``gain_db`` decibels."""
    return audio * np.float32(10 ** (gain_db / 20))


# --------------------------------------------------------------------------
# Tempo
# --------------------------------------------------------------------------
def speed_perturb(audio: np.ndarray, factor: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Kaldi-style speed perturbation: play ``factor`` times faster (pitch and
    formants move with it).  Output length is ``len(audio) / factor``."""
    if factor == 1.0:
        return audio
    return soxr.resample(audio, sr * factor, sr, quality="MQ").astype(np.float32)


# --------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------
def colored_noise(n: int, rng: np.random.Generator, exponent: float = 0.0) -> np.ndarray:
    """Unit-RMS noise with a 1/f^exponent power spectrum (0 white, 1 pink, 2 brown)."""
    if n == 0:
        return np.zeros(0, np.float32)
    if exponent:
        m = _smooth_len(n)  # shape a little more noise than needed at a fast length, keep n of it
        spec = np.fft.rfft(rng.standard_normal(m))
        freqs = np.fft.rfftfreq(m)
        freqs[0] = freqs[1] if m > 1 else 1.0
        white = np.fft.irfft(spec * freqs ** (-exponent / 2), m)[:n]
    else:
        white = rng.standard_normal(n)
    white -= white.mean()
    return (white / (np.sqrt(np.mean(white**2)) + 1e-12)).astype(np.float32)


def babble_noise(
    n: int, rng: np.random.Generator, pool: Sequence[np.ndarray] = (), talkers: int = 4
) -> np.ndarray:
    """Unit-RMS babble: a sum of ``talkers`` random stretches of other
    utterances.  Without a pool, falls back to pink noise with a syllable-rate
    (~4 Hz) amplitude modulation, which at least has speech-like dynamics."""
    usable = [p for p in pool if len(p) > SAMPLE_RATE // 10]
    out = np.zeros(n, np.float64)
    if not usable:
        for _ in range(talkers):
            env = np.abs(colored_noise(n // 400 + 2, rng, 2.0))  # slow envelope
            env = np.interp(np.arange(n), np.linspace(0, n, len(env)), env)
            out += colored_noise(n, rng, 1.0) * env
    else:
        for _ in range(talkers):
            src = usable[rng.integers(len(usable))]
            reps = int(np.ceil((n + len(src)) / len(src)))
            start = int(rng.integers(len(src)))
            seg = np.tile(src, reps)[start : start + n].astype(np.float64)
            out += seg / (np.sqrt(np.mean(seg**2)) + 1e-9)
    out -= out.mean()
    return (out / (np.sqrt(np.mean(out**2)) + 1e-12)).astype(np.float32)


def add_noise(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix ``noise`` (same length) at ``snr_db`` relative to the active speech level."""
    p_sig = active_power(audio)
    p_noise = float(np.mean(noise.astype(np.float64) ** 2))
    if p_sig <= 0 or p_noise <= 0:
        return audio
    scale = np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
    return (audio + noise * np.float32(scale)).astype(np.float32)


# --------------------------------------------------------------------------
# Room
# --------------------------------------------------------------------------
def synthetic_rir(
    rng: np.random.Generator, rt60: float, sr: int = SAMPLE_RATE, drr_db: float = 3.0
) -> np.ndarray:
    """Room impulse response: a direct path, a few early reflections and an
    exponentially decaying noise tail (-60 dB at ``rt60`` seconds).
    ``drr_db`` is the direct-to-reverberant energy ratio."""
    n = max(int(min(rt60 * 1.2, 1.5) * sr), 16)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)
    tail[: int(0.002 * sr)] = 0.0  # reverberation starts after the direct sound
    # Air absorption: the tail loses highs as it decays (cheap 1-pole smoothing mix).
    smooth = np.convolve(tail, np.ones(4) / 4, mode="same")
    mix = np.clip(t / rt60, 0, 1)
    tail = (1 - mix) * tail + mix * smooth
    for _ in range(int(rng.integers(2, 7))):  # early reflections, 3-40 ms
        k = int(rng.uniform(0.003, 0.04) * sr)
        tail[k] += rng.uniform(-0.6, 0.6) * np.exp(-6.908 * k / sr / rt60) * 3
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    tail[0] += 1.0  # direct path with unit energy
    return tail.astype(np.float32)


def reverberate(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """FFT convolution, cut to the input length, active level preserved."""
    if len(audio) == 0:
        return audio
    n = _smooth_len(len(audio) + len(rir) - 1)  # linear convolution needs no more
    wet = np.fft.irfft(np.fft.rfft(audio, n) * np.fft.rfft(rir, n), n)[: len(audio)]
    p_in, p_out = active_power(audio), active_power(wet)
    if p_out > 0:
        wet *= np.sqrt(p_in / p_out)
    return wet.astype(np.float32)


# --------------------------------------------------------------------------
# Channel
# --------------------------------------------------------------------------
def band_limit(
    audio: np.ndarray,
    low_hz: float = 0.0,
    high_hz: float | None = None,
    sr: int = SAMPLE_RATE,
    transition: float = 0.15,
) -> np.ndarray:
    """Zero-phase band-pass in the FFT domain with raised-cosine edges
    (``transition`` is the relative width of each edge)."""
    if len(audio) == 0:
        return audio
    n = _fft_len(len(audio))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    gain = np.ones_like(freqs)

    def edge(f0: float) -> np.ndarray:  # 0 below f0*(1-tr), 1 above f0*(1+tr)
        lo, hi = f0 * (1 - transition), f0 * (1 + transition)
        x = np.clip((freqs - lo) / max(hi - lo, 1e-9), 0, 1)
        return 0.5 - 0.5 * np.cos(np.pi * x)

    if low_hz > 0:
        gain *= edge(low_hz)
    if high_hz is not None and high_hz < sr / 2:
        gain *= 1 - edge(high_hz)
    return np.fft.irfft(np.fft.rfft(audio, n) * gain, n)[: len(audio)].astype(np.float32)


def mu_law(audio: np.ndarray, bits: int = 8) -> np.ndarray:
    """Round trip through ``bits``-bit mu-law (G.711-like quantisation noise)."""
    mu = 2**bits - 1
    x = np.clip(audio, -1, 1)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round((y + 1) / 2 * mu) / mu * 2 - 1
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def hard_clip(audio: np.ndarray, fraction: float) -> np.ndarray:
    """Clip the loudest ``fraction`` of samples (an overdriven input stage),
    keeping the original peak level."""
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    if peak == 0 or fraction <= 0:
        return audio
    thr = float(np.quantile(np.abs(audio), 1 - fraction))
    if thr <= 0:
        return audio
    return (np.clip(audio, -thr, thr) * np.float32(peak / thr)).astype(np.float32)


def pad_silence(audio: np.ndarray, lead: int, trail: int) -> np.ndarray:
    """Add ``lead``/``trail`` samples of silence (noise added later fills them)."""
    return np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(trail, np.float32)])


# --------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (``p_*``) and ranges of each transform."""

    p_speed: float = 0.6
    speed_range: tuple[float, float] = (0.9, 1.1)
    p_reverb: float = 0.35
    rt60_range: tuple[float, float] = (0.15, 0.9)
    drr_db_range: tuple[float, float] = (-3.0, 12.0)
    p_pad: float = 0.5
    pad_max_s: float = 0.5
    p_noise: float = 0.6
    snr_db_range: tuple[float, float] = (3.0, 35.0)
    noise_weights: tuple[float, float, float, float] = (0.2, 0.3, 0.15, 0.35)  # white pink brown babble
    p_floor: float = 0.9  # otherwise: a faint noise floor, so silence is never digital zero
    floor_snr_db_range: tuple[float, float] = (40.0, 70.0)
    p_telephone: float = 0.08
    p_lowpass: float = 0.15
    lowpass_range_hz: tuple[float, float] = (3000.0, 7000.0)
    p_highpass: float = 0.15
    highpass_range_hz: tuple[float, float] = (50.0, 250.0)
    p_mulaw: float = 0.1
    p_clip: float = 0.05
    clip_fraction_range: tuple[float, float] = (0.001, 0.03)
    p_gain: float = 0.9
    level_dbfs_range: tuple[float, float] = (-40.0, -14.0)  # active RMS level after gain


def augment_config(overrides: dict[str, object]) -> AugmentConfig:
    """:class:`AugmentConfig` with ``overrides`` (e.g. a recipe's ``augment`` dict, JSON
    lists for the tuples) applied; ValueError names the first key or value that cannot work."""
    defaults = AugmentConfig()
    checked: dict[str, object] = {}
    for key, value in overrides.items():
        if key not in AugmentConfig.__dataclass_fields__:
            raise ValueError(f"augment.{key}: not an augmentation setting "
                             f"(known: {', '.join(f.name for f in fields(AugmentConfig))})")
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            ok = (isinstance(value, (list, tuple)) and len(value) == len(default)
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
            if ok and key.endswith("_range"):
                ok = value[0] <= value[1]
            if ok and key == "noise_weights":
                ok = min(value) >= 0 and sum(value) > 0
            if not ok:
                raise ValueError(f"augment.{key}={value!r}: expected {len(default)} numbers"
                                 + (", low <= high" if key.endswith("_range") else "")
                                 + (", none negative, some positive" if key == "noise_weights" else ""))
            value = tuple(float(v) for v in value)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
            if ok and key.startswith("p_"):
                ok = value <= 1
            if not ok:
                raise ValueError(f"augment.{key}={value!r}: expected "
                                 + ("a probability in [0, 1]" if key.startswith("p_") else "a number >= 0"))
            value = float(value)
        checked[key] = value
    if "speed_range" in checked and checked["speed_range"][0] <= 0:  # type: ignore[index]
        raise ValueError(f"augment.speed_range={overrides['speed_range']!r}: speeds must be > 0")
    return replace(defaults, **checked)  # type: ignore[arg-type]


class Augmenter:
    """Random augmentation pipeline: speed -> reverb -> pad -> noise -> band
    limit -> codec/clipping -> gain.

    ``Augmenter(seed, p_noise=0.8, ...)`` overrides any :class:`AugmentConfig`
    field.  ``aug(audio, rng)`` is deterministic given ``rng``; with no ``rng``
    the augmenter's own generator (seeded by ``seed``) is used.  ``babble_pool``
    is a list of other utterances (float32, 16 kHz) used to make babble noise;
    in a data loader pass ~100 random corpus utterances.
    """

    def __init__(
        self,
        seed: int = 0,
        config: AugmentConfig | None = None,
        babble_pool: Sequence[np.ndarray] = (),
        **overrides: object,
    ) -> None:
        config = config or AugmentConfig()
        names = {f.name for f in fields(AugmentConfig)}
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f"unknown augmentation settings: {sorted(unknown)}")
        self.config = replace(config, **overrides)  # type: ignore[arg-type]
        self.rng = np.random.default_rng(seed)
        self.babble_pool = list(babble_pool)

    def __call__(self, audio: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        c, rng = self.config, rng if rng is not None else self.rng
        x = np.asarray(audio, dtype=np.float32)
        if len(x) == 0:
            return x.copy()
        u = rng.random(11)  # one coin per transform, drawn in a fixed order
        if u[0] < c.p_speed:
            x = speed_perturb(x, float(rng.uniform(*c.speed_range)))
        if u[1] < c.p_reverb:
            rir = synthetic_rir(
                rng, float(rng.uniform(*c.rt60_range)), drr_db=float(rng.uniform(*c.drr_db_range))
            )
            x = reverberate(x, rir)
        if u[2] < c.p_pad:
            lead, trail = (int(v) for v in rng.uniform(0, c.pad_max_s * SAMPLE_RATE, 2))
            x = pad_silence(x, lead, trail)
        if u[3] < c.p_noise:
            kind = int(rng.choice(4, p=np.asarray(c.noise_weights) / sum(c.noise_weights)))
            if kind == 3:
                noise = babble_noise(len(x), rng, self.babble_pool, int(rng.integers(3, 8)))
            else:
                noise = colored_noise(len(x), rng, float(kind))
            x = add_noise(x, noise, float(rng.uniform(*c.snr_db_range)))
        elif u[4] < c.p_floor:
            x = add_noise(
                x,
                colored_noise(len(x), rng, float(rng.uniform(0, 2))),
                float(rng.uniform(*c.floor_snr_db_range)),
            )
        if u[5] < c.p_telephone:
            x = band_limit(x, 300.0, 3400.0)
        else:
            low = float(rng.uniform(*c.highpass_range_hz)) if u[6] < c.p_highpass else 0.0
            high = float(rng.uniform(*c.lowpass_range_hz)) if u[7] < c.p_lowpass else None
            if low or high:
                x = band_limit(x, low, high)
        if u[8] < c.p_mulaw:
            x = mu_law(x / max(float(np.abs(x).max()), 1e-6) * 0.9)  # codec sees a healthy level
        if u[9] < c.p_clip:
            x = hard_clip(x, float(rng.uniform(*c.clip_fraction_range)))
        if u[10] < c.p_gain:
            level = float(rng.uniform(*c.level_dbfs_range))
            p = active_power(x)
            if p > 0:
                x = apply_gain(x, level - 10 * np.log10(p))
        peak = float(np.abs(x).max())
        if peak > 1.0:  # limiter: never hand out-of-range audio to the model
            x = x * np.float32(0.999 / peak)
        if not np.all(np.isfinite(x)):
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)
