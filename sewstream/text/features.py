"""Waveform -> model input values for SEW / SEW-D (wav2vec2-style) checkpoints.

Behaves like Hugging Face's ``Wav2Vec2FeatureExtractor`` and reads / writes the
same ``preprocessor_config.json``, with these deliberate differences:

* Normalisation statistics always come from the valid (unpadded) samples of
  each utterance and the padded tail is always ``padding_value``. The reference
  only does this when it also returns an attention mask; without one it
  includes the padding in mean/variance (so a padded utterance is normalised
  differently from the same utterance alone), and with ``padding_side="left"``
  it takes statistics over the wrong end of the row.
* int16 PCM is scaled by 1/32768; other integer dtypes are rejected.
* The result is always a stacked ``(batch, samples)`` tensor, so ``padding``
  defaults to ``True`` and ragged batches with ``padding=False`` are an error;
  nothing is ever truncated (too-long input for ``"max_length"`` is an error).
* The attention mask is int64 (``torch.long``), not int32.
* Bad input (wrong rate, empty, NaN/Inf, ambiguous shapes) raises instead of
  warning or failing later.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sewstream.audio.resample import resample

CONFIG_NAME = "preprocessor_config.json"

#: 2-D arrays whose second axis is at most this long are taken to be
#: ``(frames, channels)`` audio rather than a batch of utterances.
MAX_CHANNELS = 8

#: Added to the variance before the square root, as in the reference.
VARIANCE_EPSILON = 1e-7

_INT16_SCALE = np.float32(1.0 / 32768.0)
_PADDING_CHOICES = ("longest", "max_length", "do_not_pad")
_RESAMPLE_NAME = f"{resample.__module__}.{resample.__name__}"

AudioInput = np.ndarray | torch.Tensor | Sequence[float] | Sequence[Any]


@dataclass
class BatchFeatures:
    """Model inputs for one batch.

    Attributes:
        input_values: ``(batch, samples)`` float32 waveform values.
        attention_mask: ``(batch, samples)`` int64, 1 on real samples and 0 on
            padding; ``None`` unless requested.
    """

    input_values: torch.Tensor
    attention_mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> BatchFeatures:
        """Return a copy with every tensor moved to ``device``."""
        mask = None if self.attention_mask is None else self.attention_mask.to(device)
        return BatchFeatures(self.input_values.to(device), mask)

    def as_model_kwargs(self) -> dict[str, torch.Tensor]:
        """``{"input_values": ..., "attention_mask": ...}`` without ``None`` entries."""
        kwargs = {"input_values": self.input_values}
        if self.attention_mask is not None:
            kwargs["attention_mask"] = self.attention_mask
        return kwargs


@dataclass
class FeatureExtractor:
    """Normalise and pad raw mono waveforms into a ``BatchFeatures``.

    The fields are those of a Hugging Face ``preprocessor_config.json`` for
    wav2vec2-style models. Keys this class does not know are kept in ``extra``
    and written back by ``to_dict`` / ``save_pretrained``.
    """

    feature_size: int = 1
    sampling_rate: int = 16000
    padding_value: float = 0.0
    do_normalize: bool = True
    # asapp SEW / SEW-D checkpoints use group-norm feature encoders that were
    # trained without attention masks, so they ship with False.
    return_attention_mask: bool = False
    padding_side: str = "right"
    feature_extractor_type: str = "Wav2Vec2FeatureExtractor"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.feature_size != 1:
            raise ValueError(f"feature_size must be 1 (raw mono waveform input), got {self.feature_size!r}")
        if (
            isinstance(self.sampling_rate, bool)
            or not isinstance(self.sampling_rate, int)
            or self.sampling_rate <= 0
        ):
            raise ValueError(f"sampling_rate must be a positive integer in Hz, got {self.sampling_rate!r}")
        if self.padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {self.padding_side!r}")

    # ------------------------------------------------------------------ config

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> FeatureExtractor:
        """Build from a ``preprocessor_config.json`` dict; unknown keys go to ``extra``."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {key: value for key, value in config.items() if key in known}
        extra = {key: value for key, value in config.items() if key not in known}
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The ``preprocessor_config.json`` contents, unknown keys included."""
        config = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name != "extra":
                config[f.name] = getattr(self, f.name)
        return config

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str]) -> FeatureExtractor:
        """Load from a checkpoint directory (or directly from its JSON file)."""
        config_path = Path(path)
        if config_path.is_dir():
            config_path = config_path / CONFIG_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"no {CONFIG_NAME} found at {config_path}")
        with open(config_path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``preprocessor_config.json`` into ``directory`` (created if needed)."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        config_path = target / CONFIG_NAME
        with open(config_path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return config_path

    # ---------------------------------------------------------------- features

    def __call__(
        self,
        audio: AudioInput,
        sampling_rate: int | None = None,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
    ) -> BatchFeatures:
        """Turn one utterance or a batch of utterances into model inputs.

        Accepted ``audio``:

        * one utterance: a 1-D numpy array / torch tensor, or a flat list of
          numbers;
        * a batch: a list or tuple of such utterances (lengths may differ), or a
          2-D array / tensor shaped ``(batch, samples)``.

        Shape rule for 2-D arrays: they are a batch of mono utterances, unless
        the second axis has at most ``MAX_CHANNELS`` (8) entries; then the array
        is taken to be ``(frames, channels)`` multi-channel audio and rejected
        (mix it down with ``sewstream.audio.resample.to_mono``; a batch of such
        tiny utterances can still be given as a list). Channel-first
        ``(channels, frames)`` audio cannot be told apart from a batch and must
        be mixed down by the caller. Anything with more than two axes, and 2-D
        items inside a list, are rejected.

        Sample types: any floating dtype (computed in float32, like the
        reference), and int16 PCM, which is scaled by 1/32768 to [-1, 1).
        Other integer, boolean or complex dtypes are rejected. Python lists are
        read as float values.

        Args:
            audio: see above; must be mono and sampled at ``self.sampling_rate``.
            sampling_rate: rate of ``audio`` in Hz. Pass it: a mismatch raises
                instead of silently producing garbage. ``None`` skips the check.
            padding: ``True`` / ``"longest"`` pads to the longest utterance;
                ``"max_length"`` pads to ``max_length`` (required; longer input
                is an error, never truncated); ``False`` / ``"do_not_pad"``
                requires all utterances to have the same length.
            max_length: target length for ``padding="max_length"``; ignored for
                ``"longest"``, as in the reference.
            pad_to_multiple_of: round the padded length up to a multiple of
                this (ignored when not padding, as in the reference).
            return_attention_mask: defaults to ``self.return_attention_mask``.

        Returns:
            ``BatchFeatures`` with ``input_values`` shaped ``(batch, samples)``.
            With ``do_normalize`` each utterance is scaled to zero mean and unit
            variance over its own samples; padding holds ``padding_value``.

        Raises:
            ValueError: wrong sampling rate, empty batch or utterance, NaN/Inf
                samples, bad shape, bad padding arguments.
            TypeError: unsupported sample dtype or container.
        """
        self._check_sampling_rate(sampling_rate)
        utterances = _split_utterances(audio)
        for index, samples in enumerate(utterances):
            _check_samples(index, samples)

        lengths = [len(samples) for samples in utterances]
        target_length = _padded_length(lengths, padding, max_length, pad_to_multiple_of)

        if self.do_normalize:
            utterances = [_zero_mean_unit_variance(samples) for samples in utterances]

        values = np.full((len(utterances), target_length), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(utterances), target_length), dtype=np.int64)
        for row, samples in enumerate(utterances):
            start = 0 if self.padding_side == "right" else target_length - len(samples)
            values[row, start : start + len(samples)] = samples
            mask[row, start : start + len(samples)] = 1

        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        return BatchFeatures(
            input_values=torch.from_numpy(values),
            attention_mask=torch.from_numpy(mask) if return_attention_mask else None,
        )

    def _check_sampling_rate(self, sampling_rate: int | None) -> None:
        if sampling_rate is None or sampling_rate == self.sampling_rate:
            return
        raise ValueError(
            f"audio sampled at {sampling_rate} Hz, but this model expects {self.sampling_rate} Hz."
            f" Resample it first, e.g. {_RESAMPLE_NAME}(audio, {sampling_rate}, {self.sampling_rate})."
        )


# ---------------------------------------------------------------- input checks


def _split_utterances(audio: AudioInput) -> list[np.ndarray]:
    """Apply the shape rule of ``FeatureExtractor.__call__``: a list of 1-D float32 arrays."""
    if isinstance(audio, (np.ndarray, torch.Tensor)):
        array = _to_float32(audio, "audio")
        if array.ndim == 0 or array.ndim > 2:
            raise ValueError(
                f"audio must be 1-D (samples,) or 2-D (batch, samples), got shape {tuple(array.shape)}"
            )
        if array.ndim == 1:
            return [array]
        if array.shape[1] <= MAX_CHANNELS:
            raise ValueError(
                f"2-D audio of shape {tuple(array.shape)} looks like (frames, channels) multi-channel"
                f" audio, not a (batch, samples) batch; mix it down with"
                f" sewstream.audio.resample.to_mono (or pass a list for a batch of"
                f" utterances of at most {MAX_CHANNELS} samples)"
            )
        return list(array)
    if isinstance(audio, (list, tuple)):
        if len(audio) == 0:
            raise ValueError("audio is an empty list: no utterances to process")
        if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in audio):
            return [_list_to_array(audio, 0).astype(np.float32)]
        utterances = []
        for index, item in enumerate(audio):
            if isinstance(item, (list, tuple)):
                item = _list_to_array(item, index)
            elif not isinstance(item, (np.ndarray, torch.Tensor)):
                raise TypeError(
                    f"utterance {index} is a {type(item).__name__}; expected a 1-D numpy array,"
                    " torch tensor or list of numbers"
                )
            array = _to_float32(item, f"utterance {index}")
            if array.ndim != 1:
                raise ValueError(
                    f"utterance {index} has shape {tuple(array.shape)}; each utterance must be 1-D mono"
                    " audio (mix multi-channel audio down with sewstream.audio.resample.to_mono)"
                )
            utterances.append(array)
        return utterances
    raise TypeError(f"audio must be a numpy array, torch tensor or list, got {type(audio).__name__}")


def _list_to_array(item: Sequence[Any], index: int) -> np.ndarray:
    try:
        return np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"utterance {index} is not a flat list of numbers (mono samples): {error}") from None


def _to_float32(array: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    """float32 numpy view/copy of ``array``; int16 PCM scaled by 1/32768."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu()
        if array.is_floating_point() and array.dtype not in (torch.float32, torch.float64):
            array = array.float()  # bfloat16 / float16 have no lossless numpy twin
        array = array.numpy()
    if array.dtype == np.int16:
        return array.astype(np.float32) * _INT16_SCALE
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{what} has dtype {array.dtype}; expected floating point samples or int16 PCM"
            " (scaled by 1/32768)"
        )
    return array.astype(np.float32, copy=False)


