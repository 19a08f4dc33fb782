"""One interface over the offline TTS engines Debian ships.

Engines and their packages:

* ``espeak-ng`` (apt: espeak-ng): formant synthesis, 8 English accents x ~70
  voice variants, fast (~0.005 x real time).
* ``flite`` (apt: flite): CMU voices kal, kal16 (diphone) and awb, rms, slt
  (clustergen, trained on real speakers).
* ``festival`` (apt: festival + festvox-kallpc16k, festvox-kdlpc16k,
  festvox-us-slt-hts): kal/ked diphone voices and the HTS slt voice.  One
  festival process per voice is kept alive per worker process, because its
  start-up (~0.3 s) costs more than synthesising a sentence.
* ``mbrola`` (apt, Debian contrib + non-free: mbrola mbrola-us1 mbrola-us2
  mbrola-us3 mbrola-en1): diphone voices recorded from real speakers (us1
  female, us2/us3 male, en1 British male), driven by espeak-ng's front end.
  With the packages of other languages' voices (mbrola-de1 ... mbrola-sw2),
  espeak-ng also speaks English through them (``de1-en`` etc.: English with a
  German, French, Dutch, ... speaker's diphones, i.e. a foreign accent).
* ``pico`` (apt, Debian non-free: libttspico-utils): SVOX Pico, one female
  voice each for en-US and en-GB; rate and pitch through its markup.

``Voice.rate`` and ``Voice.pitch`` are relative factors (1.0 = the voice's
default).  Where an engine has no pitch control (festival HTS) pitch is
applied by resampling, which also scales formants (a cheap "different vocal
tract" effect); the rate passed to the engine is compensated so the requested
tempo is kept.

:func:`synthesize` always returns float32 mono at 16 kHz with leading and
trailing silence trimmed to about 150 ms.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import select
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soxr

SAMPLE_RATE = 16000
ENGINES = ("espeak-ng", "flite", "festival", "mbrola", "pico")
# The free engines (Debian main): the default corpus and the device bundle use these;
# mbrola and pico (contrib / non-free) are opt-in.
DEFAULT_ENGINES = ENGINES[:3]
_PACKAGES = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "festival": "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts",
    "mbrola": "espeak-ng mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 (contrib, non-free; "
              "mbrola-de1 ... mbrola-sw2 add accented English)",
    "pico": "libttspico-utils (non-free)",
}
_TIMEOUT_S = 60.0


class TTSUnavailable(RuntimeError):
    """An engine or voice is not installed."""


class TTSError(RuntimeError):
    """An engine failed on a given input."""


@dataclass(frozen=True)
class Voice:
    """A synthesis voice plus prosody settings.

    ``name`` is engine specific: an espeak-ng language voice (``en-us``), a
    flite voice (``slt``), a festival voice (``kal_diphone``), an mbrola voice
    (``us1``) or a pico language (``en-GB``).  ``variant``
    is the espeak-ng variant (``m3``, ``f2``...), empty elsewhere.
    """

    engine: str
    name: str
    variant: str = ""
    rate: float = 1.0
    pitch: float = 1.0

    @property
    def key(self) -> str:
        """Speaker identity without prosody, e.g. ``espeak-ng:en-us+m3``."""
        return f"{self.engine}:{self.name}" + (f"+{self.variant}" if self.variant else "")

    def with_prosody(self, rate: float, pitch: float) -> Voice:
        """The same speaker with other rate/pitch factors."""
        return replace(self, rate=rate, pitch=pitch)


# --------------------------------------------------------------------------
# Engine discovery
# --------------------------------------------------------------------------
# The program each engine runs (mbrola is driven through espeak-ng, which runs `mbrola`).
PROGRAMS = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival", "mbrola": "mbrola",
            "pico": "pico2wave"}


def engine_available(engine: str) -> bool:
    """True if the engine's program is on PATH (mbrola also needs espeak-ng and a voice)."""
    if engine == "mbrola":
        return bool(shutil.which("espeak-ng") and shutil.which("mbrola") and mbrola_voices())
    return shutil.which(PROGRAMS[engine]) is not None


def require_engine(engine: str) -> None:
    """Raise :class:`TTSUnavailable` naming the Debian package(s) to install."""
    if engine not in PROGRAMS:
        raise ValueError(f"unknown TTS engine {engine!r}; expected one of {ENGINES}")
    if not engine_available(engine):
        raise TTSUnavailable(f"TTS engine {engine} is not installed: " f"apt-get install {_PACKAGES[engine]}")


