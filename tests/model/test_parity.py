"""Numerical parity with transformers' SEW / SEW-D on random weights (max abs diff <= 1e-4).

Each case builds a random-init model in transformers, saves it, loads it with our code and
compares every output the issue names, with and without padding / attention masks.
"""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from sewstream.model import load_model  # noqa: E402

from .helpers import TOL, hf_model, max_diff  # noqa: E402

SEW_CASES = {
    "default": {},
    "layer_norm_conv_bias": dict(feat_extract_norm="layer", conv_bias=True),
    "squeeze1": dict(squeeze_factor=1),
    "squeeze3_odd_pos_kernel": dict(squeeze_factor=3, num_conv_pos_embeddings=15),
    "gelu_python": dict(hidden_act="gelu_python"),
    "relu": dict(hidden_act="relu", feat_extract_activation="relu"),
    "gelu_new": dict(hidden_act="gelu_new"),
}
SEWD_CASES = {
    "default": {},
    "p2c_only": dict(pos_att_type=["p2c"]),
    "c2p_only": dict(pos_att_type=["c2p"]),
    "separate_pos_proj": dict(share_att_key=False),
    "separate_c2p_only": dict(share_att_key=False, pos_att_type=["c2p"]),
    "no_relative_attention": dict(relative_attention=False),
    "norm_rel_ebd_none": dict(norm_rel_ebd="none"),
    "log_buckets": dict(position_buckets=8, max_position_embeddings=24),  # distances > 4 get log buckets
    "no_buckets": dict(position_buckets=-1, max_position_embeddings=16),  # distances clamp at 16
    "layer_norm_squeeze3": dict(feat_extract_norm="layer", squeeze_factor=3, conv_bias=True),
    "gelu_relu": dict(hidden_act="relu"),
}
CASES = [("sew", k, v) for k, v in SEW_CASES.items()] + [("sew-d", k, v) for k, v in SEWD_CASES.items()]


def batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), generator=g)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return x, mask


