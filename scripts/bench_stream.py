#!/usr/bin/env python3
"""Streaming engine under load: N live streams on one model worker.

    python scripts/bench_stream.py                      # default model, N = 1, 2, 4, ... until p95 > 400 ms
    python scripts/bench_stream.py --streams 1 8 32 --seconds 20
    python scripts/bench_stream.py --soak-minutes 30    # one stream, 30 min of audio: memory must stay flat

Every stream gets real speech (../shared/data/speech, looped) paced in real time in 20 ms
pushes. Measured in the same run:

* latency: from a sample's arrival to the first result (provisional or stable) covering
  its frame -- what a captioning user waits for; p50 / p95 over all frames of all streams;
* RTF: model-worker busy time / audio seconds, and the split between stable windows
  (committed text) and provisional ones (the low-latency tail);
* compute relative to offline: worker time per audio second divided by that of one
  offline pass (full context per utterance) over the same audio, measured first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SPEECH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "speech"
SR = 16000
PUSH = 320  # 20 ms


def speech(seconds: float) -> np.ndarray:
    from sewstream.audio.transcribed import load_transcribed

    clips = [c.audio for c in load_transcribed(SPEECH) if len(c.audio) > SR]
    out, i = [], 0
    while sum(map(len, out)) < seconds * SR:
        out.append(clips[i % len(clips)])
        out.append(np.zeros(SR // 4, np.float32))
        i += 1
    return np.concatenate(out)[: int(seconds * SR)]


def recognizer(model: str | None, threads: int):
    from sewstream.defaults import DEFAULT_MODEL_DIR
    from sewstream.stream import Recognizer

    torch.set_num_threads(threads)
    if model is None and (DEFAULT_MODEL_DIR / "config.json").exists():
        model = str(DEFAULT_MODEL_DIR)
    if model in (None, "random"):  # the full default architecture (12 layers), random weights
        from sewstream.model import build_model
        from sewstream.text import CTCTokenizer, FeatureExtractor
        from sewstream.train.recipe import DEFAULT_ARCHITECTURE, SEWConfig
        from sewstream.train.vocab import VOCAB

        tmp = tempfile.mkdtemp()
        build_model(SEWConfig(**DEFAULT_ARCHITECTURE), "SEWForCTC").save_pretrained(tmp)
        CTCTokenizer(dict(VOCAB)).save_pretrained(tmp)
        FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(tmp)
        model = tmp
        print("model: random weights, full default architecture (sew-tiny shape, layer-norm features)")
    else:
        print(f"model: {model}")
    return Recognizer.from_pretrained(model, device="cpu")


class Coverage:
    """Frame listener: when a result first covers a frame, how long ago did its audio arrive?"""

    def __init__(self, arrivals: list[float]) -> None:
        self.arrivals = arrivals  # wall time at which push k (20 ms) was made
        self.covered = 0
        self.latencies: list[float] = []

    def __call__(self, first: int, logits: np.ndarray, stable: bool):
        end = first + len(logits)
        if end > self.covered:
            now = time.perf_counter()
            for frame in range(self.covered, end, 5):  # every 5th frame is plenty
                last_sample = frame * 320 + 400
                push = min(len(self.arrivals) - 1, (last_sample - 1) // PUSH)
                self.latencies.append(now - self.arrivals[push])
            self.covered = end
        return None


def run_live(rec, audio: np.ndarray, n: int, settings) -> dict:
    worker = rec.worker
    busy0, by0 = worker.stats.busy_seconds, dict(worker.stats.busy_by_priority)
    arrivals = [[] for _ in range(n)]
    covers = [Coverage(arrivals[i]) for i in range(n)]
    streams = [rec.stream(f"s{i}", settings, frame_listeners=[covers[i]]) for i in range(n)]
    offsets = [(i * 7919 * PUSH) % len(audio) for i in range(n)]  # different audio per stream
    start = time.perf_counter()
    pushes = len(audio) // PUSH
    for k in range(pushes):
        delay = start + (k + 1) * PUSH / SR - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for i, stream in enumerate(streams):
            lo = (offsets[i] + k * PUSH) % (len(audio) - PUSH)
            arrivals[i].append(time.perf_counter())
            stream.push(audio[lo: lo + PUSH])
    lag = time.perf_counter() - start - pushes * PUSH / SR
    for stream in streams:
        stream.end()
    for stream in streams:
        stream.wait(120)
    seconds = n * pushes * PUSH / SR
    busy = worker.stats.busy_seconds - busy0
    by = {k: v - by0.get(k, 0.0) for k, v in worker.stats.busy_by_priority.items()}
    latencies = sorted(x for c in covers for x in c.latencies)
    return {"n": n, "p50": np.percentile(latencies, 50), "p95": np.percentile(latencies, 95), "rtf": busy / seconds,
            "stable_rtf": by.get("stable", 0.0) / seconds, "partial_rtf": by.get("partial", 0.0) / seconds,
            "feeder_lag": lag}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="checkpoint, or 'random' for the full default architecture "
                         "(sew-tiny shape, 12 layers) with random weights (default: the embedded model, else 'random')")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0, help="audio per stream per run")
    ap.add_argument("--streams", type=int, nargs="*", default=[1, 2, 4, 8, 16, 24, 32, 40, 48])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="stream settings, e.g. chunk_s=1.5")
    ap.add_argument("--soak-minutes", type=float, default=0.0, help="instead: one stream this long, RSS over time")
    args = ap.parse_args()

    from sewstream.config import load_config
    from sewstream.stream.transcribe import transcribe_offline

    settings = load_config(None, [f"stream.{kv}" for kv in args.set], environ={}).stream
    rec = recognizer(args.model, args.threads)
    if args.soak_minutes:
        return soak(rec, settings, args.soak_minutes)
    audio = speech(args.seconds)
    transcribe_offline(rec, audio[: 5 * SR])  # warm-up
    t0 = time.perf_counter()
    transcribe_offline(rec, audio)
    offline_rtf = (time.perf_counter() - t0) / (len(audio) / SR)
    print(f"{args.threads} threads; {args.seconds:.0f} s of real speech per stream, paced in real time, 20 ms pushes")
    print(f"offline (full context per utterance): RTF {offline_rtf:.4f} ({1 / offline_rtf:.0f}x real time)")
    print(f"stream settings: chunk {settings.chunk_s} s, left {settings.left_context_s} s, right "
          f"{settings.right_context_s} s, provisional every {settings.partial_every_s} s with "
          f"{settings.partial_left_context_s} s context, feature blocks {settings.feature_block_s} s")
    head = (f"{'streams':>7} {'p50 ms':>7} {'p95 ms':>7} {'RTF':>6} {'stable':>7} {'provis.':>7} "
            f"{'x offline':>9} {'stable x off':>12} {'feeder lag s':>12}")
    print(head)
    print("-" * len(head))
    best = 0
    for n in args.streams:
        r = run_live(rec, audio, n, settings)
        print(f"{n:>7} {1000 * r['p50']:>7.0f} {1000 * r['p95']:>7.0f} {r['rtf']:>6.3f} {r['stable_rtf']:>7.3f} "
              f"{r['partial_rtf']:>7.3f} {r['rtf'] / offline_rtf:>9.2f} {r['stable_rtf'] / offline_rtf:>12.2f} "
              f"{r['feeder_lag']:>12.2f}", flush=True)
        if r["p95"] <= 0.4:
            best = n
        elif n > best:
            break
    print(f"largest N with p95 <= 400 ms: {best or 'none'}")
    print(f"worker: {rec.worker.stats.as_dict()}")
    rec.close()
    return 0


def current_rss_mb() -> float:
    """Resident set size now (not the peak: a leak shows as a rising line, a warm-up as a step)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak(rec, settings, minutes: float, warmup_min: int = 5) -> int:
    """One stream fed ``minutes`` of audio as fast as the model takes it; RSS must stay flat.

    Growth is measured from minute ``warmup_min`` (allocator pools and caches fill during the
    first minutes: a one-time step, not a leak) to the end, with a fitted slope per hour of audio.
    """
    audio = speech(60.0)
    stream = rec.stream("soak", settings)
    rss = []
    total = int(minutes * 60)
    for second in range(0, total, 60):
        for lo in range(0, len(audio), SR):
            stream.push(audio[lo: lo + SR])
        stream.wait(120, include_closes=False)
        rss.append(current_rss_mb())
        if second % 300 == 0:
            print(f"{second // 60:>4} min of audio: RSS {rss[-1]:.0f} MB, buffered audio "
                  f"{len(stream.audio) / SR:.1f} s", flush=True)
    stream.end()
    stream.wait(120)
    base = min(warmup_min, len(rss) - 1)
    growth = (rss[-1] - rss[base]) / rss[base]
    tail = list(enumerate(rss))[base:]
    slope = statistics.linear_regression(*zip(*tail)).slope * 60 if len(tail) > 2 else float("nan")
    print(f"RSS at minute {base}: {rss[base]:.0f} MB, at the end ({len(rss)} min): {rss[-1]:.0f} MB "
          f"({100 * growth:+.1f}%, goal < 5%); trend {slope:+.1f} MB per hour of audio; "
          f"first minute {rss[0]:.0f} MB")
    rec.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
