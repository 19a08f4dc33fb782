"""The default model's ship rule (v4): which measurements decide, which only guard.

A candidate replaces the package only if it is better on the two held-out sets large enough to
rank models, and not worse on the 17 real clips or the keyword detector by more than they can
tell apart (README "Stage 15" and "Stage 31"):

* decide (1): held-out synthetic voices, offline +LM: CER lower, WER not worse by > 0.5 points;
* decide (2): mbrola / pico sentences (natural-voice proxy), greedy offline: CER lower;
* guard (3), (4): the real clips in each default mode (offline +LM, live partials = ``stream``,
  live finals = ``stream+lm``), pooled over several window offsets: CER not worse by > 0.5
  points, and clips worse minus clips better at most 2;
* guard (5): the CTC keyword detector at threshold 0.5: detection not lower by > 1.5 points,
  false accepts per hour not higher by > 5;
* guard (6), since v4: the real clips' pooled CER in each default mode not worse by > 0.5 points
  than a fixed earlier package's, the anchor (``ANCHOR_REV``). Guard (3) compares with the
  package as it stands, so each ship may cost the real clips up to its slack and successive
  ships add up (two in a row would have taken offline +LM CER from 43.66 to 44.41); the anchor bounds the
  sum. It moves forward only to a package better than it in all three modes.

Inputs are what the CLI writes: ``sewstream eval --json`` rows and ``eval-keywords --json``
reports, so the rule can be re-applied to kept files without running a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from sewstream.evaluation import compare_clips
from sewstream.text.metrics import ErrorRate, char_errors, word_errors

REAL_MODES = {"offline+lm": "offline +LM", "stream": "live partials", "stream+lm": "live finals"}
ANCHOR_REV = "06ae58f"  # the git commit whose sewstream/assets/default-model is the anchor of guard (6)


@dataclass(frozen=True)
class Limits:
    wer_slack: float = 0.5          # points of WER (1) may lose while CER wins
    real_cer_slack: float = 0.5     # points of pooled real-clip CER (3) may lose
    real_net_worse: int = 2         # clips worse minus clips better (4)
    keyword_threshold: float = 0.5
    detection_slack: float = 1.5    # points of keyword detection (5) may lose
    fa_slack: float = 5.0           # false accepts per hour (5) may gain


@dataclass(frozen=True)
class Evals:
    """One model's measurements: eval rows per set, the real clips' rows of every window offset
    concatenated (one row per clip and offset), and the keyword report."""
    synthetic: list[dict]
    natural: list[dict]
    real: list[dict]
    keywords: dict


@dataclass(frozen=True)
class Check:
    rule: str          # "(1)" ... "(6)"
    what: str
    passed: bool
    detail: str


def pooled(rows: list[dict], mode: str) -> tuple[ErrorRate, ErrorRate]:
    """WER and CER of one decoding mode over all rows."""
    if not rows:
        raise ValueError("no evaluation rows")
    wer, cer = ErrorRate(), ErrorRate()
    for row in rows:
        if mode not in row:
            raise ValueError(f"clip {row.get('set')}/{row.get('clip')} has no {mode!r} output "
                             f"(evaluate it with{'out' if mode == 'offline' else ''} the LM / --stream)")
        wer.add(*word_errors(row["ref"], row[mode]))
        cer.add(*char_errors(row["ref"], row[mode]))
    return wer, cer


def keyword_point(report: dict, threshold: float) -> tuple[float, float]:
    """(detection %, false accepts per hour) of an ``eval-keywords --json`` report at ``threshold``."""
    for row in report.get("det", []):
        if abs(row["threshold"] - threshold) < 1e-6:
            return 100 * row["detection"], row["fa_per_hour"]
    raise ValueError(f"the keyword report has no row at threshold {threshold} (run eval-keywords with it in "
                     "--thresholds)")


def judge(base: Evals, cand: Evals, limits: Limits = Limits(), anchor: list[dict] | None = None) -> list[Check]:
    """Every check of the rule, the candidate against the baseline (and, for (6), the anchor's real-clip
    rows, pooled like ``Evals.real``); it ships if all pass. Without ``anchor`` it is rule v3."""
    checks = []
    (bw, bc), (cw, cc) = pooled(base.synthetic, "offline+lm"), pooled(cand.synthetic, "offline+lm")
    dw = 100 * (cw.rate - bw.rate)
    checks.append(Check("(1)", "synthetic +LM", cc.rate < bc.rate and dw <= limits.wer_slack,
                        f"WER/CER {_pct(cw)}/{_pct(cc)} vs {_pct(bw)}/{_pct(bc)}"))
    (_, bc), (_, cc) = pooled(base.natural, "offline"), pooled(cand.natural, "offline")
    checks.append(Check("(2)", "mbrola/pico greedy", cc.rate < bc.rate, f"CER {_pct(cc)} vs {_pct(bc)}"))
    by_mode = {(c.mode, c.unit): c for c in compare_clips(base.real, cand.real)}
    for mode, name in REAL_MODES.items():
        c = by_mode.get((mode, "char"))
        if c is None:
            raise ValueError(f"the real-clip evaluations lack mode {mode!r} (run sewstream eval --stream with the LM)")
        d = 100 * (c.b.rate - c.a.rate)
        low, high, _ = c.interval()  # reported, not judged: how far 17 clips can tell a difference
        checks.append(Check("(3)", f"real {name} CER", d <= limits.real_cer_slack,
                            f"{_pct(c.b)} vs {_pct(c.a)} ({d:+.2f}; clip bootstrap 95% {low:+.1f} .. {high:+.1f})"))
        checks.append(Check("(4)", f"real {name} clips", c.worse - c.better <= limits.real_net_worse,
                            f"{c.better} better / {c.worse} worse of {c.clips}"))
    (bd, bf), (cd, cf) = (keyword_point(e.keywords, limits.keyword_threshold) for e in (base, cand))
    checks.append(Check("(5)", f"keywords at {limits.keyword_threshold:g}",
                        cd >= bd - limits.detection_slack and cf <= bf + limits.fa_slack,
                        f"{cd:.1f}% at {cf:.1f} FA/h vs {bd:.1f}% at {bf:.1f}"))
    for mode, name in (REAL_MODES.items() if anchor is not None else ()):
        (_, ac), (_, cc) = pooled(anchor, mode), pooled(cand.real, mode)
        d = 100 * (cc.rate - ac.rate)
        checks.append(Check("(6)", f"real {name} vs anchor", d <= limits.real_cer_slack,
                            f"CER {_pct(cc)} vs {_pct(ac)} ({d:+.2f})"))
    return checks


def beats_anchor(cand: Evals, anchor: list[dict]) -> bool:
    """Whether the candidate's real CER is lower than the anchor's in every default mode: the one
    condition on which a shipped candidate becomes the new anchor (``ANCHOR_REV``)."""
    return all(pooled(cand.real, mode)[1].rate < pooled(anchor, mode)[1].rate for mode in REAL_MODES)


def summary(e: Evals) -> str:
    """The README stage table's columns (WER / CER): synthetic greedy and +LM, real greedy and +LM
    (offline, the same in every window-offset run), and the mbrola / pico sentences greedy."""
    def both(rows: list[dict], mode: str) -> str:
        wer, cer = pooled(rows, mode)
        return f"{100 * wer.rate:.1f} / {100 * cer.rate:.1f}"

    return (f"synthetic greedy {both(e.synthetic, 'offline')}, +LM {both(e.synthetic, 'offline+lm')}; "
            f"real greedy {both(e.real, 'offline')}, +LM {both(e.real, 'offline+lm')}; "
            f"mbrola/pico greedy {both(e.natural, 'offline')}")


def _pct(rate: ErrorRate) -> str:
    return f"{100 * rate.rate:.2f}"
