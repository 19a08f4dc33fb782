"""The native websocket protocol: typed client messages, validation, error codes, server messages.

Text frames carry one JSON object with a ``type``; binary frames carry audio of the
session started with ``start``. Parsing never raises anything but :class:`ProtocolError`,
whose ``code`` is one of :class:`Err`, so every bad input becomes one ``error`` message.
Unknown fields are ignored (newer clients keep working with older servers); known fields
with the wrong type or value are errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PROTOCOL_NAME = "sewstream"
PROTOCOL_VERSION = 1

SAMPLE_FORMATS: dict[str, int] = {"int16": 2, "float32": 4}  # bytes per sample, little-endian
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 192000
MAX_CHANNELS = 8
MAX_TEXT_BYTES = 64 * 1024  # control messages are small; anything bigger is a client bug

# Subscription groups -> event types (vad = speech_started + utterance_end).
EVENT_GROUPS: dict[str, frozenset[str]] = {
    "partial": frozenset({"partial"}),
    "final": frozenset({"final"}),
    "keyword": frozenset({"keyword"}),
    "vad": frozenset({"speech_started", "utterance_end"}),
}
ALL_GROUPS = tuple(EVENT_GROUPS)


class Err:
    """Error codes of ``error`` messages (stable strings, documented in the README)."""

    BAD_JSON = "bad_json"                          # text frame is not JSON
    BAD_MESSAGE = "bad_message"                    # JSON, but not an object with a string "type"
    UNKNOWN_TYPE = "unknown_type"                  # "type" names no message
    INVALID_FIELD = "invalid_field"                # a known field has the wrong type or value
    MESSAGE_TOO_BIG = "message_too_big"            # above max_message_bytes (or 64 KiB for text)
    UNKNOWN_STREAM = "unknown_stream"              # subscribe to a stream that does not exist
    NOT_SUBSCRIBED = "not_subscribed"              # unsubscribe from a stream not subscribed to
    ALREADY_STARTED = "already_started"            # start while a session is open
    NO_SESSION = "no_session"                      # finalize/reset/end without a session
    BINARY_BEFORE_START = "binary_before_start"    # audio without a session
    BAD_AUDIO_SIZE = "bad_audio_size"              # not a whole number of sample frames
    UNSUPPORTED_RATE = "unsupported_rate"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNSUPPORTED_CHANNELS = "unsupported_channels"
    OVERLOADED = "overloaded"                      # the model is behind: reading this socket pauses
    TOO_MANY_SESSIONS = "too_many_sessions"        # followed by close code 1013
    RELOAD_FAILED = "reload_failed"                # reload_keywords: the new lists were rejected (old kept)
    UNSUPPORTED = "unsupported"                    # a message this server is not set up for
    INTERNAL = "internal_error"


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# --------------------------------------------------------------------- messages
@dataclass(frozen=True)
class Subscribe:
    stream: str
    events: frozenset[str]          # event types (expanded from groups)
    groups: tuple[str, ...]
    resume_from: int | None = None  # replay retained finals with seq > resume_from


@dataclass(frozen=True)
class Unsubscribe:
    stream: str


@dataclass(frozen=True)
class Start:
    sample_rate: int
    format: str
    channels: int
    events: frozenset[str]
    groups: tuple[str, ...]

    @property
    def frame_bytes(self) -> int:
        return SAMPLE_FORMATS[self.format] * self.channels


@dataclass(frozen=True)
class Finalize:
    pass


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class ReloadKeywords:
    """Admin: reread the config's keyword lists (like SIGHUP), answered with ``keywords_reloaded``."""


Message = Subscribe | Unsubscribe | Start | Finalize | Reset | End | ReloadKeywords


# ---------------------------------------------------------------------- parsing
def _field(data: dict, key: str, kind: type | tuple, default: Any = ..., *, allow_none: bool = False) -> Any:
    if key not in data:
        if default is ...:
            raise ProtocolError(Err.INVALID_FIELD, f"{data['type']}: missing field {key!r}")
        return default
    value = data[key]
    if value is None and allow_none:
        return None
    # bool is an int in Python; a JSON true is never a valid number here
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        value_ok = False
    else:
        value_ok = isinstance(value, kind)
    if not value_ok:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ProtocolError(Err.INVALID_FIELD, f"{data['type']}: field {key!r} must be {names}, got {value!r:.80}")
    return value


