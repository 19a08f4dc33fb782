"""Sentence sources for the synthetic training corpus.

Everything comes from offline Debian packages (no network at build time):

=============  ==========================  =========================================
source         Debian package              what it gives
=============  ==========================  =========================================
``austen``     r-cran-janeaustenr          5 Austen novels (19th-century narrative,
                                           close to LibriSpeech/LibriVox prose)
``fortunes``   fortunes, fortunes-min      quotes and jokes (modern conversational)
``wordnet``    wordnet-base                short usage examples ("she was able to...")
``bible``      bible-kjv(-text)            KJV verses (archaic, many names)
``devil``      dict-devil                  Bierce's Devil's Dictionary (prose+verse)
``words``      wamerican                   random word strings (rare-word spelling)
``commands``   (generated)                 digits, numbers, device commands, cards,
                                           keyword sequences: short utterances
=============  ==========================  =========================================

*Sense and Sensibility* is deliberately left out of ``austen``: the evaluation
set holds LibriVox recordings of it, and near-duplicates of its sentences would
leak.  All eval transcripts are additionally filtered out exactly (after
normalisation) by :class:`EvalFilter`.

Sources whose package is missing are skipped with a log message, so the pool
degrades gracefully on a machine without them.
"""

from __future__ import annotations

import gzip
import logging
import random
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sewstream.train.vocab import _ABBREVIATIONS, int_to_words, normalize_text, spoken_form

log = logging.getLogger(__name__)

MIN_WORDS, MAX_WORDS = 2, 30
DEFAULT_EVAL_DIR = Path("/work/shared/data/speech")


@dataclass(frozen=True)
class Sentence:
    """One training sentence: the label and the text we give the TTS engine."""

    text: str  # normalised transcript (CTC label)
    spoken: str  # same words with case/punctuation, for prosody
    source: str


# --------------------------------------------------------------------------
# Sentence splitting and filtering
# --------------------------------------------------------------------------
_PROTECT = re.compile(
    r"\b(" + "|".join(sorted(set(_ABBREVIATIONS) | {"st"}, key=len, reverse=True)) + r"|[A-Z])\.(?=\s)",
    re.IGNORECASE,
)
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])")
# An all-caps token of 2+ letters is usually an acronym (IBM, UNIX) that TTS
# engines read unpredictably, so the label would not match the audio.
_ACRONYM = re.compile(r"\b(?!I\b)[A-Z]{2,}\b")


def _pack_words(chunks: list[str], max_words: int) -> list[str]:
    """Greedily join clause chunks into pieces of at most ``max_words`` words."""
    out: list[str] = []
    cur: list[str] = []
    for chunk in chunks:
        n = len(chunk.split())
        if cur and len(" ".join(cur).split()) + n > max_words:
            out.append(" ".join(cur))
            cur = []
        cur.append(chunk)
    if cur:
        out.append(" ".join(cur))
    return out


