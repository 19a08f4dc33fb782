"""The pump between a live source's ring buffer and a stream."""

from __future__ import annotations

import numpy as np

from sewstream.audio.ring import RingBuffer
from sewstream.stream.pump import Pump


def test_pump_moves_audio_fills_gaps_and_ends_the_stream(recognizer):
    ring = RingBuffer(16000, overflow="drop_oldest")
    stream = recognizer.stream()
    ring.write(np.full(8000, 0.1, np.float32))
    ring.write(np.full(20000, 0.2, np.float32))  # overflows: the oldest 12000 samples are dropped
    ring.close()
    pump = Pump(ring, stream).start()
    assert pump.join(10)
    assert stream.ended and stream.wait(10)
    assert stream.total_samples == 28000  # the timeline kept its length ...
    assert pump.gap_samples == 12000      # ... and the gap is counted
    assert pump.error is None
