"""CTCTokenizer / Processor vs transformers' Wav2Vec2CTCTokenizer (the reference)."""

import json
import random

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2Processor

from sewstream.text import CharOffset, CTCTokenizer, Decoded, FeatureExtractor, Processor, WordOffset
from sewstream.train.vocab import VOCAB

LIBRISPEECH_VOCAB = dict(VOCAB)  # the 32-character LibriSpeech wav2vec2 vocabulary
PAD, BOS, EOS, UNK, SEP = 0, 1, 2, 3, 4
SPECIAL_IDS = [PAD, BOS, EOS, UNK]
PLAIN_IDS = list(range(4, 32))  # letters, apostrophe and the word delimiter
H, E, L, O, W, R, D = 11, 5, 15, 8, 18, 13, 14  # noqa: E741 (the letters they stand for)


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("librispeech_vocab")
    (directory / "vocab.json").write_text(json.dumps(LIBRISPEECH_VOCAB))
    return directory


@pytest.fixture(scope="module")
def ours(vocab_dir):
    return CTCTokenizer.from_pretrained(vocab_dir)


@pytest.fixture(scope="module")
def theirs(vocab_dir):
    return Wav2Vec2CTCTokenizer(str(vocab_dir / "vocab.json"))


def _random_frames(seed: int) -> list[int]:
    """CTC-like frame ids: blank-heavy, repeats, some specials and out-of-vocab ids."""
    rng = random.Random(seed)
    frames = []
    for _ in range(rng.randint(0, 40)):
        roll = rng.random()
        if roll < 0.35:
            token = PAD
        elif roll < 0.42:
            token = rng.choice([BOS, EOS, UNK, 57, -100])
        elif roll < 0.55:
            token = SEP
        else:
            token = rng.choice(PLAIN_IDS)
        frames.extend([token] * rng.choice([1, 1, 2, 3]))
    return frames


def _quirk_free_frames(seed: int) -> list[int]:
    """Frames on which dropping specials before or after grouping agree: consecutive
    plain tokens always differ, so specials never separate a real repeat."""
    rng = random.Random(seed)
    frames, previous = [], None
    for _ in range(rng.randint(1, 25)):
        token = rng.choice([t for t in PLAIN_IDS if t != previous])
        previous = token
        frames.extend([token] * rng.randint(1, 3))
        frames.extend(rng.choice(SPECIAL_IDS) for _ in range(rng.choice([0, 0, 1, 2, 3])))
    return frames


def _ref_chars(output) -> list[tuple]:
    return [(d["char"], int(d["start_offset"]), int(d["end_offset"])) for d in output.char_offsets]


def _ref_words(output) -> list[tuple]:
    return [(d["word"], int(d["start_offset"]), int(d["end_offset"])) for d in output.word_offsets]


def _our_chars(decoded: Decoded) -> list[tuple]:
    return [(c.char, c.start_offset, c.end_offset) for c in decoded.char_offsets]


def _our_words(decoded: Decoded) -> list[tuple]:
    return [(w.word, w.start_offset, w.end_offset) for w in decoded.word_offsets]


# ------------------------------------------------------------------- decode


@pytest.mark.parametrize("group_tokens", [True, False])
def test_decode_matches_reference_on_random_frames(ours, theirs, group_tokens):
    for seed in range(300):
        frames = _random_frames(seed)
        assert ours.decode(frames, group_tokens=group_tokens) == theirs.decode(
            frames, group_tokens=group_tokens
        ), frames
        mine = ours.decode(
            frames, group_tokens=group_tokens, output_char_offsets=True, output_word_offsets=True
        )
        ref = theirs.decode(
            frames, group_tokens=group_tokens, output_char_offsets=True, output_word_offsets=True
        )
        assert mine.text == ref.text
        assert _our_chars(mine) == _ref_chars(ref), frames
        assert _our_words(mine) == _ref_words(ref), frames


