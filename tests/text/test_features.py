"""FeatureExtractor vs transformers' Wav2Vec2FeatureExtractor (the reference)."""

import json

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2FeatureExtractor

from sewstream.text.features import BatchFeatures, FeatureExtractor

SR = 16000


def _batch(seed: int, lengths=(1600, 913, 2400, 37)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal(n) * rng.uniform(0.01, 2) + rng.uniform(-0.5, 0.5)).astype(np.float32)
        for n in lengths
    ]


def _reference(audio, *, do_normalize=True, padding_value=0.0, padding_side="right", **call_kwargs):
    extractor = Wav2Vec2FeatureExtractor(
        do_normalize=do_normalize, padding_value=padding_value, padding_side=padding_side
    )
    return extractor(audio, sampling_rate=SR, return_tensors="pt", **call_kwargs)


def _assert_values(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.dtype == torch.float32
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs.float(), atol=1e-6, rtol=0)


PADDINGS = [
    dict(padding=True),
    dict(padding="longest"),
    dict(padding="longest", pad_to_multiple_of=64),
    dict(padding=True, pad_to_multiple_of=7),
    dict(padding="max_length", max_length=3000),
    dict(padding="max_length", max_length=2400),
    dict(padding="max_length", max_length=2500, pad_to_multiple_of=128),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("do_normalize", [True, False])
@pytest.mark.parametrize("padding_kwargs", PADDINGS)
def test_matches_reference_with_attention_mask(seed, do_normalize, padding_kwargs):
    audio = _batch(seed)
    ours = FeatureExtractor(do_normalize=do_normalize)(
        audio, sampling_rate=SR, return_attention_mask=True, **padding_kwargs
    )
    theirs = _reference(audio, do_normalize=do_normalize, return_attention_mask=True, **padding_kwargs)
    _assert_values(ours.input_values, theirs["input_values"])
    assert ours.attention_mask.dtype == torch.long
    assert torch.equal(ours.attention_mask, theirs["attention_mask"].long())


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("padding_kwargs", PADDINGS)
def test_without_attention_mask_values_are_normalised_over_valid_samples(seed, padding_kwargs):
    """Deliberate difference: the reference (mask off) folds padding into the statistics;
    ours always gives what the reference gives with the mask on."""
    audio = _batch(seed)
    ours = FeatureExtractor()(audio, sampling_rate=SR, return_attention_mask=False, **padding_kwargs)
    assert ours.attention_mask is None
    correct = _reference(audio, return_attention_mask=True, **padding_kwargs)
    _assert_values(ours.input_values, correct["input_values"])
    quirky = _reference(audio, return_attention_mask=False, **padding_kwargs)
    assert not torch.allclose(ours.input_values, quirky["input_values"], atol=1e-3)


@pytest.mark.parametrize("padding_kwargs", PADDINGS)
def test_without_attention_mask_matches_reference_when_not_normalising(padding_kwargs):
    audio = _batch(7)
    ours = FeatureExtractor(do_normalize=False)(
        audio, sampling_rate=SR, return_attention_mask=False, **padding_kwargs
    )
    theirs = _reference(audio, do_normalize=False, return_attention_mask=False, **padding_kwargs)
    assert "attention_mask" not in theirs and ours.attention_mask is None
    _assert_values(ours.input_values, theirs["input_values"])


@pytest.mark.parametrize("return_attention_mask", [True, False])
@pytest.mark.parametrize("padding", [True, False])
def test_equal_length_batch_matches_reference_either_way(return_attention_mask, padding):
    audio = _batch(3, lengths=(800, 800, 800))
    ours = FeatureExtractor()(
        audio, sampling_rate=SR, padding=padding, return_attention_mask=return_attention_mask
    )
    theirs = _reference(audio, padding=padding, return_attention_mask=return_attention_mask)
    _assert_values(ours.input_values, theirs["input_values"])
    assert (ours.attention_mask is None) == ("attention_mask" not in theirs)


def test_2d_array_batch_matches_reference():
    audio = np.stack(_batch(4, lengths=(500, 500, 500)))
    ours = FeatureExtractor()(audio, sampling_rate=SR)
    theirs = _reference(audio, padding=True)
    _assert_values(ours.input_values, theirs["input_values"])


@pytest.mark.parametrize(
    "make_input",
    [
        lambda x: x,  # float32 numpy
        lambda x: x.astype(np.float64),
        lambda x: x.tolist(),
        lambda x: torch.from_numpy(x.copy()),
    ],
    ids=["float32", "float64", "list", "tensor"],
)
def test_single_utterance_input_types_match_reference(make_input):
    audio = _batch(5, lengths=(1234,))[0]
    ours = FeatureExtractor()(make_input(audio), sampling_rate=SR)
    reference_input = make_input(audio)
    if isinstance(reference_input, torch.Tensor):
        reference_input = reference_input.numpy()
    theirs = _reference(reference_input, padding=False)
    assert ours.input_values.shape == (1, 1234)
    _assert_values(ours.input_values, theirs["input_values"])


def test_padding_value_fills_the_tail():
    audio = _batch(6)
    ours = FeatureExtractor(padding_value=-3.0)(audio, sampling_rate=SR, return_attention_mask=True)
    theirs = _reference(audio, padding_value=-3.0, padding=True, return_attention_mask=True)
    _assert_values(ours.input_values, theirs["input_values"])
    assert torch.all(ours.input_values[1, 913:] == -3.0)


@pytest.mark.parametrize("do_normalize", [True, False])
def test_left_padding_equals_per_utterance_reference(do_normalize):
    """Deliberate difference: the reference's left padding with normalisation takes
    statistics over the padded end; ours equals each utterance processed alone."""
    audio = _batch(8)
    ours = FeatureExtractor(padding_side="left", do_normalize=do_normalize)(
        audio, sampling_rate=SR, return_attention_mask=True
    )
    width = max(len(a) for a in audio)
    for row, utterance in enumerate(audio):
        alone = _reference(utterance, do_normalize=do_normalize, padding=False)["input_values"][0]
        pad = width - len(utterance)
        _assert_values(ours.input_values[row, pad:], alone)
        assert torch.all(ours.input_values[row, :pad] == 0.0)
        assert ours.attention_mask[row, :pad].sum() == 0 and ours.attention_mask[row, pad:].all()


def test_normalised_rows_have_zero_mean_unit_variance_over_valid_samples():
    audio = _batch(9)
    out = FeatureExtractor()(audio, sampling_rate=SR).input_values
    for row, utterance in enumerate(audio):
        valid = out[row, : len(utterance)].double()
        assert abs(valid.mean().item()) < 1e-5
        assert valid.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-3)
        assert torch.all(out[row, len(utterance) :] == 0.0)


