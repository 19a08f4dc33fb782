"""Loading and saving Hugging Face checkpoints in every spelling, and clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from sewstream.model import ModelLoadError, SEWForCTC, build_model, describe_checkpoint, load_model
from sewstream.model.config import SEWDConfig

from .helpers import TOL, hf_model, max_diff, tiny

transformers = pytest.importorskip("transformers")


def _x(n=4000, seed=0):
    return torch.randn(1, n, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
@pytest.mark.parametrize("head", ["ctc", "cls", "base"])
def test_ours_saved_loads_into_transformers(tmp_path, model_type, head):
    ref = hf_model(tmp_path / "hf", head, model_type)
    ours = load_model(tmp_path / "hf")
    ours.save_pretrained(tmp_path / "ours")
    cls = getattr(transformers, type(ref).__name__)
    back = cls.from_pretrained(tmp_path / "ours").eval()
    x = _x()
    with torch.no_grad():
        a, b = ref(x), back(x)
    key = "last_hidden_state" if head == "base" else "logits"
    assert max_diff(getattr(a, key), getattr(b, key)) == 0.0
    assert json.loads((tmp_path / "ours" / "config.json").read_text())["architectures"] == [type(ref).__name__]


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
def test_legacy_weight_norm_keys_and_bin_format(tmp_path, model_type):
    ref = hf_model(tmp_path, "ctc", model_type)
    state = load_file(str(tmp_path / "model.safetensors"))
    legacy = {k.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    assert any(k.endswith("weight_g") for k in legacy)
    (tmp_path / "model.safetensors").unlink()
    torch.save(legacy, tmp_path / "pytorch_model.bin")
    ours = load_model(tmp_path)
    with torch.no_grad():
        assert max_diff(ref(_x()).logits, ours(_x()).logits) <= TOL
    assert "pytorch_model.bin" in describe_checkpoint(tmp_path)["weights"]
    assert "legacy" in describe_checkpoint(tmp_path)["weights"]
    ours.save_pretrained(tmp_path / "legacy_out", legacy_weight_norm=True)
    assert any(k.endswith("weight_v") for k in load_file(str(tmp_path / "legacy_out" / "model.safetensors")))
    with torch.no_grad():
        assert max_diff(load_model(tmp_path / "legacy_out")(_x()).logits, ours(_x()).logits) == 0.0


def test_sharded_safetensors(tmp_path):
    ref = hf_model(tmp_path, "ctc", "sew")
    state = load_file(str(tmp_path / "model.safetensors"))
    (tmp_path / "model.safetensors").unlink()
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    weight_map = {}
    for name, ks in shards.items():
        save_file({k: state[k] for k in ks}, str(tmp_path / name))
        weight_map.update({k: name for k in ks})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    ours = load_model(tmp_path)
    with torch.no_grad():
        assert max_diff(ref(_x()).logits, ours(_x()).logits) <= TOL
    assert "2 shards" in describe_checkpoint(tmp_path)["weights"]


def test_backbone_from_ctc_checkpoint_and_ctc_from_backbone(tmp_path):
    ref = hf_model(tmp_path / "ctc", "ctc", "sew-d")
    base = load_model(tmp_path / "ctc", architecture="SEWModel")
    with torch.no_grad():
        assert max_diff(ref.base_model(_x()).last_hidden_state, base(_x()).last_hidden_state) <= TOL
    hf_model(tmp_path / "base", "base", "sew")
    with pytest.raises(ModelLoadError, match="missing keys:\n  lm_head"):
        load_model(tmp_path / "base", architecture="SEWForCTC")


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    hf_model(tmp_path, "ctc", "sew")
    state = load_file(str(tmp_path / "model.safetensors"))
    state.pop("lm_head.bias")
    state["sew.encoder.bogus.weight"] = torch.zeros(1)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path)
    assert "1 missing keys:\n  lm_head.bias" in str(err.value)
    assert "1 unexpected keys:\n  sew.encoder.bogus.weight" in str(err.value)


def test_shape_mismatch_is_named(tmp_path):
    hf_model(tmp_path, "ctc", "sew")
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["vocab_size"] = 40
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match=r"lm_head.weight: checkpoint \(12, 32\) vs model \(40, 32\)"):
        load_model(tmp_path)


def test_truncated_checkpoint(tmp_path):
    hf_model(tmp_path, "ctc", "sew")
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="corrupt or truncated"):
        load_model(tmp_path)


def test_missing_files_and_dirs(tmp_path):
    with pytest.raises(ModelLoadError, match="no checkpoint directory"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_model(tmp_path)
    hf_model(tmp_path / "m", "ctc", "sew")
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="no weights in"):
        load_model(tmp_path / "m")


def test_hub_id_offline_or_without_hub_client_fails_clearly(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name.startswith("huggingface_hub"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    with pytest.raises(ModelLoadError, match=r"sewstream\[hub\]"):
        load_model("asapp/sew-tiny-100k-ft-ls100h")
    monkeypatch.setattr(builtins, "__import__", real_import)
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="could not download 'asapp/sew-tiny-100k-ft-ls100h'.*Offline"):
        load_model("asapp/sew-tiny-100k-ft-ls100h")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_dtype_choice(tmp_path, dtype):
    hf_model(tmp_path, "ctc", "sew-d")
    full = load_model(tmp_path)
    half = load_model(tmp_path, dtype=dtype)
    assert next(half.parameters()).dtype == getattr(torch, dtype)
    with torch.no_grad():
        out = half(_x().to(getattr(torch, dtype))).logits
    assert max_diff(out, full(_x()).logits) < 0.1  # same model, lower precision
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        load_model(tmp_path, dtype="int8")


def test_fresh_model_roundtrip_and_info(tmp_path):
    config = SEWDConfig(**tiny("sew-d"))
    model = build_model(config, "SEWDForCTC")
    assert isinstance(model, SEWForCTC) and model.architecture == "SEWDForCTC"
    model.eval().save_pretrained(tmp_path)
    back = load_model(tmp_path)
    with torch.no_grad():
        assert max_diff(model(_x()).logits, back(_x()).logits) == 0.0
    info = describe_checkpoint(tmp_path)
    assert info["model_type"] == "sew-d" and info["architecture"] == "SEWDForCTC"
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
