#!/usr/bin/env python3
"""Load benchmark of the websocket daemon over loopback (not a test).

Starts ``sewstream serve`` in a subprocess (its own interpreter, as in production) and,
from this process:

1. **latency sweep**: N clients stream real speech in real time (100 ms chunks), for
   N = 1, 2, 4, ... until the 95th percentile of partial latency passes 400 ms. Latency of a
   partial = when it arrived - when the chunk holding its last audio sample (``end``) was
   sent; of a final = the same for the end of its last word (time after end of speech).
   RTF = model busy seconds / audio seconds (from the server's /metrics).
2. **idle/churn**: 200 idle connections held open while 1 000 connect/disconnect cycles
   run; connect time percentiles and the server's RSS before/after.
3. **soak** (``--soak-minutes``, default 30): clients stream continuously in back-to-back
   sessions; the server's RSS is sampled and its growth reported.

    python scripts/bench_server.py --quick            # ~1-2 minutes
    python scripts/bench_server.py --model DIR --soak-minutes 30

``--model`` defaults to the embedded model, else a tiny random-weight model built here
(right for plumbing and latency overheads, not for accuracy).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

SPEECH = ROOT.parent / "shared" / "data" / "speech"
RATE = 16000
TARGET_P95_MS = 400.0


# ---------------------------------------------------------------------------- setup
def tiny_model(directory: Path, size: str) -> Path:
    """A random-weight SEW CTC checkpoint with the LibriSpeech character vocabulary."""
    import torch

    from sewstream.model import SEWConfig, build_model
    from sewstream.text import CTCTokenizer, FeatureExtractor

    letters = list("|ETAONIHSRDLUMWCFGYPBVK'XJQZ")
    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>", "<unk>", *letters])}
    arch = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96,
                num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    if size == "default":  # the shape of the shipped default model: realistic compute per second
        arch = dict(hidden_size=256, num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024,
                    num_conv_pos_embeddings=31, num_conv_pos_embedding_groups=16)
    torch.manual_seed(0)
    config = SEWConfig(**arch, vocab_size=len(vocab), conv_bias=True, feat_extract_norm="layer", hidden_dropout=0.0,
                       attention_dropout=0.0, activation_dropout=0.0, final_dropout=0.0, mask_time_prob=0.0,
                       layerdrop=0.0)
    build_model(config, "SEWForCTC").eval().save_pretrained(directory)
    CTCTokenizer(vocab).save_pretrained(directory)
    FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(directory)
    return directory


def speech(seconds: float, seed: int) -> tuple[np.ndarray, list[float]]:
    """Real speech clips (0.8 s of silence between), shuffled per client, looped to ``seconds``;
    and the time each clip ends (the end of speech finals are measured from)."""
    from sewstream.audio.file_source import read_audio_file

    files = sorted(p for p in SPEECH.rglob("*") if p.suffix in (".wav", ".flac") and "speech-commands" not in str(p))
    if not files:
        raise SystemExit(f"no speech found under {SPEECH}")
    rng = random.Random(seed)
    parts, total, ends = [], 0, []
    gap = np.zeros(int(0.8 * RATE), np.float32)
    while total < seconds * RATE:
        audio = read_audio_file(rng.choice(files))[0]
        parts += [audio, gap]
        ends.append((total + len(audio)) / RATE)
        total += len(audio) + len(gap)
    return np.concatenate(parts)[: int(seconds * RATE)], [t for t in ends if t <= seconds]


class ServerProcess:
    """``sewstream serve`` in a subprocess; its URL, /metrics and RSS."""

    def __init__(self, model: str, threads: int, extra: list[str]) -> None:
        args = [sys.executable, "-m", "sewstream.cli", "serve", "--model", model, "--port", "0",
                "--set", f"model.threads={threads}", "--set", "server.max_sessions=512",
                "--set", "server.max_connections=2048", "--set", "server.idle_timeout_s=600", *extra]
        self.proc = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.lines: list[str] = []
        ready = threading.Event()

        def watch() -> None:
            for line in self.proc.stderr:
                self.lines.append(line)
                if "ready on" in line:
                    ready.set()
        threading.Thread(target=watch, daemon=True).start()
        if not ready.wait(180):
            self.stop()
            raise SystemExit("server did not become ready:\n" + "".join(self.lines[-20:]))
        self.url = re.search(r"ready on (ws://\S+)", "".join(self.lines)).group(1)
        self.http = self.url.replace("ws://", "http://")

    def metrics(self) -> dict[str, float]:
        text = urllib.request.urlopen(self.http + "/metrics", timeout=10).read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


async def metrics(server: ServerProcess) -> dict[str, float]:
    return await asyncio.to_thread(server.metrics)


# -------------------------------------------------------------------------- clients
@dataclass
class ClientResult:
    partial_ms: list[float] = field(default_factory=list)
    final_ms: list[float] = field(default_factory=list)
    finals: int = 0
    errors: list[str] = field(default_factory=list)
    audio_s: float = 0.0


async def stream_client(url: str, clip: tuple[np.ndarray, list[float]], *, chunk_ms: float = 100,
                        delay: float = 0.0) -> ClientResult:
    """One real-time session; latencies measured against when each chunk was sent.

    Partial: from the chunk holding the partial's last sample (``end``). Final: from the chunk
    holding the end of the speech it transcribes (the clip end just before the final's end,
    within 0.3 s after it), so endpointing's trailing silence is part of it.
    """
    result = ClientResult()
    audio, speech_ends = clip
    pending_ends = list(speech_ends)
    await asyncio.sleep(delay)
    pcm = (np.clip(audio, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()
    step = int(RATE * chunk_ms / 1000) * 2
    sent_end: list[int] = []      # sample index just after each chunk
    sent_at: list[float] = []     # when it was sent

    def sent_time(seconds: float) -> float | None:
        i = bisect.bisect_left(sent_end, int(round(seconds * RATE)))
        return sent_at[i] if i < len(sent_at) else None

    try:
        async with connect(url, compression=None, max_size=None, open_timeout=30) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "start", "sample_rate": RATE, "format": "int16", "channels": 1,
                                      "events": ["partial", "final"]}))

            async def reader() -> None:
                async for raw in ws:
                    now = time.perf_counter()
                    msg = json.loads(raw)
                    kind = msg.get("type")
                    if kind == "partial":
                        at = sent_time(msg["end"])
                        if at is not None:
                            result.partial_ms.append(1000 * (now - at))
                    elif kind == "final":
                        result.finals += 1
                        covered = [t for t in pending_ends if t <= msg["end"] + 0.3]
                        if covered:
                            del pending_ends[:len(covered)]
                            at = sent_time(covered[-1])
                            if at is not None:
                                result.final_ms.append(1000 * (now - at))
                    elif kind == "error":
                        result.errors.append(msg.get("code", "?"))
                    elif kind == "ended":
                        result.audio_s = msg.get("audio_s", 0.0)
                        return

            task = asyncio.create_task(reader())
            t0 = time.perf_counter()
            for k, i in enumerate(range(0, len(pcm), step)):
                wait = t0 + (k + 1) * chunk_ms / 1000 - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                await ws.send(pcm[i:i + step])
                sent_end.append((i + step) // 2)
                sent_at.append(time.perf_counter())
            await ws.send(json.dumps({"type": "end"}))
            await asyncio.wait_for(task, 120)
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}"[:120])
    return result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q))


# --------------------------------------------------------------------------- phases
def server_mean_ms(before: dict, after: dict, name: str) -> float:
    """Mean of a server-side latency histogram over the interval (arrival of the audio -> publication)."""
    count = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
    total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
    return 1000 * total / count if count else float("nan")


def hist_quantile(before: dict, after: dict, name: str, q: float) -> float:
    """Quantile of a server histogram over the interval (upper bound of the bucket that holds it)."""
    buckets = []
    for key, value in after.items():
        m = re.fullmatch(rf'{name}_bucket\{{le="([^"]+)"\}}', key)
        if m:
            buckets.append((float(m.group(1)), value - before.get(key, 0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= q * total:
            return bound
    return float("nan")


async def sweep(server: ServerProcess, levels: list[int], seconds: float, stop_early: bool) -> list[dict]:
    rows, misses = [], 0
    for n in levels:
        before = await metrics(server)
        results = await asyncio.gather(*(stream_client(server.url, speech(seconds, seed=i), delay=random.random())
                                         for i in range(n)))
        after = await metrics(server)
        partial = [x for r in results for x in r.partial_ms]
        final = [x for r in results for x in r.final_ms]
        busy = after["sewstream_worker_busy_seconds_total"] - before["sewstream_worker_busy_seconds_total"]
        audio = (after.get('sewstream_audio_seconds_total{source="session"}', 0)
                 - before.get('sewstream_audio_seconds_total{source="session"}', 0))
        batches = after["sewstream_batch_size_count"] - before["sewstream_batch_size_count"]
        jobs = after["sewstream_batch_size_sum"] - before["sewstream_batch_size_sum"]
        row = {"clients": n, "partial_p50": pct(partial, 50), "partial_p95": pct(partial, 95),
               "final_p50": pct(final, 50), "final_p95": pct(final, 95), "rtf": busy / audio if audio else 0.0,
               "batch": jobs / batches if batches else 0.0,
               "shed": after["sewstream_worker_shed_partials_total"] - before["sewstream_worker_shed_partials_total"],
               "server_partial": server_mean_ms(before, after, "sewstream_partial_latency_seconds"),
               "loop_p99": 1000 * hist_quantile(before, after, "sewstream_event_loop_lag_seconds", 0.99),
               "finals": sum(r.finals for r in results),
               "errors": sum(len(r.errors) for r in results),
               "error_kinds": sorted({e for r in results for e in r.errors})}
        rows.append(row)
        print(f"  N={n:>3}: partial p95 {row['partial_p95']:.0f} ms, final p95 {row['final_p95']:.0f} ms, "
              f"RTF {row['rtf']:.3f}, errors {row['errors']}", file=sys.stderr)
        misses = 0 if row["partial_p95"] <= TARGET_P95_MS else misses + 1
        if stop_early and misses >= 2:  # two levels in a row over the target: past the knee
            break
    return rows


async def churn(server: ServerProcess, idle: int, cycles: int, workers: int = 20) -> dict:
    rss0 = server.rss_mb()
    held = []
    errors = 0
    for _ in range(idle):
        try:
            ws = await connect(server.url, compression=None, open_timeout=30)
            await ws.recv()
            held.append(ws)
        except Exception:
            errors += 1
    rss_idle = server.rss_mb()
    times: list[float] = []
    queue = list(range(cycles))

    async def worker() -> None:
        nonlocal errors
        while queue:
            queue.pop()
            t = time.perf_counter()
            try:
                async with connect(server.url, compression=None, open_timeout=30) as ws:
                    await ws.recv()  # hello: the connection is fully served
                times.append(1000 * (time.perf_counter() - t))
            except Exception:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - t0
    alive = 0
    for ws in held:  # the idle ones must have survived the churn
        try:
            pong = await ws.ping()
            await asyncio.wait_for(pong, 10)
            alive += 1
        except Exception:
            pass
        await ws.close()
    await asyncio.sleep(1.0)
    return {"idle": idle, "alive": alive, "cycles": len(times), "seconds": elapsed, "rate": len(times) / elapsed,
            "connect_p50": pct(times, 50), "connect_p95": pct(times, 95), "errors": errors,
            "rss0": rss0, "rss_idle": rss_idle, "rss1": server.rss_mb()}


async def soak(server: ServerProcess, clients: int, minutes: float, session_s: float) -> dict:
    deadline = time.monotonic() + minutes * 60
    samples = [(0.0, server.rss_mb())]
    totals = {"sessions": 0, "finals": 0, "errors": 0}

    async def client(i: int) -> None:
        k = 0
        while time.monotonic() < deadline:
            r = await stream_client(server.url, speech(min(session_s, max(1.0, deadline - time.monotonic())),
                                                       seed=1000 * i + k), delay=random.random() if k == 0 else 0)
            totals["sessions"] += 1
            totals["finals"] += r.finals
            totals["errors"] += len(r.errors)
            k += 1

    async def sampler() -> None:
        t0 = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(min(30.0, max(1.0, minutes * 60 / 10)))
            samples.append((time.monotonic() - t0, server.rss_mb()))

    await asyncio.gather(sampler(), *(client(i) for i in range(clients)))
    await asyncio.sleep(2.0)
    samples.append((minutes * 60 + 2, server.rss_mb()))
    xs, ys = zip(*samples)
    slope = statistics.linear_regression(xs, ys).slope * 3600 if len(samples) > 2 else float("nan")
    # growth after the first sample past warm-up (allocator pools fill during the first minute)
    return {"clients": clients, "minutes": minutes, **totals, "rss_start": ys[0], "rss_peak": max(ys),
            "rss_end": ys[-1], "growth": ys[-1] - ys[min(1, len(ys) - 1)], "slope_mb_per_h": slope,
            "samples": [(round(x, 1), round(y, 2)) for x, y in samples]}


# ---------------------------------------------------------------------------- report
def table(rows: list[dict]) -> str:
    head = ["clients", "partial p50", "partial p95", "final p50", "final p95", "srv partial", "loop p99", "RTF",
            "batch", "shed", "finals", "errors"]
    lines = [" | ".join(f"{h:>11}" for h in head)]
    lines.append("-" * len(lines[0]))
    for r in rows:
        cells = [r["clients"], f"{r['partial_p50']:.0f} ms", f"{r['partial_p95']:.0f} ms", f"{r['final_p50']:.0f} ms",
                 f"{r['final_p95']:.0f} ms", f"{r['server_partial']:.0f} ms",
                 f"<={r['loop_p99']:g} ms", f"{r['rtf']:.3f}", f"{r['batch']:.1f}", int(r["shed"]), r["finals"],
                 r["errors"]]
        lines.append(" | ".join(f"{c!s:>11}" for c in cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint, or 'random' for random weights of --random-size "
                             "(default: the embedded model, else random)")
    parser.add_argument("--random-size", choices=("tiny", "default"), default="tiny",
                        help="architecture of the random model built when there is no --model/embedded model")
    parser.add_argument("--quick", action="store_true", help="short run (~1-2 minutes)")
    parser.add_argument("--levels", type=int, nargs="+",
                        help="client counts to try (default 1 2 4 8 12 16 24 32 48 64)")
    parser.add_argument("--seconds", type=float, help="audio per client per level (default 20, quick 6)")
    parser.add_argument("--idle", type=int, default=200, help="idle connections held during the churn")
    parser.add_argument("--cycles", type=int, default=1000, help="connect/disconnect cycles")
    parser.add_argument("--soak-minutes", type=float, help="soak duration (default 30; quick 0.25; 0 = skip)")
    parser.add_argument("--soak-clients", type=int, help="soak clients (default: half the largest good N, >= 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server (model.threads)")
    parser.add_argument("--set", action="append", default=[], help="extra server config override (repeatable)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    levels = args.levels or ([1, 2, 4, 8] if args.quick else [1, 2, 4, 8, 12, 16, 24, 32, 48, 64])
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    soak_minutes = args.soak_minutes if args.soak_minutes is not None else (0.25 if args.quick else 30.0)

    from sewstream.defaults import DEFAULT_MODEL_DIR

    tmp = None
    if args.model and args.model != "random":
        model = args.model
    elif not args.model and (DEFAULT_MODEL_DIR / "config.json").is_file():
        model = str(DEFAULT_MODEL_DIR)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-model-")
        model = str(tiny_model(Path(tmp.name), args.random_size))
        print(f"no embedded model: using a random {args.random_size} model ({model})", file=sys.stderr)

    extra = [a for item in args.set for a in ("--set", item)]
    started = time.perf_counter()
    server = ServerProcess(model, args.threads, extra)
    print(f"server ready in {time.perf_counter() - started:.1f} s at {server.url}", file=sys.stderr)
    try:
        print("latency sweep (real-time clients, 100 ms chunks)...", file=sys.stderr)
        rows = asyncio.run(sweep(server, levels, seconds, stop_early=not args.quick and not args.levels))
        good = [r["clients"] for r in rows if r["partial_p95"] <= TARGET_P95_MS]
        print(f"idle/churn ({args.idle} idle, {args.cycles} cycles)...", file=sys.stderr)
        ch = asyncio.run(churn(server, args.idle, args.cycles))
        sk = None
        if soak_minutes > 0:
            clients = args.soak_clients or max(1, (max(good) if good else 1) // 2)
            print(f"soak ({clients} clients, {soak_minutes:g} min)...", file=sys.stderr)
            sk = asyncio.run(soak(server, clients, soak_minutes, session_s=min(60.0, soak_minutes * 60)))
        final = server.metrics()
    finally:
        code = server.stop()
        if tmp is not None:
            tmp.cleanup()

    print(f"\nmodel: {model}   server threads: {args.threads}   audio per client per level: {seconds:g} s\n")
    print(table(rows))
    print("(latencies measured by the clients from the send time of the chunk holding the partial's last sample, "
          "or for finals the end of the speech they transcribe (so the trailing silence endpointing waits for "
          "is included); "
          "srv partial: mean from arrival at the server to publication; loop p99: event-loop lag (bucket bound); "
          "batch: mean jobs per forward pass; "
          "shed: provisional windows skipped)")
    print(f"\nlargest N with partial p95 <= {TARGET_P95_MS:.0f} ms: {max(good) if good else 'none'}"
          f"{' (not reached: try more --levels)' if good and good[-1] == rows[-1]['clients'] else ''}")
    print(f"\nidle/churn: {ch['idle']} idle connections held ({ch['alive']} alive after), {ch['cycles']} "
          f"connect/disconnect cycles in {ch['seconds']:.1f} s ({ch['rate']:.0f}/s), connect+hello p50 "
          f"{ch['connect_p50']:.1f} ms p95 {ch['connect_p95']:.1f} ms, errors {ch['errors']}; server RSS "
          f"{ch['rss0']:.0f} -> {ch['rss_idle']:.0f} (idle held) -> {ch['rss1']:.0f} MB")
    if sk:
        print(f"soak: {sk['clients']} clients x {sk['minutes']:g} min, {sk['sessions']} sessions, {sk['finals']} "
              f"finals, errors {sk['errors']}; RSS {sk['rss_start']:.0f} -> {sk['rss_end']:.0f} MB (peak "
              f"{sk['rss_peak']:.0f}, growth after first sample {sk['growth']:+.1f} MB"
              + (f", trend {sk['slope_mb_per_h']:+.1f} MB/h)" if sk["minutes"] >= 5 else "; too short for a trend)"))
    print(f"server: dropped partials {final.get('sewstream_dropped_partials_total', 0):.0f}, errors "
          f"{sum(v for k, v in final.items() if k.startswith('sewstream_errors_total'))}, exit code {code}")
    if args.json:
        Path(args.json).write_text(json.dumps({"sweep": rows, "churn": ch, "soak": sk}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
