"""Merge built corpora into one (a later training stage over all of their voices).

Each split's pcm files are concatenated and the manifests rewritten with shifted
offsets and ids prefixed by the source's index (``c0-train-0000000``), so the result
reads like any corpus (:class:`~sewstream.train.corpus.CorpusReader`). The merge refuses
sources whose held-out voices or sentences appear in another source's training split:
the merged test split must stay unseen. A merged corpus cannot be grown or resumed by
``build_corpus`` (its ``config.json`` only names its sources).

A source's training split may be listed more than once (``train_repeats``) to give its
voices more weight in a stage; the repeats are manifest entries pointing at the same
audio (ids ``c1r2-...``), so they cost no disk, and the held-out splits are never repeated.
"""

from __future__ import annotations

import json
from pathlib import Path

from sewstream.train.corpus import SPLITS, CorpusReader


class MergeError(ValueError):
    """The sources cannot be merged (named in the message)."""


def _held_out_leaks(readers: list[dict[str, CorpusReader]]) -> list[str]:
    train_voices = {e["voice"] for r in readers for e in r["train"].entries}
    train_texts = {e["text"] for r in readers for e in r["train"].entries}
    test = [e for r in readers for e in r["test"].entries]
    problems = sorted({f"voice {e['voice']}" for e in test if e["voice"] in train_voices})
    texts = sorted({e["text"] for e in test if e["text"] in train_texts})
    if texts:
        problems.append(f"{len(texts)} test sentences, e.g. {texts[0]!r}")
    return problems


def merge_corpora(sources: list[str | Path], out: str | Path, train_repeats: list[int] | None = None) -> dict:
    """Write the merge of ``sources`` to the new directory ``out``; returns its summary.

    ``train_repeats[i]`` (default 1 each) is how many times source ``i``'s training
    utterances are listed.
    """
    sources, out = [Path(s) for s in sources], Path(out)
    if len(sources) < 2:
        raise MergeError("give at least two corpora to merge")
    repeats = [1] * len(sources) if train_repeats is None else list(train_repeats)
    if len(repeats) != len(sources) or any(not isinstance(n, int) or n < 1 for n in repeats):
        raise MergeError(f"train repeats {train_repeats} must be one whole number >= 1 per source "
                         f"({len(sources)} sources)")
    for src in sources:
        for split in SPLITS:
            if not (src / f"{split}.jsonl").is_file() or not (src / f"{split}.pcm").is_file():
                raise MergeError(f"{src} is not a built corpus (no {split}.jsonl / {split}.pcm)")
    if out.exists() and any(out.iterdir()):
        raise MergeError(f"{out} exists and is not empty: merge into a new directory")
    readers = [{split: CorpusReader(src, split) for split in SPLITS} for src in sources]
    leaks = _held_out_leaks(readers)
    if leaks:
        raise MergeError("a held-out item of one corpus is in another's training split: " + "; ".join(leaks[:5]))
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"merged_from": [str(s) for s in sources], "train_repeats": repeats, "splits": {}}
    for split in SPLITS:
        offset = 0
        with open(out / f"{split}.pcm", "wb") as pcm, open(out / f"{split}.jsonl", "w", encoding="utf-8") as manifest:
            for i, r in enumerate(readers):
                reader = r[split]
                for k in range(repeats[i] if split == "train" else 1):
                    tag = f"c{i}" if k == 0 else f"c{i}r{k}"
                    for e in reader.entries:
                        manifest.write(json.dumps({**e, "id": f"{tag}-{e['id']}", "offset": e["offset"] + offset},
                                                  ensure_ascii=False) + "\n")
                used = reader.pcm_samples
                with open(sources[i] / f"{split}.pcm", "rb") as src_pcm:
                    _copy_prefix(src_pcm, pcm, 2 * used)  # bytes past the manifest are a torn build's tail
                offset += used
        summary["splits"][split] = CorpusReader(out, split).summary()
    (out / "config.json").write_text(json.dumps({"merged_from": summary["merged_from"], "train_repeats": repeats},
                                                indent=1))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _copy_prefix(src, dst, nbytes: int, chunk: int = 1 << 24) -> None:
    while nbytes > 0:
        block = src.read(min(chunk, nbytes))
        if not block:
            raise MergeError(f"{src.name} is shorter than its manifest says")
        dst.write(block)
        nbytes -= len(block)


