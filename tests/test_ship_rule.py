"""The ship rule (v4) on hand-made evaluation rows: each check passes and fails where it should."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sewstream.ship_rule import Evals, beats_anchor, judge, keyword_point, pooled, summary

REF = "THE CAT SAT ON THE MAT"


def rows(hyps: list[str], mode: str = "offline+lm", set_name: str = "s") -> list[dict]:
    return [{"set": set_name, "clip": f"c{i}", "ref": REF, mode: h} for i, h in enumerate(hyps)]


def real_rows(hyps: list[str]) -> list[dict]:
    return [{"set": "misc", "clip": f"c{i}", "ref": REF, "offline+lm": h, "stream": h, "stream+lm": h}
            for i, h in enumerate(hyps)]


def keywords(detection: float, fa_per_hour: float) -> dict:
    return {"det": [{"threshold": 0.3, "detection": 1.0, "fa_per_hour": 99.0},
                    {"threshold": 0.5, "detection": detection, "fa_per_hour": fa_per_hour}]}


BASE = Evals(synthetic=rows(["THE CAT SAT ON THE MAP", "THE CAT SAT ON A MAT"]),
             natural=rows(["THE KAT SAT ON THE MAP"], mode="offline"),
             real=real_rows(["THE CAT SAT ON THE MAP"] * 4),
             keywords=keywords(0.90, 40.0))


def verdict(cand: Evals) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for c in judge(BASE, cand):
        out[f"{c.rule} {c.what}"] = out.get(f"{c.rule} {c.what}", True) and c.passed
    return out


def test_a_candidate_better_on_the_deciding_sets_and_within_the_guards_passes():
    better = replace(BASE, synthetic=rows([REF, "THE CAT SAT ON A MAT"]), natural=rows([REF], mode="offline"))
    assert all(verdict(better).values())


def test_the_same_model_fails_the_deciding_sets_and_passes_the_guards():
    v = verdict(BASE)  # ties do not ship: (1) and (2) need a lower CER
    assert not v["(1) synthetic +LM"] and not v["(2) mbrola/pico greedy"]
    assert all(ok for name, ok in v.items() if name[:3] in ("(3)", "(4)", "(5)"))


def test_a_lower_cer_with_a_much_worse_wer_fails_rule_1():
    # one character fewer wrong, but four words more wrong
    cand = rows(["THE CAT SAT ON THE MAT", "THECAT SATON THEMAT"])
    wer_b, cer_b = pooled(BASE.synthetic, "offline+lm")
    wer_c, cer_c = pooled(cand, "offline+lm")
    assert cer_c.rate < cer_b.rate and wer_c.rate > wer_b.rate + 0.005
    assert not verdict(replace(BASE, synthetic=cand))["(1) synthetic +LM"]


def test_real_guards_count_clips_and_pooled_cer():
    better = dict(synthetic=rows([REF, REF]), natural=rows([REF], mode="offline"))
    # three clips a little worse, one clip better: net 2 passes (4); pooled CER rises by > 0.5 -> (3) fails
    worse3 = real_rows(["THE CAT SAT ON THE MAPS"] * 3 + [REF])
    v = verdict(Evals(**better, real=worse3, keywords=BASE.keywords))
    assert v["(4) real live finals clips"] and not v["(3) real live finals CER"]
    # four clips worse: net 4 fails (4)
    v = verdict(Evals(**better, real=real_rows(["THE CAT SAT ON THE MAPS"] * 4), keywords=BASE.keywords))
    assert not v["(4) real offline +LM clips"]


def test_the_real_cer_check_reports_a_clip_bootstrap_interval_without_judging_by_it():
    better = dict(synthetic=rows([REF, REF]), natural=rows([REF], mode="offline"))
    worse3 = real_rows(["THE CAT SAT ON THE MAPS"] * 3 + [REF])  # three of four clips one letter worse
    checks = {f"{c.rule} {c.what}": c for c in judge(BASE, Evals(**better, real=worse3, keywords=BASE.keywords))}
    check = checks["(3) real live finals CER"]
    shift, low, high = re.search(r"\(([-+][\d.]+); clip bootstrap 95% ([-+][\d.]+) \.\. ([-+][\d.]+)\)",
                                 check.detail).groups()
    assert float(low) < 0 < float(shift) < float(high)  # four clips cannot tell: the interval spans 0 ...
    assert not check.passed  # ... but the rule judges the pooled shift (+2.27 > 0.5), as stated


@pytest.mark.parametrize("detection, fa, ok", [(0.89, 40.0, True), (0.88, 40.0, False), (0.95, 45.0, True),
                                               (0.95, 45.5, False)])
def test_keyword_guard_limits(detection, fa, ok):
    good = dict(synthetic=rows([REF, REF]), natural=rows([REF], mode="offline"), real=BASE.real)
    assert verdict(Evals(**good, keywords=keywords(detection, fa)))["(5) keywords at 0.5"] is ok


def test_missing_inputs_are_named():
    with pytest.raises(ValueError, match="no 'offline\\+lm' output"):
        judge(BASE, replace(BASE, synthetic=rows([REF], mode="offline")))
    with pytest.raises(ValueError, match="no row at threshold 0.5"):
        keyword_point({"det": [{"threshold": 0.3, "detection": 1.0, "fa_per_hour": 0.0}]}, 0.5)
    with pytest.raises(ValueError, match="lack mode 'stream'"):
        no_stream = [{k: v for k, v in r.items() if k not in ("stream", "stream+lm")} for r in BASE.real]
        judge(replace(BASE, real=no_stream), replace(BASE, real=no_stream))


def test_summary_gives_the_stage_table_columns():
    e = replace(BASE, synthetic=[{**r, "offline": REF} for r in BASE.synthetic],
                real=[{**r, "offline": "THE CAT"} for r in BASE.real])
    # synthetic greedy perfect; +LM 2 of 12 words, 1 + 3 (THE -> A) of 44 characters; real greedy
    # "THE CAT": 4 of 6 words and 15 of 22 characters deleted per clip; real +LM 1 word, 1 character
    assert summary(e).startswith("synthetic greedy 0.0 / 0.0, +LM 16.7 / 9.1; real greedy 66.7 / 68.2, "
                                 "+LM 16.7 / 4.5;")
    assert "mbrola/pico greedy 33.3 / 9.1" in summary(e)


def test_the_anchor_guard_bounds_drift_that_each_ship_alone_would_allow():
    better = dict(synthetic=rows([REF, REF]), natural=rows([REF], mode="offline"), keywords=BASE.keywords)
    near = "THE CAT SAT ON THE MAP"  # one letter of 22 wrong; over 10 clips (220 letters) 0.45 points
    anchor = real_rows([REF] * 10)
    package = replace(BASE, real=real_rows([near] + [REF] * 9))       # 0.45 worse than the anchor
    cand = Evals(**better, real=real_rows([near] * 2 + [REF] * 8))    # 0.45 worse again
    checks = {f"{c.rule} {c.what}": c for c in judge(package, cand, anchor=anchor)}
    for name in ("offline +LM", "live partials", "live finals"):
        assert checks[f"(3) real {name} CER"].passed and checks[f"(4) real {name} clips"].passed  # one step: fine
        assert not checks[f"(6) real {name} vs anchor"].passed  # two steps: 0.91 points past the anchor
        assert "(+0.91)" in checks[f"(6) real {name} vs anchor"].detail
    assert all(c.passed for c in judge(package, replace(cand, real=package.real), anchor=anchor) if c.rule == "(6)")
    assert not any(c.rule == "(6)" for c in judge(package, cand))  # without an anchor: rule v3


def test_a_candidate_becomes_the_anchor_only_when_better_in_every_real_mode():
    near = "THE CAT SAT ON THE MAP"
    anchor = real_rows([near] * 2)
    assert beats_anchor(replace(BASE, real=real_rows([REF, near])), anchor)
    assert not beats_anchor(replace(BASE, real=anchor), anchor)  # a tie is not better
    finals_worse = [{**r, "stream+lm": "THE CAT SAT ON THE MAPS"} for r in real_rows([REF, REF])]
    assert not beats_anchor(replace(BASE, real=finals_worse), anchor)  # better offline and partials only
