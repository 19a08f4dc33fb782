"""Audio input: sources, ring buffers, resampling and channel mixing."""

# --- sources, ring buffer, streaming resampler (audio-input layer) ---
from sewstream.audio.ring import RingBuffer  # noqa: E402
from sewstream.audio.sources import (  # noqa: E402
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
from sewstream.audio.stream_resampler import StreamResampler  # noqa: E402
