"""The streaming engine: reproducible, lossless, bounded, with endpoints where the audio says."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from sewstream.stream import Recognizer, StreamClosed, StreamOverloaded, StreamSettings
from sewstream.stream.endpoint import EndpointSettings

from ..conftest import speech_clip

SR = 16000


def bursts(spec: list[tuple[float, float]], total: float, seed: int = 0) -> np.ndarray:
    """Noise bursts (speech-level energy) at [start, end) seconds, digital silence elsewhere."""
    rng = np.random.default_rng(seed)
    audio = np.zeros(int(total * SR), np.float32)
    for start, end in spec:
        n = int((end - start) * SR)
        t = np.arange(n) / SR
        tone = 0.1 * np.sin(2 * np.pi * 220 * t) * (1 + rng.standard_normal(n) * 0.3)
        audio[int(start * SR): int(start * SR) + n] = tone
    return audio


def run_stream(rec: Recognizer, audio: np.ndarray, *, push: int = 1600, settings: StreamSettings | None = None,
               realtime: float = 0.0, listeners=(), finalize_at: list[int] = ()):
    events = []
    stream = rec.stream(settings=settings, on_event=events.append, frame_listeners=list(listeners))
    start = time.perf_counter()
    for i in range(0, len(audio), push):
        if realtime:
            delay = start + i / SR / realtime - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        stream.push(audio[i:i + push])
        if any(i <= f < i + push for f in finalize_at):
            stream.finalize()
    stream.end()
    assert stream.wait(60)
    return events, stream


def finals(events) -> list[tuple]:
    return [(e.utterance, e.text, tuple((w.word, w.start, w.end) for w in e.words))
            for e in events if e.type == "final"]


@pytest.fixture(params=["layer", "group"])
def any_recognizer(request, tiny_ctc_dir, tiny_group_ctc_dir):
    rec = Recognizer.from_pretrained(tiny_ctc_dir if request.param == "layer" else tiny_group_ctc_dir, device="cpu")
    assert rec.exact_features == (request.param == "layer")
    yield rec
    rec.close()


# ------------------------------------------------------------------ reproducibility
def test_same_tokens_whatever_the_push_size(any_recognizer):
    audio = speech_clip("misc/jfk.wav")
    reference = finals(run_stream(any_recognizer, audio, push=len(audio))[0])
    assert reference and any(text for _, text, _ in reference)
    for push in (160, 1000, 16000):  # 10 ms, odd sizes, 1 s
        assert finals(run_stream(any_recognizer, audio, push=push)[0]) == reference


def test_same_tokens_paced_in_real_time(any_recognizer):
    audio = speech_clip("misc/goforward.wav")
    fast = run_stream(any_recognizer, audio)
    paced = run_stream(any_recognizer, audio, push=320, realtime=1.0)
    assert finals(paced[0]) == finals(fast[0])
    assert paced[1].stats.partial_windows > 0  # live pacing exercised the provisional path too


def test_same_tokens_when_batched_with_other_streams(any_recognizer):
    clips = [speech_clip(p) for p in ("misc/jfk.wav", "vctk/p225_002.wav", "misc/cards_005.wav")]
    alone = [finals(run_stream(any_recognizer, clip)[0]) for clip in clips]
    results: dict[int, list] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, finals(run_stream(
        any_recognizer, clips[i], push=320, realtime=4.0)[0]))) for i in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [results[i] for i in range(len(clips))] == alone
    assert max(any_recognizer.worker.stats.batch_sizes) > 1  # the streams really shared batches


def test_synthetic_audio_is_reproducible_too(recognizer):
    audio = bursts([(0.2, 1.5), (2.4, 4.0)], 5.0)
    a = finals(run_stream(recognizer, audio, push=480)[0])
    b = finals(run_stream(recognizer, audio, push=7777)[0])
    assert a == b and len(a) >= 2  # (a random model also "hears" text in digital silence)


# ------------------------------------------------------------------------ lossless
@pytest.mark.parametrize("seconds", [3.0, 4.37])
def test_every_frame_becomes_stable_exactly_once(recognizer, seconds):
    """Audio that ends mid-speech: the last frames are still decoded (nothing dropped at the end)."""
    audio = bursts([(0.1, seconds)], seconds)  # speech right up to the last sample
    seen: list[tuple[int, int]] = []
    run_stream(recognizer, audio, listeners=[lambda first, logits, stable: seen.append(
        (first, first + len(logits))) if stable else None])
    assert seen[0][0] == 0
    assert all(a[1] == b[0] for a, b in zip(seen, seen[1:]))
    assert seen[-1][1] == recognizer.geometry.frames_in(len(audio))


def test_exact_feature_cache_equals_direct_computation(recognizer):
    """Windows built from cached conv features give the logits of the same audio computed whole."""
    audio = speech_clip("misc/jfk.wav")
    g = recognizer.geometry
    got: dict[int, np.ndarray] = {}

    def keep(first, logits, stable):
        if stable:
            got[first] = logits

    _, stream = run_stream(recognizer, audio, listeners=[keep])
    assert recognizer.exact_features and stream.stats.feature_blocks > 0
    planner_settings = stream.planner.settings
    worst = 0.0
    for first, logits in got.items():
        start = max(0, first - planner_settings.left)
        start -= start % g.squeeze
        end = min(first + len(logits) + planner_settings.right, g.frames_in(len(audio)))
        lo, hi = g.sample_span(start, end)
        direct = recognizer.model(torch.from_numpy(audio[lo:hi])[None]).logits[0].detach().numpy()
        worst = max(worst, float(np.abs(direct[first - start: first - start + len(logits)] - logits).max()))
    assert worst < 1e-4, worst


# --------------------------------------------------------------------- endpointing
def test_endpoints_follow_the_silences(recognizer):
    spec = [(0.5, 1.7), (3.0, 4.2), (5.5, 6.1)]
    events, _ = run_stream(recognizer, bursts(spec, 8.0), push=800)
    # (a random-weight model may also "hear" text in the final digital silence: a 4th
    # utterance after the last burst, which the checks below allow)
    started = [e.time for e in events if e.type == "speech_started"]
    ended = [e for e in events if e.type == "utterance_end"]
    assert started[:3] == pytest.approx([s for s, _ in spec], abs=0.12)
    trailing = EndpointSettings().trailing_silence_s
    assert [e.time for e in ended[:3]] == pytest.approx([end + trailing for _, end in spec], abs=0.06)
    assert [e.reason for e in ended[:3]] == ["silence"] * 3
    assert [e.utterance for e in ended] == list(range(len(ended)))
    assert all(t >= spec[-1][1] + trailing for t in started[3:])
    bounds = [0.0] + [e.time for e in ended]
    for e in events:
        if e.type == "final":  # words lie inside their utterance's span of the stream
            assert bounds[e.utterance] <= e.start and e.end <= bounds[e.utterance + 1]
            assert all(w.start < w.end and 0 <= w.conf <= 1 for w in e.words)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_max_length_and_finalize(recognizer):
    settings = StreamSettings(endpoint=EndpointSettings(max_utterance_s=2.0, blank_run_s=100.0))
    events, stream = run_stream(recognizer, bursts([(0.0, 7.0)], 7.5), settings=settings)
    reasons = [e.reason for e in events if e.type == "utterance_end"]
    assert reasons.count("max_length") >= 2, reasons
    cut_times = [e.time for e in events if e.type == "utterance_end"]
    assert all(b - a <= 2.0 + 0.05 for a, b in zip([0.0] + cut_times, cut_times))

    audio = bursts([(0.2, 4.0)], 4.0)
    events, stream = run_stream(recognizer, audio, finalize_at=[2 * SR])
    ends = [e for e in events if e.type == "utterance_end"]
    assert ends[0].reason == "finalize" and ends[0].time == pytest.approx(2.0, abs=0.1)
    assert ends[-1].reason == "end_of_stream" and ends[-1].utterance == ends[0].utterance + 1
    times = [e.time for e in events if e.type in ("speech_started", "utterance_end")]
    assert times == sorted(times)


def test_partial_events_only_when_something_changed(recognizer):
    audio = speech_clip("misc/goforward.wav")
    events, _ = run_stream(recognizer, audio, push=320, realtime=2.0)
    partials = [(e.utterance, e.stable, e.unstable) for e in events if e.type == "partial"]
    assert partials and all(a != b for a, b in zip(partials, partials[1:]))
    for e in events:
        if e.type == "partial":
            assert e.text == " ".join((e.stable + e.unstable).split())


# -------------------------------------------------------------------------- limits
def test_memory_stays_bounded_on_a_long_stream(recognizer):
    settings = StreamSettings(endpoint=EndpointSettings(max_utterance_s=5.0))
    stream = recognizer.stream(settings=settings)
    rng = np.random.default_rng(1)
    biggest_audio = biggest_features = 0
    for _ in range(600):  # 5 minutes in 0.5 s pushes
        stream.push((rng.standard_normal(8000) * 0.05).astype(np.float32))
        stream.wait(10)
        biggest_audio = max(biggest_audio, len(stream.audio))
        biggest_features = max(biggest_features, 0 if stream.features is None else len(stream.features))
    stream.end()
    stream.wait(10)
    s = settings
    window_s = s.left_context_s + s.chunk_s + s.right_context_s + s.feature_block_s + 0.5
    assert biggest_audio <= window_s * SR
    assert biggest_features <= window_s * 50
    assert stream.transcript.num_frames <= 5.0 * 50


def test_overloaded_stream_refuses_audio_and_ended_stream_refuses_everything(recognizer):
    gate = threading.Event()
    recognizer.worker.add_runner("block", lambda x: (gate.wait(10), x)[1])
    recognizer.worker.submit("block", torch.zeros(1))  # the worker is now stuck
    with pytest.raises(ValueError, match="max_backlog_s=1.0 must exceed"):
        recognizer.stream(settings=StreamSettings(max_backlog_s=1.0))  # could never run a window
    stream = recognizer.stream(settings=StreamSettings(max_backlog_s=3.5))
    try:
        stream.push(np.zeros(int(3.4 * SR), np.float32))
        with pytest.raises(StreamOverloaded, match="cannot keep up"):
            for _ in range(10):
                stream.push(np.zeros(SR // 2, np.float32))
    finally:
        gate.set()
    stream.end()
    assert stream.wait(10)
    with pytest.raises(StreamClosed):
        stream.push(np.zeros(10, np.float32))
