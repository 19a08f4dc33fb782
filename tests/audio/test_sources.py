"""Tests for the streaming resampler, file sources and raw PCM sources."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sewstream.audio.file_source import AudioFileError, AudioFileNotFoundError, FileSource, read_audio_file
from sewstream.audio.pcm import PCMFormatError, PCMSource
from sewstream.audio.resample import resample
from sewstream.audio.ring import RingBuffer
from sewstream.audio.stream_resampler import StreamResampler

SPEECH_DIR = Path("/work/shared/data/speech")
JFK = SPEECH_DIR / "misc" / "jfk.wav"


def sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def assert_sine(
    x: np.ndarray, freq: float, rate: int, amp: float, edge: int = 200, atol: float = 2e-3
) -> None:
    """``x`` is a 16 kHz sine aligned at t=0 (filter edges excluded)."""
    ref = sine(freq, rate, len(x) / rate, amp)[: len(x)]
    np.testing.assert_allclose(x[edge:-edge], ref[edge:-edge], atol=atol)


def drain(ring: RingBuffer, chunk: int = 1600, timeout: float = 10.0) -> np.ndarray:
    parts = []
    while (x := ring.read_exact(chunk, timeout=timeout)) is not None:
        parts.append(x)
    assert ring.eof, "reader timed out before the source closed the ring"
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def speech_clip(seconds: float) -> tuple[np.ndarray, int]:
    if not JFK.exists():
        pytest.skip(f"speech clip {JFK} not available")
    data, rate = sf.read(JFK, dtype="float32")
    return data[: int(seconds * rate)], rate


# ---------------------------------------------------------------- StreamResampler


@pytest.mark.parametrize("in_rate", [8000, 22050, 44100, 48000])
def test_stream_resampler_chunked_equals_one_shot(in_rate: int) -> None:
    rng = np.random.default_rng(in_rate)
    x = (0.3 * rng.standard_normal(in_rate)).astype(np.float32)  # 1 s of noise
    rs = StreamResampler(in_rate, 16000)
    parts, i = [], 0
    while i < len(x):
        k = int(rng.choice([0, 1, 7, 160, 441, 4000]))
        parts.append(rs.process(x[i : i + k]))
        i += k
    parts.append(rs.flush())
    chunked = np.concatenate(parts)
    one_shot = resample(x, in_rate, 16000)
    assert chunked.dtype == np.float32
    assert abs(len(chunked) - len(one_shot)) <= 1
    n = min(len(chunked), len(one_shot))
    np.testing.assert_allclose(chunked[:n], one_shot[:n], atol=1e-5)


def test_stream_resampler_passthrough_restart_and_shape_errors() -> None:
    rs = StreamResampler(16000, 16000)
    buf = np.ones(10, np.float32)
    out = rs.process(buf)
    buf[:] = 5  # output must not alias the caller's buffer
    np.testing.assert_array_equal(out, np.ones(10))
    # After last=True a new, independent signal starts: same input -> same output.
    rs2 = StreamResampler(48000, 16000)
    x = sine(300, 48000, 0.2)
    a = np.concatenate([rs2.process(x), rs2.flush()])
    b = np.concatenate([rs2.process(x), rs2.flush()])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        rs2.process(np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError):
        StreamResampler(0, 16000)


# ---------------------------------------------------------------- files


def test_read_audio_file_real_clip() -> None:
    audio, dur = read_audio_file(JFK)
    info = sf.info(JFK)
    assert dur == pytest.approx(info.frames / info.samplerate)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(dur * 16000, abs=1)
    assert 0.01 < float(np.sqrt(np.mean(audio**2))) < 0.5  # real speech, not silence


def test_stereo_44k1_file_resampled_and_mixed(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    left = sine(440, 44100, 1.0, amp=0.6)
    right = np.zeros_like(left)  # mono mix = 0.3 * sine
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    audio, dur = read_audio_file(path)
    assert dur == pytest.approx(1.0)
    assert len(audio) == pytest.approx(16000, abs=1)
    assert_sine(audio, 440, 16000, amp=0.3)
    # The streaming source produces the same signal.
    src = FileSource(path, chunk_ms=37)
    with src:
        streamed = drain(src.ring)
    assert src.stats()["file_channels"] == 2
    assert len(streamed) == pytest.approx(16000, abs=1)
    n = min(len(streamed), len(audio))
    np.testing.assert_allclose(streamed[:n], audio[:n], atol=1e-5)


def test_ogg_flac_and_8k_files(tmp_path: Path) -> None:
    x = sine(500, 8000, 0.5, amp=0.5)
    sf.write(tmp_path / "a.flac", x, 8000)
    sf.write(tmp_path / "a.ogg", x, 8000, format="OGG", subtype="VORBIS")
    flac, _ = read_audio_file(tmp_path / "a.flac")
    assert_sine(flac, 500, 16000, amp=0.5, atol=2e-3)
    ogg, dur = read_audio_file(tmp_path / "a.ogg")
    assert dur == pytest.approx(0.5, abs=0.01)
    assert len(ogg) == pytest.approx(8000, abs=2)
    assert float(np.sqrt(np.mean(ogg**2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # lossy but same level


def test_file_source_fast_and_realtime_identical(tmp_path: Path) -> None:
    clip, rate = speech_clip(0.5)
    path = tmp_path / "clip.wav"
    sf.write(path, clip, rate, subtype="FLOAT")
    fast = FileSource(path)
    t0 = time.monotonic()
    with fast:
        a = drain(fast.ring)
    fast_wall = time.monotonic() - t0
    rt = FileSource(path, realtime=True, chunk_ms=50)
    t0 = time.monotonic()
    with rt:
        b = drain(rt.ring, chunk=160)
    rt_wall = time.monotonic() - t0
    assert len(a) == 8000
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, clip)  # 16 kHz file: passthrough is exact
    assert rt_wall >= 0.45, f"realtime pacing too fast: {rt_wall:.3f}s for a 0.5 s clip"
    assert fast_wall < rt_wall
    assert rt.stats()["dropped_samples"] == 0 and rt.stats()["progress"] == 1.0


def test_file_source_fast_never_drops_with_slow_reader() -> None:
    full, _ = read_audio_file(JFK)
    ring = RingBuffer(1000, overflow="drop_oldest")  # far smaller than the file
    src = FileSource(JFK, ring=ring, chunk_ms=250)
    parts = []
    with src:
        while (x := ring.read_exact(997, timeout=5)) is not None:
            parts.append(x)
            if len(parts) % 40 == 0:
                time.sleep(0.01)  # reader stalls: the source must wait, not drop
    out = np.concatenate(parts)
    assert ring.dropped_samples == 0
    np.testing.assert_array_equal(out, full)


def test_file_source_realtime_drops_like_a_live_source(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, sine(200, 16000, 0.3), 16000)
    ring = RingBuffer(800)
    src = FileSource(path, realtime=True, chunk_ms=50, ring=ring)
    with src:
        src.join(5)  # nobody reads: a live source overflows
    s = src.stats()
    assert s["dropped_samples"] == 4800 - 800
    assert s["ring"]["available"] == 800
    start, x = ring.read_with_position(800)
    assert start == 4000  # the newest samples survive, at their true stream position
    np.testing.assert_allclose(x, sine(200, 16000, 0.3)[4000:], atol=1e-4)


def test_file_source_stop_unblocks_full_ring() -> None:
    ring = RingBuffer(1600)
    src = FileSource(JFK, ring=ring).start()
    deadline = time.monotonic() + 5
    while ring.available < 1600 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.02)
    assert ring.available == 1600 and src.running  # blocked on a full ring
    t0 = time.monotonic()
    src.stop()
    assert src.join(2)
    assert time.monotonic() - t0 < 1.0
    assert ring.closed and not src.running
    assert src.stats()["progress"] < 1.0


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioFileNotFoundError, match="missing.wav"):
        FileSource(missing)
    with pytest.raises(FileNotFoundError):  # also catchable as the builtin
        read_audio_file(missing)
    junk = tmp_path / "junk.ogg"
    junk.write_text("this is not audio " * 50)
    with pytest.raises(AudioFileError, match=r"junk\.ogg.*unsupported format"):
        read_audio_file(junk)
    with pytest.raises(AudioFileError, match="directory"):
        FileSource(tmp_path)


def test_corrupt_file_midway_error_surfaces_in_join(tmp_path: Path) -> None:
    flac = SPEECH_DIR / "librispeech-dev-clean" / "1272-128104-0001.flac"
    if not flac.exists():
        pytest.skip(f"{flac} not available")
    data = flac.read_bytes()
    bad = tmp_path / "truncated.flac"
    bad.write_bytes(data[: len(data) // 2])
    src = FileSource(bad)  # the header is fine
    src.start()
    drain(src.ring)
    with pytest.raises(AudioFileError, match="truncated.flac"):
        src.join(5)
    assert "truncated.flac" in src.stats()["error"]


# ---------------------------------------------------------------- PCM


def test_pcm_int16_and_float32_mono_16k_exact() -> None:
    vals = np.array([0, 1, -1, 16384, -32768, 32767], dtype="<i2")
    src = PCMSource(16000, fmt="int16")
    assert src.push(vals.tobytes()) == 6
    src.end()
    np.testing.assert_array_equal(src.ring.read(100), vals.astype(np.float32) / 32768)
    assert src.ring.eof
    f = np.array([0.25, -0.5, 1.0], dtype="<f4")
    src = PCMSource(16000, fmt="float32")
    src.push(f.tobytes())
    np.testing.assert_array_equal(src.ring.read(100), f)


def test_pcm_stereo_mixdown() -> None:
    frames = np.array([[1000, 3000], [-2000, 0], [32767, 32767]], dtype="<i2")
    src = PCMSource(16000, fmt="int16", channels=2)
    src.push(frames.tobytes())  # interleaved L R L R ...
    np.testing.assert_allclose(src.ring.read(10), frames.mean(axis=1) / 32768, rtol=1e-6)
    f = np.array([[0.5, -0.5], [0.2, 0.4]], dtype="<f4")
    src = PCMSource(16000, fmt="float32", channels=2)
    src.push(f.tobytes())
    np.testing.assert_allclose(src.ring.read(10), [0.0, 0.3], atol=1e-7)


@pytest.mark.parametrize("rate", [8000, 48000])
def test_pcm_resamples_to_16k(rate: int) -> None:
    x = sine(440, rate, 1.0, amp=0.5)
    pcm = np.round(x * 32767).astype("<i2").tobytes()
    src = PCMSource(rate, fmt="int16")
    src.push(pcm)
    src.end()
    out = drain(src.ring)
    assert len(out) == pytest.approx(16000, abs=1)
    assert_sine(out, 440, 16000, amp=0.5, atol=3e-3)
    assert src.stats()["frames_in"] == rate


@pytest.mark.parametrize(
    ("rate", "fmt", "channels"), [(48000, "int16", 2), (8000, "float32", 1), (16000, "int16", 1)]
)
def test_pcm_random_chunked_pushes_equal_one_push(rate: int, fmt: str, channels: int) -> None:
    rng = np.random.default_rng(rate + channels)
    x = (0.3 * rng.standard_normal((rate // 2, channels))).astype(np.float32)
    data = (np.round(x * 32767).astype("<i2") if fmt == "int16" else x.astype("<f4")).tobytes()
    frame = channels * (2 if fmt == "int16" else 4)

    one = PCMSource(rate, fmt=fmt, channels=channels)  # type: ignore[arg-type]
    one.push(data)
    one.end()
    a = drain(one.ring)

    chunked = PCMSource(rate, fmt=fmt, channels=channels)  # type: ignore[arg-type]
    i = 0
    while i < len(data):
        k = int(rng.integers(0, 300)) * frame  # includes empty pushes
        chunked.push(data[i : i + k])
        i += k
    chunked.end()
    b = drain(chunked.ring)
    assert len(a) == len(b) == pytest.approx(8000, abs=1)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_pcm_bad_sizes_and_lifecycle_errors() -> None:
    src = PCMSource(16000, fmt="int16", channels=2)
    with pytest.raises(PCMFormatError, match="not a multiple of the 4-byte frame"):
        src.push(b"\x00" * 6)
    with pytest.raises(PCMFormatError):
        PCMSource(16000, fmt="float32").push(b"\x00" * 7)
    assert src.ring.total_written == 0  # a rejected push writes nothing
    src.push(b"\x00" * 8)
    src.end()
    with pytest.raises(RuntimeError, match="after end"):
        src.push(b"\x00" * 4)
    with pytest.raises(ValueError):
        PCMSource(16000, fmt="int24")  # type: ignore[arg-type]


class TrickleStream(io.RawIOBase):
    """A pipe that returns short reads that split frames."""

    def __init__(self, data: bytes, seed: int = 0) -> None:
        self._data = data
        self._pos = 0
        self._rng = np.random.default_rng(seed)

    def read(self, n: int = -1) -> bytes:
        k = min(n, int(self._rng.integers(1, 50)))
        out = self._data[self._pos : self._pos + k]
        self._pos += len(out)
        return out


def test_pcm_from_stdin_reframes_and_is_lossless() -> None:
    x = sine(440, 16000, 0.25)
    data = np.round(x * 32767).astype("<i2").tobytes()
    src = PCMSource.from_stdin(16000, fmt="int16", stream=TrickleStream(data + b"\x01"), ring=RingBuffer(512))
    parts = []
    with src:
        while (y := src.ring.read_exact(100, timeout=5)) is not None:
            parts.append(y)
    out = np.concatenate(parts)
    np.testing.assert_array_equal(out, np.frombuffer(data, "<i2").astype(np.float32) / 32768)
    s = src.stats()
    assert s["discarded_bytes"] == 1 and s["dropped_samples"] == 0
    assert not src.running


def test_pcm_concurrent_pushers_are_serialised() -> None:
    src = PCMSource(16000, fmt="float32", ring=RingBuffer(200_000))
    block = np.ones(160, "<f4").tobytes()

    def pusher() -> None:
        for _ in range(200):
            src.push(block)

    threads = [threading.Thread(target=pusher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    src.end()
    out = drain(src.ring)
    assert len(out) == 4 * 200 * 160
    np.testing.assert_array_equal(out, 1.0)
