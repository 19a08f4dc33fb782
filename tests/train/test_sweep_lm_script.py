"""scripts/sweep_lm_settings.py: one forward pass, every LM weight setting decoded from it."""

from __future__ import annotations

import json

import pytest

from sewstream.cli import main as sewstream_main
from sewstream.text.metrics import cer, wer

from .conftest import run_script


def _rows(stdout: str) -> dict[tuple[float, float, float], tuple[bool, list[float]]]:
    """(alpha, beta, unk) -> (is the defaults' row, [WER, CER, ...] in percent)."""
    out = {}
    for line in stdout.splitlines():
        fields = line.replace("*", " ").split()
        if len(fields) < 5 or not fields[-1].endswith("%"):
            continue
        alpha, beta, unk = map(float, fields[:3])
        out[(alpha, beta, unk)] = (line.startswith("*"), [float(f.rstrip("%")) for f in fields[3:]])
    return out


def test_default_row_is_what_eval_measures_with_the_lm(speech_dir, tmp_path):
    misc, vctk = speech_dir / "misc", speech_dir / "vctk"
    res = run_script("sweep_lm_settings.py", "--tune", misc, "--report", vctk, "--alphas", "0.5,0",
                     "--betas", "2,0", "--workers", "1", "--threads", "1")
    assert res.returncode == 0, res.stderr
    rows = _rows(res.stdout)
    assert set(rows) == {(0.5, 2.0, 0.0), (0.5, 0.0, 0.0), (0.0, 2.0, 0.0), (0.0, 0.0, 0.0)}
    assert [k for k, (default, _) in rows.items() if default] == [(0.5, 2.0, 0.0)]
    tune_wer = [scores[0] for _, scores in rows.values()]
    assert tune_wer == sorted(tune_wer), "rows are ranked by the tuning sets' WER"

    # the defaults' row is exactly sewstream eval's offline+lm column, on both groups
    for column, directory in ((0, misc), (2, vctk)):
        json_path = tmp_path / f"{directory.name}.json"
        assert sewstream_main(["eval", str(directory), "--quiet", "--json", str(json_path)]) == 0
        clips = json.loads(json_path.read_text())
        refs, hyps = [c["ref"] for c in clips], [c["offline+lm"] for c in clips]
        got = rows[(0.5, 2.0, 0.0)][1][column:column + 2]
        assert got == pytest.approx([100 * wer(refs, hyps).rate, 100 * cer(refs, hyps).rate], abs=0.005)


def test_bad_directory_is_named(tmp_path):
    res = run_script("sweep_lm_settings.py", "--tune", tmp_path / "nowhere", "--workers", "1")
    assert res.returncode == 2
    assert "nowhere" in res.stderr and "Traceback" not in res.stderr
    res = run_script("sweep_lm_settings.py", "--tune", tmp_path, "--alphas", "0.5,x")
    assert res.returncode == 2 and "not a comma list of numbers" in res.stderr
