"""The ``keywords:`` config section: keyword lists (default + per stream), detector settings.

    keywords:
      threshold: 0.5                      # defaults every keyword may override
      default:
        - {phrase: "hey sew", label: wake, threshold: 0.6}
        - {phrase: "yes"}
      streams:
        kitchen: {keywords: [{phrase: "timer"}], include_default: true}
      classifier: {model: /models/sew-ks, window_s: 1.0, hop_s: 0.06}

Entries are checked when the config is built (``ConfigError`` naming e.g.
``keywords.default[1]``); phrases are checked against the model's vocabulary when a
detector is built for a recogniser (``KeywordError`` naming the entry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from sewstream.config import ConfigError, register_section


class KeywordError(ConfigError):
    """A keyword entry cannot be used (bad phrase for this model, unknown classifier label)."""


@dataclass
class HookSpec:
    """A local action run (off the audio path) when the keyword fires."""

    command: list[str] | None = None   # argv, run without a shell; the event JSON on stdin
    url: str | None = None             # POST the event JSON here
    timeout_s: float = 5.0

    def validate(self) -> None:
        if not self.command and not self.url:
            raise ValueError("a hook needs a command or a url")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"hook url {self.url!r} must start with http:// or https://")
        if self.timeout_s <= 0:
            raise ValueError(f"hook timeout_s {self.timeout_s!r} must be > 0")


@dataclass
class KeywordSpec:
    """One keyword as written in the config; unset fields take the section's defaults."""

    phrase: str                                   # words to spot (ctc) or the classifier's label
    label: str | None = None                      # event label (default: the phrase)
    detector: Literal["ctc", "classifier"] = "ctc"
    threshold: float | None = None                # score in (0, 1] needed to fire
    cooldown_s: float | None = None               # min gap between two detections of this keyword
    boost: float = 0.0                            # nats added to the log score (>0: fires more easily)
    whole_word: bool | None = None                # ctc: require word boundaries around the phrase
    patience: int | None = None                   # classifier: consecutive windows needed
    hook: HookSpec | None = None

    def validate(self) -> None:
        if not isinstance(self.phrase, str) or not self.phrase.strip():
            raise ValueError("phrase must be a non-empty string")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold {self.threshold!r} of {self.phrase!r} must be in (0, 1]")
        if self.cooldown_s is not None and self.cooldown_s < 0:
            raise ValueError(f"cooldown_s {self.cooldown_s!r} of {self.phrase!r} must be >= 0")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience {self.patience!r} of {self.phrase!r} must be >= 1")
        if not math.isfinite(self.boost) or abs(self.boost) > 10:
            raise ValueError(f"boost {self.boost!r} of {self.phrase!r} must be within [-10, 10] nats")


@dataclass
class StreamKeywords:
    """The keyword list of one named stream."""

    keywords: list[KeywordSpec] = field(default_factory=list)
    include_default: bool = True        # also spot the section's default list


@dataclass
class ClassifierSettings:
    """A SEW / SEW-D sequence-classification model over sliding windows (detector: classifier)."""

    model: str | None = None            # checkpoint directory; null: the embedded keyword classifier
    window_s: float = 1.0               # audio per window (Speech Commands clips are 1 s)
    hop_s: float = 0.06                 # a window ends every hop_s of audio (whole 20 ms frames share conv work)
    priority: Literal["stable", "partial"] = "stable"  # worker queue; partial jobs may be shed under load
    ignore_labels: list[str] = field(default_factory=lambda: ["_silence_", "_unknown_"])  # not keywords

    def model_path(self) -> str | None:
        """The configured checkpoint, else the one shipped with the package (None if neither)."""
        from sewstream.defaults import embedded_keyword_classifier

        return self.model or embedded_keyword_classifier()

    def validate(self) -> None:
        if self.window_s <= 0 or self.hop_s <= 0:
            raise ValueError("classifier window_s and hop_s must be > 0")
        if self.hop_s > self.window_s:
            raise ValueError(f"classifier hop_s {self.hop_s} must not exceed window_s {self.window_s}")


