"""Prometheus metrics of one server instance (its own CollectorRegistry, so several can coexist).

Counters and histograms are updated where things happen (sessions, fan-out, errors);
engine-side numbers (model worker batches, busy time, capture overruns) are read from
the engine's own counters at scrape time by a collector, so the hot paths pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from sewstream.stream.rescore import FinalRescorer
    from sewstream.stream.worker import ModelWorker

LATENCY_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]


class Metrics:
    def __init__(self, worker: ModelWorker, capture_stats: Callable[[], dict[str, dict]],
                 is_ready: Callable[[], bool], rescorer: FinalRescorer | None = None,
                 classifier_frames: Callable[[], dict[str, dict]] | None = None) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge("sewstream_connections", "Open websocket connections", ["kind"], registry=r)
        self.sessions = Gauge("sewstream_sessions", "Client audio sessions in progress", ["kind"], registry=r)
        self.subscribers = Gauge("sewstream_subscribers", "Subscriptions to daemon streams", ["stream"], registry=r)
        self.audio_seconds = Counter("sewstream_audio_seconds", "Audio received, in seconds", ["source"],
                                     registry=r)
        self.events = Counter("sewstream_events", "Events produced by streams", ["type"], registry=r)
        self.partial_latency = Histogram("sewstream_partial_latency_seconds",
                                         "From the arrival of the last audio a partial covers to its publication",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.final_latency = Histogram("sewstream_final_latency_seconds",
                                       "From the arrival of the end of an utterance's last word to its final",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.dropped_partials = Counter("sewstream_dropped_partials",
                                        "Partials not sent because a subscriber's queue was behind", registry=r)
        self.errors = Counter("sewstream_errors", "Error messages sent to clients, by code", ["code"], registry=r)
        self.disconnects = Counter("sewstream_disconnects", "Connections closed by the server, by reason",
                                   ["reason"], registry=r)
        self.refused = Counter("sewstream_refused", "Connections or sessions refused, by reason", ["reason"],
                               registry=r)
        self.overloads = Counter("sewstream_session_overloads",
                                 "Times a session's input was paused because the model was behind", registry=r)
        self.loop_lag = Histogram("sewstream_event_loop_lag_seconds",
                                  "How late the event loop ran a periodic timer: time it was kept busy",
                                  buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0), registry=r)
        r.register(_EngineCollector(worker, capture_stats, is_ready, self.audio_seconds, rescorer,
                                    classifier_frames))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def error(self, code: str) -> None:
        self.errors.labels(code).inc()


class _EngineCollector:
    """Model-worker and capture numbers, read from the engine's counters at scrape time."""

    def __init__(self, worker: ModelWorker, capture_stats: Callable[[], dict[str, dict]],
                 is_ready: Callable[[], bool], audio_seconds: Counter, rescorer: FinalRescorer | None,
                 classifier_frames: Callable[[], dict[str, dict]] | None = None) -> None:
        self.worker, self.capture_stats, self.is_ready = worker, capture_stats, is_ready
        self.audio_seconds, self.rescorer = audio_seconds, rescorer
        self.classifier_frames = classifier_frames

    def describe(self) -> Iterable:
        return []  # dynamic: no registration-time description (avoids calling collect() early)

    def collect(self) -> Iterable:
        stats = self.worker.stats
        yield GaugeMetricFamily("sewstream_ready", "1 once warm-up is done and the server is not draining",
                                value=1.0 if self.is_ready() else 0.0)
        busy = CounterMetricFamily("sewstream_worker_busy_seconds", "Model worker time spent in forward passes")
        busy.add_metric([], stats.busy_seconds)
        yield busy
        jobs = CounterMetricFamily("sewstream_worker_jobs", "Model jobs run, by runner", labels=["runner"])
        for runner, n in sorted(dict(stats.jobs).items()):
            jobs.add_metric([runner], n)
        yield jobs
        shed = CounterMetricFamily("sewstream_worker_shed_partials",
                                   "Provisional (partial) windows skipped because newer ones superseded them "
                                   "or the worker was behind")
        shed.add_metric([], stats.shed_partials)
        yield shed
        yield GaugeMetricFamily("sewstream_worker_backlog", "Jobs waiting for the model worker",
                                value=self.worker.backlog)
        if self.rescorer is not None:
            lm = self.rescorer.stats
            finals = CounterMetricFamily("sewstream_lm_finals",
                                         "Finals by LM decoding outcome: rescored, skipped (too many waiting: sent "
                                         "with greedy text), failed (decoder error: greedy text)", labels=["outcome"])
            for outcome in ("rescored", "skipped", "failed"):
                finals.add_metric([outcome], getattr(lm, outcome))
            yield finals
            lm_busy = CounterMetricFamily("sewstream_lm_busy_seconds", "Rescorer thread time spent in beam search")
            lm_busy.add_metric([], lm.busy_seconds)
            yield lm_busy
        sizes = dict(stats.batch_sizes)
        buckets, running = [], 0
        for bound in BATCH_BUCKETS:
            running = sum(n for size, n in sizes.items() if size <= bound)
            buckets.append((str(bound), running))
        buckets.append(("+Inf", sum(sizes.values())))
        yield HistogramMetricFamily("sewstream_batch_size", "Jobs per model forward pass", buckets=buckets,
                                    sum_value=sum(size * n for size, n in sizes.items()))
        audio = _total(self.audio_seconds)
        yield GaugeMetricFamily("sewstream_real_time_factor",
                                "Model busy seconds per second of audio received (lower is faster; "
                                "1 means the model is saturated)",
                                value=stats.busy_seconds / audio if audio > 0 else 0.0)
        overruns = CounterMetricFamily("sewstream_capture_overruns",
                                       "Capture buffer overruns of daemon streams (PortAudio input overflows)",
                                       labels=["stream"])
        lost = CounterMetricFamily("sewstream_capture_lost_seconds",
                                   "Daemon-stream audio lost, by where: staging (capture thread stalled), ring "
                                   "(stream reader stalled), refused (model overloaded)", labels=["stream", "where"])
        for name, s in sorted(self.capture_stats().items()):
            overruns.add_metric([name], s.get("input_overflows", 0))
            for where in ("staging", "ring", "refused"):
                lost.add_metric([name, where], s.get(f"{where}_lost_s", 0.0))
        yield overruns
        yield lost
        if self.classifier_frames is not None:
            frames = CounterMetricFamily("sewstream_classifier_frames",
                                         "Conv frames of keyword-classifier windows, by whether the shared frame "
                                         "cache had them (hit) or they were computed (miss)",
                                         labels=["model", "outcome"])
            for model, f in sorted(self.classifier_frames().items()):
                frames.add_metric([model, "hit"], f["hits"])
                frames.add_metric([model, "miss"], f["misses"])
            yield frames


def _total(counter: Counter) -> float:
    """Sum of a labelled counter's ``_total`` samples."""
    return sum(s.value for metric in counter.collect() for s in metric.samples if s.name.endswith("_total"))
