"""Cached synthetic speech corpus: build (resumable) and read (memory-mapped).

Layout of a corpus directory::

    config.json            seed, weights, voice lists, held-out voices/sentences
    sentences.json.gz      the sentence pool the plan draws from (frozen at first run)
    train.pcm  test.pcm    int16 mono 16 kHz, utterances back to back
    train.jsonl test.jsonl one JSON object per utterance: id, engine, voice, rate,
                           pitch, source, text, offset, num_samples (in samples)

Determinism: utterance ``i`` of a split is drawn by a seeded sequential
*plan* (voice, prosody, sentence), so the same seed and installed voices give
the same corpus.  Resumability: a manifest line is written only after its
audio has been flushed to the pcm file; on restart a torn last line and any
pcm bytes past the last manifest entry are cut off, ids already present are
skipped, and the plan continues.

The ``test`` split holds out whole voices (some espeak-ng variants, one flite
and one festival voice) and whole sentences: no test voice or sentence is ever
used for ``train``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sewstream.train import tts
from sewstream.train.texts import DEFAULT_EVAL_DIR, Sentence, build_sentence_pool
from sewstream.train.tts import SAMPLE_RATE, Voice

log = logging.getLogger(__name__)

SPLITS = ("train", "test")


# --------------------------------------------------------------------------
# Configuration and plan
# --------------------------------------------------------------------------
@dataclass
class CorpusConfig:
    """What to build.  Only ``train_hours`` may change when resuming."""

    seed: int = 0
    train_hours: float = 30.0
    test_utts: int = 400
    # Share of *utterances* per engine; espeak-ng has hundreds of voices, the
    # others few but more natural ones, so none of them may dominate.
    engine_weights: dict[str, float] = field(
        default_factory=lambda: {"espeak-ng": 0.40, "flite": 0.36, "festival": 0.24}
    )
    # Within-engine voice weights (default 1); kal appears in three engines.
    voice_weights: dict[str, float] = field(
        default_factory=lambda: {
            "flite:kal": 0.6,
            "flite:kal16": 0.6,
            "festival:kal_diphone": 0.7,
            "festival:cmu_us_slt_arctic_hts": 1.3,
        }
    )
    # Share of utterances per text source (command phrases keep short
    # utterances and keywords well represented).
    source_weights: dict[str, float] = field(
        default_factory=lambda: {
            "austen": 0.28,
            "fortunes": 0.15,
            "wordnet": 0.13,
            "bible": 0.11,
            "devil": 0.04,
            "commands": 0.20,
            "words": 0.09,
        }
    )
    rate_range: tuple[float, float] = (0.75, 1.15)  # log-uniform; TTS defaults are fast
    pitch_range: tuple[float, float] = (0.85, 1.18)  # log-uniform
    # Held-out speakers: these voice keys (or espeak variants, any accent) are test-only.
    test_espeak_variants: tuple[str, ...] = ("m5", "f3", "Andy", "belinda", "klatt4", "travis")
    # mbrola us3, pico en-GB and two accented mbrola voices (German male, French female):
    # held out wherever the opt-in non-free engines are used (the keyword classifier); a
    # corpus without those engines never meets them.
    test_voices: tuple[str, ...] = ("flite:rms", "festival:ked_diphone", "mbrola:us3", "pico:en-GB",
                                    "mbrola:de4-en", "mbrola:fr4-en")
    max_seconds: float = 25.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CorpusConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("rate_range", "pitch_range", "test_espeak_variants", "test_voices"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


@dataclass(frozen=True)
class PlanItem:
    """One utterance to synthesise: its id, split, voice (with prosody) and sentence."""

    id: str
    split: str
    voice: Voice
    sentence: Sentence


def parse_engine_weights(text: str) -> dict[str, float]:
    """``espeak-ng=0.4,flite=0.3`` -> weights; an unknown engine or a bad weight is an error naming it."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        engine, _, value = item.partition("=")
        if engine not in tts.ENGINES:
            raise ValueError(f"unknown engine {engine!r} in {item!r} (engines: {', '.join(tts.ENGINES)})")
        try:
            out[engine] = float(value)
        except ValueError:
            raise ValueError(f"weight of {engine} is not a number: {value!r}") from None
        if not out[engine] >= 0:
            raise ValueError(f"weight of {engine} must be >= 0, got {value}")
    if not any(out.values()):
        raise ValueError(f"no engine has a positive weight in {text!r}")
    return out