# Variants that are not plausible human speech (whisper, robots, effects).
_ESPEAK_BAD_VARIANTS = {
    "whisper",
    "whisperf",
    "Demonic",
    "UniRobot",
    "anikaRobot",
    "croak",
    "Mr serious",
    "robosoft",
    "robosoft2",
    "robosoft3",
    "robosoft4",
    "robosoft5",
    "robosoft6",
    "robosoft7",
    "robosoft8",
    "Tweaky",
    "kaukovalta",
}


@functools.cache
def espeak_voices() -> tuple[list[str], list[str]]:
    """(English language voices, usable variants) known to espeak-ng."""
    require_engine("espeak-ng")
    out = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True).stdout
    langs = []
    for line in out.splitlines()[1:]:
        cols = line.split()
        # Skip mbrola voices (mb/...): they need the separate mbrola binary.
        if len(cols) >= 5 and cols[1].startswith("en") and not cols[4].startswith("mb/"):
            langs.append(cols[1])
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True).stdout
    variants = []
    for line in out.splitlines()[1:]:
        m = re.search(r"!v/(\S.*?)\s*(\(|$)", line)
        if m and m.group(1) not in _ESPEAK_BAD_VARIANTS and " " not in m.group(1):
            variants.append(m.group(1))
    return sorted(set(langs)), sorted(set(variants))


@functools.cache
def flite_voices() -> list[str]:
    """Voices compiled into the installed flite."""
    require_engine("flite")
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
    names = out.split(":", 1)[-1].split()
    return sorted(n for n in names if n != "awb_time")  # awb_time only speaks clock times


FESTIVAL_VOICE_ROOT = Path("/usr/share/festival/voices")


@functools.cache
def festival_voices() -> list[str]:
    """English festival voices (directory names under the voices tree)."""
    require_engine("festival")
    found = [
        p.name
        for lang in ("english", "us")
        for p in (FESTIVAL_VOICE_ROOT / lang).glob("*")
        if (p / "festvox").is_dir()
    ]
    return sorted(found)


MBROLA_VOICE_ROOT = Path("/usr/share/mbrola")
# English mbrola voices espeak-ng can drive (its voice "mb-<name>" maps English phonemes):
# native English databases, then other languages' databases speaking English ("<db>-en").
_MBROLA_ENGLISH = ("en1", "us1", "us2", "us3")
_MBROLA_ACCENTED = tuple(f"{db}-en" for db in (
    "af1", "de1", "de2", "de3", "de4", "de5", "de6", "fr1", "fr4", "gr2", "hu1", "nl2", "pl1",
    "ro1", "sw1", "sw2"))
_MBROLA_VOICES = _MBROLA_ENGLISH + _MBROLA_ACCENTED


def mbrola_database(name: str) -> str:
    """The mbrola database a voice name uses (``de1-en`` -> ``de1``)."""
    return name.removesuffix("-en")


@functools.cache
def mbrola_voices() -> list[str]:
    """Installed English mbrola voices (``/usr/share/mbrola/<db>/<db>``), accented ones last."""
    return [n for n in _MBROLA_VOICES
            if (MBROLA_VOICE_ROOT / mbrola_database(n) / mbrola_database(n)).is_file()]


PICO_LANGUAGES = ("en-GB", "en-US")


def list_voices(engines: tuple[str, ...] = DEFAULT_ENGINES) -> list[Voice]:
    """All installed base voices (rate = pitch = 1) of the given engines;
    engines that are not installed are skipped."""
    voices: list[Voice] = []
    for engine in engines:
        if not engine_available(engine):
            continue
        if engine == "espeak-ng":
            langs, variants = espeak_voices()
            voices += [Voice(engine, lang, var) for lang in langs for var in [""] + variants]
        elif engine == "flite":
            voices += [Voice(engine, name) for name in flite_voices()]
        elif engine == "festival":
            voices += [Voice(engine, name) for name in festival_voices()]
        elif engine == "mbrola":
            voices += [Voice(engine, name) for name in mbrola_voices()]
        elif engine == "pico":
            voices += [Voice(engine, name) for name in PICO_LANGUAGES]
    return voices