@pytest.mark.parametrize("model_type,name,overrides", CASES, ids=[f"{t}-{n}" for t, n, _ in CASES])
def test_backbone_and_ctc_parity(tmp_path, model_type, name, overrides):
    ref = hf_model(tmp_path, "ctc", model_type, **overrides)
    ours = load_model(tmp_path)
    x, mask = batch([4321, 3517])  # odd lengths; the second row is padded
    labels = torch.randint(5, 12, (2, 9))
    labels[1, 6:] = -100
    with torch.no_grad():
        for attention_mask in (None, mask):
            r = ref(x, attention_mask=attention_mask, labels=labels, output_hidden_states=True)
            o = ours(x, attention_mask=attention_mask, labels=labels, output_hidden_states=True)
            assert len(o.hidden_states) == len(r.hidden_states) == ref.config.num_hidden_layers + 1
            for i, (a, b) in enumerate(zip(r.hidden_states, o.hidden_states)):
                assert max_diff(a, b) <= TOL, f"hidden state {i}"
            assert max_diff(r.logits, o.logits) <= TOL
            assert abs(r.loss.item() - o.loss.item()) <= TOL
            base_ref = ref.base_model(x, attention_mask=attention_mask).last_hidden_state
            base_ours = ours.backbone(x, attention_mask=attention_mask).last_hidden_state
            assert max_diff(base_ref, base_ours) <= TOL


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
@pytest.mark.parametrize("reduction,zero_infinity", [("sum", False), ("mean", True), ("none", False)])
def test_ctc_loss_options(tmp_path, model_type, reduction, zero_infinity):
    ref = hf_model(tmp_path, "ctc", model_type, ctc_loss_reduction=reduction, ctc_zero_infinity=zero_infinity)
    ours = load_model(tmp_path)
    x, mask = batch([4000, 2500], seed=3)
    # the second row's labels are longer than its frames: infinite loss unless zeroed
    labels = torch.randint(5, 12, (2, 80)) if zero_infinity else torch.randint(5, 12, (2, 7))
    with torch.no_grad():
        r = ref(x, attention_mask=mask, labels=labels).loss
        o = ours(x, attention_mask=mask, labels=labels).loss
    assert r.shape == o.shape
    assert torch.allclose(r, o, atol=TOL, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
def test_attentions_parity(tmp_path, model_type):
    ref = hf_model(tmp_path, "ctc", model_type, attn_implementation="eager")
    ours = load_model(tmp_path)
    x, mask = batch([4000, 3300], seed=5)
    with torch.no_grad():
        r = ref(x, attention_mask=mask, output_attentions=True)
        o = ours(x, attention_mask=mask, output_attentions=True)
    assert len(r.attentions) == len(o.attentions) == ref.config.num_hidden_layers
    for a, b in zip(r.attentions, o.attentions):
        assert max_diff(a, b) <= TOL
    assert max_diff(r.logits, o.logits) <= TOL


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
@pytest.mark.parametrize("weighted", [False, True])
def test_classification_parity(tmp_path, model_type, weighted):
    labels3 = {0: "yes", 1: "no", 2: "_silence_"}
    ref = hf_model(tmp_path, "cls", model_type, use_weighted_layer_sum=weighted, id2label=labels3,
                   label2id={v: k for k, v in labels3.items()}, classifier_proj_size=24)
    ours = load_model(tmp_path)
    assert ours.config.id2label == labels3
    x, mask = batch([4000, 4000], seed=7)
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        r = ref(x, labels=labels)
        o = ours(x, labels=labels)
        assert max_diff(r.logits, o.logits) <= TOL
        assert abs(r.loss.item() - o.loss.item()) <= TOL
        if not weighted:  # with padding (weighted-sum pooling differs by design, see below)
            x2, mask2 = batch([4000, 2900], seed=8)
            assert max_diff(ref(x2, attention_mask=mask2).logits, ours(x2, attention_mask=mask2).logits) <= TOL


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
def test_weighted_layer_sum_is_batch_invariant(tmp_path, model_type):
    """Our pooling of the squeezed layer outputs uses the squeezed mask, so a padded row
    gives the same logits as that row alone (transformers pools padded frames there).

    Needs layer-norm features and a frame count divisible by the squeeze factor: a group
    norm normalises over the padded tail too, and a half-filled last pooling group averages
    in zeros; both are properties of the architecture, not of this implementation.
    """
    hf_model(tmp_path, "cls", model_type, use_weighted_layer_sum=True, classifier_proj_size=24,
             feat_extract_norm="layer")
    ours = load_model(tmp_path)
    x, mask = batch([4000, 2901], seed=9)
    with torch.no_grad():
        padded = ours(x, attention_mask=mask).logits[1]
        alone = ours(x[1:, :2901], attention_mask=mask[1:, :2901]).logits[0]
    assert max_diff(padded, alone) <= TOL


def test_classification_losses_by_problem_type(tmp_path):
    from torch.nn import functional as F

    hf_model(tmp_path, "cls", "sew", id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    ours = load_model(tmp_path)
    x, _ = batch([4000, 4000], seed=11)
    multi = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    with torch.no_grad():
        out = ours(x, labels=multi)  # float labels -> multi-label BCE
        assert torch.allclose(out.loss, F.binary_cross_entropy_with_logits(out.logits, multi))
        ours.config.problem_type = "single_label_classification"
        out = ours(x, labels=torch.tensor([0, 2]))
        assert torch.allclose(out.loss, F.cross_entropy(out.logits, torch.tensor([0, 2])))
    hf_model(tmp_path / "reg", "cls", "sew-d", num_labels=1)
    reg = load_model(tmp_path / "reg")
    target = torch.tensor([0.5, -1.0])
    with torch.no_grad():
        out = reg(x, labels=target)  # one label -> regression MSE
    assert torch.allclose(out.loss, F.mse_loss(out.logits.squeeze(-1), target))


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
def test_given_mask_time_indices_parity(tmp_path, model_type):
    ref = hf_model(tmp_path, "ctc", model_type, mask_time_prob=0.3)
    ours = load_model(tmp_path)
    x, _ = batch([4000, 4000], seed=13)
    frames = ours.frame_lengths(torch.tensor([4000]))[0].item()
    mti = torch.zeros(2, frames, dtype=torch.bool)
    mti[0, 3:9] = True
    mti[1, 20:31] = True
    with torch.no_grad():
        r = ref(x, mask_time_indices=mti).logits
        o = ours(x, mask_time_indices=mti).logits
        unmasked = ours(x).logits
    assert max_diff(r, o) <= TOL
    assert max_diff(o, unmasked) > 1e-3  # the mask really changed something
