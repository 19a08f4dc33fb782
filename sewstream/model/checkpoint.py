"""Hugging Face format checkpoints: load them into our modules and write them back.

A checkpoint directory holds ``config.json`` and the weights as ``model.safetensors`` or
``pytorch_model.bin`` (or sharded, with a ``*.index.json``). Weight-norm tensors come in
two spellings: the 2021 ``weight_g``/``weight_v`` and torch's newer
``parametrizations.weight.original0/1``; both load, we write the newer one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, SEWConfig, load_config
from .modeling import ARCHITECTURES, PreTrained, SEWModel, num_parameters

SAFETENSORS, BIN = "model.safetensors", "pytorch_model.bin"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Tensors a checkpoint may lack without harm: SpecAugment's mask vector is used only in training.
_OPTIONAL = ("masked_spec_embed",)


class ModelLoadError(RuntimeError):
    """The checkpoint could not be turned into a model; the message says why and what to do."""


# ------------------------------------------------------------------------ locate
def resolve_checkpoint(path_or_id: str | Path) -> Path:
    """A local checkpoint directory, downloading a hub id first when that is possible."""
    path = Path(path_or_id).expanduser()
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} has no config.json; is it a Hugging Face checkpoint directory?")
        return path
    name = str(path_or_id)
    if path.exists() or not _HUB_ID.match(name):
        raise ModelLoadError(f"no checkpoint directory at {name!r}")
    return _download(name)


def _download(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelLoadError(
            f"{repo_id!r} is not a local directory. Downloading model ids needs the 'hub' extra "
            "(pip install 'sewstream[hub]') and a network; or pass a checkpoint directory.") from None
    try:
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt"]))
    except Exception as exc:  # offline, unknown repo, auth: the hub client has many error types
        raise ModelLoadError(
            f"could not download {repo_id!r} from the Hugging Face hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no details'}). Offline? Pass a local "
            "checkpoint directory instead.") from None


def weight_files(directory: Path) -> tuple[list[Path], str]:
    """The weight files of a checkpoint and a description of the format."""
    for name, fmt in ((SAFETENSORS, "safetensors"), (BIN, "pytorch_model.bin")):
        if (directory / name).is_file():
            return [directory / name], fmt
        index = directory / f"{name}.index.json"
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ModelLoadError(f"{index} is not a valid shard index: {exc}") from None
            missing = [s for s in shards if not (directory / s).is_file()]
            if missing:
                raise ModelLoadError(f"{index} names shard files that are missing: {', '.join(missing)}")
            return [directory / s for s in shards], f"{fmt} ({len(shards)} shards)"
    raise ModelLoadError(f"no weights in {directory}: expected {SAFETENSORS} or {BIN} (or a sharded index)")


# -------------------------------------------------------------------------- read
def read_state_dict(directory: Path) -> tuple[dict[str, torch.Tensor], str]:
    files, fmt = weight_files(directory)
    state: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            if file.name.endswith(".safetensors"):
                from safetensors.torch import load_file
                state.update(load_file(str(file)))
            else:
                state.update(torch.load(file, map_location="cpu", weights_only=True))
        except Exception as exc:  # truncated / corrupt files raise many different types
            raise ModelLoadError(f"cannot read {file} (corrupt or truncated?): {type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    return state, fmt


def normalize_keys(state: dict[str, torch.Tensor], model: PreTrained) -> dict[str, torch.Tensor]:
    """Rename legacy weight-norm keys and add/strip the backbone prefix to fit ``model``."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"\.weight_g$", ".parametrizations.weight.original0", key)
        key = re.sub(r"\.weight_v$", ".parametrizations.weight.original1", key)
        out[key] = value
    prefix = getattr(model, "prefix", None)
    has_prefix = any(k.startswith(("sew.", "sew_d.")) for k in out)
    if prefix and not has_prefix:  # a bare-backbone checkpoint loaded under a head
        out = {f"{prefix}.{k}": v for k, v in out.items()}
    elif prefix is None and has_prefix:  # a head checkpoint loaded as a bare backbone
        out = {k.split(".", 1)[1]: v for k, v in out.items() if k.startswith(("sew.", "sew_d."))}
    return out


def _check_keys(state: dict[str, torch.Tensor], model: PreTrained, source: Path) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_OPTIONAL)]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = []
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong)):
        if items:
            shown = "\n  ".join(items[:25]) + (f"\n  ... and {len(items) - 25} more" if len(items) > 25 else "")
            problems.append(f"{len(items)} {title}:\n  {shown}")
    if problems:
        raise ModelLoadError(f"{source} does not fit a {model.architecture} built from its config.json:\n"
                             + "\n".join(problems))


# -------------------------------------------------------------------------- load
def _dtype(dtype: str | torch.dtype | None, config: SEWConfig) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if dtype == "auto":
        dtype = config.extra.get("dtype") or config.extra.get("torch_dtype") or "float32"
    if isinstance(dtype, str):
        value = getattr(torch, dtype.replace("torch.", ""), None)
        if not isinstance(value, torch.dtype) or not value.is_floating_point:
            raise ModelLoadError(f"unknown dtype {dtype!r}; use float32, float16 or bfloat16")
        return value
    return dtype


