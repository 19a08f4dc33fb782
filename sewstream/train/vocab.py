"""Character CTC vocabulary and English text normalisation.

The vocabulary is the one used by the LibriSpeech wav2vec2/SEW CTC heads, so a
model trained here can share tokenisation (and evaluation scripts) with them.

``normalize_text`` maps arbitrary English text onto that alphabet in the
LibriSpeech transcript style (upper case, apostrophes kept, numbers spelled
out, no punctuation).  ``spoken_form`` applies the *same* expansions but keeps
case and sentence punctuation: it is what we hand to a TTS engine, so the words
the engine speaks are exactly the words of the label while commas and question
marks still shape the prosody.
"""

from __future__ import annotations

import re
import unicodedata

VOCAB: dict[str, int] = {
    "<pad>": 0,
    "<s>": 1,
    "</s>": 2,
    "<unk>": 3,
    "|": 4,
    "E": 5,
    "T": 6,
    "A": 7,
    "O": 8,
    "N": 9,
    "I": 10,
    "H": 11,
    "S": 12,
    "R": 13,
    "D": 14,
    "L": 15,
    "U": 16,
    "M": 17,
    "W": 18,
    "C": 19,
    "F": 20,
    "G": 21,
    "Y": 22,
    "P": 23,
    "B": 24,
    "V": 25,
    "K": 26,
    "'": 27,
    "X": 28,
    "J": 29,
    "Q": 30,
    "Z": 31,
}
PAD_ID = VOCAB["<pad>"]  # also the CTC blank, as in wav2vec2
UNK_ID = VOCAB["<unk>"]
WORD_DELIMITER = "|"
ID_TO_CHAR: dict[int, str] = {i: c for c, i in VOCAB.items()}
# Characters a normalised transcript may contain (space maps to "|").
ALPHABET = frozenset(c for c in VOCAB if len(c) == 1 and c != WORD_DELIMITER) | {" "}


def encode(text: str) -> list[int]:
    """Map a normalised transcript to token ids (space -> ``|``)."""
    return [VOCAB.get("|" if c == " " else c, UNK_ID) for c in text]


def decode(ids: list[int]) -> str:
    """Inverse of :func:`encode` for plain (already collapsed) id sequences."""
    chars = [ID_TO_CHAR.get(i, "") for i in ids if i > UNK_ID]
    return "".join(" " if c == "|" else c for c in chars).strip()


