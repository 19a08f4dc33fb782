"""Directories of audio files with a ``transcripts.txt`` (``<stem> <TRANSCRIPT>`` per line).

The layout of ../shared/data/speech and of LibriSpeech-style test sets; used by
``sewstream eval`` and by training-time evaluation (never for training itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sewstream.audio.file_source import read_audio_file

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@dataclass
class TranscribedClip:
    set_name: str
    stem: str
    path: Path
    text: str
    audio: np.ndarray  # mono float32 at 16 kHz


def read_transcripts(path: Path) -> dict[str, str]:
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        stem, _, text = line.strip().partition(" ")
        if stem in out:
            raise ValueError(f"{path}:{number}: {stem!r} appears twice")
        out[stem] = " ".join(text.split())
    return out


def transcribed_sets(root: str | Path) -> list[Path]:
    """``root`` itself if it has a transcripts.txt, else its subdirectories that do."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such directory: {root}")
    if (root / "transcripts.txt").is_file():
        return [root]
    sets = sorted(p.parent for p in root.glob("*/transcripts.txt"))
    if not sets:
        raise FileNotFoundError(f"{root} has no transcripts.txt (nor do its subdirectories)")
    return sets


def load_transcribed(root: str | Path, *, skip_empty: bool = True) -> list[TranscribedClip]:
    """Every clip of every set under ``root``, with its reference transcript."""
    clips = []
    for directory in transcribed_sets(root):
        transcripts = read_transcripts(directory / "transcripts.txt")
        audio_files = {p.stem: p for p in directory.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES}
        missing = sorted(set(transcripts) - set(audio_files))
        if missing:
            raise FileNotFoundError(f"{directory}: no audio for {', '.join(missing[:5])}")
        for stem, text in transcripts.items():
            if skip_empty and not text:
                continue
            audio, _ = read_audio_file(audio_files[stem])
            clips.append(TranscribedClip(directory.name, stem, audio_files[stem], text, audio))
    return clips
