"""CTC character vocabulary: label ids <-> text, with frame / time offsets.

Reads and writes the files of Hugging Face's ``Wav2Vec2CTCTokenizer``
(``vocab.json``, ``tokenizer_config.json``, ``special_tokens_map.json``) and
decodes exactly like it, with these deliberate differences:

* ``skip_special_tokens=True`` drops bos / eos / unk *after* CTC grouping. The
  reference drops them, and the blank, *before* grouping, which merges real
  repeats: ``L <pad> L`` (the double L of HELLO) becomes one ``L``; its offsets
  also shift to a timeline with the skipped frames removed. Ours keep the true
  frame positions.
* With ``do_lower_case`` the offset characters / words are lowercased like the
  text (the reference lowercases only the text).
* ``encode`` collapses each run of whitespace into one word delimiter and strips
  the ends (the reference maps every single space to a delimiter and tabs or
  newlines to unk), uppercases text for uppercase-only vocabularies even when
  ``do_lower_case`` is False, and reads text character by character (the
  reference also matches multi-character vocabulary entries such as ``<unk>``
  written in the text).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

VOCAB_NAME = "vocab.json"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_NAME = "special_tokens_map.json"

#: Label value ignored by ``torch.nn.CTCLoss`` pipelines (and HF's models).
IGNORE_INDEX = -100

_SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")

#: tokenizer_config.json keys we interpret, with the defaults used when absent.
_CONFIG_DEFAULTS: dict[str, Any] = {
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "word_delimiter_token": "|",
    "replace_word_delimiter_char": " ",
    "do_lower_case": False,
    "target_lang": None,
    "clean_up_tokenization_spaces": False,
}

#: Keys that describe where files were loaded from, not the tokenizer: never re-saved.
_LOADER_KEYS = frozenset({"tokenizer_file", "vocab_file", "name_or_path", "special_tokens_map_file"})

TokenIds = Sequence[int] | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class CharOffset:
    """One emitted character and the logit frames ``[start_offset, end_offset)`` it spans.

    ``start_time`` / ``end_time`` are seconds (frames * frame_seconds), or None
    when the tokenizer was not told ``frame_seconds``.
    """

    char: str
    start_offset: int
    end_offset: int
    start_time: float | None = None
    end_time: float | None = None


@dataclass(frozen=True)
class WordOffset:
    """One word (run of non-delimiter characters) and its frame / time span."""

    word: str
    start_offset: int
    end_offset: int
    start_time: float | None = None
    end_time: float | None = None


@dataclass
class Decoded:
    """Text plus the offsets that were asked for (the others are None)."""

    text: str
    char_offsets: list[CharOffset] | None = None
    word_offsets: list[WordOffset] | None = None


@dataclass(frozen=True)
class _Span:
    """A (possibly grouped) token and its frame range before text mapping."""

    token: str
    start: int
    end: int


class CTCTokenizer:
    """Character-level CTC vocabulary for greedy decoding and label encoding.

    Args:
        vocab: token -> id, or a nested language code -> (token -> id) mapping
            (multilingual checkpoints), in which case ``target_lang`` picks one.
        unk_token, pad_token, bos_token, eos_token: special token names. The
            pad token is the CTC blank and must be in the vocabulary.
        word_delimiter_token: token between words, shown as
            ``replace_word_delimiter_char`` (a space) in text.
        do_lower_case: the vocabulary is uppercase but text is lowercase:
            ``encode`` uppercases and ``decode`` lowercases.
        target_lang: language of a nested vocabulary (required for one).
        clean_up_tokenization_spaces: apply the reference's punctuation space
            clean-up (" ." -> "." ...) to decoded text; False unless the
            checkpoint's tokenizer_config.json says otherwise.
        frame_seconds: seconds per logit frame (product of the conv strides /
            sampling rate, 320 / 16000 = 0.02 for SEW); enables times in offsets.
        extra_config: other ``tokenizer_config.json`` keys, written back as-is.
    """

    def __init__(
        self,
        vocab: Mapping[str, Any],
        *,
        unk_token: str = "<unk>",
        pad_token: str = "<pad>",
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        word_delimiter_token: str = "|",
        replace_word_delimiter_char: str = " ",
        do_lower_case: bool = False,
        target_lang: str | None = None,
        clean_up_tokenization_spaces: bool = False,
        frame_seconds: float | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.vocab_json = dict(vocab)  # as in vocab.json: flat, or nested by language
        self.target_lang = target_lang
        self.token_to_id = _select_language(self.vocab_json, target_lang)
        self.id_to_token = _invert(self.token_to_id)
        self.unk_token = unk_token
        self.pad_token = pad_token
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.word_delimiter_token = word_delimiter_token
        self.replace_word_delimiter_char = replace_word_delimiter_char
        self.do_lower_case = do_lower_case
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.frame_seconds = frame_seconds
        self.extra_config = dict(extra_config or {})
        if pad_token not in self.token_to_id:
            raise ValueError(f"pad (CTC blank) token {pad_token!r} is not in the vocabulary")
        if frame_seconds is not None and not frame_seconds > 0:
            raise ValueError(f"frame_seconds must be positive, got {frame_seconds!r}")

    # ------------------------------------------------------------ vocabulary

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the active vocabulary (the CTC head's width)."""
        return len(self.token_to_id)

    @property
    def pad_token_id(self) -> int:
        """Id of the CTC blank."""
        return self.token_to_id[self.pad_token]

    @property
    def unk_token_id(self) -> int | None:
        """Id unknown characters encode to, or None if the vocabulary has no unk."""
        return self.token_to_id.get(self.unk_token)

    @property
    def word_delimiter_token_id(self) -> int | None:
        """Id of the word delimiter, or None if the vocabulary has none."""
        return self.token_to_id.get(self.word_delimiter_token)

    def get_vocab(self) -> dict[str, int]:
        """token -> id of the active (language's) vocabulary."""
        return dict(self.token_to_id)

    def convert_ids_to_tokens(self, ids: TokenIds) -> list[str]:
        """Ids to token strings; ids outside the vocabulary become the unk token."""
        return [self.id_to_token.get(i, self.unk_token) for i in _as_id_list(ids)]

    # ---------------------------------------------------------------- decode

    def decode(
        self,
        ids: TokenIds,
        *,
        group_tokens: bool = True,
        skip_special_tokens: bool = False,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
        frame_seconds: float | None = None,
    ) -> str | Decoded:
        """Greedy CTC decoding of one sequence of per-frame ids.

        Repeated tokens are merged (``group_tokens``), then blanks (the pad
        token) are dropped, the word delimiter becomes a space and the text is
        stripped. ``skip_special_tokens`` also drops bos / eos / unk, after
        merging (see the module docstring for why that differs from the
        reference).

        Args:
            ids: 1-D ids (list, numpy array or tensor), e.g. ``logits.argmax(-1)``.
            frame_seconds: overrides ``self.frame_seconds`` for the offset times.

        Returns:
            The text, or a ``Decoded`` when offsets are asked for. Offsets are
            in logit frames, end exclusive; times (seconds) are filled in when
            ``frame_seconds`` is known.
        """
        spans = self._spans(self.convert_ids_to_tokens(ids), group_tokens)
        dropped = {self.pad_token}
        if skip_special_tokens:
            dropped |= {self.bos_token, self.eos_token, self.unk_token} - {self.word_delimiter_token}
        chars = [
            CharOffset(self._token_text(span.token), span.start, span.end)
            for span in spans
            if span.token not in dropped
        ]
        text = "".join(char.char for char in chars).strip()
        if self.clean_up_tokenization_spaces:
            text = _clean_up_tokenization(text)
        if not (output_char_offsets or output_word_offsets):
            return text

        seconds = frame_seconds if frame_seconds is not None else self.frame_seconds
        chars = [_with_times(char, seconds) for char in chars]
        words = [_with_times(word, seconds) for word in self._words(chars)] if output_word_offsets else None
        return Decoded(text, chars if output_char_offsets else None, words)

    def batch_decode(
        self, batch_of_ids: Iterable[TokenIds] | torch.Tensor | np.ndarray, **kwargs: Any
    ) -> list[str] | list[Decoded]:
        """``decode`` each row of ``batch_of_ids`` (same keyword arguments)."""
        return [self.decode(ids, **kwargs) for ids in batch_of_ids]

    def _spans(self, tokens: list[str], group_tokens: bool) -> list[_Span]:
        if not group_tokens:
            return [_Span(token, i, i + 1) for i, token in enumerate(tokens)]
        spans, start = [], 0
        for token, run in groupby(tokens):
            length = sum(1 for _ in run)
            spans.append(_Span(token, start, start + length))
            start += length
        return spans

    def _token_text(self, token: str) -> str:
        if token == self.word_delimiter_token:
            token = self.replace_word_delimiter_char
        return token.lower() if self.do_lower_case else token

    def _words(self, chars: list[CharOffset]) -> list[WordOffset]:
        """Maximal runs of non-delimiter characters (the reference's word rule)."""
        words: list[WordOffset] = []
        current: list[CharOffset] = []
        for char in [*chars, None]:
            if char is not None and char.char != self.replace_word_delimiter_char:
                current.append(char)
            elif current:
                word = "".join(c.char for c in current)
                words.append(WordOffset(word, current[0].start_offset, current[-1].end_offset))
                current = []
        return words

    # ---------------------------------------------------------------- encode

    def encode(self, text: str) -> list[int]:
        """Text -> label ids for CTC training.

        Rules: runs of whitespace become one word delimiter and leading /
        trailing whitespace is dropped. The text is uppercased when
        ``do_lower_case`` is True or when the vocabulary is uppercase-only (it
        has cased letters and none of them lowercase, like the LibriSpeech
        vocab); otherwise it is used as is. Each character then maps to its id;
        characters not in the vocabulary map to the unk id (a ValueError if the
        vocabulary has no unk token).
        """
        words = text.split()
        if self.do_lower_case or self._vocab_is_uppercase():
            words = [word.upper() for word in words]
        if len(words) > 1 and self.word_delimiter_token not in self.token_to_id:
            raise ValueError(
                f"text has several words but the word delimiter {self.word_delimiter_token!r}"
                " is not in the vocabulary"
            )
        tokens: list[str] = []
        for index, word in enumerate(words):
            if index:
                tokens.append(self.word_delimiter_token)
            tokens.extend(word)
        return [self._label_id(token) for token in tokens]

    def batch_encode(self, texts: Sequence[str], pad_value: int = IGNORE_INDEX) -> torch.Tensor:
        """Encode ``texts`` into a ``(batch, longest)`` LongTensor padded with ``pad_value``.

        The default -100 is ignored by the CTC loss (HF's wav2vec2-style
        models mask labels < 0 out).
        """
        encoded = [self.encode(text) for text in texts]
        longest = max((len(ids) for ids in encoded), default=0)
        labels = torch.full((len(encoded), longest), pad_value, dtype=torch.long)
        for row, ids in enumerate(encoded):
            labels[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return labels

    def _label_id(self, token: str) -> int:
        if token in self.token_to_id:
            return self.token_to_id[token]
        if self.unk_token_id is None:
            raise ValueError(
                f"character {token!r} is not in the vocabulary and there is no unk token"
                f" {self.unk_token!r} to map it to"
            )
        return self.unk_token_id

    def _vocab_is_uppercase(self) -> bool:
        letters = [token for token in self.token_to_id if len(token) == 1 and token.lower() != token.upper()]
        return bool(letters) and all(token.isupper() for token in letters)

    # ------------------------------------------------------------ load / save

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        target_lang: str | None = None,
        frame_seconds: float | None = None,
    ) -> CTCTokenizer:
        """Load ``vocab.json`` (+ optional ``tokenizer_config.json`` and
        ``special_tokens_map.json``) from a checkpoint directory.

        Special token names and ``do_lower_case`` come from
        ``tokenizer_config.json``; ``special_tokens_map.json`` overrides the
        token names (as transformers does for legacy checkpoints). Tokens
        stored as ``{"content": ...}`` objects are accepted. ``target_lang``
        overrides the config's; ``frame_seconds`` enables offset times.
        """
        directory = Path(path)
        vocab_path = directory / VOCAB_NAME
        if not vocab_path.is_file():
            raise FileNotFoundError(f"no {VOCAB_NAME} found in {directory}")
        vocab = _read_json(vocab_path)
        config = _read_json_if_present(directory / TOKENIZER_CONFIG_NAME)
        special = _read_json_if_present(directory / SPECIAL_TOKENS_MAP_NAME)
        config.update({key: special[key] for key in _SPECIAL_TOKEN_KEYS if special.get(key) is not None})

        kwargs = {
            key: default if config.get(key) is None else _unwrap_added_token(config[key])
            for key, default in _CONFIG_DEFAULTS.items()
        }
        if target_lang is not None:
            kwargs["target_lang"] = target_lang
        extra = {
            key: value
            for key, value in config.items()
            if key not in _CONFIG_DEFAULTS and key not in _LOADER_KEYS
        }
        return cls(vocab, frame_seconds=frame_seconds, extra_config=extra, **kwargs)

    def to_config(self) -> dict[str, Any]:
        """The ``tokenizer_config.json`` contents (transformers-loadable)."""
        config = dict(self.extra_config)
        config.update(
            {
                "tokenizer_class": "Wav2Vec2CTCTokenizer",
                "unk_token": self.unk_token,
                "pad_token": self.pad_token,
                "bos_token": self.bos_token,
                "eos_token": self.eos_token,
                "word_delimiter_token": self.word_delimiter_token,
                "replace_word_delimiter_char": self.replace_word_delimiter_char,
                "do_lower_case": self.do_lower_case,
                "target_lang": self.target_lang,
                "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            }
        )
        return config

    def save_pretrained(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write vocab.json, tokenizer_config.json and special_tokens_map.json."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        special = {key: getattr(self, key) for key in _SPECIAL_TOKEN_KEYS}
        files = {
            VOCAB_NAME: self.vocab_json,
            TOKENIZER_CONFIG_NAME: self.to_config(),
            SPECIAL_TOKENS_MAP_NAME: special,
        }
        written = []
        for name, contents in files.items():
            with open(target / name, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(contents, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
            written.append(target / name)
        return written


# ------------------------------------------------------------------- helpers


def _select_language(vocab: dict[str, Any], target_lang: str | None) -> dict[str, int]:
    """The flat token -> id mapping to use, validating nested vocabularies."""
    nested = bool(vocab) and all(isinstance(value, Mapping) for value in vocab.values())
    if nested:
        languages = ", ".join(sorted(vocab))
        if target_lang is None:
            raise ValueError(
                f"vocab.json is a multilingual (nested) vocabulary; pass target_lang, one of: {languages}"
            )
        if target_lang not in vocab:
            raise ValueError(f"target_lang {target_lang!r} is not in vocab.json; choose one of: {languages}")
        flat = dict(vocab[target_lang])
    else:
        if target_lang is not None:
            raise ValueError(f"target_lang={target_lang!r} given, but vocab.json is a single flat vocabulary")
        flat = vocab
    for token, index in flat.items():
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"vocabulary id of {token!r} must be an integer, got {index!r}")
    return dict(flat)


def _invert(token_to_id: dict[str, int]) -> dict[int, str]:
    id_to_token: dict[int, str] = {}
    for token, index in token_to_id.items():
        if index in id_to_token:
            raise ValueError(f"vocabulary id {index} is used by both {id_to_token[index]!r} and {token!r}")
        id_to_token[index] = token
    return id_to_token


def _as_id_list(ids: TokenIds) -> list[int]:
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(
            f"decode expects a 1-D sequence of ids, got shape {array.shape}; use batch_decode for 2-D"
        )
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {array.dtype}")
    return [int(i) for i in array]


_Offset = TypeVar("_Offset", CharOffset, WordOffset)


def _with_times(offset: _Offset, seconds: float | None) -> _Offset:
    """Fill in start/end times in seconds from the frame offsets."""
    if seconds is None:
        return offset
    return replace(offset, start_time=offset.start_offset * seconds, end_time=offset.end_offset * seconds)


def _unwrap_added_token(value: Any) -> Any:
    """Special tokens may be saved as plain strings or AddedToken dicts."""
    if isinstance(value, Mapping) and "content" in value:
        return value["content"]
    return value


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _read_json_if_present(path: Path) -> dict[str, Any]:
    return _read_json(path) if path.is_file() else {}


def _clean_up_tokenization(text: str) -> str:
    """The reference's optional clean-up of spaces before punctuation / clitics."""
    for before, after in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(before, after)
    return text