def _check_samples(index: int, samples: np.ndarray) -> None:
    if samples.size == 0:
        raise ValueError(f"utterance {index} is empty (0 samples)")
    finite = np.isfinite(samples)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"utterance {index} contains {bad.size} NaN/Inf sample(s), first at sample {bad[0]}")


def _padded_length(
    lengths: list[int], padding: bool | str, max_length: int | None, pad_to_multiple_of: int | None
) -> int:
    """Row length of the output, checking the padding arguments against ``lengths``."""
    strategy = _padding_strategy(padding)
    longest = max(lengths)
    if strategy == "do_not_pad":
        if len(set(lengths)) > 1:
            raise ValueError(
                f"padding=False needs utterances of equal length, got lengths {lengths};"
                " use padding=True to pad them"
            )
        return longest

    if pad_to_multiple_of is not None and (
        isinstance(pad_to_multiple_of, bool)
        or not isinstance(pad_to_multiple_of, int)
        or pad_to_multiple_of <= 0
    ):
        raise ValueError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}")

    if strategy == "longest":
        target = longest
    else:
        if max_length is None:
            raise ValueError("padding='max_length' needs max_length to be set")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= 0:
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
        target = max_length

    if pad_to_multiple_of is not None:
        target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
    if longest > target:
        raise ValueError(
            f"an utterance has {longest} samples, more than the padded length {target}"
            " (max_length); input is never truncated, so raise max_length or split the audio"
        )
    return target


def _padding_strategy(padding: bool | str) -> str:
    if padding is True:
        return "longest"
    if padding is False:
        return "do_not_pad"
    strategy = getattr(padding, "value", padding)  # also accept enum members
    if strategy not in _PADDING_CHOICES:
        raise ValueError(
            f"padding must be True, False or one of {', '.join(map(repr, _PADDING_CHOICES))};"
            f" got {padding!r}"
        )
    return strategy


def _zero_mean_unit_variance(samples: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance in float32, the same arithmetic as the reference."""
    return (samples - samples.mean()) / np.sqrt(samples.var() + VARIANCE_EPSILON)