def is_test_voice(voice: Voice, config: CorpusConfig) -> bool:
    """True for held-out speakers (espeak-ng variants in any accent, or exact voice keys)."""
    if voice.engine == "espeak-ng":
        return voice.variant in config.test_espeak_variants
    return voice.key in config.test_voices


def split_voices(voices: list[Voice], config: CorpusConfig) -> dict[str, list[Voice]]:
    """Partition base voices into train and test speakers."""
    out: dict[str, list[Voice]] = {"train": [], "test": []}
    for v in voices:
        out["test" if is_test_voice(v, config) else "train"].append(v)
    return out


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


class VoiceSampler:
    """Engine by weight, then voice within engine by weight (engines without a weight or
    without voices are never drawn), with log-uniform prosody from the config's ranges."""

    def __init__(self, voices: list[Voice], config: CorpusConfig) -> None:
        by_engine: dict[str, list[Voice]] = {}
        for v in voices:
            by_engine.setdefault(v.engine, []).append(v)
        self.engines = [e for e in config.engine_weights if by_engine.get(e)]
        if not self.engines:
            raise tts.TTSUnavailable(
                "no TTS voices available for this split: " "apt-get install espeak-ng flite festival"
            )
        w = np.array([config.engine_weights[e] for e in self.engines], float)
        self.engine_p = w / w.sum()
        self.voices = {e: by_engine[e] for e in self.engines}
        self.voice_p = {}
        for e, vs in self.voices.items():
            vw = np.array([config.voice_weights.get(v.key, 1.0) for v in vs], float)
            self.voice_p[e] = vw / vw.sum()
        self.config = config

    def __call__(self, rng: np.random.Generator) -> Voice:
        e = self.engines[int(rng.choice(len(self.engines), p=self.engine_p))]
        v = self.voices[e][int(rng.choice(len(self.voices[e]), p=self.voice_p[e]))]
        return v.with_prosody(
            round(_log_uniform(rng, *self.config.rate_range), 3),
            round(_log_uniform(rng, *self.config.pitch_range), 3),
        )


