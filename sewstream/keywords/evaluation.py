"""Keyword evaluation: detection rate vs false accepts per hour (DET sweep), trigger latency.

* Offline sweep: one full-context forward pass per clip, every keyword occurrence with its
  peak score (``ctc_scorer.occurrences``, the same word-boundary rule as the live spotter);
  a threshold then detects a positive clip when an occurrence of its keyword reaches it, and
  every occurrence reaching it on negative audio is a false accept.
* Live-paced run: the clips go through a real ``Stream`` with the keyword listeners, in
  20 ms pushes on a simulated clock: after each push the model worker is allowed to finish
  everything queued (zero compute time), so the audio time at which an event comes out
  measures what the algorithm waits for (partial-window grid, boundary check, margin). The
  measured model time of a provisional window is reported next to it; live latency is
  about their sum on an idle machine.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sewstream.audio.levels import frame_energy_db

from .classifier import keyword_support
from .ctc_scorer import occurrences, to_score
from .settings import Keyword, KeywordSettings
from .spotter import CompiledKeywords

SAMPLE_RATE = 16000


# ------------------------------------------------------------------------- data
@dataclass
class Clip:
    name: str
    audio: np.ndarray
    text: str                 # upper-case words ("" for silence / noise)
    source: str = ""

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def read_clips(path: str | Path, limit_s: float | None = None) -> list[Clip]:
    """A directory with ``transcripts.txt`` (``stem TEXT`` lines, audio ``stem.wav|flac``), or a
    corpus directory (``test.jsonl`` + ``test.pcm``, int16 16 kHz, the training corpus format)."""
    path = Path(path)
    if (path / "transcripts.txt").is_file():
        return _read_transcribed(path, limit_s)
    if (path / "test.jsonl").is_file() and (path / "test.pcm").is_file():
        return _read_corpus(path, "test", limit_s)
    raise FileNotFoundError(f"{path}: expected transcripts.txt (+ audio files) or test.jsonl + test.pcm")


def _read_transcribed(path: Path, limit_s: float | None) -> list[Clip]:
    from sewstream.audio.file_source import read_audio_file

    clips, total = [], 0.0
    for line in (path / "transcripts.txt").read_text().splitlines():
        if not line.strip():
            continue
        stem, _, text = line.strip().partition(" ")
        candidates = (path / f"{stem}{ext}" for ext in (".wav", ".flac", ".ogg"))
        audio_path = next((p for p in candidates if p.exists()), None)
        if audio_path is None:
            raise FileNotFoundError(f"{path}: no audio file for {stem!r}")
        audio = read_audio_file(audio_path)[0]
        clips.append(Clip(stem, audio, " ".join(text.upper().split()), path.name))
        total += len(audio) / SAMPLE_RATE
        if limit_s is not None and total >= limit_s:
            break
    return clips


def _read_corpus(path: Path, split: str, limit_s: float | None) -> list[Clip]:
    pcm = np.memmap(path / f"{split}.pcm", dtype=np.int16, mode="r")
    clips, total = [], 0.0
    for line in (path / f"{split}.jsonl").read_text().splitlines():
        item = json.loads(line)
        lo, n = item["offset"], item["num_samples"]
        audio = np.asarray(pcm[lo: lo + n], np.float32) / 32768.0
        clips.append(Clip(item["id"], audio, " ".join(item["text"].upper().split()), f"{path.name}:{split}"))
        total += n / SAMPLE_RATE
        if limit_s is not None and total >= limit_s:
            break
    return clips


def mentions(text: str, phrase: str) -> bool:
    """Does ``text`` contain ``phrase`` as whole words (case-insensitive)?"""
    words, target = text.upper().split(), phrase.upper().replace("-", " ").split()
    return any(words[i: i + len(target)] == target for i in range(len(words) - len(target) + 1))


def speech_end(audio: np.ndarray, drop_db: float = 30.0) -> float:
    """Where the speech in a clip ends (seconds): the last 20 ms frame within ``drop_db`` of the loudest."""
    energy = frame_energy_db(audio, 320)
    if not len(energy):
        return 0.0
    loud = np.flatnonzero(energy >= energy.max() - drop_db)
    return (int(loud[-1]) + 1) * 320 / SAMPLE_RATE


@dataclass
class KeywordSet:
    """What the evaluation needs to know about each keyword."""

    keywords: list[Keyword]
    settings: KeywordSettings

    def label_of(self, clip: Clip) -> int | None:
        """Index of the keyword a positive clip says (its transcript *is* the phrase), else None."""
        for i, k in enumerate(self.keywords):
            if clip.text and clip.text.split() == k.phrase.upper().replace("-", " ").split():
                return i
        return None

    def mentioned(self, clip: Clip) -> bool:
        return any(mentions(clip.text, k.phrase) for k in self.keywords)

    def only_mention(self, clip: Clip) -> int | None:
        """Index of the one keyword a sentence mentions (None: none or several)."""
        found = [i for i, k in enumerate(self.keywords) if mentions(clip.text, k.phrase)]
        return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------ offline scores
@dataclass
class ClipScores:
    clip: Clip
    keyword: int | None                               # the keyword a positive says
    peaks: list[tuple[int, float, float, float]] = field(default_factory=list)  # (keyword, score, start s, end s)


def score_clips(rec, kset: KeywordSet, clips: list[Clip], floor_score: float = 0.02,
                progress: Callable[[int], None] | None = None) -> list[ClipScores]:
    """Full-context CTC scores of every keyword occurrence in every clip."""
    ctc = [k for k in kset.keywords if k.detector == "ctc"]
    compiled = CompiledKeywords.build(ctc, rec.vocab, kset.settings.provisional_margin, rec.geometry.seconds(1))
    token_to_id = {t: i for i, t in rec.vocab.id_to_token.items()}
    delimiter = token_to_id.get(rec.vocab.delimiter)
    frame_s = rec.geometry.seconds(1)
    gap = max(1, round(kset.settings.boundary_s / frame_s))
    max_frames = max(2, round(kset.settings.max_phrase_s / frame_s))
    index = {id(k): i for i, k in enumerate(kset.keywords)}
    out = []
    for n, clip in enumerate(clips):
        result = ClipScores(clip, kset.label_of(clip) if kset.label_of(clip) is not None else kset.only_mention(clip))
        logits = rec.logits(clip.audio)
        if compiled.graph is not None and len(logits):
            for o in occurrences(compiled.graph, logits, rec.vocab.blank, delimiter,
                                 whole_word=[k.whole_word for k in ctc], gap=gap, max_frames=max_frames,
                                 floor=math.log(floor_score) - max(k.boost for k in ctc)):
                k = ctc[o.keyword]
                result.peaks.append((index[id(k)], float(to_score(o.log_score, k.boost)),
                                     o.start * frame_s, o.end * frame_s))
        out.append(result)
        if progress:
            progress(n + 1)
    return out


def window_probabilities(model, audio: np.ndarray, window_s: float, hop_s: float, pad_before_s: float | None = None,
                         pad_after_s: float | None = None, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A classifier's probabilities (windows, labels) over ``audio`` padded with silence, one
    window ending every ``hop_s``, and where each window ends (seconds into ``audio``).

    The pads default to one window: then every window that overlaps the clip is scored, as a
    stream with silence around the clip would score it. Shorter pads drop the windows that
    hold only the clip's first or last moments, which a live grid does see (a 0.5 s pad made
    offline latency of words ending early in their clip ~60 ms later than live)."""
    pad_before_s = window_s if pad_before_s is None else pad_before_s
    pad_after_s = window_s if pad_after_s is None else pad_after_s
    window, hop = round(window_s * SAMPLE_RATE), round(hop_s * SAMPLE_RATE)
    before = round(pad_before_s * SAMPLE_RATE)
    padded = np.concatenate([np.zeros(before, np.float32), np.asarray(audio, np.float32),
                             np.zeros(round(pad_after_s * SAMPLE_RATE), np.float32)])
    ends = list(range(window, len(padded) + 1, hop)) or [len(padded)]
    windows = np.stack([np.pad(padded[max(0, e - window): e], (max(0, window - e), 0)) for e in ends])
    probs = np.concatenate([model.classify(windows[i:i + batch]) for i in range(0, len(windows), batch)])
    return probs, (np.array(ends) - before) / SAMPLE_RATE


