"""Typed configuration from YAML (``configs/*.yaml``), environment and command-line overrides.

Each part of sewstream defines its own settings dataclass; this module composes them into
one ``Config`` and fills it from plain data, checking every key and value:

    load_config("configs/default.yaml", overrides=["stream.chunk_s=1.5"])

Overrides: ``section.key=value`` (value parsed as YAML), and environment variables
``SEWSTREAM__SECTION__KEY=value`` (double underscores separate levels). An unknown key or
a value of the wrong type is a ``ConfigError`` that names the dotted key and the value.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sewstream.stream.endpoint import EndpointSettings
from sewstream.stream.rescore import DecodingSettings
from sewstream.stream.stream import StreamSettings

ENV_PREFIX = "SEWSTREAM__"


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message names it."""


class _YAML12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false.

    YAML 1.1 also reads yes/no/on/off/y/n as booleans, which would turn keyword phrases
    such as ``phrase: yes`` or ``phrase: on`` into True.
    """


_BOOL = "tag:yaml.org,2002:bool"
_YAML12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_YAML12Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(text: str) -> Any:
    """Parse config YAML (raises yaml.YAMLError); booleans are only true/false."""
    return yaml.load(text, Loader=_YAML12Loader)


@dataclass
class ModelSettings:
    path: str | None = None            # checkpoint directory or hub id; null = the embedded default model
    device: str = "auto"               # auto | cpu | cuda | cuda:N
    dtype: Literal["float32", "float16", "bfloat16"] | None = None  # null: float16 on GPU, float32 on CPU
    max_batch: int = 16                # windows per forward pass
    max_wait_ms: float = 5.0           # how long a batch waits for more windows
    threads: int | None = None         # torch CPU threads (null: torch's default)


@dataclass
class Config:
    model: ModelSettings = field(default_factory=ModelSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    decoding: DecodingSettings = field(default_factory=DecodingSettings)
    extra_sections: dict[str, Any] = field(default_factory=dict)  # sections other parts register

    def section(self, name: str) -> Any:
        return getattr(self, name) if hasattr(self, name) else self.extra_sections[name]


# Sections that packages above the stream (server, keywords) add without this module
# importing them: name -> settings dataclass.
SECTIONS: dict[str, type] = {}


def register_section(name: str, cls: type) -> None:
    SECTIONS[name] = cls


# ----------------------------------------------------------------------- checks
def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(tp))}]"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked (and lightly coerced) against type ``tp``; ConfigError naming ``key``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    hint = " (write true or false)" if tp is bool and isinstance(value, str) else ""
    bad = ConfigError(f"config key {key!r}: {value!r} is not a valid {_type_name(tp)}{hint}")
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(value, option, key)
            except ConfigError:
                continue
        raise bad
    if origin is Literal:
        if value in args:
            return value
        raise bad
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping of settings, got {value!r}")
        return build(tp, value, key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        k_tp, v_tp = args if args else (Any, Any)
        return {_convert(k, k_tp, key): _convert(v, v_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise bad


def build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a mapping, rejecting unknown keys and bad values."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"unknown config key {dotted!r} (known here: {known})")
        kwargs[key] = _convert(value, hints[key], dotted)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config section {prefix or cls.__name__!r}: {exc}") from None
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            check()
        except ValueError as exc:
            raise ConfigError(f"config section {prefix or cls.__name__!r}: {exc}") from None
    return obj


def _positive_checks(config: Config) -> None:
    s = config.stream
    for key in ("chunk_s", "feature_block_s", "max_backlog_s"):
        if getattr(s, key) <= 0:
            raise ConfigError(f"config key 'stream.{key}': {getattr(s, key)!r} must be > 0")
    for key in ("left_context_s", "right_context_s", "partial_every_s", "partial_left_context_s",
                "partial_overlap_s"):
        if getattr(s, key) < 0:
            raise ConfigError(f"config key 'stream.{key}': {getattr(s, key)!r} must be >= 0")
    needed = s.chunk_s + s.right_context_s + s.feature_block_s
    if s.max_backlog_s <= needed:
        raise ConfigError(f"config key 'stream.max_backlog_s': {s.max_backlog_s!r} must exceed chunk_s + "
                          f"right_context_s + feature_block_s = {needed:g} (a window needs that much audio)")
    e = s.endpoint
    for key in ("trailing_silence_s", "blank_run_s", "max_utterance_s", "min_speech_s"):
        if getattr(e, key) <= 0:
            raise ConfigError(f"config key 'stream.endpoint.{key}': {getattr(e, key)!r} must be > 0")
    m = config.model
    if m.max_batch < 1:
        raise ConfigError(f"config key 'model.max_batch': {m.max_batch!r} must be >= 1")
    if m.max_wait_ms < 0:
        raise ConfigError(f"config key 'model.max_wait_ms': {m.max_wait_ms!r} must be >= 0")
    if m.threads is not None and m.threads < 1:
        raise ConfigError(f"config key 'model.threads': {m.threads!r} must be >= 1")
    d = config.decoding
    for key in ("beam", "max_pending"):
        if getattr(d, key) < 1:
            raise ConfigError(f"config key 'decoding.{key}': {getattr(d, key)!r} must be >= 1")
    if d.alpha < 0:
        raise ConfigError(f"config key 'decoding.alpha': {d.alpha!r} must be >= 0")
    if d.unk_offset > 0:
        raise ConfigError(f"config key 'decoding.unk_offset': {d.unk_offset!r} must be <= 0 "
                          "(a penalty for words outside the LM's vocabulary)")


# ---------------------------------------------------------------------- loading
def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config override {dotted!r}: {part!r} is not a section")
    node[parts[-1]] = value


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"config override {item!r} must look like section.key=value")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config override {item!r}: value is not valid YAML ({exc})") from None
    return key.strip(), value


def config_from_data(data: dict[str, Any] | None) -> Config:
    data = dict(data or {})
    known = {"model": ModelSettings, "stream": StreamSettings, "decoding": DecodingSettings, **SECTIONS}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown config section {unknown[0]!r} (known: {', '.join(sorted(known))})")
    config = Config(model=build(ModelSettings, data.get("model") or {}, "model"),
                    stream=_convert(data.get("stream") or {}, StreamSettings, "stream"),
                    decoding=build(DecodingSettings, data.get("decoding") or {}, "decoding"))
    for name, cls in SECTIONS.items():
        config.extra_sections[name] = _convert(data.get(name) or {}, cls, name)
    _positive_checks(config)
    return config


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file as plain data (sections by name); ConfigError naming the file otherwise."""
    path = Path(path)
    try:
        loaded = load_yaml(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return loaded or {}


def load_config(path: str | Path | None = None, overrides: list[str] = (),
                environ: dict[str, str] | None = None) -> Config:
    """YAML file (optional) <- environment SEWSTREAM__A__B=v <- overrides a.b=v."""
    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    for name, raw in sorted((environ if environ is not None else os.environ).items()):
        if name.startswith(ENV_PREFIX):
            dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
            _set_dotted(data, dotted, _parse_override(f"{dotted}={raw}")[1])
    for item in overrides:
        _set_dotted(data, *_parse_override(item))
    return config_from_data(data)


def config_to_data(config: Config) -> dict[str, Any]:
    out = {"model": dataclasses.asdict(config.model), "stream": dataclasses.asdict(config.stream),
           "decoding": dataclasses.asdict(config.decoding)}
    for name, value in config.extra_sections.items():
        out[name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return out


__all__ = ["Config", "ConfigError", "DecodingSettings", "ModelSettings", "StreamSettings", "EndpointSettings",
           "load_config", "config_from_data", "config_to_data", "register_section", "build"]
