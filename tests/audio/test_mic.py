"""Microphone capture without hardware: callback path, device resolution, errors.

A fake ``sounddevice`` module stands in for PortAudio; the one test that
needs a real input device skips (with the reason) when there is none.
"""

from __future__ import annotations

import threading
import time
import types
from typing import Any

import numpy as np
import pytest

from sewstream.audio import devices
from sewstream.audio.devices import (
    DeviceNotFoundError,
    MicrophoneError,
    NoMicrophoneError,
    input_unavailable_reason,
    list_input_devices,
    resolve_input_device,
)
from sewstream.audio.mic import CapturePipeline, MicrophoneSource, StagingRing
from sewstream.audio.resample import resample
from sewstream.audio.ring import RingBuffer


class Flags:
    """Stand-in for sounddevice.CallbackFlags: attribute per flag, falsy when none set."""

    def __init__(self, input_overflow: bool = False, input_underflow: bool = False) -> None:
        self.input_overflow = input_overflow
        self.input_underflow = input_underflow

    def __bool__(self) -> bool:
        return self.input_overflow or self.input_underflow


OK = Flags()
OVERFLOW = Flags(input_overflow=True)


def tone(rate: float, seconds: float, freq: float = 440.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    # Channel c carries x * (c + 1) / channels, so the mono mix is x * (channels + 1) / (2 * channels).
    return np.stack([x * (c + 1) / channels for c in range(channels)], axis=1).astype(np.float32)


def feed(pipe: CapturePipeline, audio: np.ndarray, block: int, status: Any = OK) -> None:
    for i in range(0, len(audio), block):
        pipe.callback(audio[i : i + block], len(audio[i : i + block]), None, status)


# ---------------------------------------------------------------- staging ring


def test_staging_ring_wraps_and_records_gaps() -> None:
    st = StagingRing(10, 1)
    blk = lambda a, n: np.arange(a, a + n, dtype=np.float32)[:, None]  # noqa: E731
    assert st.push(blk(0, 4)) and st.push(blk(4, 4))
    frames, gaps = st.pop()
    np.testing.assert_array_equal(frames[:, 0], np.arange(8))
    assert gaps == []
    assert st.push(blk(8, 6))  # wraps around the end
    assert not st.push(blk(14, 6))  # does not fit: dropped whole
    assert st.push(blk(20, 4))  # fits exactly
    frames, gaps = st.pop()
    np.testing.assert_array_equal(frames[:, 0], np.r_[np.arange(8, 14), np.arange(20, 24)])
    assert gaps == [(6, 6)]  # 6 frames lost before frames[6]
    assert st.dropped_frames == 6 and st.available == 0


# ---------------------------------------------------------------- callback path


@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (44100, 1), (16000, 2)])
def test_callback_path_resamples_and_mixes_down(rate: int, channels: int) -> None:
    ring = RingBuffer(64000)
    pipe = CapturePipeline(ring, rate, channels)
    audio = tone(rate, 1.0, channels=channels)
    block = int(rate * 0.02)
    for i in range(0, len(audio), block):
        pipe.callback(audio[i : i + block], block, None, OK)
        if (i // block) % 3 == 0:
            pipe.pump()  # the capture thread runs at its own pace
    pipe.finish()
    out = ring.read(ring.available)
    expected = resample(audio.mean(axis=1), rate, 16000)  # one-shot reference
    assert len(out) == pytest.approx(16000, abs=1)
    n = min(len(out), len(expected))
    np.testing.assert_allclose(out[:n], expected[:n], atol=1e-5)
    assert ring.closed
    s = pipe.stats()
    assert s["callbacks"] == len(range(0, len(audio), block))
    assert s["input_overflows"] == 0 and s["staging_dropped_frames"] == 0


def test_callback_counts_portaudio_overflows() -> None:
    ring = RingBuffer(16000)
    pipe = CapturePipeline(ring, 16000, 1)
    block = np.zeros((320, 1), np.float32)
    for status in [OK, OVERFLOW, OK, OVERFLOW, OVERFLOW, None]:
        pipe.callback(block, 320, None, status)
    pipe.callback(block, 320, None, Flags(input_underflow=True))
    pipe.pump()
    assert pipe.stats()["input_overflows"] == 3
    assert pipe.stats()["other_status_flags"] == 1
    assert ring.available == 7 * 320  # audio of flagged blocks is still delivered


def test_staging_overflow_becomes_ring_gap_with_correct_positions() -> None:
    ring = RingBuffer(64000)
    pipe = CapturePipeline(ring, 16000, 1, staging_seconds=0.1)  # 1600-frame staging
    ramp = np.arange(8000, dtype=np.float32)[:, None] / 8000
    feed(pipe, ramp[:1600], 320)  # fills staging exactly
    feed(pipe, ramp[1600:2240], 320)  # capture thread stalled: 2 blocks lost
    pipe.pump()
    feed(pipe, ramp[2240:3200], 320)
    pipe.finish()
    assert pipe.stats()["staging_dropped_frames"] == 640
    assert ring.gap_samples == 640 and ring.dropped_samples == 0
    start, a = ring.read_with_position(10_000)
    assert start == 0 and len(a) == 1600
    start, b = ring.read_with_position(10_000)
    assert start == 2240 and len(b) == 960  # stream index = capture time after the gap
    np.testing.assert_array_equal(b, ramp[2240:3200, 0])


def test_ring_drops_are_counted_when_reader_stalls() -> None:
    ring = RingBuffer(1600)
    pipe = CapturePipeline(ring, 16000, 1)
    feed(pipe, np.ones((3200, 1), np.float32), 320)
    pipe.pump()
    assert ring.dropped_samples == 1600 and ring.overflow_events == 1


# ---------------------------------------------------------------- fake sounddevice


class FakePortAudioError(Exception):
    pass


class FakeInputStream:
    """Calls the callback from a thread with 20 ms blocks of a known signal."""

    instances: list[FakeInputStream] = []
    endless = False  # keep delivering until stop() instead of ending after 0.5 s

    def __init__(
        self, *, device: int, samplerate: float, channels: int, dtype: str, blocksize: int, callback: Any
    ) -> None:
        if samplerate == 12345:
            raise FakePortAudioError("Invalid sample rate [PaErrorCode -9997]")
        self.kw = dict(
            device=device, samplerate=samplerate, channels=channels, dtype=dtype, blocksize=blocksize
        )
        self.callback = callback
        self.signal = tone(samplerate, 0.5, channels=channels)
        self.active = False
        self.closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        FakeInputStream.instances.append(self)

    def start(self) -> None:
        self.active = True
        self._thread.start()

    def _run(self) -> None:
        bs = self.kw["blocksize"]
        i = 0
        while self.active and (self.endless or i < len(self.signal)):
            blk = self.signal[i % len(self.signal) :][:bs]
            self.callback(blk, len(blk), None, OVERFLOW if i == 4 * bs else OK)
            i += len(blk)
            time.sleep(0.001)
        self.active = False  # the device "went away" after 0.5 s

    def stop(self) -> None:
        self.active = False
        self._thread.join()

    def close(self) -> None:
        self.closed = True


def fake_sd(devs: list[dict[str, Any]], default: int | None) -> types.SimpleNamespace:
    def query_devices(device: Any = None, kind: str | None = None) -> Any:
        if kind == "input":
            if default is None:
                raise FakePortAudioError("Error querying device -1")
            return devs[default]
        return devs

    return types.SimpleNamespace(
        query_devices=query_devices,
        query_hostapis=lambda i=None: {"name": "ALSA"},
        InputStream=FakeInputStream,
        PortAudioError=FakePortAudioError,
    )


def dev(index: int, name: str, inputs: int, rate: float = 48000.0) -> dict[str, Any]:
    return {
        "index": index,
        "name": name,
        "hostapi": 0,
        "max_input_channels": inputs,
        "max_output_channels": 2,
        "default_samplerate": rate,
    }


DEVICES = [
    dev(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", 2, 44100.0),
    dev(1, "HDMI 0 (hw:0,3)", 0),
    dev(2, "Blue Yeti USB Microphone", 2, 48000.0),
    dev(3, "default", 32, 44100.0),
]


@pytest.fixture
def with_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_import_sounddevice", lambda: fake_sd(DEVICES, default=3))


def test_list_and_resolve_devices(with_devices: None) -> None:
    listed = list_input_devices()
    assert [d["index"] for d in listed] == [0, 2, 3]  # output-only HDMI excluded
    assert listed[1] == {
        "index": 2,
        "name": "Blue Yeti USB Microphone",
        "channels": 2,
        "default_samplerate": 48000.0,
        "hostapi": "ALSA",
        "is_default": False,
    }
    assert [d["is_default"] for d in listed] == [False, False, True]
    assert input_unavailable_reason() is None
    assert resolve_input_device()["index"] == 3
    assert resolve_input_device(2)["name"] == "Blue Yeti USB Microphone"
    assert resolve_input_device("2")["index"] == 2
    assert resolve_input_device("yeti")["index"] == 2  # case-insensitive substring
    assert resolve_input_device("DEFAULT")["index"] == 3


@pytest.mark.parametrize("query", [1, 7, "webcam"])
def test_unknown_device_lists_available_inputs(with_devices: None, query: Any) -> None:
    with pytest.raises(DeviceNotFoundError) as ei:
        MicrophoneSource(query)
    msg = str(ei.value)
    assert "Blue Yeti USB Microphone" in msg and "2:" in msg and "HDMI" not in msg
    assert isinstance(ei.value, NoMicrophoneError)


def test_ambiguous_device_name(with_devices: None) -> None:
    with pytest.raises(DeviceNotFoundError, match="ambiguous"):
        resolve_input_device("a")  # matches several names


def test_no_input_device_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_import_sounddevice", lambda: fake_sd([dev(0, "HDMI", 0)], default=None))
    assert list_input_devices() == []
    assert "no audio input devices" in (input_unavailable_reason() or "")
    with pytest.raises(NoMicrophoneError) as ei:
        MicrophoneSource()
    msg = str(ei.value)
    assert "\n" not in msg  # one line
    assert "default input device" in msg  # what was tried
    assert "sewstream devices" in msg and "audio file" in msg  # what to do instead


def test_portaudio_missing_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise NoMicrophoneError("PortAudio library not found by the sounddevice package")

    monkeypatch.setattr(devices, "_import_sounddevice", missing)
    assert list_input_devices() == []
    assert "PortAudio library not found" in (input_unavailable_reason() or "")
    with pytest.raises(NoMicrophoneError, match=r"PortAudio library not found.*sewstream devices"):
        MicrophoneSource("yeti")


def test_import_failure_is_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real loader turns sounddevice's OSError into NoMicrophoneError."""
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(NoMicrophoneError, match="PortAudio library not found.*libportaudio2"):
        devices._import_sounddevice()


def test_microphone_source_end_to_end_with_fake_stream(with_devices: None) -> None:
    FakeInputStream.instances.clear()
    src = MicrophoneSource("yeti", channels=2, blocksize_ms=20)
    assert src.device_rate == 48000 and src.blocksize == 960
    src.start()
    parts = []
    while (x := src.ring.read_exact(1600, timeout=5)) is not None:
        parts.append(x)
    # The fake device stops by itself after 0.5 s: join() re-raises that, clearly.
    with pytest.raises(MicrophoneError, match="stopped unexpectedly"):
        src.join(2)
    out = np.concatenate(parts)
    stream = FakeInputStream.instances[-1]
    assert stream.kw == dict(device=2, samplerate=48000, channels=2, dtype="float32", blocksize=960)
    assert stream.closed
    expected = resample(stream.signal.mean(axis=1), 48000, 16000)
    assert len(out) == pytest.approx(len(expected), abs=1)
    n = min(len(out), len(expected))
    np.testing.assert_allclose(out[:n], expected[:n], atol=1e-5)
    s = src.stats()
    assert s["input_overflows"] == 1 and s["device"] == "Blue Yeti USB Microphone"
    assert s["samples_out"] == len(out) and s["dropped_samples"] == 0
    assert "stopped unexpectedly" in s["error"] and src.ring.closed


def test_microphone_stop_flushes_and_closes(with_devices: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeInputStream, "endless", True)
    src = MicrophoneSource(0).start()  # 44.1 kHz native, 1 channel by default
    time.sleep(0.05)
    src.stop()
    assert src.join(2)
    assert src.ring.closed and src.error is None
    s = src.stats()
    assert s["channels"] == 1 and s["samples_out"] > 0
    # Everything captured before stop() reached the ring, resampler tail included.
    assert s["samples_out"] == pytest.approx(s["frames_in"] * 16000 / 44100, abs=1)
    assert s["staging_backlog_frames"] == 0


def test_microphone_open_failure_is_clear(with_devices: None) -> None:
    src = MicrophoneSource(2, samplerate=12345)
    with pytest.raises(
        MicrophoneError, match=r"cannot open input device 2 'Blue Yeti USB Microphone' at 12345 Hz"
    ):
        src.start()
    assert not src.running
    with pytest.raises(MicrophoneError, match="has 2 input channel"):
        MicrophoneSource(2, channels=4)


# ---------------------------------------------------------------- real hardware


def test_real_microphone_captures_audio() -> None:
    reason = input_unavailable_reason()
    if reason is not None:
        pytest.skip(f"no real audio input on this machine: {reason}")
    with MicrophoneSource() as src:
        x = src.ring.read_exact(1600, timeout=3)  # 0.1 s at 16 kHz
    assert x is not None and x.shape == (1600,) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