# --------------------------------------------------------------------------
# Audio helpers
# --------------------------------------------------------------------------
def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV bytes -> (float32 mono, rate).  Tolerates the bogus
    chunk sizes espeak-ng writes when streaming to stdout."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise TTSError("engine did not produce a WAV file")
    pos, rate, channels = 12, 0, 1
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", data[body : body + 8])
            bits = struct.unpack("<H", data[body + 14 : body + 16])[0]
            if fmt != 1 or bits != 16:
                raise TTSError(f"unsupported WAV format {fmt}/{bits} bit")
        elif cid == b"data":
            raw = data[body : body + min(size, len(data) - body)]
            raw = raw[: len(raw) // (2 * channels) * 2 * channels]
            pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).mean(axis=1)
            return (pcm / 32768.0).astype(np.float32), rate
        pos = body + size + (size & 1)
    raise TTSError("WAV file has no data chunk")


def trim_silence(
    audio: np.ndarray, sr: int = SAMPLE_RATE, keep_s: float = 0.15, threshold_db: float = -45.0
) -> np.ndarray:
    """Cut leading/trailing silence but keep ``keep_s`` of it on each side
    (hard-trimmed edges would teach the model that speech starts at sample 0)."""
    frame = sr // 100
    n = len(audio) // frame
    if n == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    active = np.flatnonzero(rms > max(rms.max() * 10 ** (threshold_db / 20), 1e-5))
    if active.size == 0:
        return audio[:0]
    keep = int(keep_s * sr)
    start = max(0, active[0] * frame - keep)
    end = min(len(audio), (active[-1] + 1) * frame + keep)
    return audio[start:end]


def _to_16k(audio: np.ndarray, sr: float) -> np.ndarray:
    if sr == SAMPLE_RATE:
        return audio
    return soxr.resample(audio, sr, SAMPLE_RATE, quality="HQ").astype(np.float32)


@functools.cache
def _tmpdir() -> str:
    # RAM-backed where possible: flite/festival must write a file.
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = tempfile.mkdtemp(prefix="sewstream-tts-", dir=base)
    atexit.register(shutil.rmtree, path, True)
    return path


def _run(cmd: list[str], stdin: str | None = None) -> bytes:
    try:
        proc = subprocess.run(
            cmd, input=stdin.encode() if stdin is not None else None, capture_output=True, timeout=_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise TTSError(f"{cmd[0]} timed out") from exc
    if proc.returncode != 0:
        raise TTSError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-300:]}")
    return proc.stdout


# --------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------
# Rate 1.0 for espeak-ng: its own default (175 wpm) comes out at ~200 words per
# minute of audio, faster than read speech (LibriSpeech/LibriVox here: ~170).
_ESPEAK_WPM = 160


