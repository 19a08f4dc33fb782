"""Endpointing: where utterances start and end, from signal energy and CTC blank runs.

Energy is known as soon as audio arrives, so it gives early, cheap decisions: speech
onset (``speech_started``) and trailing silence after speech (the usual end of an
utterance). CTC output arrives later but sees through steady noise: a long run of blank
frames after text also ends an utterance. A maximum length forces a cut at the longest
recent blank run. Every decision is a function of the audio alone, never of timing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EndpointSettings:
    trailing_silence_s: float = 0.6   # silence after speech that ends an utterance
    blank_run_s: float = 1.2          # CTC blanks after text that end an utterance (noisy input)
    max_utterance_s: float = 20.0     # force a cut (at the longest recent blank run)
    no_speech_timeout_s: float = 0.0  # emit utterance_end(reason=no_speech) after this much silence (0: off)
    min_speech_s: float = 0.1         # energy above threshold this long = speech onset
    speech_snr_db: float = 12.0       # speech: this far above the tracked noise floor ...
    min_speech_dbfs: float = -55.0    # ... and above this absolute level
    floor_rise_db_per_s: float = 2.0  # the noise floor creeps up this fast (falls at once)


class EnergyVAD:
    """Per-frame speech/silence from energy against a tracked noise floor."""

    def __init__(self, settings: EndpointSettings, frame_seconds: float) -> None:
        self.s, self.frame_seconds = settings, frame_seconds
        self.floor = None
        self.rise = settings.floor_rise_db_per_s * frame_seconds
        self.onset_frames = max(1, round(settings.min_speech_s / frame_seconds))
        self.loud_run = 0

    def update(self, energy_db: float) -> bool:
        """True if this frame is loud enough to be speech."""
        self.floor = energy_db if self.floor is None else min(energy_db, self.floor + self.rise)
        threshold = max(self.floor + self.s.speech_snr_db, self.s.min_speech_dbfs)
        return energy_db > threshold


class Endpointer:
    """Feeds on per-frame energy (early) and stable CTC frames (late); says where to cut."""

    def __init__(self, settings: EndpointSettings, frame_seconds: float) -> None:
        self.s, self.frame_seconds = settings, frame_seconds
        self.vad = EnergyVAD(settings, frame_seconds)
        self.frames = lambda seconds: max(1, round(seconds / frame_seconds))
        self.in_speech = False      # an utterance is open (energy onset seen, no endpoint yet)
        self.loud_run = 0
        self.quiet_run = 0
        self.utterance_start = 0    # frame where the open utterance's audio begins
        self.last_end = 0           # frame of the last endpoint
        self.energy_frames = 0      # frames of energy seen
        self.onset_frame: int | None = None

    # ------------------------------------------------------------- energy side
    def on_energy(self, frame: int, energy_db: float) -> tuple[str, int] | None:
        """One frame's energy; returns ("speech_started", frame) or ("silence", frame) or None."""
        self.energy_frames = frame + 1
        loud = self.vad.update(energy_db)
        self.loud_run = self.loud_run + 1 if loud else 0
        self.quiet_run = 0 if loud else self.quiet_run + 1
        if not self.in_speech:
            if self.loud_run >= self.vad.onset_frames:
                self.in_speech = True
                self.onset_frame = frame - self.loud_run + 1
                return "speech_started", self.onset_frame
            if self.s.no_speech_timeout_s and frame + 1 - self.last_end >= self.frames(self.s.no_speech_timeout_s):
                self.last_end = frame + 1
                return "no_speech", frame + 1
            return None
        if self.quiet_run >= self.frames(self.s.trailing_silence_s):
            return "silence", frame + 1
        return None

    def ended(self, at: int) -> None:
        """An endpoint was taken at frame ``at`` (for whatever reason)."""
        self.in_speech = False
        self.last_end = at
        self.onset_frame = None
        self.quiet_run = 0
        self.loud_run = 0

    # ---------------------------------------------------------------- CTC side
    def blank_run_end(self, ids: np.ndarray, first_frame: int, blank: int, had_text: bool) -> int | None:
        """Frame at which a run of >= blank_run_s blanks after text completes, if any."""
        need = self.frames(self.s.blank_run_s)
        run, seen_text = 0, had_text
        for j, token in enumerate(ids):
            if token == blank:
                run += 1
                if seen_text and run >= need:
                    return first_frame + j + 1
            else:
                run, seen_text = 0, True
        return None

    def max_length_cut(self, ids: np.ndarray, first_frame: int, blank: int) -> int:
        """Where to cut an utterance that reached the maximum length: the end of the longest
        blank run in the last third of the allowed length (so a word is not split), else at
        the limit itself."""
        limit = self.frames(self.s.max_utterance_s)
        lo = limit * 2 // 3
        best, best_end, run = 0, limit, 0
        for j in range(lo, min(limit, len(ids))):
            run = run + 1 if ids[j] == blank else 0
            if run > best:
                best, best_end = run, j + 1
        return first_frame + best_end
