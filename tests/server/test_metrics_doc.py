"""The README's metrics table names what /metrics really exposes (a renamed or mis-suffixed
metric breaks dashboards silently, so the doc is checked against the rendered registry)."""

import re
from pathlib import Path
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from sewstream.server.metrics import Metrics

README = Path(__file__).resolve().parents[2] / "README.md"


def scrape() -> list:
    """The metric families of a scrape with every metric present (fake engine numbers)."""
    worker = SimpleNamespace(stats=SimpleNamespace(busy_seconds=1.0, jobs={"ctc": 3}, shed_partials=0,
                                                   batch_sizes={1: 3}), backlog=0)
    rescorer = SimpleNamespace(stats=SimpleNamespace(rescored=1, skipped=0, failed=0, busy_seconds=0.1))
    metrics = Metrics(worker, capture_stats=lambda: {"mic": {}}, is_ready=lambda: True, rescorer=rescorer,
                      classifier_frames=lambda: {"kws": {"hits": 1, "misses": 2}})
    for counter in (metrics.events.labels(type="final"), metrics.dropped_partials, metrics.overloads,
                    metrics.errors.labels(code="bad_json"), metrics.disconnects.labels(reason="idle_timeout"),
                    metrics.refused.labels(reason="unauthorized"), metrics.audio_seconds.labels(source="session")):
        counter.inc()
    for gauge in (metrics.connections.labels(kind="native"), metrics.sessions.labels(kind="native"),
                  metrics.subscribers.labels(stream="mic")):
        gauge.set(1)
    for histogram in (metrics.partial_latency, metrics.final_latency, metrics.loop_lag):
        histogram.observe(0.1)
    return list(text_string_to_metric_families(metrics.render().decode()))


def exposed_names() -> set[str]:
    """Every name a scrape can carry: sample names, plus histogram family names (the README
    names a histogram once for its _bucket/_count/_sum samples)."""
    names = set()
    for family in scrape():
        names.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            names.add(family.name)
    return names


def family_names() -> set[str]:
    """Each metric once, as a user would query it (counters with their _total; the parser reads
    prometheus_client's ``_created`` timestamps as families of their own: not metrics to document)."""
    return {f.name + "_total" if f.type == "counter" else f.name for f in scrape() if not f.name.endswith("_created")}


def documented_names() -> set[str]:
    text = README.read_text()
    names = set(re.findall(r"\bsewstream_[a-z_]+[a-z]", text))
    for row in re.findall(r"^\|.*`sewstream_worker_.*$", text, re.M):  # `_busy_seconds_total` = worker's
        names.update("sewstream_worker" + short for short in re.findall(r"`(_[a-z_]+)`", row))
    return names


def test_every_metric_the_readme_names_is_exposed_under_that_name():
    documented = documented_names()
    assert {"sewstream_lm_finals_total", "sewstream_worker_backlog", "sewstream_batch_size"} <= documented
    missing = sorted(documented - exposed_names())
    assert not missing, f"README names metrics /metrics does not expose: {missing}"


def test_every_metric_exposed_is_documented():
    undocumented = sorted(family_names() - documented_names())
    assert not undocumented, f"/metrics exposes metrics the README does not name: {undocumented}"
