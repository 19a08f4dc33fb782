"""Streaming recognition: windows over live audio, one shared model worker, merged CTC output."""

from .endpoint import EndpointSettings
from .events import Event, Final, KeywordEvent, Partial, SpeechStarted, UtteranceEnd, Word, event_from_json
from .recognizer import Recognizer
from .stream import Stream, StreamClosed, StreamOverloaded, StreamSettings
from .transcribe import Result, Segment, transcribe_offline, transcribe_streaming

__all__ = ["Event", "Final", "KeywordEvent", "Partial", "SpeechStarted", "UtteranceEnd", "Word", "event_from_json",
           "EndpointSettings", "Recognizer", "Stream", "StreamClosed", "StreamOverloaded", "StreamSettings",
           "Result", "Segment", "transcribe_offline", "transcribe_streaming"]