def test_offsets_only_return_what_was_asked(ours, theirs):
    frames = [H, H, E, PAD, L, PAD, L, O, SEP, W, O, R, L, D]
    words_only = ours.decode(frames, output_word_offsets=True)
    assert words_only.char_offsets is None
    assert _our_words(words_only) == _ref_words(theirs.decode(frames, output_word_offsets=True))
    chars_only = ours.decode(frames, output_char_offsets=True)
    assert chars_only.word_offsets is None
    assert _our_chars(chars_only) == _ref_chars(theirs.decode(frames, output_char_offsets=True))
    assert ours.decode(frames) == "HELLO WORLD"


def test_skip_special_tokens_matches_reference_where_its_quirk_cannot_show(ours, theirs):
    for seed in range(300):
        frames = _quirk_free_frames(seed)
        assert ours.decode(frames, skip_special_tokens=True) == theirs.decode(
            frames, skip_special_tokens=True
        ), frames


def test_skip_special_tokens_offsets_match_reference_without_specials(ours, theirs):
    for seed in range(100):
        frames = [t for t in _random_frames(seed) if t in PLAIN_IDS]
        mine = ours.decode(
            frames, skip_special_tokens=True, output_char_offsets=True, output_word_offsets=True
        )
        ref = theirs.decode(
            frames, skip_special_tokens=True, output_char_offsets=True, output_word_offsets=True
        )
        assert (mine.text, _our_chars(mine), _our_words(mine)) == (ref.text, _ref_chars(ref), _ref_words(ref))


def test_skip_special_tokens_keeps_the_double_l_of_hello(ours):
    """Deliberate difference: specials go after CTC grouping, so a blank between two
    Ls still separates them, and offsets keep their real frame positions."""
    frames = [BOS, H, E, L, PAD, L, UNK, O, EOS]
    assert ours.decode(frames) == "<s>HELL<unk>O</s>"
    decoded = ours.decode(frames, skip_special_tokens=True, output_char_offsets=True)
    assert decoded.text == "HELLO"
    assert _our_chars(decoded) == [("H", 1, 2), ("E", 2, 3), ("L", 3, 4), ("L", 5, 6), ("O", 7, 8)]
    assert ours.decode([H, E, L, PAD, PAD, L, O], skip_special_tokens=True) == "HELLO"
    assert ours.decode([L, BOS, L], skip_special_tokens=True) == "LL"


def test_unknown_ids_decode_as_unk(ours):
    assert ours.decode([H, 99, -100, O]) == "H<unk>O"
    assert ours.decode([H, 99, O], skip_special_tokens=True) == "HO"


def test_decode_accepts_numpy_and_tensors_and_batch_decode(ours, theirs):
    frames = torch.tensor([[H, E, L, PAD, L, O, SEP, SEP], [W, O, R, R, L, D, PAD, PAD]])
    assert ours.batch_decode(frames) == theirs.batch_decode(frames) == ["HELLO", "WORLD"]
    assert ours.batch_decode(frames.numpy()) == ["HELLO", "WORLD"]
    assert ours.decode(np.array([H, O], dtype=np.int32)) == "HO"
    batch = ours.batch_decode(frames, output_word_offsets=True)
    assert [d.text for d in batch] == ["HELLO", "WORLD"]
    assert [_our_words(d) for d in batch] == [[("HELLO", 0, 6)], [("WORLD", 0, 6)]]


def test_decode_rejects_bad_id_shapes_and_types(ours):
    with pytest.raises(ValueError, match="1-D.*batch_decode"):
        ours.decode([[1, 2], [3, 4]])
    with pytest.raises(TypeError, match="integers.*float"):
        ours.decode(np.array([1.5, 2.0]))
    assert ours.decode([]) == ""


def test_offset_times_are_frames_times_frame_seconds(vocab_dir):
    tokenizer = CTCTokenizer.from_pretrained(vocab_dir, frame_seconds=0.02)
    frames = _random_frames(3) + [H, E, SEP, O]
    decoded = tokenizer.decode(frames, output_char_offsets=True, output_word_offsets=True)
    assert decoded.char_offsets and decoded.word_offsets
    for offset in [*decoded.char_offsets, *decoded.word_offsets]:
        assert offset.start_time == pytest.approx(offset.start_offset * 0.02)
        assert offset.end_time == pytest.approx(offset.end_offset * 0.02)
    overridden = tokenizer.decode(frames, output_word_offsets=True, frame_seconds=0.5)
    assert overridden.word_offsets[-1].end_time == pytest.approx(len(frames) * 0.5)
    untimed = CTCTokenizer.from_pretrained(vocab_dir).decode(frames, output_char_offsets=True)
    assert all(c.start_time is None and c.end_time is None for c in untimed.char_offsets)


