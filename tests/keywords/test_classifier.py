"""Classifier keywords: a random-init SEW sequence-classification checkpoint on the model worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sewstream.keywords import KeywordError, KeywordRegistry, KeywordSettings
from sewstream.keywords.classifier import ClassifierListener, ClassifierModel, keyword_support
from sewstream.keywords.evaluation import settle

from ..conftest import TINY_CTC

LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down"]


def make_classifier(path: Path, favour: str | None = None, prob: float = 0.9) -> Path:
    """A tiny random SEW classifier; ``favour``: hand-set the head so that label always wins."""
    from sewstream.model import SEWConfig, build_model

    torch.manual_seed(0)
    config = SEWConfig(**{**TINY_CTC, "classifier_proj_size": 16}, id2label=dict(enumerate(LABELS)))
    model = build_model(config, "SEWForSequenceClassification").eval()
    if favour is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            others = len(LABELS) - 1
            # softmax: favour gets prob, the others share the rest
            bias = torch.full((len(LABELS),), float(np.log((1 - prob) / others)))
            bias[LABELS.index(favour)] = float(np.log(prob))
            model.classifier.bias.copy_(bias)
    model.save_pretrained(path)
    return path


@pytest.fixture
def random_classifier(tmp_path):
    return make_classifier(tmp_path / "cls-random")


def settings(model: Path, **kw) -> KeywordSettings:
    data = {"classifier": {"model": str(model), "window_s": 1.0, "hop_s": 0.25},
            "default": [{"phrase": "yes", "detector": "classifier", "label": "affirmative"}], **kw}
    from sewstream.config import build
    return build(KeywordSettings, data, "keywords")


def stream_events(rec, listeners, seconds: float, chunk_s: float = 0.05):
    events = []
    stream = rec.stream("cls", on_event=events.append, **listeners)
    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    step = int(chunk_s * 16000)
    for i in range(0, len(audio), step):
        stream.push(audio[i: i + step])
        settle(stream)
    return events, stream


def test_random_checkpoint_runs_on_the_worker(recognizer, random_classifier):
    model = ClassifierModel(random_classifier, recognizer)
    assert model.labels == LABELS
    assert model.runner in recognizer.worker.runners
    window = np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1
    via_worker = recognizer.worker.run(model.runner, torch.from_numpy(window)).numpy()
    np.testing.assert_allclose(via_worker, model.classify(window), atol=1e-5)
    assert via_worker.shape == (len(LABELS),) and abs(via_worker.sum() - 1) < 1e-5
    batch = np.stack([window, 0.3 * window[::-1], np.zeros_like(window)])
    singles = np.stack([model.classify(w) for w in batch])
    np.testing.assert_allclose(model.classify(batch), singles, atol=1e-5)  # offline evaluation batches


def test_windows_on_a_fixed_grid_and_patience(recognizer, tmp_path):
    path = make_classifier(tmp_path / "cls-yes", favour="yes", prob=0.9)
    registry = KeywordRegistry(settings(path, patience=3), recognizer)
    events, stream = stream_events(recognizer, registry.listeners("cls"), seconds=3.0)
    (event,) = [e for e in events if e.type == "keyword"]  # one run of windows: one event
    assert (event.label, event.phrase, event.detector) == ("affirmative", "yes", "classifier")
    assert event.score == pytest.approx(0.9, abs=1e-3)
    # windows end at 1.0, 1.25, 1.5 ...: patience 3 fires on the one ending at 1.5 s,
    # reporting where all three overlap: [start of the third, end of the first]
    assert (event.start, event.end) == (0.5, 1.0)
    listener = stream.audio_listeners[0].__self__
    assert listener.stats.windows == 9 and listener.stats.fired == 1


def test_a_simulated_clock_waits_for_classifier_windows(recognizer, tmp_path):
    # settle() must not let the clock run on while a window is still being classified: a slow
    # model would otherwise show up as trigger latency in eval-keywords' "zero compute time"
    import time

    path = make_classifier(tmp_path / "cls-yes", favour="yes", prob=0.9)
    registry = KeywordRegistry(settings(path, patience=1), recognizer)
    listeners = registry.listeners("cls")
    model, _ = registry.classifier("cls")
    fast = recognizer.worker.runners[model.runner]
    recognizer.worker.runners[model.runner] = lambda audio: (time.sleep(0.05), fast(audio))[1]
    events = []
    stream = recognizer.stream("cls", on_event=lambda e: events.append((stream.total_samples, e)), **listeners)
    listener = stream.audio_listeners[0].__self__
    audio = np.zeros(int(1.5 * 16000), np.float32)
    for i in range(0, len(audio), 320):
        stream.push(audio[i: i + 320])
        settle(stream)
        assert all(f.done() for _, f, _, _ in listener.pending) and not listener.futures()
    fired = [(at, e) for at, e in events if e.type == "keyword"]
    # the first window (ends at 1.0 s) fired, delivered before the next push (the clock at 1.0 s)
    assert fired and fired[0][1].end == 1.0 and fired[0][0] == 16000


def test_a_finished_window_wakes_the_stream_without_more_audio(recognizer, tmp_path):
    # live, the event must not wait for the next push: the window's result wakes the stream
    import threading

    path = make_classifier(tmp_path / "cls-yes", favour="yes", prob=0.9)
    registry = KeywordRegistry(settings(path, patience=1), recognizer)
    got = threading.Event()
    events = []

    def on_event(event):
        events.append((threading.current_thread().name, event))
        if event.type == "keyword":
            got.set()

    stream = recognizer.stream("cls", on_event=on_event, **registry.listeners("cls"))
    stream.push(np.zeros(16000, np.float32))  # exactly one window's audio, then nothing more
    assert got.wait(10.0), "the keyword event waited for another push"
    (where, event), = [(t, e) for t, e in events if e.type == "keyword"]
    assert event.end == 1.0 and where != threading.current_thread().name  # delivered by the worker's wake-up
    assert stream.audio_listeners[0].__self__.wake == stream.poke


def test_a_window_finished_during_its_push_keeps_the_grid(recognizer, tmp_path, monkeypatch):
    # a window can finish before its push returns (a shed window is done at once; a fast worker
    # may beat the callback's registration): the wake-up's empty call must not look like a jump
    from concurrent.futures import Future

    path = make_classifier(tmp_path / "cls-yes", favour="yes", prob=0.9)
    registry = KeywordRegistry(settings(path, patience=3), recognizer)
    listeners = registry.listeners("cls")
    worker = recognizer.worker

    def done_at_once(runner, item, **_):
        future = Future()
        with torch.inference_mode():
            future.set_result(worker.runners[runner](item[None])[0])
        return future

    monkeypatch.setattr(worker, "submit", done_at_once)
    events, stream = [], None
    stream = recognizer.stream("cls", on_event=events.append, **listeners)
    audio = np.zeros(3 * 16000, np.float32)
    for i in range(0, len(audio), 800):
        stream.push(audio[i: i + 800])
    listener = stream.audio_listeners[0].__self__
    assert listener.stats.windows == 9 and listener.stats.results == 9  # 1.0, 1.25, ..., 3.0 s
    (event,) = [e for e in events if e.type == "keyword"]
    assert (event.start, event.end) == (0.5, 1.0)


def test_threshold_and_label_mapping(recognizer, tmp_path):
    path = make_classifier(tmp_path / "cls-no", favour="no", prob=0.7)
    s = settings(path, default=[{"phrase": "yes", "detector": "classifier"},
                                {"phrase": "NO", "detector": "classifier", "label": "negative", "threshold": 0.75}])
    events, _ = stream_events(recognizer, KeywordRegistry(s, recognizer).listeners("cls"), seconds=2.0)
    assert [e for e in events if e.type == "keyword"] == []  # "no" at 0.7 < 0.75; "yes" never on top
    s = settings(path, default=[{"phrase": "NO", "detector": "classifier", "label": "negative", "threshold": 0.6}])
    events, _ = stream_events(recognizer, KeywordRegistry(s, recognizer).listeners("cls"), seconds=2.0)
    assert [e.label for e in events if e.type == "keyword"] == ["negative"]


def bare_listener() -> ClassifierListener:
    from sewstream.keywords.classifier import ClassifierStats
    from sewstream.keywords.settings import ClassifierSettings

    listener = ClassifierListener.__new__(ClassifierListener)  # the decision logic alone, no worker
    listener.window, listener.runs, listener.fired, listener.hooks = 16000, {}, {}, None
    listener.settings = ClassifierSettings()
    listener.stream_name, listener.stats = "x", ClassifierStats()
    return listener


@pytest.mark.parametrize("cooldown_s, fired_at", [(0.0, [3, 7, 12]), (1.0, [3, 12])])
def test_patience_runs_break_and_refire(cooldown_s, fired_at):
    from sewstream.keywords.settings import Keyword

    listener = bare_listener()
    kw = Keyword(label="yes", phrase="yes", detector="classifier", threshold=0.8, patience=2, cooldown_s=cooldown_s)
    yes = np.array([0, 0, 0.9, 0.1, 0, 0])
    low = np.array([0, 0, 0.6, 0.4, 0, 0])
    fired = []
    # windows of 1 s ending every 0.25 s; None = a window whose job was lost (shed)
    for i, probs in enumerate([yes, low, yes, yes, yes, None, yes, yes] + [low] * 3 + [yes, yes]):
        fired += [i for _ in listener._window(16000 + i * 4000, probs, Model(), [kw])]
    # window 0 alone is short of patience; 2-4 are one run (fires once, at 3); the lost window 5
    # breaks it; the run 6-7 lies 0.25 s after the first occurrence's span: a cooldown of 1 s
    # suppresses it; 11-12 come well after
    assert fired == fired_at
    assert listener.stats.suppressed == (1 if cooldown_s else 0)


class Model:
    labels = LABELS

    def label_index(self, keyword):
        return LABELS.index(keyword.phrase)


def test_keyword_support_lets_fillers_not_other_words_outvote_a_keyword():
    #                   _silence_ _unknown_ yes   no    up    down
    probs = np.array([[0.0, 0.6, 0.35, 0.05, 0.0, 0.0],    # doubtful "yes": _unknown_ above it
                      [0.0, 0.1, 0.35, 0.55, 0.0, 0.0],    # "no" beats "yes"
                      [0.5, 0.5, 0.0, 0.0, 0.0, 0.0]])     # no word at all
    support = keyword_support(probs, LABELS, ["_silence_", "_unknown_"])
    np.testing.assert_allclose(support, [[0, 0, 0.35, 0, 0, 0], [0, 0, 0, 0.55, 0, 0], [0] * 6])
    # through the listener: "yes" at threshold 0.3 fires on two doubtful windows, not at 0.4,
    # and never while "no" is above it
    from sewstream.keywords.settings import Keyword

    for threshold, rows, want in [(0.3, [0, 0], 1), (0.4, [0, 0], 0), (0.3, [0, 1], 0)]:
        listener = bare_listener()
        kw = Keyword(label="yes", phrase="yes", detector="classifier", threshold=threshold, patience=2)
        events = [e for i, r in enumerate(rows) for e in listener._window(16000 + i * 4000, probs[r], Model(), [kw])]
        assert len(events) == want, (threshold, rows)


def test_bad_classifier_entries_are_named(recognizer, random_classifier, tiny_ctc_dir):
    s = settings(random_classifier, default=[{"phrase": "maybe", "detector": "classifier"}])
    with pytest.raises(KeywordError, match=r"keywords\.default\[0\].*no such label.*_silence_"):
        KeywordRegistry(s, recognizer)
    s = settings(random_classifier, default=[{"phrase": "_unknown_", "detector": "classifier"}])
    with pytest.raises(KeywordError, match=r"keywords\.default\[0\].*ignore_labels"):
        KeywordRegistry(s, recognizer)
    s = settings(tiny_ctc_dir)
    with pytest.raises(KeywordError, match="not a sequence-classification checkpoint"):
        KeywordRegistry(s, recognizer)
