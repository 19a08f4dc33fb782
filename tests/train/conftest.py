"""Shared fixtures for the training tests."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sewstream.train.corpus import SplitWriter

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    """scripts/NAME with ``args``, as a user runs it (its own process, output captured)."""
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def load_script(name: str):
    """scripts/NAME imported as a module, to call its functions in-process."""
    spec = importlib.util.spec_from_file_location(Path(name).stem + "_script", ROOT / "scripts" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clip_set(dest: Path, source: Path, n: int) -> Path:
    """The first ``n`` clips of a transcribed set (wav + transcripts.txt) copied into ``dest``."""
    dest.mkdir(parents=True)
    lines = (source / "transcripts.txt").read_text().splitlines()[:n]
    for line in lines:
        shutil.copy(source / f"{line.split()[0]}.wav", dest)
    (dest / "transcripts.txt").write_text("\n".join(lines) + "\n")
    return dest


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    words = ["YES", "NO", "GO", "STOP", "LEFT", "RIGHT"]
    (tmp_path / "corpus").mkdir()
    for split, n in (("train", 24), ("test", 4)):
        writer = SplitWriter(tmp_path / "corpus", split)
        for i in range(n):
            text = " ".join(rng.choice(words, 2))
            audio = (0.1 * np.sin(np.arange(int(rng.integers(6000, 16000))) * (0.05 + 0.01 * len(text)))
                     + 0.01 * rng.standard_normal(1)).astype(np.float32)
            writer.append({"id": f"{split}-{i}", "engine": "synthetic", "voice": "v", "text": text}, audio)
        writer.close()
    return tmp_path / "corpus"