def hold_out_sentences(
    pool: dict[str, list[Sentence]], n: int, config: CorpusConfig
) -> tuple[list[Sentence], dict[str, list[Sentence]]]:
    """Take ``n`` test sentences (spread over sources by weight) out of the pool."""
    rng = np.random.default_rng([config.seed, 7])
    sources = [s for s in pool if config.source_weights.get(s, 0) > 0]
    w = np.array([config.source_weights[s] for s in sources], float)
    counts = dict.fromkeys(sources, 0)
    for k in rng.choice(len(sources), size=n, p=w / w.sum()):
        counts[sources[k]] += 1
    test: list[Sentence] = []
    train: dict[str, list[Sentence]] = {}
    for s in pool:
        k = min(counts.get(s, 0), len(pool[s]) // 2)  # pool lists are already shuffled
        test += pool[s][:k]
        train[s] = pool[s][k:]
    order = rng.permutation(len(test))
    return [test[i] for i in order], train


def plan(
    split: str,
    voices: list[Voice],
    sentences: dict[str, list[Sentence]] | list[Sentence],
    config: CorpusConfig,
) -> Iterator[PlanItem]:
    """Endless (train) or finite (test: one item per held-out sentence)
    deterministic sequence of utterances to synthesise."""
    rng = np.random.default_rng([config.seed, SPLITS.index(split)])
    pick_voice = VoiceSampler(voices, config)
    if isinstance(sentences, list):
        for i, sent in enumerate(sentences):
            yield PlanItem(f"{split}-{i:07d}", split, pick_voice(rng), sent)
        return
    sources = [s for s in sentences if sentences[s] and config.source_weights.get(s, 0) > 0]
    w = np.array([config.source_weights[s] for s in sources], float)
    p = w / w.sum()
    cursor = dict.fromkeys(sources, 0)  # cycle through each (shuffled) source list
    i = 0
    while True:
        src = sources[int(rng.choice(len(sources), p=p))]
        lst = sentences[src]
        sent = lst[cursor[src] % len(lst)]
        cursor[src] += 1
        yield PlanItem(f"{split}-{i:07d}", split, pick_voice(rng), sent)
        i += 1


def trim_pool(pool: dict[str, list[Sentence]], config: CorpusConfig, voices: list[Voice],
              items: int) -> dict[str, list[Sentence]]:
    """The pool cut, per source, after the sentences the first ``items`` train utterances use.

    The held-out test sentences (taken from the front of each list) stay, a list the plan
    wraps around within ``items`` stays whole, so the held-out set and the first ``items``
    plan entries are unchanged (checked here, not assumed). For carrying a corpus's recipe
    somewhere small (scripts/device_bundle.py): about a third of the pool is ever used.
    """
    test, train_pool = hold_out_sentences(pool, config.test_utts, config)
    train_voices = split_voices(voices, config)["train"]
    first = list(itertools.islice(plan("train", train_voices, train_pool, config), items))
    used: dict[str, int] = {}
    for item in first:
        used[item.sentence.source] = used.get(item.sentence.source, 0) + 1
    out = {s: lst if used.get(s, 0) >= len(train_pool[s]) else lst[: len(lst) - len(train_pool[s]) + used.get(s, 0)]
           for s, lst in pool.items()}
    kept_test, kept_train = hold_out_sentences(out, config.test_utts, config)
    after = itertools.islice(plan("train", train_voices, kept_train, config), items)
    if kept_test != test or any(a != b for a, b in zip(first, after)):
        raise AssertionError("trimming the sentence pool changed the corpus plan")
    return out


# --------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------
class SplitWriter:
    """Append-only pcm + JSONL manifest for one split, crash-consistent."""

    FSYNC_EVERY = 200

    def __init__(self, root: Path, split: str) -> None:
        self.pcm_path = root / f"{split}.pcm"
        self.manifest_path = root / f"{split}.jsonl"
        self.entries = self._recover()
        self.ids = {e["id"] for e in self.entries}
        self.end = self.entries[-1]["offset"] + self.entries[-1]["num_samples"] if self.entries else 0
        self.samples = sum(e["num_samples"] for e in self.entries)
        self.pcm = open(self.pcm_path, "r+b" if self.pcm_path.exists() else "w+b")  # noqa: SIM115 (closed in close())
        self.pcm.truncate(self.end * 2)  # drop audio whose manifest line never made it
        self.pcm.seek(self.end * 2)
        self.manifest = open(self.manifest_path, "a", encoding="utf-8")  # noqa: SIM115
        self._since_sync = 0

    def _recover(self) -> list[dict]:
        if not self.manifest_path.exists():
            return []
        raw = self.manifest_path.read_bytes()
        pcm_samples = self.pcm_path.stat().st_size // 2 if self.pcm_path.exists() else 0
        entries: list[dict] = []
        good = 0  # byte length of the valid prefix
        pos = 0
        for line in raw.splitlines(keepends=True):
            pos += len(line)
            if not line.endswith(b"\n"):
                break  # torn write
            try:
                e = json.loads(line)
            except ValueError:
                break
            expected = entries[-1]["offset"] + entries[-1]["num_samples"] if entries else 0
            if e.get("offset") != expected or e["offset"] + e["num_samples"] > pcm_samples:
                break  # audio missing (e.g. lost in a power cut): stop here
            entries.append(e)
            good = pos
        if good != len(raw):
            log.warning("%s: dropping %d bytes of incomplete manifest", self.manifest_path, len(raw) - good)
            with open(self.manifest_path, "r+b") as fh:
                fh.truncate(good)
        return entries

    @property
    def hours(self) -> float:
        """Audio hours stored so far."""
        return self.samples / SAMPLE_RATE / 3600

    def append(self, entry: dict, audio: np.ndarray) -> None:
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
        entry = {**entry, "offset": self.end, "num_samples": int(len(pcm))}
        self.pcm.write(pcm.tobytes())
        self.pcm.flush()  # audio reaches the OS before its manifest line does
        self._since_sync += 1
        if self._since_sync >= self.FSYNC_EVERY:
            os.fsync(self.pcm.fileno())
        self.manifest.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.manifest.flush()
        if self._since_sync >= self.FSYNC_EVERY:
            os.fsync(self.manifest.fileno())
            self._since_sync = 0
        self.entries.append(entry)
        self.ids.add(entry["id"])
        self.end += len(pcm)
        self.samples += len(pcm)

    def close(self) -> None:
        for fh in (self.pcm, self.manifest):
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()


class CorpusReader:
    """Random access to one split: ``reader[i] -> (float32 audio, text)``.

    The pcm file is memory-mapped lazily on first access, so a reader can be
    created in the main process and used in forked data-loader workers.
    """

    def __init__(self, root: str | Path, split: str = "train") -> None:
        self.root = Path(root)
        self.split = split
        self.entries: list[dict] = []
        with open(self.root / f"{split}.jsonl", encoding="utf-8") as fh:
            for line in fh:
                if line.endswith("\n"):  # a build may be appending right now
                    self.entries.append(json.loads(line))
        self._pcm: np.memmap | None = None
        # Seconds per utterance (for length bucketing), computed once.
        self.durations = np.array([e["num_samples"] for e in self.entries], float) / SAMPLE_RATE

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def pcm_samples(self) -> int:
        """Samples of the pcm file the manifest uses (the largest end, not the last entry's: a
        merged corpus may list earlier audio again)."""
        return max((e["offset"] + e["num_samples"] for e in self.entries), default=0)

    def _map(self) -> np.memmap:
        if self._pcm is None:
            self._pcm = np.memmap(self.root / f"{self.split}.pcm", dtype="<i2", mode="r", shape=(self.pcm_samples,))
        return self._pcm

    def audio(self, i: int) -> np.ndarray:
        """Utterance ``i`` as float32 in [-1, 1) at 16 kHz."""
        e = self.entries[i]
        pcm = self._map()[e["offset"] : e["offset"] + e["num_samples"]]
        return pcm.astype(np.float32) / 32768.0

    def text(self, i: int) -> str:
        """Normalised transcript of utterance ``i``."""
        return self.entries[i]["text"]

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        return self.audio(i), self.text(i)

    @property
    def hours(self) -> float:
        """Total audio hours in this split."""
        return float(self.durations.sum()) / 3600

    def summary(self) -> dict:
        """Utterances, hours, voices and per-engine hours."""
        by_engine: dict[str, float] = {}
        for e in self.entries:
            by_engine[e["engine"]] = by_engine.get(e["engine"], 0.0) + e["num_samples"] / SAMPLE_RATE / 3600
        return {
            "utterances": len(self),
            "hours": round(self.hours, 3),
            "voices": len({e["voice"] for e in self.entries}),
            "sentences": len({e["text"] for e in self.entries}),
            "engine_hours": {k: round(v, 3) for k, v in sorted(by_engine.items())},
        }


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------
def _synth_item(item: PlanItem, max_seconds: float) -> tuple[PlanItem, np.ndarray | None, str, float]:
    """Worker: synthesise one plan item; (item, audio or None, error, cpu seconds)."""
    t0 = time.perf_counter()
    try:
        audio = tts.synthesize(item.voice, item.sentence.spoken)
    except (tts.TTSError, OSError, ValueError) as exc:
        return item, None, str(exc)[:200], time.perf_counter() - t0
    seconds = len(audio) / SAMPLE_RATE
    chars = len(item.sentence.text)
    # Sanity: an engine that skipped words or babbled gives an implausible speed.
    if not (0.25 <= seconds <= max_seconds) or not (0.02 <= seconds / max(chars, 1) <= 0.4):
        return item, None, f"implausible duration {seconds:.2f}s for {chars} chars", time.perf_counter() - t0
    return item, audio, "", time.perf_counter() - t0


def missing_voices(voices: list[Voice]) -> frozenset[str]:
    """Keys of the (frozen) corpus voices that this machine cannot synthesise."""
    installed = {v.key for v in tts.list_voices(tts.ENGINES)}
    return frozenset(v.key for v in voices if v.key not in installed)


def load_frozen_config(root: str | Path) -> tuple[CorpusConfig, list[Voice]]:
    """A built corpus's configuration and the voices frozen at its first run."""
    saved = json.loads((Path(root) / "config.json").read_text())
    if "merged_from" in saved:
        raise ValueError(f"{root} is a merge of {', '.join(saved['merged_from'])}: it cannot be built or "
                         "grown (build a source corpus, then merge again into a new directory)")
    return CorpusConfig.from_json(saved["config"]), [Voice(**v) for v in saved["voices"]]


def load_frozen_pool(root: str | Path) -> dict[str, list[Sentence]]:
    """A built corpus's sentence pool, frozen at its first run."""
    with gzip.open(Path(root) / "sentences.json.gz", "rt", encoding="utf-8") as fh:
        return {k: [Sentence(*s) for s in v] for k, v in json.load(fh).items()}


def _load_or_make_state(
    root: Path,
    config: CorpusConfig,
    eval_dir: Path | None,
    sentences: dict[str, list[Sentence]] | None = None,
) -> tuple[CorpusConfig, dict[str, list[Sentence]], list[Voice]]:
    cfg_path, pool_path = root / "config.json", root / "sentences.json.gz"
    if cfg_path.exists():
        old, voices = load_frozen_config(root)
        if (old.seed, old.test_utts) != (config.seed, config.test_utts):
            raise ValueError(
                f"{root} was built with seed={old.seed}, test_utts={old.test_utts}; "
                "use the same values to resume, or a new directory"
            )
        if old.engine_weights != config.engine_weights:
            raise ValueError(
                f"{root} was built with engine weights {old.engine_weights}, not {config.engine_weights}; "
                "use the same weights to resume, or a new directory"
            )
        old.train_hours = config.train_hours  # growing the corpus is allowed
        config = old
    else:
        voices = tts.list_voices(tuple(e for e in tts.ENGINES if config.engine_weights.get(e, 0) > 0))
        if not voices:
            raise tts.TTSUnavailable("no TTS engine installed: apt-get install espeak-ng flite festival")
    if pool_path.exists():
        pool = load_frozen_pool(root)
    else:
        pool = sentences if sentences is not None else build_sentence_pool(config.seed, eval_dir=eval_dir)
        tmp = pool_path.with_suffix(".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as fh:
            json.dump({k: [[s.text, s.spoken, s.source] for s in v] for k, v in pool.items()}, fh)
        tmp.replace(pool_path)
    cfg_tmp = cfg_path.with_suffix(".tmp")
    cfg_tmp.write_text(
        json.dumps({"config": config.to_json(), "voices": [asdict(v) for v in voices]}, indent=1)
    )
    cfg_tmp.replace(cfg_path)
    return config, pool, voices


def _run_split(
    writer: SplitWriter,
    items: Iterator[PlanItem],
    workers: int,
    config: CorpusConfig,
    target_hours: float | None,
    total_items: int | None,
    desc: str,
    deadline: float | None = None,
    missing: frozenset[str] = frozenset(),
) -> dict:
    """Synthesise plan items in order with a bounded window of in-flight jobs,
    appending results in plan order until the target (or the monotonic ``deadline``)
    is reached."""
    from sewstream.progress import progress_bar

    def done() -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            return True  # what was written is a valid corpus prefix; a later run resumes it
        return target_hours is not None and writer.hours >= target_hours

    # a voice not installed here: its items are skipped, the rest of the plan is unchanged
    todo = (it for it in items if it.id not in writer.ids and it.voice.key not in missing)
    unit_total = target_hours * 3600 if target_hours is not None else total_items
    bar = progress_bar(
        total=unit_total,
        initial=writer.samples / SAMPLE_RATE if target_hours else len(writer.ids),
        desc=desc,
        unit="s" if target_hours else "utt",
        # Audio seconds as whole numbers; hours and real-time factor go in the postfix.
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} {unit} "
        "[{elapsed}<{remaining}{postfix}]",
    )
    stats = {"written": 0, "failed": 0, "audio_s": 0.0, "synth_s": 0.0}
    t_start = last_log = time.monotonic()
    # spawn, not fork: a forked child inherits the parent's OpenMP/torch thread state (locked
    # mutexes included) and can hang; the builder is often started from a process using torch
    # Stopping at the target cancels the queued items and lets the running ones finish: killing a
    # worker (Pool.terminate) while it is sending an audio array leaves the result queue's lock
    # held, and the pool's own shutdown then waits on it for ever.
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
    try:
        window: deque = deque()
        exhausted = False
        while True:
            while not exhausted and not done() and len(window) < 4 * workers:
                item = next(todo, None)
                if item is None:
                    exhausted = True
                    break
                window.append(pool.submit(_synth_item, item, config.max_seconds))
            if not window or done():
                break
            item, audio, err, synth_s = window.popleft().result()
            stats["synth_s"] += synth_s
            if audio is None:
                stats["failed"] += 1
                log.warning("skip %s (%s): %s", item.id, item.voice.key, err)
                continue
            writer.append(
                {
                    "id": item.id,
                    "engine": item.voice.engine,
                    "voice": item.voice.key,
                    "rate": item.voice.rate,
                    "pitch": item.voice.pitch,
                    "source": item.sentence.source,
                    "text": item.sentence.text,
                },
                audio,
            )
            secs = len(audio) / SAMPLE_RATE
            stats["written"] += 1
            stats["audio_s"] += secs
            wall = time.monotonic() - t_start
            bar.set_postfix(
                hours=f"{writer.hours:.2f}",
                utts=len(writer.ids),
                rtf=f"{wall / max(stats['audio_s'], 1e-9):.4f}",
                refresh=False,
            )
            step = secs if target_hours else 1
            if bar.total is not None and bar.n + step > bar.total:
                bar.total = bar.n + step  # the last utterance overshoots the target
            bar.update(step)
            if time.monotonic() - last_log > 120:
                last_log = time.monotonic()
                log.info(
                    "%s: %d utts, %.2f h, wall RTF %.4f, %d failed",
                    desc,
                    len(writer.ids),
                    writer.hours,
                    wall / max(stats["audio_s"], 1e-9),
                    stats["failed"],
                )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # in-flight items past the target are dropped
    bar.close()
    stats["wall_s"] = time.monotonic() - t_start
    return stats


def build_corpus(
    root: str | Path,
    config: CorpusConfig,
    workers: int = 2,
    eval_dir: Path | None = DEFAULT_EVAL_DIR,
    sentences: dict[str, list[Sentence]] | None = None,
    minutes: float | None = None,
) -> dict:
    """Build (or resume) the corpus in ``root``; returns a summary dict.

    ``sentences`` replaces :func:`build_sentence_pool` on a first run (tests
    use a tiny pool); on a resume the pool frozen in ``root`` is always used.
    ``minutes`` stops synthesis after that long (e.g. on a lent GPU machine whose
    time is short); the corpus is then a prefix of the full one, resumable.
    """
    deadline = time.monotonic() + 60 * minutes if minutes is not None else None
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    config, pool, voices = _load_or_make_state(root, config, eval_dir, sentences)
    test_sents, train_pool = hold_out_sentences(pool, config.test_utts, config)
    by_split = split_voices(voices, config)
    missing = missing_voices(voices)
    if missing:
        log.warning("%d of this corpus's voices are not installed here; their utterances are skipped: %s",
                    len(missing), ", ".join(sorted(missing)))
    if all(v.key in missing for v in by_split["train"]):
        raise tts.TTSUnavailable("none of this corpus's training voices is installed: "
                                 "apt-get install espeak-ng flite festival")
    log.info(
        "voices: %d train, %d test; sentences: %d train, %d test",
        len(by_split["train"]),
        len(by_split["test"]),
        sum(map(len, train_pool.values())),
        len(test_sents),
    )
    summary: dict = {"config": config.to_json(), "splits": {}}
    for split in ("test", "train"):  # the small test split first: usable even if train is cut short
        writer = SplitWriter(root, split)
        try:
            if split == "test":
                items = plan("test", by_split["test"], test_sents, config)
                stats = _run_split(writer, items, workers, config, None, len(test_sents), "test", deadline, missing)
            else:
                items = plan("train", by_split["train"], train_pool, config)
                stats = _run_split(writer, items, workers, config, config.train_hours, None, "train", deadline,
                                   missing)
        finally:
            writer.close()
        summary["splits"][split] = {**CorpusReader(root, split).summary(), "session": stats}
        log.info("%s done: %s", split, summary["splits"][split])
    (root / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