@dataclass
class KeywordSettings:
    """The whole ``keywords:`` section."""

    enabled: bool = True
    threshold: float = 0.5              # ctc default threshold (score in (0, 1])
    classifier_threshold: float = 0.6   # classifier default threshold (softmax probability)
    patience: int = 5                   # classifier default: consecutive windows over threshold
    cooldown_s: float = 0.5             # default min gap between detections of one keyword
    whole_word: bool = True             # ctc default: no letters may touch the phrase
    provisional_margin: float = 0.2     # provisional (low-latency) frames need threshold + margin
    boundary_s: float = 0.1             # blank audio that counts as a word boundary
    max_phrase_s: float = 3.0           # longest a phrase may take to say
    hook_queue: int = 64                # pending hook calls before new ones are dropped
    default: list[KeywordSpec] = field(default_factory=list)
    streams: dict[str, StreamKeywords] = field(default_factory=dict)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)

    def validate(self) -> None:
        for key in ("threshold", "classifier_threshold"):
            if not 0.0 < getattr(self, key) <= 1.0:
                raise ValueError(f"{key} {getattr(self, key)!r} must be in (0, 1]")
        if self.patience < 1:
            raise ValueError(f"patience {self.patience!r} must be >= 1")
        for key in ("cooldown_s", "provisional_margin"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} {getattr(self, key)!r} must be >= 0")
        for key in ("boundary_s", "max_phrase_s"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} {getattr(self, key)!r} must be > 0")
        if self.hook_queue < 1:
            raise ValueError(f"hook_queue {self.hook_queue!r} must be >= 1")
        lists = [("keywords.default", self.default)]
        lists += [(f"keywords.streams.{name}.keywords", s.keywords) for name, s in self.streams.items()]
        for where, specs in lists:
            seen: dict[tuple[str, str], int] = {}
            for i, spec in enumerate(specs):
                # the same words twice (labels may repeat: synonyms share one label and its cooldown)
                key = (spec.detector, " ".join(spec.phrase.lower().split()))
                if key in seen:
                    raise ValueError(f"{where}[{i}] repeats the {spec.detector} phrase {key[1]!r} "
                                     f"of {where}[{seen[key]}]")
                seen[key] = i
                if spec.detector == "classifier" and not self.classifier.model_path():
                    raise ValueError(f"{where}[{i}] ({spec.phrase!r}) uses the classifier but "
                                     "keywords.classifier.model is not set (and this installation "
                                     "has no embedded keyword classifier)")

    def entries(self, stream: str | None = None) -> list[tuple[str, KeywordSpec]]:
        """(config path, spec) of every keyword active on ``stream`` (None: the default list)."""
        own = self.streams.get(stream) if stream is not None else None
        out = []
        if own is None or own.include_default:
            out += [(f"keywords.default[{i}]", s) for i, s in enumerate(self.default)]
        if own is not None:
            out += [(f"keywords.streams.{stream}.keywords[{i}]", s) for i, s in enumerate(own.keywords)]
        return out if self.enabled else []

    def resolve(self, spec: KeywordSpec, where: str = "keyword") -> Keyword:
        """A spec with every default filled in."""
        classifier = spec.detector == "classifier"
        threshold = spec.threshold if spec.threshold is not None else (
            self.classifier_threshold if classifier else self.threshold)
        return Keyword(
            label=resolved_label(spec), phrase=spec.phrase.strip(), detector=spec.detector, threshold=threshold,
            cooldown_s=self.cooldown_s if spec.cooldown_s is None else spec.cooldown_s, boost=spec.boost,
            whole_word=self.whole_word if spec.whole_word is None else spec.whole_word,
            patience=self.patience if spec.patience is None else spec.patience, hook=spec.hook, where=where)


@dataclass(frozen=True)
class Keyword:
    """A keyword ready for a detector: every setting concrete."""

    label: str
    phrase: str
    detector: str = "ctc"
    threshold: float = 0.5
    cooldown_s: float = 0.5
    boost: float = 0.0
    whole_word: bool = True
    patience: int = 2
    hook: HookSpec | None = None
    where: str = "keyword"              # where it was configured (for error messages)


def resolved_label(spec: KeywordSpec) -> str:
    return (spec.label or spec.phrase).strip()


def parse_keywords(text: str) -> list[KeywordSpec]:
    """Keywords from a command-line list: ``"yes,no=0.7,hey sew"`` (phrase[=threshold])."""
    out = []
    for i, item in enumerate(p for p in text.split(",") if p.strip()):
        phrase, _, threshold = item.partition("=")
        try:
            spec = KeywordSpec(phrase=phrase.strip(), threshold=float(threshold) if threshold.strip() else None)
            spec.validate()
        except ValueError as exc:
            raise KeywordError(f"--keywords item {i + 1} ({item.strip()!r}): {exc}") from None
        out.append(spec)
    if not out:
        raise KeywordError(f"--keywords {text!r} names no keyword")
    phrases = [" ".join(s.phrase.lower().split()) for s in out]
    if len(set(phrases)) < len(phrases):
        raise KeywordError(f"--keywords {text!r} repeats a keyword")
    return out


register_section("keywords", KeywordSettings)
