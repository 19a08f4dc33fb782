"""Audio input: sources, ring buffers, resampling and channel mixing."""

from sewstream.audio.ring import RingBuffer
from sewstream.audio.sources import (
    AudioFileError,
    AudioFileNotFoundError,
    AudioSource,
    DeviceNotFoundError,
    FileSource,
    MicrophoneError,
    MicrophoneSource,
    NoMicrophoneError,
    PCMFormatError,
    PCMSource,
    input_unavailable_reason,
    list_input_devices,
    read_audio_file,
)
from sewstream.audio.stream_resampler import StreamResampler

__all__ = ["RingBuffer", "AudioFileError", "AudioFileNotFoundError", "AudioSource", "DeviceNotFoundError",
           "FileSource", "MicrophoneError", "MicrophoneSource", "NoMicrophoneError", "PCMFormatError", "PCMSource",
           "input_unavailable_reason", "list_input_devices", "read_audio_file", "StreamResampler"]