def test_offsets_types(ours):
    decoded = ours.decode([H, 10, SEP, O], output_char_offsets=True, output_word_offsets=True)
    assert decoded.char_offsets[0] == CharOffset("H", 0, 1)
    assert decoded.word_offsets == [WordOffset("HI", 0, 2), WordOffset("O", 3, 4)]


def test_do_lower_case_lowercases_text_and_offsets(vocab_dir):
    ours = CTCTokenizer(LIBRISPEECH_VOCAB, do_lower_case=True)
    theirs = Wav2Vec2CTCTokenizer(str(vocab_dir / "vocab.json"), do_lower_case=True)
    for seed in range(50):
        frames = _random_frames(seed)
        mine = ours.decode(frames, output_char_offsets=True, output_word_offsets=True)
        ref = theirs.decode(frames, output_char_offsets=True, output_word_offsets=True)
        assert mine.text == ref.text
        # Deliberate difference: the reference leaves offset characters uppercase.
        assert _our_chars(mine) == [(c.lower(), s, e) for c, s, e in _ref_chars(ref)]
        assert _our_words(mine) == [(w.lower(), s, e) for w, s, e in _ref_words(ref)]


def test_clean_up_tokenization_spaces_from_config(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(LIBRISPEECH_VOCAB))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"clean_up_tokenization_spaces": True}))
    ours = CTCTokenizer.from_pretrained(tmp_path)
    theirs = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    frames = [10, 6, SEP, 27, SEP, 12]  # "IT ' S"
    assert ours.decode(frames) == theirs.decode(frames) == "IT'S"
    assert CTCTokenizer(LIBRISPEECH_VOCAB).decode(frames) == "IT ' S"


# ------------------------------------------------------------------- encode


def _random_text(seed: int) -> str:
    rng = random.Random(seed)
    letters = "ETAONIHSRDLUMWCFGYPBVKXJQZ'"
    return " ".join(
        "".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 8))
    )


def test_encode_matches_reference_on_normalised_uppercase_text(ours, theirs):
    for seed in range(200):
        text = _random_text(seed)
        assert ours.encode(text) == theirs(text).input_ids, text
    assert ours.encode("HÉLLO") == theirs("HÉLLO").input_ids == [H, UNK, L, L, O]


def test_encode_uppercases_for_an_uppercase_vocab(ours, vocab_dir):
    lower_case_reference = Wav2Vec2CTCTokenizer(str(vocab_dir / "vocab.json"), do_lower_case=True)
    text = "hello world it's"
    assert ours.encode(text) == lower_case_reference(text).input_ids
    assert ours.encode(text) == ours.encode(text.upper())


def test_encode_leaves_case_alone_for_a_cased_vocab():
    tokenizer = CTCTokenizer({"<pad>": 0, "<unk>": 1, "|": 2, "a": 3, "A": 4, "b": 5})
    assert tokenizer.encode("aAb B") == [3, 4, 5, 2, 1]


def test_encode_collapses_whitespace(ours):
    assert (
        ours.encode("  HELLO \t\n WORLD  ")
        == ours.encode("HELLO WORLD")
        == [H, E, L, L, O, SEP, W, O, R, L, D]
    )
    assert ours.encode("") == []


def test_batch_encode_pads_with_ignore_index(ours):
    labels = ours.batch_encode(["HI", "HELLO", ""])
    assert labels.dtype == torch.long
    assert labels.tolist() == [
        [H, 10, -100, -100, -100],
        [H, E, L, L, O],
        [-100] * 5,
    ]
    assert ours.batch_encode(["HI", "O"], pad_value=0).tolist() == [[H, 10], [O, 0]]


