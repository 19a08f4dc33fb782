"""``sewstream eval``: word and character error rates on directories of audio + transcripts.txt.

    sewstream eval ../shared/data/speech --stream --plot errors.png

A directory with a ``transcripts.txt`` is one set; a directory of such directories is
several. Each clip is transcribed offline (full context per utterance) and, with
``--stream``, through the streaming engine too; the table shows both and the gap.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sewstream.text.metrics import ErrorRate, char_errors, word_errors


@dataclass
class SetScore:
    name: str
    clips: int = 0
    seconds: float = 0.0
    wer: dict[str, ErrorRate] = field(default_factory=dict)  # mode -> errors
    cer: dict[str, ErrorRate] = field(default_factory=dict)

    def add(self, mode: str, ref: str, hyp: str) -> None:
        self.wer.setdefault(mode, ErrorRate()).add(*word_errors(ref, hyp))
        self.cer.setdefault(mode, ErrorRate()).add(*char_errors(ref, hyp))


def evaluate(rec, root: str | Path, *, stream_settings=None, endpoint=None, streaming: bool = False,
             show_progress: bool = True, on_clip=None) -> list[SetScore]:
    """Transcripts of every clip, scored per set. Modes: offline (greedy), stream (greedy, with
    ``streaming``), and when the recognizer decodes finals with an LM (``rec.use_lm``) the same
    with the LM: offline+lm, stream+lm."""
    from sewstream.audio.transcribed import load_transcribed
    from sewstream.stream.transcribe import transcribe_offline, transcribe_streaming

    clips = load_transcribed(root)
    scores: dict[str, SetScore] = {}
    bar = None
    if show_progress:
        from sewstream.progress import progress_bar
        bar = progress_bar(total=round(sum(len(c.audio) for c in clips) / 16000), unit="s", desc="eval",
                           leave=False)
    for clip in clips:
        score = scores.setdefault(clip.set_name, SetScore(clip.set_name))
        score.clips += 1
        score.seconds += len(clip.audio) / 16000
        hyps = {"offline": transcribe_offline(rec, clip.audio, endpoint=endpoint).text}
        if streaming:
            hyps["stream"] = transcribe_streaming(rec, clip.audio, settings=stream_settings, rescorer=None).text
        if rec.rescorer is not None:
            hyps["offline+lm"] = transcribe_offline(rec, clip.audio, endpoint=endpoint,
                                                    decoder=rec.rescorer.decoder).text
            if streaming:
                hyps["stream+lm"] = transcribe_streaming(rec, clip.audio, settings=stream_settings).text
        for mode, hyp in hyps.items():
            score.add(mode, clip.text, hyp)
        if on_clip:
            on_clip(clip, hyps)
        if bar:
            bar.update(round(len(clip.audio) / 16000))
    if bar:
        bar.close()
    return list(scores.values())


def total(scores: list[SetScore]) -> SetScore:
    out = SetScore("all")
    for s in scores:
        out.clips += s.clips
        out.seconds += s.seconds
        for mode in s.wer:
            out.wer.setdefault(mode, ErrorRate()).add(s.wer[mode].errors, s.wer[mode].total)
            out.cer.setdefault(mode, ErrorRate()).add(s.cer[mode].errors, s.cer[mode].total)
    return out


def table(scores: list[SetScore]) -> str:
    modes = list(scores[0].wer) if scores else []
    head = f"{'set':<32} {'clips':>5} {'audio s':>8}" + "".join(f" {'WER ' + m:>15} {'CER ' + m:>15}" for m in modes)
    lines = [head, "-" * len(head)]
    for s in [*scores, total(scores)]:
        lines.append(f"{s.name:<32} {s.clips:>5} {s.seconds:>8.1f}" + "".join(
            f" {100 * s.wer[m].rate:>14.1f}% {100 * s.cer[m].rate:>14.1f}%" for m in modes))
    t = total(scores)
    for stream, offline, label in (("stream", "offline", ""), ("stream+lm", "offline+lm", " (with the LM)")):
        if stream in modes and offline in modes:
            lines.append(f"streaming - offline gap{label}: WER {100 * (t.wer[stream].rate - t.wer[offline].rate):+.1f}"
                         f" points, CER {100 * (t.cer[stream].rate - t.cer[offline].rate):+.1f} points")
    return "\n".join(lines)


def plot(scores: list[SetScore], path: str | Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install matplotlib") from None
    modes = list(scores[0].wer)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(scores), 3.6))
    width = 0.8 / (2 * len(modes))
    for k, mode in enumerate(modes):
        for j, metric in enumerate(("wer", "cer")):
            xs = [i + (2 * k + j - len(modes) + 0.5) * width for i in range(len(scores))]
            ax.bar(xs, [100 * getattr(s, metric)[mode].rate for s in scores], width,
                   label=f"{metric.upper()} {mode}")
    ax.set_xticks(range(len(scores)), [s.name for s in scores], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("error rate (%)")
    ax.set_title("errors by set")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@dataclass(frozen=True)
class ClipComparison:
    """Model B against model A in one mode and unit, clip by clip (``eval --json`` rows)."""
    mode: str
    unit: str                   # "word" or "char"
    a: ErrorRate
    b: ErrorRate
    clips: int
    better: int                 # clips where B makes fewer errors
    worse: int
    # per clip (errors A, errors B, reference length): what paired_bootstrap resamples
    per_clip: tuple[tuple[int, int, int], ...] = ()

    def interval(self, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
        """``paired_bootstrap`` of this comparison's clips."""
        return paired_bootstrap(self.per_clip, resamples, seed)


