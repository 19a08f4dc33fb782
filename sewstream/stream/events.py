"""What a stream says: plain dataclasses with a JSON form (sent over websockets as they are).

Times are seconds of stream time (sample index / 16000 since the stream started), so
they are absolute and monotonic whatever the pacing of the audio.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass
class Event:
    type: ClassVar[str] = "event"
    stream: str
    seq: int = 0  # set by the stream: 1, 2, 3 ... per stream, in emission order

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass
class Word:
    word: str
    start: float
    end: float
    conf: float  # mean max-posterior of the word's frames, 0..1


@dataclass
class SpeechStarted(Event):
    type: ClassVar[str] = "speech_started"
    utterance: int = 0
    time: float = 0.0


@dataclass
class Partial(Event):
    """Current hypothesis of the open utterance: ``stable`` can no longer change."""

    type: ClassVar[str] = "partial"
    utterance: int = 0
    text: str = ""
    stable: str = ""
    unstable: str = ""
    end: float = 0.0  # stream time up to which audio has been heard


@dataclass
class Final(Event):
    type: ClassVar[str] = "final"
    utterance: int = 0
    text: str = ""
    words: list[Word] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0


@dataclass
class UtteranceEnd(Event):
    type: ClassVar[str] = "utterance_end"
    utterance: int = 0
    time: float = 0.0
    reason: str = "silence"  # silence | blank_run | max_length | finalize | end_of_stream


@dataclass
class KeywordEvent(Event):
    type: ClassVar[str] = "keyword"
    label: str = ""
    phrase: str = ""
    score: float = 0.0
    start: float = 0.0
    end: float = 0.0
    detector: str = "ctc"  # ctc | classifier


EVENT_TYPES = {cls.type: cls for cls in (SpeechStarted, Partial, Final, UtteranceEnd, KeywordEvent)}


def event_from_json(data: dict[str, Any]) -> Event:
    """The inverse of ``to_json`` (used by clients and tests)."""
    data = dict(data)
    cls = EVENT_TYPES[data.pop("type")]
    if cls is Final:
        data["words"] = [Word(**w) for w in data.get("words", [])]
    return cls(**data)
