"""`sewstream eval`: per-set WER/CER table, streaming gap, plot and JSON."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from sewstream.cli import main
from sewstream.text.metrics import cer, edit_distance, wer
from sewstream.text.ngram import build_bigram


def test_metrics():
    assert edit_distance("kitten", "sitting") == 3 and edit_distance([], ["a"]) == 1
    assert wer(["A B C D"], ["A X C"]).errors == 2 and wer(["A B C D"], ["A X C"]).total == 4
    assert cer(["AB"], ["ab"]).rate == 0.0  # case and spacing are normalised


def test_eval_command(tiny_ctc_dir, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for set_name in ("alpha", "beta"):
        d = tmp_path / "sets" / set_name
        d.mkdir(parents=True)
        lines = []
        for i in range(2):
            sf.write(d / f"{set_name}{i}.wav", (0.05 * rng.standard_normal(12000)).astype(np.float32), 16000)
            lines.append(f"{set_name}{i} HELLO WORLD")
        (d / "transcripts.txt").write_text("\n".join(lines) + "\n")
    plot = tmp_path / "errors.png"
    lm = tmp_path / "lm.arpa"
    lm.write_text(build_bigram(["HELLO WORLD", "HELLO THERE"]))
    assert main(["eval", str(tmp_path / "sets"), "--model", str(tiny_ctc_dir), "--stream", "--quiet",
                 "--plot", str(plot), "--json", str(tmp_path / "rows.json"), "--lm", str(lm), "--beam", "4"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "WER stream" in out and "streaming - offline gap" in out
    assert "WER offline+lm" in out
    assert plot.stat().st_size > 1000
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert len(rows) == 4 and {"ref", "offline", "offline+lm", "stream"} <= set(rows[0])


def test_eval_errors(tiny_ctc_dir, tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--model", str(tiny_ctc_dir)]) == 2
    assert "has no transcripts.txt" in capsys.readouterr().err
    (tmp_path / "transcripts.txt").write_text("missing HELLO\n")
    assert main(["eval", str(tmp_path), "--model", str(tiny_ctc_dir)]) == 2
    assert "no audio for missing" in capsys.readouterr().err
