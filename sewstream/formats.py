"""Transcript output formats: plain text, JSON, SubRip (.srt) and WebVTT (.vtt)."""

from __future__ import annotations

import json

from sewstream.stream.transcribe import Result

FORMATS = ("txt", "json", "srt", "vtt")


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(result: Result, max_words: int = 12) -> list[tuple[float, float, str]]:
    """Caption cues: each segment, split into lines of at most ``max_words`` words."""
    cues = []
    for seg in result.segments:
        words = seg.words or []
        if not words:
            cues.append((seg.start, seg.end, seg.text))
            continue
        for i in range(0, len(words), max_words):
            part = words[i:i + max_words]
            cues.append((part[0].start, part[-1].end, " ".join(w.word for w in part)))
    return cues


def render(result: Result, fmt: str) -> str:
    if fmt == "txt":
        return result.text + "\n"
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2) + "\n"
    if fmt == "srt":
        return "".join(f"{i}\n{_clock(a, ',')} --> {_clock(b, ',')}\n{text}\n\n"
                       for i, (a, b, text) in enumerate(_cues(result), 1))
    if fmt == "vtt":
        return "WEBVTT\n\n" + "".join(f"{_clock(a, '.')} --> {_clock(b, '.')}\n{text}\n\n"
                                      for a, b, text in _cues(result))
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
