"""Per-stream keyword lists, reloadable without a restart.

The registry holds the ``keywords:`` settings currently in force. ``reload()`` reads the
config file again, checks every entry (config types and ranges, phrases against the
recogniser's vocabulary, classifier labels against the classifier model) and only then
swaps it in; any error is raised naming the entry, and the old lists stay active.
Detectors ask the registry for their keywords and notice a new ``version`` on their next
call, so running streams pick up a reload within one window.

    registry = KeywordRegistry.from_config(config, recognizer, path="configs/default.yaml")
    stream = recognizer.stream("kitchen", **registry.listeners("kitchen"))
    registry.install_sighup()          # or call registry.reload() from an admin endpoint
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from sewstream.config import ConfigError, build, read_config_file

from .classifier import ClassifierListener, ClassifierModel
from .hooks import HookRunner
from .settings import Keyword, KeywordError, KeywordSettings
from .spotter import CompiledKeywords, KeywordSpotter

log = logging.getLogger(__name__)


def read_settings(path: str | Path) -> KeywordSettings:
    """The ``keywords:`` section of a YAML config file (missing section: the defaults)."""
    section = read_config_file(path).get("keywords") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"config key 'keywords': expected a mapping of settings, got {section!r}")
    return build(KeywordSettings, section, "keywords")


class KeywordRegistry:
    """The keyword settings in force, a version counter, the classifier models, the hook runner."""

    def __init__(self, settings: KeywordSettings | None = None, recognizer=None, *,
                 path: str | Path | None = None, hooks: HookRunner | None = None) -> None:
        self.recognizer, self.path = recognizer, path
        self.lock = threading.Lock()
        self.version = 0
        self.last_error: str | None = None
        self.models: dict[str, ClassifierModel] = {}
        self._cache: dict[tuple, list[Keyword]] = {}
        settings = settings or KeywordSettings()
        self._check(settings)
        self.settings = settings
        self.hooks = hooks
        if hooks is None and self._has_hooks(settings):
            self.hooks = HookRunner(settings.hook_queue)

    @classmethod
    def from_config(cls, config, recognizer=None, path: str | Path | None = None) -> KeywordRegistry:
        """From a loaded ``Config`` (its ``keywords`` section); ``path`` is what reload() rereads."""
        return cls(config.section("keywords"), recognizer, path=path)

    # ------------------------------------------------------------------ reload
    def reload(self, source: str | Path | KeywordSettings | dict[str, Any] | None = None) -> KeywordSettings:
        """Check new settings (default: reread ``path``) and swap them in; on error raise
        ``ConfigError`` naming the entry and keep the old ones."""
        try:
            if isinstance(source, KeywordSettings):
                settings = source
            elif isinstance(source, dict):
                settings = build(KeywordSettings, source, "keywords")
            else:
                where = source or self.path
                if where is None:
                    raise ConfigError("keyword reload: no config file to read (the registry has no path)")
                settings = read_settings(where)
            self._check(settings)
        except ConfigError as exc:
            self.last_error = str(exc)
            log.error("keyword reload failed, keeping the previous lists: %s", exc)
            raise
        if self.hooks is None and self._has_hooks(settings):
            self.hooks = HookRunner(settings.hook_queue)
        with self.lock:
            self.settings, self.version = settings, self.version + 1
            self.last_error = None
        log.info("keyword lists reloaded (version %d)", self.version)
        return settings

    def install_sighup(self) -> None:
        """Reload on SIGHUP (call from the main thread). The work runs on a short thread."""
        def handler(_signum, _frame) -> None:
            threading.Thread(target=self._reload_quietly, name="keyword-reload", daemon=True).start()
        signal.signal(signal.SIGHUP, handler)

    def _reload_quietly(self) -> None:
        with contextlib.suppress(ConfigError):  # logged, and kept in last_error for /healthz-style reporting
            self.reload()

    def _check(self, settings: KeywordSettings) -> None:
        """Everything that can be checked before use; raises ConfigError/KeywordError naming the entry."""
        try:
            settings.validate()  # (built from YAML it already was; built in code maybe not)
        except ValueError as exc:
            raise ConfigError(f"config section 'keywords': {exc}") from None
        names = [None, *settings.streams]
        keywords = {name: [settings.resolve(s, where) for where, s in settings.entries(name)] for name in names}
        if self.recognizer is None:
            return
        frame_s = self.recognizer.geometry.seconds(1)
        model = None
        for kws in keywords.values():
            CompiledKeywords.build([k for k in kws if k.detector == "ctc"], self.recognizer.vocab,
                                   settings.provisional_margin, frame_s)
            classifier_kws = [k for k in kws if k.detector == "classifier"]
            if classifier_kws:
                model = model or self._model(settings.classifier.model_path())
                ignored = {label.lower() for label in settings.classifier.ignore_labels}
                for k in classifier_kws:
                    model.label_index(k)
                    if k.phrase.lower() in ignored:
                        raise KeywordError(f"{k.where} ({k.phrase!r}) is in keywords.classifier.ignore_labels")

    def _model(self, path: str) -> ClassifierModel:
        if path not in self.models:  # loading happens here, off the audio path
            try:
                self.models[path] = ClassifierModel(path, self.recognizer)
            except ConfigError:
                raise
            except Exception as exc:  # ModelLoadError and friends: a config problem to the user
                raise ConfigError(f"keywords.classifier.model {path!r}: {exc}") from None
        return self.models[path]

    @staticmethod
    def _has_hooks(settings: KeywordSettings) -> bool:
        specs = list(settings.default) + [s for sk in settings.streams.values() for s in sk.keywords]
        return any(s.hook is not None for s in specs)

    # ------------------------------------------------------------------ queries
    def keywords(self, stream: str | None, detector: str) -> list[Keyword]:
        """The resolved keywords of one detector kind on ``stream`` (cached per version: the
        classifier listener asks on every push)."""
        with self.lock:
            settings, key = self.settings, (self.version, stream, detector)
            cached = self._cache.get(key)
        if cached is None:
            cached = [k for k in (settings.resolve(s, where) for where, s in settings.entries(stream))
                      if k.detector == detector]
            with self.lock:
                if len(self._cache) > 256:
                    self._cache.clear()
                self._cache[key] = cached
        return list(cached)

    def frame_stats(self) -> dict[str, dict[str, int]]:
        """Shared conv-frame counters of each loaded classifier that shares frames (metrics)."""
        with self.lock:
            models = dict(self.models)
        return {path: {"hits": m.frames.hits, "misses": m.frames.misses, "cached": len(m.frames.cache)}
                for path, m in models.items() if m.frames is not None}

    def classifier(self, stream: str | None) -> tuple[ClassifierModel | None, list[Keyword]]:
        with self.lock:
            settings = self.settings
        keywords = self.keywords(stream, "classifier")
        path = settings.classifier.model_path()
        if not keywords or not path:
            return None, []
        return self.models.get(path), keywords

    def listeners(self, stream: str | None = None) -> dict[str, list]:
        """Listeners for ``recognizer.stream(name, **registry.listeners(name))``.

        A spotter is always attached (it is cheap with no keywords), so a reload can add
        keywords to streams that had none; the classifier listener joins when a classifier
        model is configured.
        """
        if self.recognizer is None:
            raise RuntimeError("this registry has no recognizer; pass one to build listeners")
        spotter = KeywordSpotter(self.recognizer.vocab, self, settings=self.settings,
                                 frame_seconds=self.recognizer.geometry.seconds(1), stream=stream, hooks=self.hooks)
        frame, audio = [spotter], []
        if self.settings.classifier.model_path():
            listener = ClassifierListener(self.recognizer, lambda: self.classifier(stream), self.settings.classifier,
                                          stream=stream, hooks=self.hooks)
            frame.append(listener.on_frames)
            audio.append(listener.on_audio)
        return {"frame_listeners": frame, "audio_listeners": audio}