def _espeak(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    name = voice.name + (f"+{voice.variant}" if voice.variant else "")
    wpm = int(round(_ESPEAK_WPM * voice.rate))
    pitch = int(np.clip(round(50 + 100 * (voice.pitch - 1.0)), 0, 99))  # -p: 0..99, 50 default
    data = _run(["espeak-ng", "-v", name, "-s", str(wpm), "-p", str(pitch), "--stdout"], stdin=text)
    return parse_wav(data)


def _mbrola(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    if voice.name not in mbrola_voices():
        if voice.name not in _MBROLA_VOICES:
            raise TTSUnavailable(f"no English mbrola voice {voice.name!r}; known: {', '.join(_MBROLA_VOICES)}")
        raise TTSUnavailable(f"mbrola voice {voice.name} is not installed: apt-get install "
                             f"mbrola-{mbrola_database(voice.name)}")
    return _espeak(Voice("espeak-ng", f"mb-{voice.name}", rate=voice.rate, pitch=voice.pitch), text)


def _pico(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    if voice.name not in PICO_LANGUAGES:
        raise TTSUnavailable(f"pico has no English voice {voice.name!r}; expected one of {PICO_LANGUAGES}")
    out = os.path.join(_tmpdir(), f"pico-{os.getpid()}.wav")  # pico2wave wants a .wav name
    text = re.sub(r"[<>&]", " ", text)
    # Pico's markup: levels are percent of the voice's default tempo and pitch.
    speed, pitch = round(100 * voice.rate), round(100 * voice.pitch)
    markup = f"<speed level='{speed}'><pitch level='{pitch}'>{text}</pitch></speed>"
    _run(["pico2wave", "-l", voice.name, "-w", out, markup])
    with open(out, "rb") as fh:
        return parse_wav(fh.read())


# Approximate default F0 means (Hz), so a pitch factor becomes an absolute target.
_FLITE_F0 = {"kal": 100.0, "kal16": 100.0, "awb": 125.0, "rms": 105.0, "slt": 170.0}


def _flite(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    out = os.path.join(_tmpdir(), f"flite-{os.getpid()}.wav")
    f0 = _FLITE_F0.get(voice.name, 120.0) * voice.pitch
    _run(
        [
            "flite",
            "-voice",
            voice.name,
            "--setf",
            f"duration_stretch={1.0 / voice.rate:.3f}",
            "--setf",
            f"int_f0_target_mean={f0:.1f}",
            "-t",
            text,
            "-o",
            out,
        ]
    )
    with open(out, "rb") as fh:
        return parse_wav(fh.read())


class _FestivalSession:
    """A long-lived ``festival --pipe`` process.  Completion of each command
    is signalled by a marker written to stderr (festival's stdout is block
    buffered when piped, stderr is not)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["festival", "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.count = 0
        self.buf = b""

    def run(self, command: str) -> str:
        self.count += 1
        marker = f"__SEWSTREAM_DONE_{self.count}__"
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.proc.stdin.write(f'{command}\n(format stderr "{marker}\\n")\n'.encode())
        self.proc.stdin.flush()
        fd = self.proc.stderr.fileno()
        while marker.encode() not in self.buf:
            ready, _, _ = select.select([fd], [], [], _TIMEOUT_S)
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                self.close()
                raise TTSError(f"festival died or hung: {self.buf.decode(errors='replace')[-300:]}")
            self.buf += chunk
        text, _, self.buf = self.buf.partition(marker.encode() + b"\n")
        return text.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


_FESTIVAL: dict[str, _FestivalSession] = {}


def _festival_session() -> _FestivalSession:
    # One per process (workers fork before first use, so nothing is shared).
    key = str(os.getpid())
    sess = _FESTIVAL.get(key)
    if sess is None or sess.proc.poll() is not None:
        sess = _FESTIVAL[key] = _FestivalSession()
        atexit.register(sess.close)
    return sess


def _festival(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    if voice.name not in festival_voices():
        raise TTSUnavailable(f"festival voice {voice.name} is not installed (apt-cache search festvox)")
    out = os.path.join(_tmpdir(), f"festival-{os.getpid()}.wav")
    text = re.sub(r'["\\]', "", text)
    hts = voice.name.endswith("_hts")
    cmd = f"(voice_{voice.name})"
    if hts:
        # HTS: speed via hts_engine "-r"; pitch handled by resampling below.
        cmd += (
            f"(set! hts_engine_params (append {voice.name}::hts_engine_params "
            f'(list (list "-r" {voice.rate / voice.pitch:.3f}))))'
        )
    else:
        # Diphone voices: voice defaults are Duration_Stretch 1.1 and F0 mean 105 Hz.
        cmd += (
            f"(Parameter.set 'Duration_Stretch {1.1 / voice.rate:.3f})"
            f"(set! int_lr_params (cons (list 'target_f0_mean {105 * voice.pitch:.1f}) "
            f"(cdr int_lr_params)))"
        )
    if os.path.exists(out):
        os.remove(out)
    cmd += f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{out}" \'riff)'
    log = _festival_session().run(cmd)
    if not os.path.exists(out):
        raise TTSError(f"festival produced no audio: {log[-300:]}")
    with open(out, "rb") as fh:
        audio, sr = parse_wav(fh.read())
    if hts and voice.pitch != 1.0:
        sr = sr * voice.pitch  # play back faster/slower: pitch x p, tempo restored by -r above
    return audio, sr


_SYNTH = {"espeak-ng": _espeak, "flite": _flite, "festival": _festival, "mbrola": _mbrola, "pico": _pico}


def synthesize(voice: Voice, text: str) -> np.ndarray:
    """Speak ``text`` with ``voice``: float32 mono 16 kHz, edges trimmed to ~150 ms.

    Raises :class:`TTSUnavailable` if the engine is missing and
    :class:`TTSError` if it fails on this input.
    """
    require_engine(voice.engine)
    if not text.strip():
        raise ValueError("empty text")
    audio, sr = _SYNTH[voice.engine](voice, text)
    audio = trim_silence(_to_16k(audio, sr))
    if audio.size == 0:
        raise TTSError(f"{voice.key} produced silence for {text[:60]!r}")
    peak = float(np.abs(audio).max())
    if peak > 0.999:  # keep int16 storage clip-free
        audio = audio * (0.999 / peak)
    return audio.astype(np.float32, copy=False)