def paired_bootstrap(per_clip, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """How sure a difference on few clips is: the clips are resampled with replacement (both
    models' errors on a clip stay together, so what they share cancels) and B's error rate minus
    A's recomputed each time. Returns the 95% interval of that difference, in points, and the
    share of resamples in which B makes fewer errors. Deterministic for a seed."""
    import numpy as np

    clips = np.asarray(per_clip, dtype=np.int64).reshape(-1, 3)
    if not len(clips):
        raise ValueError("no clips to resample")
    picks = np.random.default_rng(seed).integers(0, len(clips), size=(resamples, len(clips)))
    drawn = clips[picks].sum(axis=1)  # [resamples, 3]: errors A, errors B, reference length
    diff = 100 * (drawn[:, 1] - drawn[:, 0]) / np.maximum(drawn[:, 2], 1)
    low, high = np.percentile(diff, [2.5, 97.5])
    return float(low), float(high), float(np.mean(diff < 0))


def compare_clips(rows_a: list[dict], rows_b: list[dict], *, skip_sets: tuple[str, ...] = ()) -> list[ClipComparison]:
    """Two models' ``sewstream eval --json`` outputs on the same clips, mode by mode. Aggregate
    rates on a few hundred words hide how many clips moved each way; this says both.

    A clip may appear several times on each side (rows of several runs concatenated, e.g. the
    same models streamed at several window offsets): its errors are summed over its rows before
    the clip counts as better or worse, so one lucky run does not decide it."""
    a, b = _rows_by_clip(rows_a, skip_sets), _rows_by_clip(rows_b, skip_sets)
    if a.keys() != b.keys():
        only = sorted(a.keys() ^ b.keys())[:5]
        raise ValueError("the two evaluations cover different clips, e.g. " + ", ".join("/".join(k) for k in only))
    if not a:
        raise ValueError("no clips to compare")
    uneven = next((key for key in a if len(a[key]) != len(b[key])), None)
    if uneven:
        raise ValueError(f"clip {'/'.join(uneven)} has {len(a[uneven])} runs on one side and "
                         f"{len(b[uneven])} on the other")
    every_row = [r for rows in (*a.values(), *b.values()) for r in rows]
    modes = [m for m in ("offline", "stream", "offline+lm", "stream+lm") if all(m in r for r in every_row)]
    if not modes:
        raise ValueError("the two evaluations share no decoding mode")
    out = []
    for mode in modes:
        for unit, errors in (("word", word_errors), ("char", char_errors)):
            rate_a, rate_b, better, worse, per_clip = ErrorRate(), ErrorRate(), 0, 0, []
            for key, runs in a.items():
                clip_a, clip_b = ErrorRate(), ErrorRate()
                for row_a, row_b in zip(runs, b[key]):
                    clip_a.add(*errors(row_a["ref"], row_a[mode]))
                    clip_b.add(*errors(row_b["ref"], row_b[mode]))
                rate_a.add(clip_a.errors, clip_a.total)
                rate_b.add(clip_b.errors, clip_b.total)
                better, worse = better + (clip_b.errors < clip_a.errors), worse + (clip_b.errors > clip_a.errors)
                per_clip.append((clip_a.errors, clip_b.errors, clip_a.total))
            out.append(ClipComparison(mode, unit, rate_a, rate_b, len(a), better, worse, tuple(per_clip)))
    return out


def _rows_by_clip(rows: list[dict], skip_sets: tuple[str, ...]) -> dict[tuple[str, str], list[dict]]:
    by_clip: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["set"] not in skip_sets:
            by_clip.setdefault((row["set"], row["clip"]), []).append(row)
    return by_clip


def cmd_eval(args) -> int:
    from sewstream.runtime import load_recognizer

    config, rec = load_recognizer(args)
    rows = []
    try:
        scores = evaluate(rec, args.directory, stream_settings=config.stream, endpoint=config.stream.endpoint,
                          streaming=args.stream, show_progress=not args.quiet and sys.stderr.isatty(),
                          on_clip=(lambda clip, hyps: rows.append({"set": clip.set_name, "clip": clip.stem,
                                                                   "ref": clip.text, **hyps}))
                          if args.json else None)
    finally:
        rec.close()
    print(table(scores))
    if args.plot:
        plot(scores, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def register(sub, add_model_args) -> None:
    p = sub.add_parser("eval", help="WER/CER on directories of audio + transcripts.txt")
    p.add_argument("directory", help="a set (has transcripts.txt) or a directory of sets")
    add_model_args(p)
    p.add_argument("--stream", action="store_true", help="also decode through the streaming engine")
    p.add_argument("--plot", metavar="PNG", help="save a bar chart of errors by set (needs matplotlib)")
    p.add_argument("--json", metavar="FILE", help="write every reference and hypothesis")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)
