"""All audio sources in one import: files, raw PCM and microphones.

Each source converts its input to mono float32 at 16 kHz and writes it into a
:class:`~sewstream.audio.ring.RingBuffer`; see :mod:`sewstream.audio.base` for
the shared start/stop/join/stats lifecycle. The implementations live in one
module each (:mod:`.file_source`, :mod:`.pcm`, :mod:`.mic`, :mod:`.devices`).
"""

from __future__ import annotations

from sewstream.audio.base import DEFAULT_RING_SECONDS, TARGET_RATE, AudioSource
from sewstream.audio.devices import (
    DeviceNotFoundError,
    MicrophoneError,
    NoMicrophoneError,
    input_unavailable_reason,
    list_input_devices,
)
from sewstream.audio.file_source import AudioFileError, AudioFileNotFoundError, FileSource, read_audio_file
from sewstream.audio.mic import MicrophoneSource
from sewstream.audio.pcm import PCMFormatError, PCMSource

__all__ = [
    "DEFAULT_RING_SECONDS",
    "TARGET_RATE",
    "AudioFileError",
    "AudioFileNotFoundError",
    "AudioSource",
    "DeviceNotFoundError",
    "FileSource",
    "MicrophoneError",
    "MicrophoneSource",
    "NoMicrophoneError",
    "PCMFormatError",
    "PCMSource",
    "input_unavailable_reason",
    "list_input_devices",
    "read_audio_file",
]
