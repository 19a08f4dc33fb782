#!/usr/bin/env python
"""Pack what a lent GPU machine needs to build the corpus and train there, into .device/.

    python scripts/device_bundle.py --corpus /work/data/corpus        # here, once (~1 min)
    # then, through the device tool:  run(command="bash scripts/device_train.sh", carry=[".device"])

The GPU machine has PyTorch but no TTS engines and no network, and a call carries at most
64 MiB (the tracked tree is already ~36 MB). The 6.6 GB corpus cannot travel, but the
recipe that makes it can: the engines (espeak-ng, flite, festival: binaries, the shared
libraries they need beyond glibc/libstdc++, their English data), the corpus's frozen
config.json and sentence pool (so the same seed makes the same utterances there), and
wheels for the few Python packages that machine lacks. 16 cores there synthesise the corpus
in minutes (scripts/device_train.sh).

Layout of .device/ (git-ignored):

    tts.tar.xz            bin/ (wrappers setting LD_LIBRARY_PATH / ESPEAK_DATA_PATH for the
                          engine alone, never for Python), libexec/, lib/, espeak-ng-data/,
                          festival/ (its library dir, minus the held-out test-only voice);
                          for a corpus that weights them (corpus6's mix): mbrola/ (the
                          --mbrola-voices databases) and pico/lang/ (its training language)
    corpus/config.json    the corpus's seed, weights and voice list (cut to the voices that travel)
    corpus/sentences.json.xz
    wheels/*.whl          soundfile, soxr, cffi, pycparser for the machine's Python (3.12)
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

from sewstream.train import tts  # noqa: E402
from sewstream.train.corpus import (  # noqa: E402
    CorpusConfig,
    is_test_voice,
    load_frozen_config,
    load_frozen_pool,
    trim_pool,
)
from sewstream.train.tts import Voice  # noqa: E402

LIMIT = 64 * 2**20  # what one device call carries: working tree + carried paths
# Present on any glibc Linux with a C++ runtime (and newer there): never shadowed.
SYSTEM_LIBS = ("linux-vdso", "ld-linux", "libc.so", "libm.so", "libpthread", "libdl.so", "librt.so",
               "libstdc++", "libgcc_s")
ESPEAK_DATA = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data")
ESPEAK_KEEP = ("en_dict", "phondata", "phonindex", "phontab", "intonations", "voices", "lang")
FESTIVAL_LIB = Path("/usr/share/festival")
FESTIVAL_SKIP = ("voices/english/ked_diphone",)  # a held-out test voice: never trained on
PICO_LANG = Path("/usr/share/pico/lang")
# ~6 MB each after xz: all 19 training databases (~200 MB) cannot travel, so the voice list travels
# cut to these (travelling_voices). Two native US voices, one female and one male.
MBROLA_DEFAULT = ("us1", "us2")
# The machine's Python (KINDS.md: 3.12, manylinux x86-64) lacks these; the rest is there.
WHEELS = ("soundfile==0.14.0", "soxr==1.1.0", "cffi==2.1.1", "pycparser==3.12")

WRAPPER = """#!/bin/sh
# {name} from the bundle: its libraries and data for it alone (Python keeps the system's)
here=$(dirname "$(readlink -f "$0")")/..
LD_LIBRARY_PATH="$here/lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" ESPEAK_DATA_PATH="$here" \\
  exec "$here/libexec/{name}" {extra}"$@"