# --------------------------------------------------------------------------
# Integer to words
# --------------------------------------------------------------------------
_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve "
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def int_to_words(n: int) -> str:
    """Spell out an integer, e.g. ``2024 -> "two thousand twenty four"``.

    No "and" (LibriSpeech transcripts mostly omit it); supports up to the
    trillions and negative numbers.
    """
    if abs(n) >= 10**15:
        raise ValueError(f"number too large to spell: {n}")
    if n < 0:
        return "minus " + int_to_words(-n)
    if n < 1000:
        return " ".join(_below_thousand(n))
    words: list[str] = []
    for value, name in _SCALES:
        if n >= value:
            words += _below_thousand(n // value) + [name]
            n %= value
    if n:
        words += _below_thousand(n)
    return " ".join(words)


def ordinal_words(n: int) -> str:
    """``21 -> "twenty first"``."""
    words = int_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join(words[:-1] + [last])


def year_to_words(n: int) -> str:
    """Read a year the way people say it: 1984 -> nineteen eighty four,
    1905 -> nineteen o five, 1900 -> nineteen hundred, 2005 -> two thousand five,
    2024 -> twenty twenty four."""
    hi, lo = divmod(n, 100)
    if n % 1000 == 0 or 2000 <= n < 2010:
        return int_to_words(n)
    if lo == 0:
        return int_to_words(hi) + " hundred"
    if lo < 10:
        return int_to_words(hi) + " o " + _ONES[lo]
    return int_to_words(hi) + " " + int_to_words(lo)


def _plural_number(words: str) -> str:
    """ "nineteen eighty" -> "nineteen eighties" (for 1980s)."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


# --------------------------------------------------------------------------
# Expansion rules (shared by normalize_text and spoken_form)
# --------------------------------------------------------------------------
# Title abbreviations are only expanded with their period, so "Dr" inside
# ordinary prose ("Dr Who") is not guessed at; St. is SAINT before a name.
_ABBREVIATIONS: dict[str, str] = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miss",
    "dr": "doctor",
    "prof": "professor",
    "jr": "junior",
    "sr": "senior",
    "capt": "captain",
    "col": "colonel",
    "gen": "general",
    "lt": "lieutenant",
    "sgt": "sergeant",
    "gov": "governor",
    "rev": "reverend",
    "hon": "honorable",
    "mt": "mount",
    "vs": "versus",
    "etc": "et cetera",
    "no": "number",
    "dept": "department",
    "approx": "approximately",
    "ave": "avenue",
    "jan": "january",
    "feb": "february",
    "aug": "august",
    "sept": "september",
    "oct": "october",
    "nov": "november",
    "dec": "december",
}
_SYMBOLS = {"&": " and ", "%": " percent", "+": " plus ", "=": " equals ", "@": " at "}
_CURRENCY = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}
_UNICODE_PUNCT = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": " - ",
        "\u2026": "...",
        "\u00a0": " ",
        "`": "'",
    }
)
_URLISH = re.compile(
    r"(https?://|www\.|\S+@\S+\.\w|\w+\.(com|org|net|edu|gov|html?)\b|[/\\]\w+[/\\]|[_{}<>|~^\[\]])",
    re.IGNORECASE,
)
_NUM = r"\d{1,3}(?:,\d{3})+|\d+"


def _num(s: str) -> int:
    return int(s.replace(",", ""))


def _money(m: re.Match[str]) -> str:
    one, many, sub1, subn = _CURRENCY[m.group(1)]
    whole = _num(m.group(2))
    words = f"{int_to_words(whole)} {one if whole == 1 else many}"
    if m.group(3):
        cents = int((m.group(3) + "0")[:2])
        if cents:
            words += f" {int_to_words(cents)} {sub1 if cents == 1 else subn}"
    return f" {words} "


def _decimal(m: re.Match[str]) -> str:
    digits = " ".join(_ONES[int(d)] for d in m.group(2))
    return f" {int_to_words(_num(m.group(1)))} point {digits} "


def _time(m: re.Match[str]) -> str:
    h, mm = int(m.group(1)), int(m.group(2))
    if mm == 0:
        return f" {int_to_words(h)} o'clock "
    if mm < 10:
        return f" {int_to_words(h)} o {_ONES[mm]} "
    return f" {int_to_words(h)} {int_to_words(mm)} "


def _plain_number(m: re.Match[str]) -> str:
    text = m.group(0)
    n = _num(text)
    # A bare 4-digit number in the plausible range is almost always a year.
    if "," not in text and len(text) == 4 and 1100 <= n <= 2099:
        return f" {year_to_words(n)} "
    if n >= 10**12:  # serial/phone-like digit strings: read digit by digit
        return " " + " ".join(_ONES[int(d)] for d in text if d.isdigit()) + " "
    return f" {int_to_words(n)} "


def _decade(m: re.Match[str]) -> str:
    n = int(m.group(1))
    words = year_to_words(n) if n >= 1000 else int_to_words(n)
    return f" {_plural_number(words)} "


def _abbreviation(m: re.Match[str]) -> str:
    word, nxt = m.group(1), m.group(2)  # nxt: first char of the next word (lookahead)
    key = word.lower()
    if key == "st":
        expansion = "saint" if nxt.isupper() else "street"
        return (expansion.capitalize() if word[0].isupper() else expansion) + " "
    if key == "no" and not nxt.isdigit():
        return m.group(0)  # "No. I won't." is the word no, not "number"
    expansion = _ABBREVIATIONS[key]
    return (expansion.capitalize() if word[0].isupper() else expansion) + " "


_ABBR_RE = re.compile(
    r"\b(" + "|".join(sorted(set(_ABBREVIATIONS) | {"st"}, key=len, reverse=True)) + r")\.(?=\s*(\S?))",
    re.IGNORECASE,
)
_RULES: list[tuple[re.Pattern[str], object]] = [
    # Every rule needs a "." or a digit to fire (see _expand's fast path).
    (re.compile(r"\be\.g\.", re.I), " for example "),
    (re.compile(r"\bi\.e\.", re.I), " that is "),
    (re.compile(r"\ba\.m\.", re.I), " a m "),
    (re.compile(r"\bp\.m\.", re.I), " p m "),
    (_ABBR_RE, _abbreviation),
    (re.compile(r"(?<![\w.])-(?=\d)"), " minus "),
    (re.compile(r"([$£€])\s?(" + _NUM + r")(?:\.(\d{1,2}))?\b"), _money),
    (re.compile(r"\b(\d{1,2}):(\d{2})\b"), _time),
    (re.compile(r"\b(" + _NUM + r")\.(\d+)\b"), _decimal),
    (
        re.compile(r"\b(\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th)\b", re.I),
        lambda m: f" {ordinal_words(_num(m.group(1)))} ",
    ),
    (re.compile(r"\b(\d+0)'?s\b"), _decade),
    # Letter/digit mixes ("MP3", "4x4") are left alone and rejected below.
    (re.compile(r"(?<![A-Za-z\d])(" + _NUM + r")(?![A-Za-z\d])"), _plain_number),
]


def _expand(text: str) -> str | None:
    """Shared expansion: unicode cleanup, abbreviations, symbols, numbers.

    Returns ``None`` when the text is not something we can read aloud with
    a reliable transcript (URLs, code, non-Latin script, letter/digit mixes).
    """
    if not text.isascii():  # fast path: most input is plain ASCII
        text = text.translate(_UNICODE_PUNCT)
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))  # café -> cafe
        if any(c.isalpha() and not c.isascii() for c in text):
            return None  # non-Latin letters the vocabulary cannot spell
    if _URLISH.search(text):
        return None
    if "." in text or any(c.isdigit() for c in text):
        for pattern, repl in _RULES:
            text = pattern.sub(repl, text)  # type: ignore[arg-type]
        if any(c.isdigit() for c in text):
            return None  # e.g. "MP3", "4x4": no single obvious reading
    for sym, word in _SYMBOLS.items():
        if sym in text:
            text = text.replace(sym, word)
    for cur, (_, many, _, _) in _CURRENCY.items():
        if cur in text:
            text = text.replace(cur, f" {many} ")
    return text


def _clean_apostrophes(text: str) -> str:
    # Keep apostrophes only inside words (DON'T, O'CLOCK); quotes go.
    return re.sub(r"(?<![A-Za-z])'|'(?![A-Za-z])", " ", text)


def normalize_text(text: str) -> str:
    """Normalise English text to the CTC alphabet (LibriSpeech style).

    >>> normalize_text("Dr. Smith paid $3.50 on March 3rd, 1984 -- 50% off!")
    'DOCTOR SMITH PAID THREE DOLLARS FIFTY CENTS ON MARCH THIRD NINETEEN EIGHTY FOUR FIFTY PERCENT OFF'

    Returns ``""`` when the text cannot be normalised sensibly.
    """
    expanded = _expand(text)
    if expanded is None:
        return ""
    out = _clean_apostrophes(expanded.upper())
    out = re.sub(r"[^A-Z' ]+", " ", out)  # hyphens and other punctuation -> space
    return " ".join(out.split())


def spoken_form(text: str) -> str:
    """Same words as :func:`normalize_text`, but with case and the sentence
    punctuation (``, . ? ! ; :``) kept, for feeding a TTS engine.

    Hyphens become spaces and other symbols vanish exactly as in the label, so
    ``normalize_text(spoken_form(s)) == normalize_text(s)``.
    """
    expanded = _expand(text)
    if expanded is None:
        return ""
    out = _clean_apostrophes(expanded)
    out = re.sub(r"[^A-Za-z'.,?!;: ]+", " ", out)
    out = re.sub(r"\s+([.,?!;:])", r"\1", out)  # no space before punctuation
    out = re.sub(r"([.,?!;:])[.,?!;:]+", r"\1", out)  # "?!", "..." -> one mark
    out = re.sub(r"(?<![A-Za-z])[.,?!;:]+", " ", out)  # marks with no word before
    return " ".join(out.split())