def test_int16_is_scaled_by_1_over_32768():
    pcm = np.array([0, 16384, -32768, 8192], dtype=np.int16)
    out = FeatureExtractor(do_normalize=False)(pcm, sampling_rate=SR).input_values
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.5, -1.0, 0.25]]))
    normalised = FeatureExtractor()(pcm, sampling_rate=SR).input_values
    expected = _reference(pcm.astype(np.float32) / 32768, padding=False)["input_values"]
    _assert_values(normalised, expected)


def test_default_uses_config_attention_mask_flag_and_batch_helpers():
    audio = _batch(10)
    assert FeatureExtractor()(audio, sampling_rate=SR).attention_mask is None
    features = FeatureExtractor(return_attention_mask=True)(audio, sampling_rate=SR)
    assert isinstance(features, BatchFeatures)
    assert features.attention_mask.sum(dim=1).tolist() == [len(a) for a in audio]
    kwargs = features.to("cpu").as_model_kwargs()
    assert set(kwargs) == {"input_values", "attention_mask"}


# ------------------------------------------------------------------ save / load


HF_STYLE_CONFIG = {
    "do_normalize": True,
    "feature_extractor_type": "Wav2Vec2FeatureExtractor",
    "feature_size": 1,
    "padding_side": "right",
    "padding_value": 0.0,
    "return_attention_mask": False,
    "sampling_rate": 16000,
}


def test_ours_saves_transformers_loads(tmp_path):
    ours = FeatureExtractor(
        do_normalize=False, padding_value=0.5, return_attention_mask=True, extra={"my_key": [1, 2]}
    )
    ours.save_pretrained(tmp_path)
    theirs = Wav2Vec2FeatureExtractor.from_pretrained(tmp_path)
    assert theirs.do_normalize is False
    assert theirs.padding_value == 0.5
    assert theirs.return_attention_mask is True
    assert theirs.sampling_rate == 16000
    assert theirs.my_key == [1, 2]
    audio = _batch(11)
    _assert_values(
        ours(audio, sampling_rate=SR).input_values,
        theirs(audio, sampling_rate=SR, padding=True, return_tensors="pt")["input_values"],
    )


def test_transformers_saves_ours_loads_and_keeps_unknown_keys(tmp_path):
    theirs = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True, my_key={"a": 1})
    theirs.save_pretrained(tmp_path)
    ours = FeatureExtractor.from_pretrained(tmp_path)
    assert ours.do_normalize is True and ours.return_attention_mask is True
    assert ours.extra["my_key"] == {"a": 1}
    ours.save_pretrained(tmp_path / "again")
    saved = json.loads((tmp_path / "again" / "preprocessor_config.json").read_text())
    assert saved["my_key"] == {"a": 1}
    assert saved == json.loads((tmp_path / "preprocessor_config.json").read_text())