"""


def shared_libs(binary: str) -> dict[str, Path]:
    """Soname -> file for every library ``binary`` loads, minus the C/C++ runtime."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = {}
    for line in out.splitlines():
        name, _, rest = line.strip().partition(" => ")
        if not rest or any(name.startswith(s) for s in SYSTEM_LIBS):
            continue
        path = rest.split(" (")[0].strip()
        if path == "not found":
            raise SystemExit(f"{binary}: library {name} not found (reinstall the engine's package)")
        libs[name] = Path(path)
    return libs


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def pack_tts(dest: Path, level: int = 9, engines: tuple[str, ...] = tts.DEFAULT_ENGINES,
             mbrola_voices: tuple[str, ...] = (), pico_languages: tuple[str, ...] = ()) -> None:
    """Write tts.tar.xz with ``engines`` (each is required; mbrola runs through espeak-ng)."""
    for engine in engines:
        try:
            tts.require_engine(engine)
        except tts.TTSUnavailable as e:
            raise SystemExit(f"cannot pack: {e}") from None
    libs: dict[str, Path] = {}
    with tarfile.open(dest, "w:xz", preset=level) as tar:
        for engine in engines:
            name = tts.PROGRAMS[engine]
            real = os.path.realpath(shutil.which(name))
            if engine == "mbrola":
                # unwrapped: espeak-ng's mbrowrap fails ("unable to get .wav header") when the
                # process it starts is a shell that execs mbrola; mbrola needs only the C runtime
                if shared_libs(real):
                    raise SystemExit(f"{real} needs libraries beyond the C runtime: cannot run unwrapped")
                tar.add(real, f"bin/{name}")
                continue
            tar.add(real, f"libexec/{name}")
            extra = '--libdir "$here/festival" ' if name == "festival" else ""
            add_bytes(tar, f"bin/{name}", WRAPPER.format(name=name, extra=extra).encode(), 0o755)
            libs.update(shared_libs(real))
        for soname, path in sorted(libs.items()):
            tar.add(os.path.realpath(path), f"lib/{soname}")
        for item in ESPEAK_KEEP + (("mbrola_ph",) if "mbrola" in engines else ()):
            tar.add(ESPEAK_DATA / item, f"espeak-ng-data/{item}")
        tar.add(FESTIVAL_LIB, "festival",
                filter=lambda ti: None if any(ti.name.startswith(f"festival/{s}") for s in FESTIVAL_SKIP) else ti)
        for db in sorted({tts.mbrola_database(v) for v in mbrola_voices}):
            tar.add(tts.MBROLA_VOICE_ROOT / db, f"mbrola/{db}")
        for lang in pico_languages:
            for f in sorted(PICO_LANG.glob(f"{lang}_*")):
                tar.add(f, f"pico/lang/{f.name}")