def load_model(path_or_id: str | Path, *, architecture: str | None = None,
               dtype: str | torch.dtype | None = None, device: str | torch.device = "cpu") -> PreTrained:
    """Load a SEW / SEW-D checkpoint (directory or hub id) as an eval-mode model.

    ``architecture`` overrides config.json's (e.g. "SEWModel" for just the backbone of a
    CTC checkpoint). ``dtype``: None = float32, "auto" = the dtype config.json records.
    """
    directory = resolve_checkpoint(path_or_id)
    try:
        config = load_config(directory)
    except ConfigError as exc:
        raise ModelLoadError(str(exc)) from None
    name = architecture or (config.architectures or [None])[0]
    state, _ = read_state_dict(directory)
    if name is None:  # old configs may lack "architectures": infer the head from the weights
        name = ("SEWForCTC" if any(k.startswith("lm_head.") for k in state) else
                "SEWForSequenceClassification" if any(k.startswith("classifier.") for k in state)
                else "SEWModel")
    if name not in ARCHITECTURES:
        raise ModelLoadError(f"{directory}: architecture {name!r} is not supported; "
                             f"supported: {', '.join(sorted(ARCHITECTURES))}")
    with torch.device("meta"):
        model = ARCHITECTURES[name](config)  # no init work: every tensor comes from the file
    state = normalize_keys(state, model)
    _check_keys(state, model, directory)
    model.load_state_dict(state, strict=False, assign=True)
    for key, param in list(model.named_parameters()):
        if param.is_meta:  # an optional tensor the checkpoint lacked
            _replace_param(model, key, torch.nn.Parameter(torch.rand(param.shape)))
    return model.to(device=device, dtype=_dtype(dtype, config)).eval()


def _replace_param(model: torch.nn.Module, dotted: str, value: torch.nn.Parameter) -> None:
    owner_name, _, attr = dotted.rpartition(".")
    setattr(model.get_submodule(owner_name) if owner_name else model, attr, value)


# -------------------------------------------------------------------------- save
def save_pretrained(model: PreTrained, directory: str | Path, *, safe_serialization: bool = True,
                    legacy_weight_norm: bool = False, dtype: torch.dtype | None = None) -> Path:
    """Write config.json + weights that transformers (and we) can load."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype=dtype or v.dtype).contiguous() for k, v in model.state_dict().items()}
    if legacy_weight_norm:
        state = {re.sub(r"\.parametrizations\.weight\.original([01])$",
                        lambda m: ".weight_g" if m.group(1) == "0" else ".weight_v", k): v
                 for k, v in state.items()}
    config = model.config.to_dict()
    config["architectures"] = [model.architecture]
    config["dtype"] = str(next(iter(state.values())).dtype).replace("torch.", "")
    (directory / "config.json").write_text(json.dumps(dict(sorted(config.items())), indent=2) + "\n")
    if safe_serialization:
        from safetensors.torch import save_file
        save_file(state, str(directory / SAFETENSORS), metadata={"format": "pt"})
    else:
        torch.save(state, directory / BIN)
    return directory


# ------------------------------------------------------------------------ inspect
def describe_checkpoint(path_or_id: str | Path) -> dict[str, Any]:
    """What ``sewstream info`` prints: config summary, parameter count, weight format."""
    directory = resolve_checkpoint(path_or_id)
    config = load_config(directory)
    state, fmt = read_state_dict(directory)
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values()})
    legacy = any(k.endswith((".weight_g", ".weight_v")) for k in state)
    c = config
    summary = {
        "path": str(directory),
        "model_type": c.model_type,
        "architecture": (c.architectures or ["(not recorded)"])[0],
        "weights": fmt + (", legacy weight_g/weight_v" if legacy else ""),
        "dtype": ", ".join(dtypes),
        "parameters": sum(v.numel() for v in state.values()),
        "hidden_size": c.hidden_size, "layers": c.num_hidden_layers, "heads": c.num_attention_heads,
        "ffn": c.intermediate_size, "squeeze_factor": c.squeeze_factor,
        "conv_layers": c.num_feat_extract_layers, "feat_extract_norm": c.feat_extract_norm,
        "frame_stride_ms": 1000 * c.inputs_to_logits_ratio / 16000,
        "receptive_field_ms": 1000 * c.receptive_field / 16000,
        "vocab_size": c.vocab_size,
    }
    if c.id2label and not (c.architectures or [""])[0].endswith("CTC"):
        summary["labels"] = ", ".join(c.id2label[i] for i in sorted(c.id2label))
    files = sorted(p.name for p in directory.iterdir() if p.is_file())
    summary["files"] = ", ".join(files)
    return summary


__all__ = ["ModelLoadError", "load_model", "save_pretrained", "describe_checkpoint", "resolve_checkpoint",
           "read_state_dict", "num_parameters", "SEWModel"]
