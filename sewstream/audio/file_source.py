"""Audio files (WAV, FLAC, OGG, anything libsndfile reads) as a source or one-shot.

:func:`read_audio_file` loads a whole file for offline transcription;
:class:`FileSource` streams one into a ring buffer, either as fast as the
reader consumes (lossless: it blocks on a full ring) or paced like a live
microphone (``realtime=True``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sewstream.audio.base import DEFAULT_RING_SECONDS, TARGET_RATE, AudioSource
from sewstream.audio.resample import resample, to_mono
from sewstream.audio.ring import OverflowPolicy, RingBuffer
from sewstream.audio.stream_resampler import StreamResampler

__all__ = ["AudioFileError", "AudioFileNotFoundError", "FileSource", "read_audio_file"]


class AudioFileError(OSError):
    """An audio file could not be read: unreadable, corrupt or unsupported format."""


class AudioFileNotFoundError(AudioFileError, FileNotFoundError):
    """The audio file does not exist."""


def _open(path: str | os.PathLike[str]) -> sf.SoundFile:
    """Open ``path`` with soundfile, turning every failure into an error naming the file."""
    p = Path(path)
    if not p.exists():
        raise AudioFileNotFoundError(f"audio file not found: {p}")
    if p.is_dir():
        raise AudioFileError(f"not an audio file (a directory): {p}")
    try:
        return sf.SoundFile(p)
    except sf.LibsndfileError as exc:
        raise AudioFileError(
            f"cannot read audio file {p}: unsupported format or corrupt data ({exc.error_string}); "
            f"readable formats: WAV, FLAC, OGG/Vorbis and others libsndfile supports"
        ) from exc
    except OSError as exc:  # permissions, I/O errors
        raise AudioFileError(f"cannot open audio file {p}: {exc.strerror or exc}") from exc


def _read_error(path: str | os.PathLike[str], exc: Exception) -> AudioFileError:
    return AudioFileError(f"error while decoding audio file {Path(path)}: {exc}")


def read_audio_file(path: str | os.PathLike[str], target_rate: int = TARGET_RATE) -> tuple[np.ndarray, float]:
    """Load a whole file as mono float32 at ``target_rate``.

    Returns ``(audio, duration_s)`` where ``duration_s`` is the file's duration
    (frames / file rate). Raises :class:`AudioFileError` (or
    :class:`AudioFileNotFoundError`) naming the file on failure.
    """
    with _open(path) as f:
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise _read_error(path, exc) from exc
        rate = f.samplerate
    audio = resample(to_mono(data), rate, target_rate)
    return audio, data.shape[0] / rate


class FileSource(AudioSource):
    """Stream an audio file into a ring as mono float32 at ``target_rate``.

    * ``realtime=False``: decode as fast as the reader consumes; writes block on
      a full ring, so nothing is ever dropped.
    * ``realtime=True``: each ``chunk_ms`` chunk is written when it would have
      finished recording (wall clock since start), with non-blocking writes, so
      a slow reader sees the same drops a live microphone would cause.

    The file is opened (and validated) in the constructor, so a bad path
    raises :class:`AudioFileError` here rather than in the thread.
    """

    kind = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        realtime: bool = False,
        chunk_ms: float = 100,
        target_rate: int = TARGET_RATE,
        ring: RingBuffer | None = None,
        ring_seconds: float = DEFAULT_RING_SECONDS,
        overflow: OverflowPolicy = "drop_oldest",
    ) -> None:
        super().__init__(target_rate=target_rate, ring=ring, ring_seconds=ring_seconds, overflow=overflow)
        if chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
        self.path = Path(path)
        self.realtime = realtime
        self.chunk_ms = chunk_ms
        with _open(self.path) as f:
            self.file_rate: int = f.samplerate
            self.file_channels: int = f.channels
            self.file_frames: int = f.frames
            self.file_format = f"{f.format}/{f.subtype}"
        self.frames_read = 0

    @property
    def duration_s(self) -> float:
        """Duration of the file in seconds."""
        return self.file_frames / self.file_rate

    def _run(self) -> None:
        chunk = max(1, round(self.file_rate * self.chunk_ms / 1000))
        resampler = StreamResampler(self.file_rate, self.sample_rate)
        t0 = time.monotonic()
        with _open(self.path) as f:
            while True:
                try:
                    block = f.read(chunk, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise _read_error(self.path, exc) from exc
                self.frames_read += block.shape[0]
                last = block.shape[0] < chunk
                if self.realtime:
                    # Deliver a chunk once it would have been fully recorded.
                    delay = t0 + self.frames_read / self.file_rate - time.monotonic()
                    if delay > 0 and self._stop_event.wait(delay):
                        return
                if self._stop_event.is_set():
                    return
                out = resampler.process(to_mono(block), last=last)
                self._emit(out, block=not self.realtime)
                if last:
                    return

    def _extra_stats(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "realtime": self.realtime,
            "file_rate": self.file_rate,
            "file_channels": self.file_channels,
            "duration_s": self.duration_s,
            "frames_read": self.frames_read,
            "progress": self.frames_read / self.file_frames if self.file_frames else 1.0,
        }