def bundled_voices(config: CorpusConfig,
                   mbrola: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Engines, mbrola voices and pico languages to pack for ``config``: the three free engines
    always, mbrola and pico when the corpus weights them; never a held-out test voice."""
    weighted = tuple(e for e in ("mbrola", "pico") if config.engine_weights.get(e, 0) > 0)
    engines = tuple(tts.DEFAULT_ENGINES) + weighted
    if "mbrola" not in engines:
        mbrola = ()
    for v in mbrola:
        if f"mbrola:{v}" in config.test_voices:
            raise SystemExit(f"--mbrola-voices: {v} is a held-out test voice of this corpus")
        if v not in tts.mbrola_voices():
            raise SystemExit(f"--mbrola-voices: {v} is not installed here (apt-get install "
                             f"mbrola-{tts.mbrola_database(v)})")
    pico = tuple(lang for lang in tts.PICO_LANGUAGES if f"pico:{lang}" not in config.test_voices) \
        if "pico" in engines else ()
    return engines, mbrola, pico


def travelling_voices(voices: list[Voice], config: CorpusConfig, mbrola: tuple[str, ...],
                      pico: tuple[str, ...]) -> list[Voice]:
    """The frozen voice list cut to the training voices the bundle carries. The corpus draws an
    engine by its weight, then one of its listed voices; a listed voice the device lacks loses
    its utterances, so with 2 of 19 mbrola voices mbrola's 16% share fell to ~2%. Listing only
    what travels keeps every engine's share (a different plan from the local corpus's). Held-out
    test voices stay listed: the device never has them, and their test utterances are skipped."""
    carried = {f"mbrola:{v}" for v in mbrola} | {f"pico:{lang}" for lang in pico}
    return [v for v in voices if v.engine not in ("mbrola", "pico") or v.key in carried
            or is_test_voice(v, config)]


def pack_corpus_seed(corpus: Path, dest: Path, utterances: int | None = None, margin: float = 1.3,
                     voices_for: Callable[[list[Voice], CorpusConfig], list[Voice]] | None = None) -> None:
    """The corpus's frozen config and its sentence pool, trimmed to what the first ``utterances``
    train utterances use (default: ``margin`` times the corpus's own), xz-compressed (a call's
    64 MiB are tight). A corpus built here only for its test split (``--hours 0.01``) has few
    train utterances: name how many the device will synthesise instead. ``voices_for`` cuts
    the frozen voice list (``travelling_voices``); the config written says so."""
    for name in ("config.json", "sentences.json.gz", "train.jsonl"):
        if not (corpus / name).is_file():
            raise SystemExit(f"{corpus}: no {name} (build it with scripts/build_corpus.py first)")
    config, voices = load_frozen_config(corpus)
    pool = load_frozen_pool(corpus)
    with open(corpus / "train.jsonl", "rb") as fh:
        last = json.loads(fh.readlines()[-1])["id"]  # plan index reached, failed items included
    items = utterances or int((int(last.split("-")[1]) + 1) * margin)
    saved = json.loads((corpus / "config.json").read_text())
    if voices_for is not None:
        kept = voices_for(voices, config)
        if len(kept) < len(voices):
            dropped = sorted(v.key for v in voices if v not in kept)
            print(f"voice list: {len(dropped)} voices left out (not in the bundle), e.g. {', '.join(dropped[:3])}: "
                  "every engine keeps its share of the corpus")
        voices = kept
        saved["voices"] = [asdict(v) for v in voices]
    out = trim_pool(pool, config, voices, items)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.json").write_text(json.dumps(saved, indent=1))
    text = json.dumps({k: [[x.text, x.spoken, x.source] for x in v] for k, v in out.items()})
    (dest / "sentences.json.xz").write_bytes(lzma.compress(text.encode(), preset=9))
    print(f"sentence pool: {sum(map(len, out.values()))} of {sum(map(len, pool.values()))} sentences "
          f"(enough for {items} train utterances)")


def fetch_wheels(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                 for a in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(dest), *WHEELS]
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit("pip download failed (needs the package registry): " + " ".join(WHEELS))


def tree_bytes(leave_out: tuple[str, ...] = ()) -> int:
    """Bytes of the working tree a device call sends: tracked plus untracked-not-ignored files,
    minus the paths that will be moved aside for the call."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    paths = [p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]
    return sum((ROOT / p).stat().st_size for p in paths
               if not any(p == x or p.startswith(x.rstrip("/") + "/") for x in leave_out))


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="a built corpus (its config and sentence pool)")
    ap.add_argument("--utterances", type=int, default=None,
                    help="train utterances the sentence pool must cover (default: 1.3x the corpus's; "
                         "16 cores made 22 887 in 2.6 minutes)")
    ap.add_argument("--mbrola-voices", default=",".join(MBROLA_DEFAULT),
                    help="mbrola training voices to pack when the corpus weights mbrola (~6 MB each)")
    ap.add_argument("--all-voices", action="store_true",
                    help="keep the corpus's whole voice list (the local corpus's plan; the utterances of "
                         "voices not in the bundle are skipped there, shrinking their engine's share)")
    ap.add_argument("--leave-out", action="append", default=[], metavar="PATH",
                    help="a tracked path training does not need (e.g. sewstream/assets/keyword-classifier), "
                         "to move aside for the device call: not counted in the size check (repeatable)")
    ap.add_argument("--out", type=Path, default=ROOT / ".device", help="bundle directory (git-ignored)")
    ap.add_argument("--no-wheels", action="store_true", help="skip the pip download (tests)")
    ap.add_argument("--level", type=int, default=9, choices=range(10), help="xz preset (0: fast, for tests)")
    args = ap.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    config, _ = load_frozen_config(args.corpus)
    mbrola = tuple(v for v in args.mbrola_voices.split(",") if v)
    engines, mbrola, pico = bundled_voices(config, mbrola)
    print(f"packing TTS engines {', '.join(engines)}"
          + (f" (mbrola {', '.join(mbrola)}; pico {', '.join(pico)})" if len(engines) > 3 else "")
          + " (xz, ~1 min) ...", flush=True)
    pack_tts(args.out / "tts.tar.xz", args.level, engines, mbrola, pico)
    pack_corpus_seed(args.corpus, args.out / "corpus", args.utterances,
                     voices_for=None if args.all_voices else lambda v, c: travelling_voices(v, c, mbrola, pico))
    if not args.no_wheels:
        fetch_wheels(args.out / "wheels")
    bundle, tree = dir_bytes(args.out), tree_bytes(tuple(args.leave_out))
    for f in sorted(args.out.rglob("*")):
        if f.is_file():
            print(f"  {f.relative_to(args.out)}  {f.stat().st_size / 1e6:.1f} MB")
    print(f"bundle {bundle / 1e6:.1f} MB + working tree {tree / 1e6:.1f} MB = {(bundle + tree) / 2**20:.1f} MiB "
          f"of the {LIMIT / 2**20:.0f} MiB a device call carries")
    if args.out.resolve().is_relative_to(ROOT) and bundle + tree > LIMIT:
        print("too large for one device call: drop untracked files, --leave-out what training does not "
              "need, or pack fewer --mbrola-voices", file=sys.stderr)
        return 1
    if args.leave_out:
        print("for the call, move aside (and back after): " + " ".join(args.leave_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