def split_sentences(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """Split running text into sentences; overlong ones are cut at ``;``/``:``
    and then at commas so every piece has at most ``max_words`` words."""
    text = text.replace("--", ", ")
    text = re.sub(r"_([^_]+)_", r"\1", text)  # Gutenberg _emphasis_
    text = " ".join(text.split())
    text = _PROTECT.sub(lambda m: m.group(1) + "\0", text)  # no split after "Mr."
    pieces: list[str] = []
    for sent in _BOUNDARY.split(text):
        sent = sent.replace("\0", ".").strip()
        if len(sent.split()) <= max_words:
            pieces.append(sent)
            continue
        for clause in re.split(r"(?<=[;:])\s+", sent):
            if len(clause.split()) <= max_words:
                pieces.append(clause)
            else:
                pieces += _pack_words(re.split(r"(?<=,)\s+", clause), max_words)
    return [p.strip(" ,;:") for p in pieces if p.strip(" ,;:")]


def make_sentence(
    raw: str, source: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS
) -> Sentence | None:
    """Normalise one raw sentence; ``None`` if it is unusable for TTS training."""
    if _ACRONYM.search(raw):
        return None
    text = normalize_text(raw)
    if not (min_words <= len(text.split()) <= max_words):
        return None
    spoken = spoken_form(raw)
    if normalize_text(spoken) != text:  # paranoia: TTS must say the label words
        return None
    return Sentence(text, spoken, source)


# --------------------------------------------------------------------------
# Evaluation-set exclusion
# --------------------------------------------------------------------------
def load_eval_transcripts(root: Path = DEFAULT_EVAL_DIR) -> set[str]:
    """All normalised transcripts under ``root/*/transcripts.txt``."""
    out: set[str] = set()
    for path in sorted(Path(root).glob("*/transcripts.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            _, _, transcript = line.partition(" ")
            text = normalize_text(transcript)
            if text:
                out.add(text)
    return out


class EvalFilter:
    """Rejects training sentences that overlap evaluation transcripts.

    Exact matches are always rejected.  For eval sentences of 5+ words we also
    reject training text that contains them or is contained in them (a fortune
    quoting JFK's speech is the same sentence for our purposes).
    """

    def __init__(self, eval_texts: Iterable[str], min_overlap_words: int = 5) -> None:
        self.exact = set(eval_texts)
        self.min_words = min_overlap_words
        self.long = [f" {t} " for t in self.exact if len(t.split()) >= min_overlap_words]

    def __call__(self, text: str) -> bool:
        """True if ``text`` may be used for training."""
        if text in self.exact:
            return False
        padded = f" {text} "
        if any(e in padded for e in self.long):
            return False
        return not (len(text.split()) >= self.min_words and any(padded in e for e in self.long))


# --------------------------------------------------------------------------
# Raw sources (each yields raw sentences; empty when its package is missing)
# --------------------------------------------------------------------------
FORTUNE_DIR = Path("/usr/share/games/fortunes")
# Skipped: art/code/technical lists, non-English, and the ethnic-jokes file.
_FORTUNE_SKIP = {
    "art",
    "ascii-art",
    "debian",
    "linux",
    "linuxcookie",
    "perl",
    "translate-me",
    "ethnic",
    "computers",
    "zippy",
    "startrek",
    "knghtbrd",
}


def fortune_raw() -> Iterator[str]:
    """Non-offensive fortune cookies (attribution lines dropped)."""
    if not FORTUNE_DIR.is_dir():
        log.warning("fortunes not found: apt-get install fortunes fortunes-min")
        return
    for path in sorted(FORTUNE_DIR.iterdir()):  # top level only: never off/
        if not path.is_file() or path.suffix in (".dat", ".u8") or path.name in _FORTUNE_SKIP:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for cookie in re.split(r"^%\s*$", text, flags=re.M):
            lines = [ln for ln in cookie.splitlines() if not re.match(r"^\s*(--|-- |~|\(c\))", ln)]
            body = " ".join(lines)
            if re.search(r"[A-Za-z]+:\s", body) and body.count(":") > 2:
                continue  # chat logs / transcripts with speaker tags
            yield from split_sentences(body)


def austen_raw() -> Iterator[str]:
    """Jane Austen's novels via R's janeaustenr data (Sense and Sensibility
    excluded: it is in the evaluation set)."""
    if shutil.which("Rscript") is None:
        log.warning("Rscript not found: apt-get install r-cran-janeaustenr")
        return
    books = "emma mansfieldpark northangerabbey persuasion prideprejudice".split()
    names = ",".join(f"'{b}'" for b in books)
    script = f"suppressMessages(library(janeaustenr)); for (b in c({names})) cat(get(b), sep='\\n')"
    try:
        out = subprocess.run(
            ["Rscript", "-e", script], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("janeaustenr unavailable (%s): apt-get install r-cran-janeaustenr", exc)
        return
    for para in re.split(r"\n\s*\n", out):
        if re.match(r"\s*(CHAPTER|VOLUME|THE END|Chapter)\b", para):
            continue
        yield from split_sentences(para)


def bible_raw() -> Iterator[str]:
    """King James Bible verses from the ``bible`` program."""
    if shutil.which("bible") is None:
        log.warning("bible not found: apt-get install bible-kjv")
        return
    try:
        out = subprocess.run(
            ["bible", "-l0", "gen1:1-rev22:21"], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("bible failed (%s)", exc)
        return
    for line in out.splitlines():
        m = re.match(r"\s+\d+\s+(.*)", line)  # "  12 And God said..."; headers skipped
        if m:
            yield from split_sentences(m.group(1))


WORDNET_DIR = Path("/usr/share/wordnet")


def wordnet_raw() -> Iterator[str]:
    """Quoted usage examples from WordNet glosses."""
    files = sorted(WORDNET_DIR.glob("data.*"))
    if not files:
        log.warning("WordNet not found: apt-get install wordnet-base")
        return
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(" "):
                continue  # licence header
            _, _, gloss = line.partition("| ")
            for example in re.findall(r'"([^"]+)"', gloss):
                yield example[:1].upper() + example[1:]


DEVIL_DICT = Path("/usr/share/dictd/devil.dict.dz")


def devil_raw() -> Iterator[str]:
    """Ambrose Bierce's Devil's Dictionary (headwords stripped)."""
    if not DEVIL_DICT.exists():
        log.warning("Devil's Dictionary not found: apt-get install dict-devil")
        return
    text = gzip.decompress(DEVIL_DICT.read_bytes()).decode("utf-8", errors="replace")
    text = text.split("PREFACE", 1)[-1]
    for para in re.split(r"\n\s*\n", text):
        para = re.sub(r"^[A-Z][A-Z' -]+,\s+[a-z. ]+?\s{2,}", "", para.strip())
        yield from split_sentences(para)


WORDLIST = Path("/usr/share/dict/american-english")


def word_strings(rng: random.Random, count: int) -> Iterator[str]:
    """Random strings of 2-5 dictionary words: covers rare spellings."""
    if not WORDLIST.exists():
        log.warning("word list not found: apt-get install wamerican")
        return
    words = [
        w
        for w in WORDLIST.read_text(encoding="utf-8", errors="replace").split()
        if re.fullmatch(r"[a-z]{3,}", w)
    ]
    for _ in range(count):
        yield " ".join(rng.choice(words) for _ in range(rng.randint(2, 5)))


# --------------------------------------------------------------------------
# Command-like phrases
# --------------------------------------------------------------------------
_KEYWORDS = (
    "yes no up down left right on off stop go zero one two three four five six "
    "seven eight nine backward forward follow learn bed bird cat dog happy house "
    "tree wow visual"
).split()
_RANKS = "ace two three four five six seven eight nine ten jack queen king".split()
_SUITS = "hearts diamonds clubs spades".split()
_DEVICES = [
    "lights",
    "light",
    "lamp",
    "fan",
    "heater",
    "radio",
    "television",
    "music",
    "air conditioner",
    "oven",
    "kettle",
    "coffee machine",
    "computer",
    "printer",
    "alarm",
    "camera",
    "microphone",
    "speaker",
    "dishwasher",
    "washing machine",
]
_ROOMS = ["kitchen", "bedroom", "living room", "bathroom", "garage", "office", "hallway", "garden"]
_NAMES = [
    "mom",
    "dad",
    "john",
    "mary",
    "peter",
    "sarah",
    "david",
    "emma",
    "james",
    "linda",
    "michael",
    "susan",
    "robert",
    "anna",
    "thomas",
    "lucy",
    "george",
    "alice",
    "henry",
    "kate",
]
_UNITS = ["meters", "steps", "feet", "inches", "miles", "degrees", "minutes", "seconds", "hours"]
_DIRECTIONS = ["forward", "backward", "left", "right", "up", "down"]
_PLACES = [
    "london",
    "paris",
    "boston",
    "chicago",
    "new york",
    "seattle",
    "dublin",
    "sydney",
    "toronto",
    "berlin",
    "madrid",
    "tokyo",
    "denver",
    "atlanta",
]


def _number(rng: random.Random) -> str:
    # Log-uniform magnitude so small numbers dominate but large ones appear.
    return int_to_words(int(10 ** rng.uniform(0, rng.choice([2, 3, 4, 7]))))


def _names(rng: random.Random) -> list[str]:
    path = Path("/usr/share/dict/propernames")
    if path.exists():  # miscfiles; fall back to a fixed list
        names = [n.lower() for n in path.read_text(errors="replace").split() if n.isalpha()]
        if names:
            return names
    return _NAMES


def command_phrases(rng: random.Random, count: int) -> Iterator[str]:
    """Short command-like utterances (numbers already spelled out)."""
    names = _names(rng)
    card = lambda: f"{rng.choice(_RANKS)} of {rng.choice(_SUITS)}"  # noqa: E731
    templates: list[Callable[[], str]] = [
        lambda: " ".join(rng.choice(_KEYWORDS) for _ in range(rng.randint(1, 4))),
        lambda: rng.choice(_KEYWORDS),
        lambda: " ".join(rng.choice(_RANKS[1:10]) for _ in range(rng.randint(2, 10))),
        lambda: _number(rng),
        lambda: " ".join(card() for _ in range(rng.randint(1, 3))),
        lambda: f"call {rng.choice(names)}",
        lambda: f"{rng.choice(['please call', 'phone', 'text', 'message'])} {rng.choice(names)}",
        lambda: f"turn {rng.choice(['on', 'off'])} the {rng.choice(_DEVICES)}",
        lambda: f"turn the {rng.choice(_DEVICES)} {rng.choice(['on', 'off', 'up', 'down'])}",
        lambda: (
            f"switch {rng.choice(['on', 'off'])} the {rng.choice(_DEVICES)} in the " f"{rng.choice(_ROOMS)}"
        ),
        lambda: f"go {rng.choice(_DIRECTIONS)} {_number(rng)} {rng.choice(_UNITS[:5])}",
        lambda: f"move {rng.choice(_DIRECTIONS)}",
        lambda: f"set a timer for {_number(rng)} {rng.choice(['minutes', 'seconds', 'hours'])}",
        lambda: (
            f"set an alarm for {rng.choice(_RANKS[1:10] + ['ten', 'eleven', 'twelve'])} "
            f"{rng.choice(['thirty', 'fifteen', 'forty five', 'o clock', 'a m', 'p m'])}"
        ),
        lambda: f"set the temperature to {_number(rng)} degrees",
        lambda: f"what is the weather {rng.choice(['today', 'tomorrow', 'like'])} in {rng.choice(_PLACES)}",
        lambda: f"{rng.choice(['open', 'close', 'lock', 'unlock'])} the "
                f"{rng.choice(['door', 'window', 'garage', 'gate'])}",
        lambda: rng.choice(
            [
                "volume up",
                "volume down",
                "next song",
                "previous track",
                "pause",
                "play music",
                "stop the music",
                "mute",
                "cancel",
                "go back",
                "what time is it",
                "yes please",
                "no thanks",
                "okay",
                "start",
                "repeat that",
                "say that again",
                "help",
                "go home",
                "shut down",
            ]
        ),
    ]
    for _ in range(count):
        yield rng.choice(templates)()


# --------------------------------------------------------------------------
# Pool assembly
# --------------------------------------------------------------------------
TEXT_SOURCES: dict[str, Callable[[], Iterator[str]]] = {
    "austen": austen_raw,
    "fortunes": fortune_raw,
    "wordnet": wordnet_raw,
    "bible": bible_raw,
    "devil": devil_raw,
}


def build_sentence_pool(
    seed: int = 0,
    eval_dir: Path | None = DEFAULT_EVAL_DIR,
    n_commands: int = 20000,
    n_word_strings: int = 5000,
    sources: Iterable[str] | None = None,
) -> dict[str, list[Sentence]]:
    """All usable sentences, per source, de-duplicated and eval-filtered.

    The order within each source is a seeded shuffle of the sorted unique
    sentences, so it is deterministic given ``seed`` and the installed
    packages.  A sentence text occurs in one source only (first source wins
    in the order of :data:`TEXT_SOURCES`, then ``commands``, then ``words``).
    """
    wanted = set(sources) if sources is not None else None
    eval_filter = EvalFilter(load_eval_transcripts(eval_dir) if eval_dir else set())
    seen: set[str] = set()
    pool: dict[str, list[Sentence]] = {}

    def add(name: str, raws: Iterable[str], min_words: int = MIN_WORDS) -> None:
        found: dict[str, Sentence] = {}
        for raw in raws:
            s = make_sentence(raw, name, min_words=min_words)
            if s and s.text not in seen and s.text not in found and eval_filter(s.text):
                found[s.text] = s
        items = sorted(found.values(), key=lambda s: s.text)
        random.Random(f"{seed}:{name}").shuffle(items)
        seen.update(found)
        pool[name] = items
        log.info("text source %-9s %6d sentences", name, len(items))

    for name, fn in TEXT_SOURCES.items():
        if wanted is None or name in wanted:
            add(name, fn())
    if wanted is None or "commands" in wanted:
        # Single keywords are the point of this source, so min_words=1.
        add("commands", command_phrases(random.Random(f"{seed}:commands"), n_commands), min_words=1)
    if wanted is None or "words" in wanted:
        add("words", word_strings(random.Random(f"{seed}:words"), n_word_strings))
    return {k: v for k, v in pool.items() if v}