def classifier_scores(model, kset: KeywordSet, clips: list[Clip], out: list[ClipScores], *,
                      pad_s: float | None = None, batch: int = 16) -> None:
    """Add classifier occurrences (sliding windows, patience) to ``out`` (same order as ``clips``).

    A run of consecutive windows where the keyword is the top word label scores the minimum of its
    best ``patience`` consecutive probabilities (it fires at a threshold iff all of them reach it).
    """
    c = kset.settings.classifier
    for clip, result in zip(clips, out):
        probs, ends = window_probabilities(model, clip.audio, c.window_s, c.hop_s, pad_s, pad_s, batch)
        support = keyword_support(probs, model.labels, c.ignore_labels)
        for i, k in enumerate(kset.keywords):
            if k.detector != "classifier":
                continue
            j = model.label_index(k)
            hit = support[:, j]
            p = k.patience
            if len(hit) < p:
                continue
            runs = np.lib.stride_tricks.sliding_window_view(hit, p).min(axis=1)
            best = int(np.argmax(runs))
            if runs[best] > 0:
                start = float(ends[best + p - 1]) - c.window_s
                result.peaks.append((i, float(runs[best]), start, float(ends[best])))


# --------------------------------------------------------------------- DET sweep
@dataclass
class DetRow:
    threshold: float
    detection: float                 # all positives
    per_keyword: dict[str, float]
    false_accepts: int
    fa_per_hour: float
    fa_per_hour_by_keyword: dict[str, float] = field(default_factory=dict)


