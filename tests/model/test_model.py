"""Behaviour of our model code beyond parity: input checks, training-time features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sewstream.model import SEWConfig, SEWDConfig, build_model
from sewstream.model.specaugment import span_mask

from .helpers import tiny


@pytest.fixture(params=["sew", "sew-d"])
def model(request):
    cls = SEWConfig if request.param == "sew" else SEWDConfig
    return build_model(cls(**tiny(request.param)), "SEWForCTC").eval()


@pytest.mark.parametrize("bad,pattern", [
    (torch.zeros(1, 0), "shorter than one frame"),
    (torch.zeros(1, 39), r"39 samples is shorter than one frame \(40 samples, 2.5 ms at 16 kHz\)"),
    (torch.full((1, 4000), float("nan")), "NaN or Inf"),
    (torch.zeros(4000), r"must be \(batch, samples\); got shape \(4000,\)"),
    (torch.zeros(1, 1, 4000), r"got shape \(1, 1, 4000\)"),
    (torch.zeros(1, 4000, dtype=torch.int16), "floating point"),
])
def test_bad_input_is_named(model, bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        model(bad)


def test_label_out_of_vocab(model):
    with pytest.raises(ValueError, match="label ids must be < vocab_size=12"):
        model(torch.randn(1, 4000), labels=torch.tensor([[3, 12]]))


def test_training_mode_is_stochastic_and_eval_is_not(model):
    config = model.config.replace(hidden_dropout=0.2, mask_time_prob=0.5, mask_time_length=2)
    m = build_model(config, "SEWForCTC")
    x = torch.randn(2, 6000)
    m.train()
    a, b = m(x).logits, m(x).logits
    assert (a - b).abs().max() > 1e-4
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x).logits, m(x).logits)


def test_ctc_loss_backward_reaches_every_parameter(model):
    model.train()
    out = model(torch.randn(2, 6000), labels=torch.tensor([[5, 6, 7], [8, 9, -100]]))
    out.loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None and "masked_spec_embed" not in n]
    assert not no_grad


def test_layerdrop_one_skips_every_layer():
    m = build_model(SEWConfig(**tiny("sew", layerdrop=1.0)), "SEWForCTC").train()
    out = m(torch.randn(1, 4000), output_hidden_states=True)
    assert len(out.hidden_states) == 1  # only the encoder input remains
    m.eval()
    assert len(m(torch.randn(1, 4000), output_hidden_states=True).hidden_states) == 3


def test_span_mask_properties():
    rng = np.random.default_rng(0)
    mask = span_mask(4, 200, 0.3, 10, min_masks=2, valid_lengths=[200, 200, 100, 15], rng=rng)
    assert mask.shape == (4, 200)
    assert not mask[2, 100:].any() and not mask[3, 15:].any()  # never in padding
    assert 0 < mask[0].mean() <= 0.3 + 1e-9
    runs = np.diff(np.concatenate([[0], mask[0].astype(int), [0]]))
    assert all(n % 10 == 0 or n > 10 for n in np.flatnonzero(runs == -1) - np.flatnonzero(runs == 1))
    assert 10 < mask[3].sum() <= 15  # min_masks=2 spans, overlapping inside the 15 valid frames
    again = span_mask(4, 200, 0.3, 10, min_masks=2, valid_lengths=[200, 200, 100, 15], rng=np.random.default_rng(0))
    assert np.array_equal(mask, again)
    with pytest.raises(ValueError, match="longer than the sequence"):
        span_mask(1, 5, 0.5, 10)


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
@pytest.mark.parametrize("weighted", [False, True])
def test_classifier_logits_from_features_are_the_forward_after_the_conv_encoder(model_type, weighted):
    # what a caller that reuses conv frames across windows runs (keywords/window_features.py)
    cls = SEWConfig if model_type == "sew" else SEWDConfig
    torch.manual_seed(0)
    config = cls(**tiny(model_type, use_weighted_layer_sum=weighted, classifier_proj_size=8),
                 id2label={0: "a", 1: "b", 2: "c"})
    model = build_model(config, "SEWForSequenceClassification").eval()
    audio = torch.randn(2, 4000)
    with torch.no_grad():
        expected = model(audio).logits
        got = model.logits_from_features(model.backbone.features(audio))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("model_type", ["sew", "sew-d"])
@pytest.mark.parametrize("squeeze", [2, 4])
def test_fewer_frames_than_one_squeezed_frame(model_type, squeeze):
    """1..squeeze-1 frames pool to nothing; the model pads them as a batch would, so the
    row alone gives what it gives beside a longer row (transformers raises instead)."""
    cls = SEWConfig if model_type == "sew" else SEWDConfig
    m = build_model(cls(**tiny(model_type, squeeze_factor=squeeze, feat_extract_norm="layer")), "SEWForCTC").eval()
    torch.manual_seed(0)
    for samples in (40, 40 + 20 * (squeeze - 1) - 1):  # 1 frame, and the most short of one squeezed frame
        x = torch.randn(1, samples)
        with torch.no_grad():
            alone = m(x).logits
            batch = torch.cat([torch.nn.functional.pad(x, (0, 4000 - samples)), torch.randn(1, 4000)])
            mask = torch.zeros(2, 4000, dtype=torch.long)
            mask[0, :samples], mask[1] = 1, 1
            beside = m(batch, attention_mask=mask).logits
        frames = (samples - 40) // 20 + 1
        assert alone.shape == (1, frames, 12) and torch.isfinite(alone).all()
        assert (alone[0] - beside[0, :frames]).abs().max() < 1e-5



def test_chunk_attention_sees_nothing_past_its_chunk_at_any_depth():
    """Training-time ChunkAttention: through every layer, a chunk's outputs depend on no input
    after the chunk's end; off, the encoder is the plain full-attention one."""
    from sewstream.model.transformer import ChunkAttention

    m = build_model(SEWConfig(**tiny("sew", num_hidden_layers=3)), "SEWForCTC").eval()
    encoder = m.backbone.encoder
    x = torch.randn(1, 30, m.config.hidden_size)
    changed = x.clone()
    changed[:, 8:] = torch.randn(1, 22, m.config.hidden_size)  # the future of chunk [2, 8)
    with torch.no_grad():
        full = encoder.transform(x, None, False, False)[0]
        encoder.chunk_attention = ChunkAttention(chunk=6, left=4, offset=2)  # chunks [0,2) [2,8) [8,14) ...
        limited = encoder.transform(x, None, False, False)[0]
        after = encoder.transform(changed, None, False, False)[0]
        encoder.chunk_attention = None
        again = encoder.transform(x, None, False, False)[0]
        full_after = encoder.transform(changed, None, False, False)[0]
    assert torch.allclose(limited[:, :8], after[:, :8], atol=1e-6)
    assert (limited[:, 8:] - after[:, 8:]).abs().max() > 1e-3
    assert (full[:, :8] - full_after[:, :8]).abs().max() > 1e-3  # full attention does look ahead
    assert torch.equal(full, again)


def test_chunk_attention_bias_pattern():
    from sewstream.model.transformer import ChunkAttention

    allowed = ChunkAttention(chunk=3, left=1, offset=1).bias(7, torch.float32, torch.device("cpu"))[0, 0] == 0
    # chunks [0,1) [1,4) [4,7): rows list the keys each query may see
    expect = [[0], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [3, 4, 5, 6], [3, 4, 5, 6], [3, 4, 5, 6]]
    assert [torch.nonzero(row).flatten().tolist() for row in allowed] == expect
