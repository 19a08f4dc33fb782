"""Window planning: which frames each forward pass sees and which of its outputs are kept.

Frame ``k`` of a SEW model covers samples ``[k * stride, k * stride + field)`` (stride 320,
field 400 for the standard conv stack). A window of frames ``[start, end)`` therefore
needs samples ``[start * stride, (end - 1) * stride + field)``, and its output frame ``j``
is global frame ``start + j``.

Every window keeps (``emits``) only its centre: ``left`` frames of context before it and
``right`` frames after it are computed and thrown away, because self-attention needs
context on both sides. Starts are rounded down to the squeeze factor so the pooling pairs
of every window line up with those of a whole-utterance pass.

All positions are functions of the audio alone (never of arrival times), which is what
makes streaming output independent of pacing and push sizes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Geometry:
    stride: int = 320
    field: int = 400
    squeeze: int = 2
    sample_rate: int = 16000

    @classmethod
    def of(cls, config) -> Geometry:
        return cls(config.inputs_to_logits_ratio, config.receptive_field, config.squeeze_factor)

    def frames_in(self, num_samples: int) -> int:
        """Whole frames in the first ``num_samples`` samples."""
        return 0 if num_samples < self.field else (num_samples - self.field) // self.stride + 1

    def sample_span(self, start: int, end: int) -> tuple[int, int]:
        """Samples needed to compute frames ``[start, end)``."""
        return start * self.stride, (end - 1) * self.stride + self.field

    def seconds(self, frame: int) -> float:
        return frame * self.stride / self.sample_rate

    def frames(self, seconds: float) -> int:
        return round(seconds * self.sample_rate / self.stride)


@dataclass(frozen=True)
class Window:
    start: int        # first frame computed
    end: int          # one past the last frame computed
    emit_start: int   # frames [emit_start, emit_end) are kept
    emit_end: int
    kind: str         # "stable": committed output | "partial": provisional tail, redone later

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class WindowSettings:
    """Window sizes in frames (multiples of the squeeze factor)."""

    chunk: int           # frames emitted per stable window (the hop)
    left: int            # context frames before the emitted chunk
    right: int           # context frames after it (look-ahead, adds latency)
    partial_every: int   # a provisional tail window per this many new frames (0: never)
    partial_left: int = 0  # context frames before a provisional window's new frames
    partial_overlap: int = 0  # frames of the previous provisional window each one emits again

    @classmethod
    def from_seconds(cls, geometry: Geometry, chunk_s: float, left_s: float, right_s: float,
                     partial_every_s: float, partial_left_s: float = 0.0,
                     partial_overlap_s: float = 0.0) -> WindowSettings:
        s = geometry.squeeze

        def frames(seconds: float, minimum: int) -> int:
            return max(minimum, round(geometry.frames(seconds) / s) * s)

        return cls(frames(chunk_s, s), frames(left_s, 0), frames(right_s, 0),
                   frames(partial_every_s, 0) if partial_every_s > 0 else 0, frames(partial_left_s, 0),
                   frames(partial_overlap_s, 0))


class Planner:
    """Turns 'frames available so far' into windows, keeping track of what was emitted."""

    def __init__(self, settings: WindowSettings, squeeze: int) -> None:
        self.settings, self.squeeze = settings, squeeze
        self.next_emit = 0          # first frame not yet covered by a stable window
        self.last_partial_at = 0    # frames available when the last partial window was planned

    def _start(self, emit_start: int) -> int:
        start = max(0, emit_start - self.settings.left)
        return start - start % self.squeeze

    def stable(self, available: int) -> list[Window]:
        """Every full stable window the available frames allow."""
        s, out = self.settings, []
        while self.next_emit + s.chunk + s.right <= available:
            e = self.next_emit
            out.append(Window(self._start(e), e + s.chunk + s.right, e, e + s.chunk, "stable"))
            self.next_emit = e + s.chunk
        return out

    def close(self, at: int) -> Window | None:
        """A stable window emitting everything up to frame ``at`` (an endpoint, finalize, end)."""
        if at <= self.next_emit:
            return None
        e, self.next_emit = self.next_emit, at
        return Window(self._start(e), at, e, at, "stable")

    def partial(self, available: int, covered: int = 0) -> Window | None:
        """A provisional window over the newest frames not yet covered (by stable output or
        by earlier provisional windows, up to ``covered``), ending on a multiple of
        ``partial_every`` frames so that it, too, depends on the audio only. Each provisional
        window sees ``partial_left`` frames of context: cheap, low latency, redone properly
        by the stable window later. It also emits again the last ``partial_overlap`` frames
        of the previous one: a window's last frames have no right context and come out
        unsure; one block later they sit inside a window and come out as the model means
        them, instead of waiting seconds for the stable window."""
        every = self.settings.partial_every
        if not every:
            return None
        point = available - available % every
        emit_start = max(self.next_emit, covered - self.settings.partial_overlap)
        if point <= max(self.last_partial_at, emit_start):
            return None
        self.last_partial_at = point
        start = max(0, emit_start - self.settings.partial_left)
        return Window(start - start % self.squeeze, point, emit_start, point, "partial")
