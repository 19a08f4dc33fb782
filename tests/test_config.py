"""Typed YAML config: defaults, overrides, and errors that name the key and the value."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from sewstream.config import ConfigError, config_to_data, load_config

DEFAULT_YAML = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def test_default_yaml_matches_the_code_defaults():
    import importlib

    for package in ("sewstream.server", "sewstream.keywords"):  # register their sections, as `serve` does
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(package)
    from_file = load_config(DEFAULT_YAML, environ={})
    from_code = load_config(None, environ={})
    assert config_to_data(from_file) == config_to_data(from_code)

    def keys(data, prefix=""):
        for k, v in data.items():
            yield from keys(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [prefix + k]

    import yaml
    documented = set(keys(yaml.safe_load(DEFAULT_YAML.read_text())))
    assert set(keys(config_to_data(from_code))) <= documented  # every key is in the file


def test_overrides_environment_and_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stream:\n  chunk_s: 3.0\n  endpoint:\n    trailing_silence_s: 0.8\nmodel:\n  device: cpu\n")
    config = load_config(path, ["stream.chunk_s=1.5"], environ={"SEWSTREAM__MODEL__MAX_BATCH": "4",
                                                               "SEWSTREAM__STREAM__CHUNK_S": "9"})
    assert config.stream.chunk_s == 1.5           # command line beats environment beats file
    assert config.stream.endpoint.trailing_silence_s == 0.8
    assert config.model.max_batch == 4 and config.model.device == "cpu"


@pytest.mark.parametrize("text,message", [
    ("stream:\n  chunk_size: 2\n", "unknown config key 'stream.chunk_size'"),
    ("strem:\n  chunk_s: 2\n", "unknown config section 'strem'"),
    ("stream:\n  chunk_s: fast\n", "config key 'stream.chunk_s': 'fast' is not a valid float"),
    ("stream:\n  endpoint:\n    max_utterance_s: -3\n", "stream.endpoint.max_utterance_s': -3.0 must be > 0"),
    ("model:\n  dtype: float64\n", "config key 'model.dtype': 'float64' is not a valid"),
    ("model:\n  max_batch: 2.5\n", "config key 'model.max_batch': 2.5 is not a valid int"),
    ("stream: [1, 2]\n", "config key 'stream': expected a mapping"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("stream: {chunk_s: [}\n", "not valid YAML"),
])
def test_errors_name_key_and_value(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert message in str(err.value)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        load_config(None, ["chunk_s"], environ={})
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_yaml_booleans_are_only_true_and_false(tmp_path):
    """YAML 1.1 reads yes/no/on/off as booleans; a keyword list must keep them as words."""
    from sewstream.config import load_yaml

    assert load_yaml("a: yes\nb: on\nc: no\nd: true\ne: False\n") == {"a": "yes", "b": "on", "c": "no",
                                                                       "d": True, "e": False}
    cfg = tmp_path / "c.yaml"
    cfg.write_text("stream:\n  endpoint:\n    trailing_silence_s: 0.5\n")
    assert load_config(cfg, environ={}).stream.endpoint.trailing_silence_s == 0.5
    import sewstream.keywords  # noqa: F401 - registers the keywords section (it has bool keys)

    with pytest.raises(ConfigError, match=r"'keywords\.enabled': 'yes' is not a valid bool \(write true or false\)"):
        load_config(None, ["keywords.enabled=yes"], environ={})
    cfg.write_text("keywords:\n  default:\n    - {phrase: yes}\n    - phrase: on\n")
    assert [k.phrase for k in load_config(cfg, environ={}).section("keywords").default] == ["yes", "on"]