def _events(data: dict) -> tuple[frozenset[str], tuple[str, ...]]:
    groups = _field(data, "events", list, list(ALL_GROUPS))
    bad = [g for g in groups if not isinstance(g, str) or g not in EVENT_GROUPS]
    if bad or not groups:
        raise ProtocolError(Err.INVALID_FIELD, f"{data['type']}: 'events' must be a non-empty list of "
                                               f"{', '.join(ALL_GROUPS)}; got {groups!r:.80}")
    types = frozenset().union(*(EVENT_GROUPS[g] for g in groups))
    return types, tuple(dict.fromkeys(groups))


def _integral(data: dict, key: str, default: Any = ...) -> int:
    value = _field(data, key, (int, float), default)
    if isinstance(value, float):
        if not value.is_integer():
            raise ProtocolError(Err.INVALID_FIELD, f"{data['type']}: field {key!r} must be a whole number, "
                                                   f"got {value!r}")
        value = int(value)
    return value


def parse_text(text: str | bytes, limit: int = MAX_TEXT_BYTES) -> Message:
    """One text frame -> a typed message (ProtocolError otherwise)."""
    limit = min(limit, MAX_TEXT_BYTES)
    if len(text) > limit:
        raise ProtocolError(Err.MESSAGE_TOO_BIG, f"text message of {len(text)} characters; control messages "
                                                 f"are limited to {limit}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(Err.BAD_JSON, f"text frame is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError(Err.BAD_MESSAGE, 'expected a JSON object with a string "type"')
    kind = data["type"]
    if kind == "subscribe":
        stream = _field(data, "stream", str)
        events, groups = _events(data)
        resume = _field(data, "resume_from", int, None, allow_none=True)
        if resume is not None and resume < 0:
            raise ProtocolError(Err.INVALID_FIELD, f"subscribe: 'resume_from' must be >= 0, got {resume}")
        return Subscribe(stream, events, groups, resume)
    if kind == "unsubscribe":
        return Unsubscribe(_field(data, "stream", str))
    if kind == "start":
        return parse_start(data)
    if kind in ("finalize", "reset", "end"):
        return {"finalize": Finalize, "reset": Reset, "end": End}[kind]()
    if kind == "reload_keywords":
        return ReloadKeywords()
    raise ProtocolError(Err.UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}; expected one of "
                                          "subscribe, unsubscribe, start, finalize, reset, end, reload_keywords")


def parse_start(data: dict) -> Start:
    rate = _integral(data, "sample_rate")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ProtocolError(Err.UNSUPPORTED_RATE, f"sample_rate {rate} Hz is not supported "
                                                  f"({MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz)")
    fmt = _field(data, "format", str, "int16")
    if fmt not in SAMPLE_FORMATS:
        raise ProtocolError(Err.UNSUPPORTED_FORMAT, f"format {fmt[:40]!r} is not supported "
                                                    f"(use {' or '.join(SAMPLE_FORMATS)}, little-endian)")
    channels = _integral(data, "channels", 1)
    if not 1 <= channels <= MAX_CHANNELS:
        raise ProtocolError(Err.UNSUPPORTED_CHANNELS, f"channels {channels} is not supported (1..{MAX_CHANNELS})")
    events, groups = _events(data)
    return Start(rate, fmt, channels, events, groups)


def check_audio_size(nbytes: int, start: Start, limit: int) -> None:
    if nbytes % start.frame_bytes:
        raise ProtocolError(Err.BAD_AUDIO_SIZE, f"binary frame of {nbytes} bytes is not a whole number of "
                                                f"{start.frame_bytes}-byte sample frames ({start.channels} "
                                                f"channel(s) of {start.format})")
    if nbytes > limit:
        raise ProtocolError(Err.MESSAGE_TOO_BIG, f"binary frame of {nbytes} bytes is above the "
                                                 f"{limit}-byte limit; send smaller chunks")


# ------------------------------------------------------------- server messages
def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def hello(*, server_version: str, model: str, sample_rate: int, streams: list[dict], limits: dict,
          vosk_path: str, history_size: int, admin: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "hello",
        "protocol": PROTOCOL_NAME,
        "version": PROTOCOL_VERSION,
        "server": server_version,
        "model": model,
        "sample_rate": sample_rate,
        "capabilities": {
            "formats": list(SAMPLE_FORMATS),
            "sample_rates": [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE],
            "max_channels": MAX_CHANNELS,
            "events": list(ALL_GROUPS),
            "session": ["start", "finalize", "reset", "end"],
            "subscribe": True,
            "resume": {"history_size": history_size},
            "vosk": vosk_path,
            "admin": admin or [],
        },
        "streams": streams,
        "limits": limits,
    }