def test_dict_round_trip_keeps_unknown_keys():
    config = {**HF_STYLE_CONFIG, "processor_class": "Wav2Vec2Processor", "my_key": 3}
    extractor = FeatureExtractor.from_dict(config)
    assert extractor.extra == {"processor_class": "Wav2Vec2Processor", "my_key": 3}
    assert extractor.to_dict() == config
    assert FeatureExtractor.from_dict(extractor.to_dict()) == extractor


def test_defaults_match_asapp_sew_config():
    assert FeatureExtractor().to_dict() == HF_STYLE_CONFIG


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="preprocessor_config.json"):
        FeatureExtractor.from_pretrained(tmp_path)


def test_bad_config_values_rejected():
    with pytest.raises(ValueError, match="feature_size"):
        FeatureExtractor.from_dict({**HF_STYLE_CONFIG, "feature_size": 80})
    with pytest.raises(ValueError, match="padding_side"):
        FeatureExtractor(padding_side="middle")


# ----------------------------------------------------------------- bad inputs


def test_wrong_sampling_rate_explains_how_to_resample():
    with pytest.raises(ValueError) as err:
        FeatureExtractor()(np.zeros(1000, np.float32), sampling_rate=44100)
    message = str(err.value)
    assert "44100" in message and "16000" in message
    assert "sewstream.audio.resample.resample(audio, 44100, 16000)" in message


@pytest.mark.parametrize(
    ("audio", "pattern"),
    [
        (np.zeros(0, np.float32), "utterance 0 is empty"),
        ([np.ones(10, np.float32), np.zeros(0, np.float32)], "utterance 1 is empty"),
        ([], "empty list"),
        (
            np.array([0.0, np.nan, 1.0, np.nan], np.float32),
            "utterance 0 contains 2 NaN/Inf sample.*first at sample 1",
        ),
        ([np.ones(4), np.array([1.0, np.inf])], "utterance 1 contains 1 NaN/Inf"),
        (np.zeros((2, 100, 3), np.float32), r"1-D .* or 2-D .*got shape \(2, 100, 3\)"),
        (np.zeros((16000, 2), np.float32), r"\(16000, 2\) looks like \(frames, channels\).*to_mono"),
        ([np.zeros((100, 2), np.float32)], r"utterance 0 has shape \(100, 2\).*1-D mono"),
        ([[0.1, 0.2], [[0.1, 0.2]]], r"utterance 1 has shape \(1, 2\)"),
        ([[0.1, 0.2], [0.3, [0.4]]], "utterance 1 is not a flat list of numbers"),
        (np.array(0.5, np.float32), r"got shape \(\)"),
    ],
)
def test_bad_audio_value_errors_name_the_problem(audio, pattern):
    with pytest.raises(ValueError, match=pattern):
        FeatureExtractor()(audio, sampling_rate=SR)


@pytest.mark.parametrize(
    ("audio", "pattern"),
    [
        (np.zeros(100, np.int32), "dtype int32.*int16"),
        (np.zeros(100, bool), "dtype bool"),
        ([np.zeros(10, np.float32), np.zeros(10, np.uint8)], "utterance 1 has dtype uint8"),
        (torch.zeros(100, dtype=torch.int64), "dtype int64"),
        ("not audio", "got str"),
        (np.float32(0.5), "got float32"),
        ([np.zeros(10), "x"], "utterance 1 is a str"),
    ],
)
def test_bad_audio_type_errors_name_the_problem(audio, pattern):
    with pytest.raises(TypeError, match=pattern):
        FeatureExtractor()(audio, sampling_rate=SR)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(padding=False), r"equal length, got lengths \[1600, 913, 2400, 37\]"),
        (dict(padding="max_length"), "needs max_length"),
        (dict(padding="max_length", max_length=2000), "2400 samples, more than the padded length 2000"),
        (dict(padding="max_length", max_length=0), "max_length must be a positive integer"),
        (dict(padding="sideways"), "padding must be .*'sideways'"),
        (dict(padding=True, pad_to_multiple_of=0), "pad_to_multiple_of must be a positive integer"),
    ],
)
def test_bad_padding_arguments_name_the_problem(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        FeatureExtractor()(_batch(12), sampling_rate=SR, **kwargs)


def test_tiny_utterances_can_still_be_batched_as_a_list():
    tiny = [np.array([0.1, 0.2, 0.3], np.float32), np.array([0.5, -0.5, 0.0], np.float32)]
    out = FeatureExtractor()(tiny, sampling_rate=SR)
    theirs = _reference(tiny, padding=True)
    _assert_values(out.input_values, theirs["input_values"])
