"""Keyword spotting costs and engine-side trigger latency, without needing a trained model.

    python scripts/bench_keywords.py            # all three parts
    python scripts/bench_keywords.py --part latency --occurrences 100

1. ``scan``: the CTC keyword Viterbi, frames per second for 1..30 keywords.
2. ``spotter``: the frame listener's CPU time per second of audio, fed like a Stream feeds it
   (a provisional tail every 0.16 s rescanned from the checkpoint, committed 2 s chunks).
3. ``latency``: keyword events through a real Stream and model worker on a simulated clock,
   with the level-coded fake acoustics of the tests (frames say exactly what the script
   says; optionally the last frames of every window are unsure, as a real model's are
   without right context): the time from the end of the word's audio to the event, for
   several ``stream.feature_block_s`` values and ``stream.partial_overlap_s`` values
   (``--overlaps``: provisional windows that redo the end of the previous one). Model compute time is not included
   (zero on the simulated clock); add the per-window model time of the real model.
4. ``compute`` (with ``--model DIR``): the model time of one provisional window (left context +
   the uncommitted tail), which adds to the trigger latency of a live stream.
5. ``classifier``: the keyword classifier (``--classifier``, default the embedded one): model
   time per 1 s window sliding at each ``--hops`` value, with conv frames shared between
   overlapping windows (``keywords/window_features.py``) against the plain forward of every
   window, and the share of a core one stream costs (windows per second x time per window).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sewstream.keywords.ctc_scorer import KeywordGraph, ViterbiState, emission_matrix, phrase_tokens, scan  # noqa: E402

WORDS = ["yes", "no", "down", "hey sew", "stop", "go", "left", "right", "up", "on", "off", "seven", "lights on",
         "lights off", "next", "previous", "pause", "play", "louder", "quieter", "cancel", "call mom", "open door",
         "close door", "timer", "alarm", "weather", "music", "help", "repeat"]
TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "|"] + list("ETAONIHSRDLUMWCFGYPBVK'XJQZ")
ID = {t: i for i, t in enumerate(TOKENS)}


def bench_scan() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3000, len(TOKENS))).astype(np.float32) * 3
    em = emission_matrix(logits, 0, ID["|"])
    print("scan: keywords  frames/s  x real time (50 frames/s)")
    for k in (1, 3, 10, 30):
        g = KeywordGraph.compile([phrase_tokens(w, ID) for w in WORDS[:k]], len(TOKENS), 0)
        started = time.perf_counter()
        scan(g, em, ViterbiState.fresh(g), 150)
        rate = len(em) / (time.perf_counter() - started)
        print(f"      {k:8d}  {rate:8.0f}  {rate / 50:8.0f}")


def bench_spotter(seconds: float = 120.0) -> None:
    from sewstream.keywords.settings import KeywordSettings, KeywordSpec
    from sewstream.keywords.spotter import KeywordSpotter
    from sewstream.stream.decode import Vocabulary

    vocab = Vocabulary(dict(enumerate(TOKENS)), 0, "|", frozenset({1, 2, 3}))
    rng = np.random.default_rng(0)
    frames = int(seconds * 50)
    logits = rng.standard_normal((frames, len(TOKENS))).astype(np.float32) * 3
    print("spotter: keywords  CPU s per audio s (provisional window every 8 frames over the whole uncommitted "
          "tail: the worst case; 100-frame committed chunks)")
    for k in (1, 3, 10, 30):
        s = KeywordSettings()
        spotter = KeywordSpotter(vocab, [s.resolve(KeywordSpec(phrase=w)) for w in WORDS[:k]], settings=s)
        started, next_emit = time.perf_counter(), 0
        for point in range(8, frames, 8):
            while next_emit + 130 <= point:
                spotter(next_emit, logits[next_emit: next_emit + 100], True)
                next_emit += 100
            spotter(next_emit, logits[next_emit: point], False)
        cost = (time.perf_counter() - started) / seconds
        print(f"         {k:8d}  {cost:.4f}")


def bench_latency(occurrences: int, blocks: list[float], soft_tails: list[int], overlaps: list[float]) -> None:
    from sewstream.keywords import keyword_listeners
    from sewstream.keywords.evaluation import settle
    from sewstream.stream import Recognizer, StreamSettings
    from tests.conftest import make_ctc_checkpoint
    from tests.keywords import fake_acoustics
    from tests.keywords.fake_acoustics import audio_for, spoken

    rng = np.random.default_rng(0)
    script, ends = "", []
    fillers = ["NOTHING", "KNOWS", "DOWNTOWN", "AND", "THE"]
    for _ in range(occurrences):
        lead = int(rng.integers(20, 45))  # random phase against the window grid
        before = [fillers[int(rng.integers(len(fillers)))]] if rng.random() < 0.5 else []
        piece = spoken(*before, "YES", lead=lead, tail=int(rng.integers(5, 40)))
        ends.append(len(script) + piece.rindex("S") + 4)  # the word's audio: S, then '...'
        script += piece
    script += "_" * 150
    audio = audio_for(script)
    with tempfile.TemporaryDirectory() as tmp:
        rec = Recognizer.from_pretrained(make_ctc_checkpoint(Path(tmp)), device="cpu")
        print("latency: soft tail  overlap s  feature_block_s  detected  p50 ms  p95 ms  max ms   "
              "(word audio end -> event; simulated clock, no model time)")
        for soft, overlap, block in [(t, o, b) for t in soft_tails for o in overlaps for b in blocks]:
            fake_acoustics.install(rec, soft_tail=soft)
            settings = StreamSettings(feature_block_s=block, partial_overlap_s=overlap)
            events = run_once(rec, audio, settings, keyword_listeners, settle)
            latencies = []
            for when, event in events:
                end = min(ends, key=lambda f: abs(f * 0.02 - event.end))
                latencies.append(when / 16000 - end * 0.02)
            ms = 1000 * np.asarray(latencies) if latencies else np.full(1, np.nan)
            print(f"         {soft:9d}  {overlap:9.2f}  {block:15.2f}  {len(events):4d}/{occurrences:<4d} "
                  f"{np.percentile(ms, 50):6.0f}  {np.percentile(ms, 95):6.0f}  {ms.max():6.0f}")
        rec.close()


def run_once(rec, audio, settings, keyword_listeners, settle) -> list:
    events = []
    stream = rec.stream("bench", settings,
                        on_event=lambda e: e.type == "keyword" and events.append((stream.total_samples, e)),
                        **keyword_listeners(rec, "yes"))
    for i in range(0, len(audio), 320):
        stream.push(audio[i: i + 320])
        settle(stream)
    stream.end()
    settle(stream)
    return events


def bench_compute(model: str, repeats: int = 5) -> None:
    import torch

    from sewstream.stream import Recognizer, StreamSettings

    rec = Recognizer.from_pretrained(model, device="cpu")
    s = StreamSettings()
    print(f"compute: {model} ({sum(p.numel() for p in rec.model.parameters()) / 1e6:.1f} M parameters, "
          f"{torch.get_num_threads()} threads)")
    # CPU time of this process as well as wall time: on a shared machine the wall time mostly
    # measures the other jobs; CPU time / threads is what an idle machine would take
    kind = "encoder on cached conv features" if rec.exact_features else "whole model"
    print(f"         window s  wall ms  CPU ms   (provisional window = left context + uncommitted tail; {kind})")
    rng = np.random.default_rng(0)
    rec.logits(np.zeros(16000, np.float32))  # warm-up
    for tail in (0.24, 1.0, 2.0, s.chunk_s + s.right_context_s):
        seconds = s.left_context_s + tail
        audio = (0.05 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
        wall, cpu = [], []
        if rec.exact_features:  # the stream caches conv features: a window runs the encoder only
            features = rec.worker.run("features", torch.from_numpy(audio))
            job = lambda: rec.worker.run("encode", features)  # noqa: E731
        else:
            job = lambda: rec.logits(audio)  # noqa: E731
        for _ in range(repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            job()
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        print(f"         {seconds:8.2f}  {1000 * np.median(wall):7.0f}  {1000 * np.median(cpu):6.0f}")
    rec.close()


def bench_classifier(path: str | None, hops: list[float], windows: int = 40) -> None:
    import torch

    from sewstream.keywords.classifier import OfflineClassifier
    from sewstream.keywords.window_features import FrameCache

    if path is None:
        from sewstream.defaults import embedded_keyword_classifier

        path = embedded_keyword_classifier()
        if path is None:
            sys.exit("classifier: this installation has no embedded keyword classifier; pass --classifier DIR")
    model = OfflineClassifier(path)
    shares = model.frames is not None
    print(f"classifier: {path} ({sum(q.numel() for q in model.model.parameters()) / 1e6:.1f} M parameters, "
          f"{torch.get_num_threads()} threads); windows slide over noise one at a time, as one stream's do")
    print("  CPU ms per 1 s window (CPU time: on a shared machine wall time measures the other jobs); "
          "core share = windows/s x time")
    print("  hop s  windows/s  plain ms  shared-frames ms  ratio  core share plain / shared  streams per core (shared)")
    rng = np.random.default_rng(0)
    for hop_s in hops:
        hop = round(hop_s * 16000)
        audio = (0.05 * rng.standard_normal(16000 + hop * windows)).astype(np.float32)
        batch = [audio[i * hop: i * hop + 16000] for i in range(windows)]

        def per_window(cache: FrameCache | None) -> float:
            model.frames = cache
            model.classify(batch[0])  # warm-up (and a cache's first, cold window)
            started = time.process_time()
            for w in batch[1:]:
                model.classify(w)
            return (time.process_time() - started) / (len(batch) - 1)

        plain = per_window(None)
        shared = per_window(FrameCache(model.model)) if shares else float("nan")
        print(f"  {hop_s:5.4g}  {1 / hop_s:9.1f}  {1000 * plain:8.1f}  {1000 * shared:16.1f}  {plain / shared:5.2f}"
              f"  {100 * plain / hop_s:13.1f}% / {100 * shared / hop_s:4.1f}%  {hop_s / shared:24.1f}")
    if not shares:
        print("  (this model cannot share frames: group-norm conv stack or per-window normalisation)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("scan", "spotter", "latency", "compute", "classifier", "all"), default="all")
    p.add_argument("--model", help="checkpoint for the compute part")
    p.add_argument("--classifier", help="keyword classifier checkpoint (default: the embedded one)")
    p.add_argument("--hops", default="0.25,0.125,0.0625", help="classifier hop_s values for the classifier part")
    p.add_argument("--occurrences", type=int, default=60)
    p.add_argument("--blocks", default="0.16", help="stream.feature_block_s values for the latency part")
    p.add_argument("--overlaps", default="0,0.16",
                   help="stream.partial_overlap_s values: seconds each provisional window redoes of the previous one")
    p.add_argument("--soft-tails", default="0,4",
                   help="frames at the end of each window the fake model is unsure about (no right context)")
    args = p.parse_args()
    if args.part in ("scan", "all"):
        bench_scan()
    if args.part in ("spotter", "all"):
        bench_spotter()
    if args.part in ("latency", "all"):
        bench_latency(args.occurrences, [float(b) for b in args.blocks.split(",")],
                      [int(t) for t in args.soft_tails.split(",")], [float(o) for o in args.overlaps.split(",")])
    if args.part in ("compute", "all") and args.model:
        bench_compute(args.model)
    if args.part in ("classifier", "all"):
        bench_classifier(args.classifier, [float(h) for h in args.hops.split(",")])


if __name__ == "__main__":
    main()
