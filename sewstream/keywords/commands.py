"""``sewstream eval-keywords``: detection rate, false accepts per hour and trigger latency.

    sewstream eval-keywords --keywords yes,no,down \\
        --positives shared/data/speech/speech-commands --positives tests/data/keywords \\
        --negatives shared/data/speech/librivox-sense-and-sensibility --negatives data/corpus \\
        --plot keywords-det.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path


def register(sub, add_model_args) -> None:
    p = sub.add_parser("eval-keywords", help="keyword detection rate, false accepts/hour, latency",
                       description="Sweep keyword thresholds over positive clips and negative audio (DET table "
                                   "and plot), then stream the positives live-paced for trigger latency.")
    add_model_args(p)
    p.add_argument("--keywords", help="phrases, e.g. 'yes,no,down' (default: the config's keywords.default list)")
    p.add_argument("--detector", choices=("ctc", "classifier"), default="ctc",
                   help="ctc: score the CTC model's posteriors; classifier: the --classifier model's labels")
    p.add_argument("--classifier", metavar="DIR", help="sequence-classification checkpoint (--detector classifier)")
    # "extend": `--negatives A B` and `--negatives A --negatives B` both work (shell brace expansion)
    p.add_argument("--positives", action="extend", nargs="+", default=[], metavar="DIR",
                   help="clips whose transcript is exactly a keyword (others count as negatives); "
                        "several per flag, repeatable")
    p.add_argument("--negatives", action="extend", nargs="+", default=[], metavar="DIR",
                   help="speech without the keywords (transcripts.txt dir or corpus dir); utterances that "
                        "mention a keyword are left out; several per flag, repeatable")
    p.add_argument("--negatives-limit-s", type=float, default=None, help="use at most this much of each negative set")
    p.add_argument("--in-sentence", action="store_true",
                   help="count negative-set sentences that mention one keyword as positives (keyword in running "
                        "speech; offline sweep only: their keyword end time is unknown)")
    p.add_argument("--thresholds", default="0.05:0.95:0.05", type=thresholds_arg,
                   help="the sweep: start:stop:step, or a comma list (0.3,0.5,0.7)")
    p.add_argument("--max-fa-per-hour", type=float, default=0.5, help="false-accept budget of the operating point")
    p.add_argument("--threshold", type=live_threshold_arg,
                   help="threshold of the live run (default: the operating point); 'config': each keyword's "
                        "own (e.g. --keywords yes=0.85,no=0.9), else the config's default")
    p.add_argument("--live-negatives-s", type=float, default=120.0,
                   help="also stream this much negative audio live-paced (0: skip)")
    p.add_argument("--no-live", action="store_true", help="skip the live-paced run (no latency)")
    p.add_argument("--plot", default="keywords-det.png", help="where to save the DET plot (PNG)")
    p.add_argument("--json", help="also write every number as JSON here")
    p.set_defaults(func=cmd_eval_keywords)


def live_threshold_arg(text: str) -> float | str:
    """A threshold in (0, 1], or ``config`` (the keywords' own thresholds)."""
    if text.strip().lower() == "config":
        return "config"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a threshold in (0, 1] or 'config'")
    return value


def thresholds_arg(text: str) -> list[float]:
    """``start:stop:step`` or ``a,b,c`` -> thresholds in (0, 1]; parsed with the arguments, so a
    typo is an error before minutes of scoring, not a traceback after them."""
    bad = argparse.ArgumentTypeError(f"{text!r}: expected start:stop:step (e.g. 0.05:0.95:0.05) or a comma "
                                     "list (e.g. 0.3,0.5,0.7) of thresholds in (0, 1]")
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise bad
            values = [round(start + i * step, 4) for i in range(int(round((stop - start) / step)) + 1)]
        else:
            values = sorted({float(x) for x in text.split(",")})
    except ValueError:
        raise bad from None
    if not values or not all(0.0 < v <= 1.0 for v in values):
        raise bad
    return values


def cmd_eval_keywords(args) -> int:
    from sewstream.config import ConfigError
    from sewstream.runtime import load_recognizer

    from . import evaluation as ev
    from .registry import KeywordRegistry
    from .settings import KeywordSettings, parse_keywords

    if not args.positives or not args.negatives:
        raise ConfigError("eval-keywords needs at least one --positives DIR and one --negatives DIR")
    config, rec = load_recognizer(args)
    try:
        base: KeywordSettings = config.section("keywords")
        specs = parse_keywords(args.keywords) if args.keywords else list(base.default)
        if not specs:
            raise ConfigError("no keywords: pass --keywords or set keywords.default in the config")
        specs = [replace(s, detector=args.detector) for s in specs]
        classifier = replace(base.classifier, model=args.classifier or base.classifier.model)
        settings = replace(base, default=specs, streams={}, classifier=classifier)
        registry = KeywordRegistry(settings, rec)  # checks phrases / labels, loads the classifier
        keywords = registry.keywords(None, args.detector)
        kset = ev.KeywordSet(keywords, settings)
        return _run(args, config, rec, registry, kset, ev)
    finally:
        rec.close()


def _run(args, config, rec, registry, kset, ev) -> int:
    say = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731  (progress to stderr)
    positives, extra_negatives = [], []
    for d in args.positives:
        for clip in ev.read_clips(d):
            (positives if kset.label_of(clip) is not None else extra_negatives).append(clip)
    negatives, in_sentence, left_out = [], [], 0
    for d in args.negatives:
        for clip in ev.read_clips(d, args.negatives_limit_s):
            if not kset.mentioned(clip):
                negatives.append(clip)
            elif args.in_sentence and kset.only_mention(clip) is not None:
                in_sentence.append(clip)
            else:
                left_out += 1
    negatives += [c for c in extra_negatives if not kset.mentioned(c)]
    hours = sum(c.seconds for c in negatives) / 3600
    say(f"{len(positives)} positive clips + {len(in_sentence)} sentences with a keyword, {len(negatives)} "
        f"negative clips ({hours * 60:.1f} min; {left_out} left out for mentioning a keyword)")

    started = time.perf_counter()
    if args.detector == "ctc":
        pos = ev.score_clips(rec, kset, positives + in_sentence)
        neg = ev.score_clips(rec, kset, negatives, progress=lambda n: n % 100 == 0 and say(f"  negatives {n}"))
    else:
        model, _ = registry.classifier(None)
        pos = [ev.ClipScores(c, kset.label_of(c)) for c in positives]  # (1 s windows: isolated words only)
        neg = [ev.ClipScores(c, None) for c in negatives]
        ev.classifier_scores(model, kset, positives, pos)
        ev.classifier_scores(model, kset, negatives, neg)
    say(f"offline scoring took {time.perf_counter() - started:.1f} s")
    rows = ev.det_table(pos, neg, kset, args.thresholds)
    model_name = getattr(rec, "name", "model")
    print(f"# eval-keywords: {', '.join(k.label for k in kset.keywords)} | detector {args.detector} | "
          f"model {model_name}")
    extra = f" + {len(in_sentence)} in sentences" if in_sentence and args.detector == "ctc" else ""
    print(f"# {len(positives)} positives{extra}, {len(negatives)} negative clips = {hours * 60:.1f} min")
    print(ev.format_table(rows, hours))
    op = ev.operating_point(rows, args.max_fa_per_hour)
    if op is None:
        print(f"operating point: no threshold keeps false accepts <= {args.max_fa_per_hour}/h")
    else:
        print(f"operating point (<= {args.max_fa_per_hour} FA/h): threshold {op.threshold:.2f}, "
              f"detection {100 * op.detection:.1f}%, {op.fa_per_hour:.2f} FA/h")
    at = op.threshold if op else _lowest_threshold(kset)
    every = ev.strongest_false_accepts(neg, kset, at, limit=None)
    strongest = every[:10]
    if strongest:
        print(f"strongest false accepts at threshold {at:.2f} (of {len(every)}):")
        print(ev.format_false_accepts(strongest))
    plot = ev.plot_det(rows, args.plot, f"{model_name}: {', '.join(k.label for k in kset.keywords)} "
                                        f"({args.detector})", hours)
    print(f"DET plot: {plot}")
    report = {"keywords": [asdict(k) for k in kset.keywords], "detector": args.detector, "model": model_name,
              "positives": len(positives), "in_sentence_positives": len(in_sentence),
              "negative_minutes": round(hours * 60, 2),
              "det": [asdict(r) for r in rows], "operating_point": asdict(op) if op else None,
              "strongest_false_accepts": [asdict(f) for f in strongest]}

    if not args.no_live and positives:
        # the operating point, unless it detects nothing (then the config's threshold)
        if args.threshold == "config":
            threshold = None
        else:
            threshold = args.threshold or (op.threshold if op and op.detection > 0 else None)
        report["live"] = _live(args, config, rec, registry, kset, ev, positives, negatives, neg, threshold, say)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


def _lowest_threshold(kset) -> float:
    """The lowest threshold any keyword fires at under the config (a per-keyword one, or the section's)."""
    return min((k.threshold or kset.settings.threshold for k in kset.keywords), default=kset.settings.threshold)


def _live(args, config, rec, registry, kset, ev, positives, negatives, offline_negatives, threshold, say) -> dict:
    settings = kset.settings
    if threshold is not None:
        key = "threshold" if args.detector == "ctc" else "classifier_threshold"
        specs = [replace(s, threshold=None) for s in settings.default]
        settings = replace(settings, default=specs, **{key: threshold})
    registry.reload(settings)  # same registry: a classifier stays loaded and registered
    factory = lambda: registry.listeners("eval-keywords")  # noqa: E731
    say(f"live-paced run over {len(positives)} positives ...")
    res = ev.live_run(rec, kset, positives, listeners=factory, stream_settings=config.stream)
    latencies = [lat for _, lat in res.detections.values()]
    wanted = sum(1 for p in res.placed if p.keyword is not None)
    out = {"threshold": threshold, "detected": len(res.detections), "positives": wanted,
           "false_triggers_on_positive_stream": len(res.false_accepts),
           "latency_p50_s": ev.percentile(latencies, 50), "latency_p95_s": ev.percentile(latencies, 95),
           "late_over_1s": sum(lat > 1.0 for lat in latencies), "spotter": res.spotter_stats,
           "partial_window_compute_p50_s": ev.percentile(res.partial_compute_s, 50)}
    thr = "config" if threshold is None else f"{threshold:.2f}"
    st = config.stream
    print(f"live-paced (simulated clock, 20 ms pushes, threshold {thr}, partial_every_s {st.partial_every_s}, "
          f"feature_block_s {st.feature_block_s}): detected {len(res.detections)}/{wanted}, "
          f"{len(res.false_accepts)} wrong or duplicate triggers on the positive stream")
    print(f"  trigger latency after the keyword's speech ends: p50 {1000 * out['latency_p50_s']:.0f} ms, "
          f"p95 {1000 * out['latency_p95_s']:.0f} ms (zero compute time); {out['late_over_1s']} later than 1 s; "
          f"decided on provisional/committed frames: {res.spotter_stats.get('fired_provisional', 0)}/"
          f"{res.spotter_stats.get('fired_stable', 0)}; model time per provisional window "
          f"p50 {1000 * out['partial_window_compute_p50_s']:.0f} ms on this machine")
    if args.live_negatives_s > 0 and negatives:
        chosen = ev.across_sources(negatives, args.live_negatives_s)
        total = sum(c.seconds for c in chosen)
        say(f"live-paced run over {total / 60:.1f} min of negatives from {len({c.source for c in chosen})} sets ...")
        neg = ev.live_run(rec, kset, chosen, listeners=factory, gap_s=0.3, stream_settings=config.stream)
        fa = len(neg.events)
        # the same clips scored offline (whole-clip context, no provisional decisions): the streaming gap
        ids = {id(c) for c in chosen}
        same = [r for r in offline_negatives if id(r.clip) in ids]
        at = threshold if threshold is not None else _lowest_threshold(kset)
        offline_fa = len(ev.strongest_false_accepts(same, kset, at, limit=None)) if args.detector == "ctc" else None
        out.update(live_negative_minutes=round(total / 60, 2), live_false_accepts=fa,
                   live_fa_per_hour=fa / (total / 3600), offline_false_accepts_same_clips=offline_fa)
        same_note = f" (offline on the same clips: {offline_fa})" if offline_fa is not None else ""
        print(f"  live negatives: {fa} false accepts in {total / 60:.1f} min = {fa / (total / 3600):.1f}/h"
              + same_note)
    return out
