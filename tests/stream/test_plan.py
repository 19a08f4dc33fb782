"""Window geometry: frames line up with the conv stack, emitted regions tile the stream."""

from __future__ import annotations

import pytest

from sewstream.model import SEWConfig
from sewstream.stream.plan import Geometry, Planner, WindowSettings


def test_geometry_matches_the_conv_length_formula():
    config = SEWConfig()
    g = Geometry.of(config)
    assert (g.stride, g.field, g.squeeze) == (320, 400, 2)
    for n in (0, 399, 400, 719, 720, 16000, 16080, 123457):
        assert g.frames_in(n) == config.num_frames(n)
    lo, hi = g.sample_span(10, 20)
    assert (lo, hi) == (3200, 19 * 320 + 400) and g.frames_in(hi - lo) == 10


@pytest.mark.parametrize("chunk,left,right", [(1.0, 0.5, 0.2), (2.0, 1.6, 0.6), (0.5, 0.0, 0.0)])
def test_stable_windows_tile_the_stream(chunk, left, right):
    g = Geometry()
    s = WindowSettings.from_seconds(g, chunk, left, right, 0.24)
    planner = Planner(s, g.squeeze)
    windows = []
    for available in range(0, 2000, 7):  # frames trickle in
        windows += planner.stable(available)
    windows.append(planner.close(2000))
    emitted = [(w.emit_start, w.emit_end) for w in windows]
    assert emitted[0][0] == 0 and emitted[-1][1] == 2000
    assert all(a[1] == b[0] for a, b in zip(emitted, emitted[1:]))  # no gap, no overlap
    for w in windows:
        assert w.start % g.squeeze == 0  # pooling pairs line up with a whole-utterance pass
        assert w.start <= w.emit_start and w.emit_end <= w.end
        assert w.emit_start - w.start <= s.left + g.squeeze - 1
    for w in windows[:-1]:
        assert w.end - w.emit_end == s.right and w.emit_end - w.emit_start == s.chunk


def test_windows_depend_on_audio_not_on_arrival():
    g = Geometry()
    s = WindowSettings.from_seconds(g, 1.0, 0.6, 0.2, 0.24)
    a, b = Planner(s, 2), Planner(s, 2)
    wa = [w for n in range(0, 900, 1) for w in a.stable(n)]
    wb = [w for n in (13, 400, 899) for w in b.stable(n)]
    assert wa == wb


def test_partial_windows_end_on_their_grid_and_never_repeat():
    g = Geometry()
    s = WindowSettings.from_seconds(g, 2.0, 1.0, 0.4, 0.24)
    planner = Planner(s, 2)
    ends = []
    for available in range(1, 400):
        w = planner.partial(available)
        if w is not None:
            assert w.kind == "partial" and w.end % s.partial_every == 0 and w.emit_start == planner.next_emit
            ends.append(w.end)
    assert ends == sorted(set(ends)) and len(ends) == 399 // s.partial_every


def test_close_is_idempotent_and_zero_partial_interval_disables_partials():
    planner = Planner(WindowSettings(chunk=10, left=4, right=2, partial_every=0), 2)
    assert planner.partial(100) is None
    w = planner.close(7)
    assert (w.start, w.end, w.emit_start, w.emit_end) == (0, 7, 0, 7)
    assert planner.close(7) is None and planner.close(5) is None


def test_partial_windows_cover_only_new_frames_with_short_context():
    g = Geometry()
    s = WindowSettings.from_seconds(g, 2.0, 1.6, 0.6, 0.24, partial_left_s=0.4)
    planner = Planner(s, 2)
    first = planner.partial(60, covered=0)
    assert (first.emit_start, first.end) == (0, 60)
    second = planner.partial(84, covered=first.end)  # only the frames the first did not cover
    assert (second.start, second.emit_start, second.end) == (60 - s.partial_left, 60, 84)
    planner.stable(200)  # stable output moved past both
    third = planner.partial(204, covered=second.end)
    assert third.emit_start == planner.next_emit and third.end == 204


def test_partial_overlap_redoes_the_previous_windows_end_but_never_stable_frames():
    g = Geometry()
    s = WindowSettings.from_seconds(g, 2.0, 1.6, 0.6, 0.16, partial_left_s=0.4, partial_overlap_s=0.16)
    assert s.partial_overlap == 8
    planner = Planner(s, 2)
    first = planner.partial(40, covered=0)
    second = planner.partial(48, covered=first.end)
    assert (second.emit_start, second.end) == (32, 48)           # the last 8 frames of the first again
    assert second.start == 32 - s.partial_left
    assert planner.partial(48, covered=second.end) is None        # nothing new: no window
    planner.stable(200)
    third = planner.partial(208, covered=planner.next_emit + 4)
    assert third.emit_start == planner.next_emit                  # overlap never reaches committed frames