def det_table(positives: list[ClipScores], negatives: list[ClipScores], kset: KeywordSet,
              thresholds: list[float]) -> list[DetRow]:
    hours = sum(r.clip.seconds for r in negatives) / 3600
    rows = []
    labels = [k.label for k in kset.keywords]
    for t in thresholds:
        hits = {i: [0, 0] for i in range(len(labels))}
        for r in positives:
            if r.keyword is None:
                continue
            hits[r.keyword][1] += 1
            hits[r.keyword][0] += any(k == r.keyword and s >= t for k, s, _, _ in r.peaks)
        by_keyword = [0] * len(labels)
        for r in negatives:
            for k, s, _, _ in r.peaks:
                by_keyword[k] += s >= t
        fa = sum(by_keyword)
        total = sum(h[1] for h in hits.values())
        per_hour = (lambda n: n / hours) if hours else (lambda n: float("nan"))
        rows.append(DetRow(t, sum(h[0] for h in hits.values()) / max(1, total),
                           {labels[i]: h[0] / h[1] for i, h in hits.items() if h[1]}, fa, per_hour(fa),
                           {labels[i]: per_hour(n) for i, n in enumerate(by_keyword)}))
    return rows


def operating_point(rows: list[DetRow], max_fa_per_hour: float) -> DetRow | None:
    """The lowest threshold (best detection) whose false accepts per hour stay within the budget."""
    ok = [r for r in rows if r.fa_per_hour <= max_fa_per_hour]
    return max(ok, key=lambda r: (r.detection, -r.threshold)) if ok else None


@dataclass
class FalseAccept:
    label: str
    score: float
    clip: str
    start: float                     # seconds into the clip
    end: float
    text: str                        # the clip's transcript (what was really said)


def strongest_false_accepts(negatives: list[ClipScores], kset: KeywordSet, threshold: float,
                            limit: int | None = 10) -> list[FalseAccept]:
    """The highest-scoring occurrences on negative audio at or above ``threshold``, best first:
    which words a keyword fires on (homophones, sub-words) is what a user tunes against.
    ``limit=None`` returns them all."""
    found = [FalseAccept(kset.keywords[k].label, s, r.clip.name, start, end, r.clip.text)
             for r in negatives for k, s, start, end in r.peaks if s >= threshold]
    return sorted(found, key=lambda f: -f.score)[:limit]


