"""Vocabulary and text normalisation."""

import pytest

from sewstream.train.vocab import (
    ALPHABET,
    VOCAB,
    decode,
    encode,
    int_to_words,
    normalize_text,
    ordinal_words,
    spoken_form,
    year_to_words,
)

# wav2vec2's LibriSpeech character vocabulary, in its id order (letters by frequency)
LIBRISPEECH_VOCAB = {token: i for i, token in enumerate(
    ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"])}


def test_vocab_is_librispeech_wav2vec2():
    assert VOCAB == LIBRISPEECH_VOCAB


def test_alphabet_covers_all_letters_and_apostrophe():
    assert set("ABCDEFGHIJKLMNOPQRSTUVWXYZ' ") == set(ALPHABET)


def test_encode_decode_round_trip():
    text = "DON'T STOP ME NOW"
    ids = encode(text)
    assert ids[3] == VOCAB["'"] and ids[5] == VOCAB["|"]
    assert decode(ids) == text


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (21, "twenty one"),
        (100, "one hundred"),
        (115, "one hundred fifteen"),
        (1000, "one thousand"),
        (1001, "one thousand one"),
        (12345, "twelve thousand three hundred forty five"),
        (1_000_000, "one million"),
        (2_000_000_017, "two billion seventeen"),
        (-5, "minus five"),
    ],
)
def test_int_to_words(n, words):
    assert int_to_words(n) == words


@pytest.mark.parametrize(
    "n, words",
    [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (12, "twelfth"),
        (20, "twentieth"),
        (21, "twenty first"),
        (100, "one hundredth"),
    ],
)
def test_ordinals(n, words):
    assert ordinal_words(n) == words


@pytest.mark.parametrize(
    "year, words",
    [
        (1984, "nineteen eighty four"),
        (1905, "nineteen o five"),
        (1900, "nineteen hundred"),
        (2000, "two thousand"),
        (2005, "two thousand five"),
        (2024, "twenty twenty four"),
        (1066, "ten sixty six"),
        (1800, "eighteen hundred"),
    ],
)
def test_years(year, words):
    assert year_to_words(year) == words


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("In 1984, he was 3 years old.", "IN NINETEEN EIGHTY FOUR HE WAS THREE YEARS OLD"),
        ("She came 2nd; he came 21st.", "SHE CAME SECOND HE CAME TWENTY FIRST"),
        ("1,234 people", "ONE THOUSAND TWO HUNDRED THIRTY FOUR PEOPLE"),
        ("Pi is 3.14", "PI IS THREE POINT ONE FOUR"),
        ("It costs $5.25", "IT COSTS FIVE DOLLARS TWENTY FIVE CENTS"),
        ("at 10:30 or 7:00", "AT TEN THIRTY OR SEVEN O'CLOCK"),
        ("the 1990s", "THE NINETEEN NINETIES"),
        ("Mr. and Mrs. Smith met Dr. Who", "MISTER AND MISSUS SMITH MET DOCTOR WHO"),
        ("St. Paul lives on Main St.", "SAINT PAUL LIVES ON MAIN STREET"),
        ("salt & pepper, 50% off", "SALT AND PEPPER FIFTY PERCENT OFF"),
        ("a well-known fact", "A WELL KNOWN FACT"),
        ("Don't say 'hello' to O'Brien's dog!", "DON'T SAY HELLO TO O'BRIEN'S DOG"),
        ("\u201cSmart\u201d quotes \u2014 and it\u2019s fine\u2026", "SMART QUOTES AND IT'S FINE"),
        ("Caf\u00e9 na\u00efve", "CAFE NAIVE"),
        ("Wait... what?! (really)", "WAIT WHAT REALLY"),
        ("No. 5 said no.", "NUMBER FIVE SAID NO"),
        ("-3 degrees", "MINUS THREE DEGREES"),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "...!?",
        "see http://x.org/a",
        "mail me@example.com",
        "\u65e5\u672c\u8a9e",
        "play the MP3 file",
        "x = a[i] {b}",
    ],
)
def test_unreadable_text_normalises_to_empty(raw):
    assert normalize_text(raw) == ""


def test_output_stays_in_alphabet():
    for raw in ["Ça va? 1st & 2nd!", 'He said: "No!" -- then left; 100% sure.', "R2 vs. 2024"]:
        assert set(normalize_text(raw)) <= ALPHABET


def test_spoken_form_keeps_punctuation_and_words():
    raw = "Dr. Smith, born in 1950, asked: why?"
    spoken = spoken_form(raw)
    assert spoken == "Doctor Smith, born in nineteen fifty, asked: why?"
    assert normalize_text(spoken) == normalize_text(raw)
