"""Keyword triggers: CTC keyword scoring on the stream's own posteriors, and SEW / SEW-D
sequence-classification models over sliding windows; both emit ``KeywordEvent`` on the stream.

    from sewstream.keywords import keyword_listeners
    stream = recognizer.stream("mic", on_event=show, **keyword_listeners(recognizer, "yes,no,hey sew"))

Importing this package registers the ``keywords:`` config section.
"""

from __future__ import annotations

from .ctc_scorer import KeywordGraph, Occurrence, emission_matrix, occurrences, phrase_tokens, to_score
from .registry import KeywordRegistry, read_settings
from .settings import (
    ClassifierSettings,
    HookSpec,
    Keyword,
    KeywordError,
    KeywordSettings,
    KeywordSpec,
    StreamKeywords,
    parse_keywords,
)
from .spotter import KeywordSpotter


def keyword_listeners(recognizer, specs, *, stream: str | None = None,
                      settings: KeywordSettings | None = None) -> dict[str, list]:
    """Frame/audio listeners spotting ``specs`` on a stream of ``recognizer``.

    ``specs``: a command-line string ("yes,no=0.7,hey sew": phrase[=threshold]), a list of
    ``KeywordSpec``, a ``KeywordSettings`` or a ``KeywordRegistry``. ``settings`` gives the
    defaults (thresholds, cooldown, classifier) when ``specs`` is a string or a list; the
    given phrases replace its default list. Returns ``dict(frame_listeners=[...],
    audio_listeners=[...])`` for ``recognizer.stream(**...)``.
    """
    if isinstance(specs, KeywordRegistry):
        return specs.listeners(stream)
    if isinstance(specs, KeywordSettings):
        return KeywordRegistry(specs, recognizer).listeners(stream)
    base = settings or KeywordSettings()
    if isinstance(specs, str):
        specs = parse_keywords(specs)
    from dataclasses import replace
    return KeywordRegistry(replace(base, default=list(specs), streams={}), recognizer).listeners(stream)


__all__ = ["KeywordSpec", "KeywordSettings", "StreamKeywords", "ClassifierSettings", "HookSpec", "Keyword",
           "KeywordError", "KeywordRegistry", "KeywordSpotter", "KeywordGraph", "Occurrence", "keyword_listeners",
           "occurrences", "parse_keywords", "phrase_tokens", "read_settings", "emission_matrix", "to_score"]