def test_encode_without_unk_token_names_the_character():
    tokenizer = CTCTokenizer({"<pad>": 0, "|": 1, "A": 2})
    with pytest.raises(ValueError, match="'B' is not in the vocabulary"):
        tokenizer.encode("AB")


# ---------------------------------------------------------------- save / load


def test_ours_saves_transformers_loads(tmp_path):
    ours = CTCTokenizer(LIBRISPEECH_VOCAB)
    ours.save_pretrained(tmp_path)
    theirs = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    assert theirs.get_vocab() == LIBRISPEECH_VOCAB
    assert (theirs.unk_token, theirs.pad_token, theirs.bos_token, theirs.eos_token) == (
        "<unk>",
        "<pad>",
        "<s>",
        "</s>",
    )
    assert theirs.word_delimiter_token == "|" and theirs.do_lower_case is False
    for seed in range(50):
        frames = _random_frames(seed)
        assert theirs.decode(frames) == ours.decode(frames)
    text = _random_text(1)
    assert theirs(text).input_ids == ours.encode(text)


def test_transformers_saves_ours_loads_custom_tokens(tmp_path):
    renamed = {
        {"<pad>": "[PAD]", "<unk>": "[UNK]", "|": "/"}.get(k, k): v for k, v in LIBRISPEECH_VOCAB.items()
    }
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "vocab.json").write_text(json.dumps(renamed))
    theirs = Wav2Vec2CTCTokenizer(
        str(tmp_path / "src" / "vocab.json"),
        pad_token="[PAD]",
        unk_token="[UNK]",
        word_delimiter_token="/",
        do_lower_case=True,
    )
    theirs.save_pretrained(tmp_path / "saved")
    ours = CTCTokenizer.from_pretrained(tmp_path / "saved")
    assert (ours.pad_token, ours.unk_token, ours.word_delimiter_token) == ("[PAD]", "[UNK]", "/")
    assert ours.do_lower_case is True
    assert ours.get_vocab() == renamed
    for seed in range(50):
        frames = _random_frames(seed)
        assert ours.decode(frames) == theirs.decode(frames)
    assert ours.encode("hello world") == theirs("hello world").input_ids


def test_legacy_special_tokens_map_overrides_config(tmp_path):
    """asapp-era checkpoints: AddedToken dicts in special_tokens_map.json, no added_tokens_decoder."""
    renamed = {("[PAD]" if k == "<pad>" else k): v for k, v in LIBRISPEECH_VOCAB.items()}
    (tmp_path / "vocab.json").write_text(json.dumps(renamed))
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"pad_token": "<pad>", "do_lower_case": False, "word_delimiter_token": "|"})
    )
    (tmp_path / "special_tokens_map.json").write_text(
        json.dumps(
            {
                "pad_token": {
                    "content": "[PAD]",
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "single_word": False,
                }
            }
        )
    )
    ours = CTCTokenizer.from_pretrained(tmp_path)
    theirs = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    assert ours.pad_token == str(theirs.pad_token) == "[PAD]"
    assert ours.decode([H, 0, H]) == theirs.decode([H, 0, H]) == "HH"


def test_round_trip_keeps_unknown_config_keys(tmp_path):
    ours = CTCTokenizer(LIBRISPEECH_VOCAB, extra_config={"processor_class": "Wav2Vec2Processor"})
    ours.save_pretrained(tmp_path)
    again = CTCTokenizer.from_pretrained(tmp_path)
    assert again.extra_config == {
        "processor_class": "Wav2Vec2Processor",
        "tokenizer_class": "Wav2Vec2CTCTokenizer",
    }
    assert again.to_config() == ours.to_config()


def test_missing_vocab_and_bad_vocab_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        CTCTokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="pad .*'<pad>' is not in the vocabulary"):
        CTCTokenizer({"A": 0})
    with pytest.raises(ValueError, match="id 1 is used by both 'A' and 'B'"):
        CTCTokenizer({"<pad>": 0, "A": 1, "B": 1})


# ------------------------------------------------------------- nested vocab

NESTED = {
    "eng": LIBRISPEECH_VOCAB,
    "xyz": {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "a": 5, "b": 6, "ç": 7},
}