def format_false_accepts(found: list[FalseAccept]) -> str:
    return "\n".join(f"  {f.label:>8} {f.score:5.2f}  {f.clip} {f.start:6.2f}-{f.end:.2f} s  "
                     f"\"{_shorten(f.text, 70)}\"" for f in found)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_table(rows: list[DetRow], hours: float) -> str:
    labels = list(rows[0].per_keyword) if rows else []
    head = f"{'thr':>5} {'det%':>6} " + " ".join(f"{label[:8]:>8}" for label in labels) + f" {'FA':>5} {'FA/h':>8}"
    lines = [head]
    for r in rows:
        lines.append(f"{r.threshold:5.2f} {100 * r.detection:6.1f} "
                     + " ".join(f"{100 * r.per_keyword[label]:8.1f}" for label in labels)
                     + f" {r.false_accepts:5d} {r.fa_per_hour:8.2f}")
    lines.append(f"(false accepts counted on {hours * 60:.1f} min of negative audio)")
    return "\n".join(lines)


def plot_det(rows: list[DetRow], path: str | Path, title: str, hours: float) -> Path:
    """DET-style plot: miss rate vs false accepts per hour, one curve per keyword and overall."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 0.5 / max(hours, 1e-9)  # "zero" false accepts is drawn at half of one per run
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    fa = [max(r.fa_per_hour, floor) for r in rows]
    for label in rows[0].per_keyword:  # each keyword against its own false accepts
        own = [max(r.fa_per_hour_by_keyword.get(label, r.fa_per_hour), floor) for r in rows]
        ax.plot(own, [100 * (1 - r.per_keyword[label]) for r in rows], marker=".", lw=1, label=label)
    ax.plot(fa, [100 * (1 - r.detection) for r in rows], color="k", lw=2, marker="o", label="all (total FA)")
    for r, x in zip(rows, fa):
        if r.threshold in (rows[0].threshold, rows[len(rows) // 2].threshold, rows[-1].threshold):
            ax.annotate(f"{r.threshold:.2f}", (x, 100 * (1 - r.detection)), fontsize=7)
    ax.axvline(0.5, color="grey", ls="--", lw=0.8)
    ax.axhline(5, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour ({hours * 60:.0f} min negatives; 0 drawn at {floor:.2g})")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ live-paced run
@dataclass
class Placed:
    clip: Clip
    keyword: int | None
    start: float              # stream seconds where the clip starts
    speech_end: float         # stream seconds where its speech ends


@dataclass
class LiveResult:
    placed: list[Placed]
    events: list[tuple[float, object]]            # (audio time when the event came out, event)
    detections: dict[int, tuple[object, float]]   # placed index -> (event, latency s)
    false_accepts: list[object]
    seconds: float
    partial_compute_s: list[float]
    spotter_stats: dict = field(default_factory=dict)


def across_sources(clips: list[Clip], seconds: float) -> list[Clip]:
    """About ``seconds`` of ``clips``, taken in turn from each source (set) in their order, so a
    short live run samples every negative set instead of only the first one given."""
    by_source: dict[str, list[Clip]] = {}
    for clip in clips:
        by_source.setdefault(clip.source, []).append(clip)
    chosen, total = [], 0.0
    for clip in (c for turn in itertools.zip_longest(*by_source.values()) for c in turn if c is not None):
        if total >= seconds:
            break
        chosen.append(clip)
        total += clip.seconds
    return chosen


def layout(clips: list[Clip], kset: KeywordSet, gap_s: float = 1.0, jitter_s: float = 0.0,
           seed: int = 0) -> tuple[np.ndarray, list[Placed]]:
    """Clips back to back with ``gap_s`` (plus up to ``jitter_s``, seeded) of silence before each.

    The jitter keeps keyword ends from landing at a fixed phase of the stream's chunk or
    window grid, which would make every trigger wait the same (lucky or unlucky) delay.
    """
    rng = np.random.default_rng(seed)
    pieces, placed, t = [], [], 0
    for clip in clips:
        gap = round((gap_s + rng.uniform(0.0, jitter_s)) * SAMPLE_RATE)
        pieces += [np.zeros(gap, np.float32), clip.audio]
        t += gap
        start = t / SAMPLE_RATE
        placed.append(Placed(clip, kset.label_of(clip), start, start + speech_end(clip.audio)))
        t += len(clip.audio)
    pieces.append(np.zeros(round(2.5 * SAMPLE_RATE), np.float32))  # let the last windows run
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32), placed


def settle(stream, timeout: float = 60.0) -> None:
    """Let the worker finish every job ``stream`` and its audio listeners have submitted (the
    simulated clock stands still).

    Not ``stream.wait()``: that also waits for utterance closes whose frames are not computed yet.
    """
    deadline = time.monotonic() + timeout
    while True:
        with stream.lock:
            futures = [j.future for j in stream.jobs] + [f for _, _, f in stream.feature_jobs]
            if stream.partial_job is not None:
                futures.append(stream.partial_job.future)
            for listener in stream.audio_listeners:  # e.g. classifier windows, run on the same worker
                owner = getattr(listener, "__self__", None)
                if callable(getattr(owner, "futures", None)):
                    futures += owner.futures()
        if not futures:
            break
        for future in futures:
            with contextlib.suppress(CancelledError):
                future.result(max(0.0, deadline - time.monotonic()))
        if time.monotonic() > deadline:
            raise TimeoutError("the model worker did not finish the stream's jobs")
        time.sleep(0.0005)  # let the done-callbacks apply the results
    # and hand out their events before the clock moves on; poke, not deliver: a classifier
    # window's own wake-up (the same poke, on the worker thread) may not have run yet
    stream.poke()


def live_run(rec, kset: KeywordSet, clips: list[Clip], *, listeners: Callable[[], dict],
             stream_settings=None, chunk_s: float = 0.02, gap_s: float = 1.0, gap_jitter_s: float = 0.5,
             match_slack_s: float = 0.5, progress: Callable[[float], None] | None = None) -> LiveResult:
    """Stream ``clips`` (laid out with silence between) on a simulated clock; match events to clips."""
    audio, placed = layout(clips, kset, gap_s, gap_jitter_s)
    events: list[tuple[float, object]] = []
    stream = None

    def collect(event) -> None:
        if event.type == "keyword":
            events.append((stream.total_samples / SAMPLE_RATE, event))

    stream = rec.stream("eval-keywords", stream_settings, on_event=collect, **listeners())
    compute: list[float] = []
    worker_busy = rec.worker.stats
    chunk = max(1, round(chunk_s * SAMPLE_RATE))
    for i in range(0, len(audio), chunk):
        stream.push(audio[i: i + chunk])
        before = worker_busy.busy_seconds
        partials_before = stream.stats.partial_windows
        settle(stream)
        if stream.stats.partial_windows > partials_before:
            compute.append(worker_busy.busy_seconds - before)
        if progress and i % (SAMPLE_RATE * 10) < chunk:
            progress(i / SAMPLE_RATE)
    stream.end()
    settle(stream)
    detections, false_accepts = match_events(events, placed, [k.label for k in kset.keywords], match_slack_s)
    spotter = next((f for f in stream.frame_listeners if hasattr(f, "stats") and hasattr(f.stats, "as_dict")), None)
    return LiveResult(placed, events, detections, false_accepts, len(audio) / SAMPLE_RATE, compute,
                      spotter.stats.as_dict() if spotter is not None else {})


def match_events(events: list[tuple[float, object]], placed: list[Placed], labels: list[str],
                 slack_s: float = 0.5) -> tuple[dict[int, tuple[object, float]], list]:
    """Match ``(time, event)`` pairs to the placed clips of their keyword.

    An event matches a clip of its label whose span, widened by ``slack_s``, overlaps the event's
    span; of several, the one it overlaps most (a classifier's span is as wide as its windows, so
    it can reach a neighbouring clip of the same word). Returns {clip index: (event, latency
    after the clip's speech end)} and the events that match no clip or a clip already detected
    (a failed debounce).
    """
    detections: dict[int, tuple[object, float]] = {}
    false_accepts = []
    for when, event in events:
        best, best_overlap = None, -math.inf
        for j, p in enumerate(placed):
            if p.keyword is None or labels[p.keyword] != event.label:
                continue
            end = p.start + p.clip.seconds
            overlap = min(event.end, end) - max(event.start, p.start)  # negative: the gap between them
            if overlap >= -slack_s and overlap > best_overlap:
                best, best_overlap = j, overlap
        if best is None or best in detections:
            false_accepts.append(event)
        else:
            detections[best] = (event, when - placed[best].speech_end)
    return detections, false_accepts


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")
