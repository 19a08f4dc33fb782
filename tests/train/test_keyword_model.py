"""A keyword classifier started from a CTC model's backbone."""

from __future__ import annotations

import pytest
import torch

from sewstream.model import SEWForSequenceClassification, load_model
from sewstream.train.keyword_model import classifier_from_ctc, lr_at

LABELS = ["yes", "no", "_unknown_", "_silence_"]


def test_backbone_is_copied_and_truncated(tiny_ctc_dir):
    ctc = load_model(tiny_ctc_dir)
    model = classifier_from_ctc(ctc, LABELS, layers=1)
    assert isinstance(model, SEWForSequenceClassification)
    assert model.config.num_hidden_layers == 1 and model.config.num_labels == 4
    assert model.config.id2label == dict(enumerate(LABELS))
    theirs = ctc.backbone.state_dict()
    ours = model.backbone.state_dict()
    assert not any(".layers.1." in k for k in ours)
    for key, value in ours.items():
        if key != "masked_spec_embed":
            torch.testing.assert_close(value, theirs[key], rtol=0, atol=0, msg=key)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(".feature_extractor." in n for n in frozen)
    assert model.projector.weight.requires_grad and model.classifier.weight.requires_grad


def test_classifier_runs_and_round_trips(tiny_ctc_dir, tmp_path):
    model = classifier_from_ctc(load_model(tiny_ctc_dir), LABELS).eval()
    audio = torch.randn(2, 16000) * 0.1
    logits = model(audio).logits
    assert logits.shape == (2, 4)
    model.save_pretrained(tmp_path)
    again = load_model(tmp_path)
    assert isinstance(again, SEWForSequenceClassification)
    assert again.config.id2label == dict(enumerate(LABELS))
    torch.testing.assert_close(again(audio).logits, logits, rtol=1e-5, atol=1e-5)


def test_layers_out_of_range_is_an_error(tiny_ctc_dir):
    with pytest.raises(ValueError, match=r"layers must be in 1\.\.2"):
        classifier_from_ctc(load_model(tiny_ctc_dir), LABELS, layers=3)


def test_lr_schedule_warms_up_then_decays_to_a_tenth():
    assert lr_at(0, 1000, 1e-3) == pytest.approx(1e-3 / 50)
    assert lr_at(49, 1000, 1e-3) == pytest.approx(1e-3)
    assert lr_at(1000, 1000, 1e-3) == pytest.approx(1e-4)
    values = [lr_at(s, 1000, 1e-3) for s in range(50, 1001)]
    assert all(a >= b for a, b in zip(values, values[1:]))