@pytest.fixture(scope="module")
def nested_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("nested")
    (directory / "vocab.json").write_text(json.dumps(NESTED, ensure_ascii=False), encoding="utf-8")
    return directory


@pytest.mark.parametrize("lang", ["eng", "xyz"])
def test_nested_vocab_matches_reference(nested_dir, lang):
    ours = CTCTokenizer.from_pretrained(nested_dir, target_lang=lang)
    theirs = Wav2Vec2CTCTokenizer(str(nested_dir / "vocab.json"), target_lang=lang)
    assert ours.get_vocab() == NESTED[lang]
    rng = random.Random(0)
    for _ in range(50):
        frames = [rng.randrange(len(NESTED[lang])) for _ in range(rng.randint(0, 30))]
        assert ours.decode(frames) == theirs.decode(frames), frames
    assert CTCTokenizer.from_pretrained(nested_dir, target_lang="xyz").decode([5, 7, 4, 6]) == "aç b"


def test_nested_vocab_needs_a_known_target_lang(nested_dir, vocab_dir):
    with pytest.raises(ValueError, match="multilingual.*pass target_lang.*eng, xyz"):
        CTCTokenizer.from_pretrained(nested_dir)
    with pytest.raises(ValueError, match="'fra' is not in vocab.json.*eng, xyz"):
        CTCTokenizer.from_pretrained(nested_dir, target_lang="fra")
    with pytest.raises(ValueError, match="flat vocabulary"):
        CTCTokenizer.from_pretrained(vocab_dir, target_lang="eng")


def test_nested_vocab_round_trips_both_ways(nested_dir, tmp_path):
    CTCTokenizer.from_pretrained(nested_dir, target_lang="xyz").save_pretrained(tmp_path / "ours")
    theirs = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "ours")
    assert theirs.target_lang == "xyz" and theirs.decode([5, 7, 4, 6]) == "aç b"
    theirs.save_pretrained(tmp_path / "theirs")
    reloaded = CTCTokenizer.from_pretrained(tmp_path / "theirs")
    assert reloaded.target_lang == "xyz" and reloaded.get_vocab() == NESTED["xyz"]
    assert json.loads((tmp_path / "theirs" / "vocab.json").read_text(encoding="utf-8")) == NESTED


# ---------------------------------------------------------------- processor


@pytest.fixture()
def checkpoint_dir(tmp_path):
    FeatureExtractor().save_pretrained(tmp_path)
    CTCTokenizer(LIBRISPEECH_VOCAB).save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "sew", "conv_stride": [5, 2, 2, 2, 2, 2, 2]})
    )
    return tmp_path


def test_processor_pairs_extractor_and_tokenizer(checkpoint_dir):
    processor = Processor.from_pretrained(checkpoint_dir)
    assert processor.tokenizer.frame_seconds == pytest.approx(320 / 16000)
    audio = [np.random.default_rng(0).standard_normal(n).astype(np.float32) for n in (400, 300)]
    features = processor(audio, sampling_rate=16000)
    expected = FeatureExtractor()(audio, sampling_rate=16000)
    assert torch.equal(features.input_values, expected.input_values)
    frames = torch.tensor([[H, E, L, PAD, L, O], [W, O, R, L, D, D]])
    assert processor.batch_decode(frames) == ["HELLO", "WORLD"]
    word = processor.decode(frames[1], output_word_offsets=True).word_offsets[0]
    assert (word.start_time, word.end_time) == pytest.approx((0.0, 0.12))


def test_processor_saves_what_transformers_processor_loads(checkpoint_dir, tmp_path):
    Processor.from_pretrained(checkpoint_dir, frame_seconds=0.01).save_pretrained(tmp_path / "out")
    theirs = Wav2Vec2Processor.from_pretrained(tmp_path / "out")
    assert theirs.feature_extractor.sampling_rate == 16000
    assert theirs.tokenizer.get_vocab() == LIBRISPEECH_VOCAB
    assert theirs.batch_decode([[H, E, L, PAD, L, O]]) == ["HELLO"]
