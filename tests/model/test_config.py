"""Config: HF names and defaults, config.json round trips, errors that name key and value."""

from __future__ import annotations

import json

import pytest

from sewstream.model import ConfigError, SEWConfig, SEWDConfig, config_from_dict, load_config

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("ours,theirs", [(SEWConfig, "SEWConfig"), (SEWDConfig, "SEWDConfig")])
def test_defaults_match_transformers(ours, theirs):
    ref = getattr(transformers, theirs)().to_dict()
    mine = ours().to_dict()
    for key, value in mine.items():
        if key in ("extra",):
            continue
        if key in ref:
            assert ref[key] == value, key
    # every architecture field transformers documents exists here too
    skip = {"transformers_version", "dtype", "architectures", "id2label", "label2id", "problem_type",
            "output_hidden_states", "return_dict", "chunk_size_feed_forward", "is_encoder_decoder",
            "tie_word_embeddings", "output_attentions"}
    assert not {k for k in ref if k not in mine and k not in skip and not k.startswith("_")}


def test_roundtrip_keeps_unknown_keys(tmp_path):
    data = SEWDConfig(hidden_size=64, num_attention_heads=4).to_dict()
    data["my_custom_key"] = {"a": 1}
    data["torch_dtype"] = "float32"
    config = config_from_dict(data)
    assert isinstance(config, SEWDConfig) and config.hidden_size == 64
    path = tmp_path / "config.json"
    config.to_json_file(path)
    again = load_config(path).to_dict()
    assert again["my_custom_key"] == {"a": 1} and again["torch_dtype"] == "float32"
    assert again == data


def test_transformers_reads_our_config(tmp_path):
    SEWConfig(squeeze_factor=3, id2label={0: "yes", 1: "no"}).to_json_file(tmp_path / "config.json")
    ref = transformers.SEWConfig.from_pretrained(tmp_path)
    assert ref.squeeze_factor == 3 and ref.id2label == {0: "yes", 1: "no"} and ref.num_labels == 2


def test_label_maps_and_pos_att_string():
    config = config_from_dict({"model_type": "sew-d", "label2id": {"yes": 0, "no": 1},
                               "pos_att_type": "p2c|c2p"})
    assert config.id2label == {0: "yes", 1: "no"} and config.label2id == {"yes": 0, "no": 1}
    assert config.pos_att_type == ("p2c", "c2p")
    assert config_from_dict({"model_type": "sew", "num_labels": 3}).num_labels == 3


@pytest.mark.parametrize("cls,kwargs,pattern", [
    (SEWConfig, dict(conv_stride=(5, 2)), r"conv_stride=\(5, 2\) is invalid: has 2 entries but conv_dim has 13"),
    (SEWConfig, dict(conv_kernel=(10,) * 12), r"conv_kernel=.* has 12 entries"),
    (SEWConfig, dict(hidden_size=100, num_attention_heads=12),
     r"hidden_size=100 .* not divisible by num_attention_heads=12"),
    (SEWConfig, dict(hidden_act="gelu_magic"), r"hidden_act='gelu_magic' is invalid: unknown activation"),
    (SEWConfig, dict(squeeze_factor=0), r"squeeze_factor=0 is invalid"),
    (SEWConfig, dict(squeeze_factor=1.5), r"squeeze_factor=1.5 is invalid"),
    (SEWConfig, dict(feat_extract_norm="batch"), r"feat_extract_norm='batch'"),
    (SEWConfig, dict(conv_dim=(64, -1) + (128,) * 11), r"conv_dim=.* positive integer"),
    (SEWConfig, dict(hidden_dropout=1.5), r"hidden_dropout=1.5"),
    (SEWConfig, dict(problem_type="ranking"), r"problem_type='ranking'"),
    (SEWDConfig, dict(pos_att_type=["c2c"]), r"pos_att_type=\['c2c'\]"),
    (SEWDConfig, dict(norm_rel_ebd="batch_norm"), r"norm_rel_ebd='batch_norm'"),
])
def test_validation_names_key_and_value(cls, kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        cls(**kwargs)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "wav2vec2"}))
    with pytest.raises(ConfigError, match="model_type='wav2vec2' is not a SEW model"):
        load_config(tmp_path)


def test_derived_lengths_match_conv_formula():
    c = SEWConfig()
    assert c.inputs_to_logits_ratio == 320 and c.receptive_field == 400
    assert c.num_frames(400) == 1 and c.num_frames(399) == 0 and c.num_frames(16000) == 49
