"""Audio input device discovery through sounddevice / PortAudio.

Everything here degrades gracefully: without PortAudio (or without any input
device) :func:`list_input_devices` returns ``[]`` and
:func:`input_unavailable_reason` says why; opening a microphone raises
:class:`NoMicrophoneError` with a one-line message instead of a PortAudio
traceback.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = [
    "DeviceNotFoundError",
    "MicrophoneError",
    "NoMicrophoneError",
    "input_unavailable_reason",
    "list_input_devices",
    "resolve_input_device",
]

#: Appended to "no microphone" errors so the user knows what to do next.
HINT = "list input devices with `sewstream devices`, or transcribe an audio file instead of the microphone"


class MicrophoneError(RuntimeError):
    """The microphone could not be opened or stopped working."""


class NoMicrophoneError(MicrophoneError):
    """No usable audio input: PortAudio missing, no input device, or no such device."""


class DeviceNotFoundError(NoMicrophoneError):
    """The requested input device (index or name) does not exist or has no inputs."""


def _import_sounddevice() -> ModuleType:
    """Import sounddevice; raise :class:`NoMicrophoneError` when it or PortAudio is missing.

    Tests replace this function to simulate machines with or without devices.
    """
    try:
        import sounddevice
    except ImportError as exc:  # package not installed
        raise NoMicrophoneError(f"the sounddevice package is not installed ({exc})") from None
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise NoMicrophoneError(
            f"{exc} by the sounddevice package (install it, e.g. `apt-get install libportaudio2`)"
        ) from None
    return sounddevice


def _default_input_index(sd: ModuleType) -> int | None:
    try:
        return int(sd.query_devices(kind="input")["index"])
    except Exception:
        return None


def _hostapi_name(sd: ModuleType, index: int) -> str:
    try:
        return str(sd.query_hostapis(index)["name"])
    except Exception:
        return str(index)


def _query_inputs(sd: ModuleType) -> list[dict[str, Any]]:
    """All devices with at least one input channel, as plain dicts."""
    default = _default_input_index(sd)
    out = []
    for i, dev in enumerate(sd.query_devices()):
        if int(dev.get("max_input_channels", 0)) <= 0:
            continue
        index = int(dev.get("index", i))
        out.append(
            {
                "index": index,
                "name": str(dev["name"]),
                "channels": int(dev["max_input_channels"]),
                "default_samplerate": float(dev["default_samplerate"]),
                "hostapi": _hostapi_name(sd, int(dev.get("hostapi", 0))),
                "is_default": index == default,
            }
        )
    return out


def list_input_devices() -> list[dict[str, Any]]:
    """Input devices as dicts: index, name, channels, default_samplerate, hostapi, is_default.

    Returns ``[]`` (never raises) when PortAudio is missing or fails.
    """
    try:
        return _query_inputs(_import_sounddevice())
    except Exception:
        return []


def input_unavailable_reason() -> str | None:
    """Why no microphone can be used, as one human-readable line; ``None`` if one can."""
    try:
        sd = _import_sounddevice()
    except NoMicrophoneError as exc:
        return str(exc)
    try:
        inputs = _query_inputs(sd)
    except Exception as exc:
        return f"PortAudio failed to list devices: {exc}"
    if not inputs:
        return "PortAudio is available but reports no audio input devices (no sound card or microphone)"
    return None


def _describe(devices: list[dict[str, Any]]) -> str:
    if not devices:
        return "none"
    return "; ".join(
        f"{d['index']}: {d['name']!r} ({d['channels']} ch, {d['default_samplerate']:g} Hz)" for d in devices
    )


def resolve_input_device(device: int | str | None = None) -> dict[str, Any]:
    """Pick an input device; returns its :func:`list_input_devices` dict.

    ``device`` is ``None`` (the default input, else the first one), an index
    (int or digit string), or a case-insensitive substring of the name (an
    exact name match wins over substring matches).

    Raises:
        NoMicrophoneError: PortAudio missing or no input devices at all.
        DeviceNotFoundError: no / several devices match ``device``; the message
            lists the available input devices.
    """
    tried = "the default input device" if device is None else f"input device {device!r}"
    try:
        sd = _import_sounddevice()
        inputs = _query_inputs(sd)
    except NoMicrophoneError as exc:
        raise NoMicrophoneError(f"no microphone (tried {tried}): {exc}; {HINT}") from None
    except Exception as exc:
        raise NoMicrophoneError(
            f"no microphone (tried {tried}): PortAudio failed to list devices ({exc}); {HINT}"
        ) from None
    if not inputs:
        raise NoMicrophoneError(
            f"no microphone (tried {tried}): PortAudio reports no audio input devices; {HINT}"
        )
    if device is None:
        return next((d for d in inputs if d["is_default"]), inputs[0])
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device.strip())
    if isinstance(device, int):
        for d in inputs:
            if d["index"] == device:
                return d
        raise DeviceNotFoundError(
            f"no input device with index {device}; available input devices: {_describe(inputs)}"
        )
    query = str(device).strip().lower()
    exact = [d for d in inputs if d["name"].lower() == query]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [d for d in inputs if query in d["name"].lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceNotFoundError(
            f"no input device matching {device!r}; available input devices: {_describe(inputs)}"
        )
    raise DeviceNotFoundError(
        f"input device name {device!r} is ambiguous, matches: {_describe(matches)}; use the index instead"
    )
