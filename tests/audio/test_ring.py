"""Tests for sewstream.audio.ring.RingBuffer: integrity, drops, positions, threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from sewstream.audio.ring import RingBuffer


def ramp(start: int, n: int) -> np.ndarray:
    """Samples whose value is their stream index (exact in float32 below 2**24)."""
    return np.arange(start, start + n, dtype=np.float32)


def check_invariant(rb: RingBuffer) -> None:
    s = rb.stats()
    assert s["total_written"] == s["total_read"] + s["available"] + s["dropped_samples"] + s["gap_samples"]


# ---------------------------------------------------------------- basics


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        RingBuffer(0)
    with pytest.raises(ValueError):
        RingBuffer(10, overflow="drop_everything")  # type: ignore[arg-type]
    rb = RingBuffer(10)
    with pytest.raises(ValueError):
        rb.read_exact(11)
    with pytest.raises(ValueError):
        rb.read_exact(0)


def test_write_casts_and_flattens() -> None:
    rb = RingBuffer(8)
    assert rb.write(np.array([[1, 2], [3, 4]], dtype=np.int64)) == 4
    out = rb.read(10)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [1, 2, 3, 4])
    assert rb.read(3).size == 0


def test_wraparound_integrity_against_reference() -> None:
    rng = np.random.default_rng(0)
    rb = RingBuffer(97)  # prime capacity: boundaries land everywhere
    reference: list[float] = []
    got: list[np.ndarray] = []
    nxt = 0
    for _ in range(3000):
        k = int(rng.integers(0, rb.free + 1))
        rb.write(ramp(nxt, k))
        reference.extend(range(nxt, nxt + k))
        nxt += k
        got.append(rb.read(int(rng.integers(0, 60))))
        check_invariant(rb)
    got.append(rb.read(rb.capacity))
    out = np.concatenate(got)
    np.testing.assert_array_equal(out, np.asarray(reference, dtype=np.float32))
    assert nxt > 20 * rb.capacity  # really crossed the end many times
    assert rb.dropped_samples == 0 and rb.overflow_events == 0
    assert rb.total_read == rb.total_written == nxt


# ---------------------------------------------------------------- overflow


def test_drop_oldest_accounting_and_positions() -> None:
    rb = RingBuffer(10, overflow="drop_oldest")
    assert rb.write(ramp(0, 6)) == 6
    assert rb.write(ramp(6, 7)) == 7  # 3 oldest (0, 1, 2) evicted
    assert rb.dropped_samples == 3 and rb.overflow_events == 1
    assert rb.available == 10
    start, x = rb.read_with_position(4)
    assert start == 3
    np.testing.assert_array_equal(x, ramp(3, 4))
    # Another overflow while the reader lags: the reader sees a jump.
    assert rb.write(ramp(13, 9)) == 9  # 6 stored + 9 = 15 > 10 -> drop 5 (7..11)
    assert rb.dropped_samples == 8 and rb.overflow_events == 2
    start, x = rb.read_with_position(100)
    assert start == 12
    np.testing.assert_array_equal(x, ramp(12, 10))
    assert rb.read_index == 22 == rb.total_written
    check_invariant(rb)


def test_drop_newest_accounting_and_positions() -> None:
    rb = RingBuffer(10, overflow="drop_newest")
    assert rb.write(ramp(0, 6)) == 6
    assert rb.write(ramp(6, 7)) == 4  # 10, 11, 12 rejected
    assert rb.write(ramp(13, 2)) == 0  # full: all rejected
    assert rb.dropped_samples == 5 and rb.overflow_events == 2
    np.testing.assert_array_equal(rb.read(3), ramp(0, 3))
    assert rb.write(ramp(15, 2)) == 2  # stored after a hole (10..14 lost)
    start, x = rb.read_with_position(100)  # stops at the hole
    assert start == 3
    np.testing.assert_array_equal(x, ramp(3, 7))
    start, x = rb.read_with_position(100)
    assert start == 15
    np.testing.assert_array_equal(x, ramp(15, 2))
    check_invariant(rb)


def test_read_exact_with_position_stops_at_hole() -> None:
    rb = RingBuffer(8, overflow="drop_newest")
    rb.write(ramp(0, 8))
    rb.write(ramp(8, 4))  # rejected
    rb.read(2)
    rb.write(ramp(12, 2))
    res = rb.read_exact_with_position(8, timeout=0)
    assert res is not None
    start, x = res
    assert start == 2
    np.testing.assert_array_equal(x, ramp(2, 6))
    res = rb.read_exact_with_position(2, timeout=0)
    assert res is not None and res[0] == 12
    np.testing.assert_array_equal(res[1], ramp(12, 2))


def test_skip_declares_upstream_gap() -> None:
    rb = RingBuffer(16)
    rb.write(ramp(0, 4))
    rb.skip(3)
    rb.write(ramp(7, 4))
    assert rb.gap_samples == 3 and rb.dropped_samples == 0
    assert rb.read_with_position(100)[0] == 0
    start, x = rb.read_with_position(100)
    assert start == 7
    np.testing.assert_array_equal(x, ramp(7, 4))
    check_invariant(rb)
    # Skip while empty: the next write starts after the gap.
    rb.skip(5)
    rb.write(ramp(16, 1))
    assert rb.read_with_position(1)[0] == 16


@pytest.mark.parametrize("prefill", [0, 5])
def test_write_larger_than_capacity_drop_oldest(prefill: int) -> None:
    rb = RingBuffer(10, overflow="drop_oldest")
    rb.write(ramp(0, prefill))
    assert rb.write(ramp(prefill, 25)) == 10  # newest 10 kept
    assert rb.dropped_samples == prefill + 15
    assert rb.overflow_events == 1
    start, x = rb.read_with_position(100)
    assert start == prefill + 15
    np.testing.assert_array_equal(x, ramp(prefill + 15, 10))
    check_invariant(rb)


def test_write_larger_than_capacity_drop_newest_keeps_first() -> None:
    rb = RingBuffer(10, overflow="drop_newest")
    assert rb.write(ramp(0, 25)) == 10
    assert rb.dropped_samples == 15
    np.testing.assert_array_equal(rb.read(100), ramp(0, 10))


def test_blocking_write_passes_oversized_chunk_without_loss() -> None:
    rb = RingBuffer(16)
    data = ramp(0, 1000)
    got: list[np.ndarray] = []

    def reader() -> None:
        while (x := rb.read_exact(7, timeout=5)) is not None:
            got.append(x)

    t = threading.Thread(target=reader)
    t.start()
    assert rb.write(data, block=True, timeout=5) == 1000
    rb.close()
    t.join(5)
    np.testing.assert_array_equal(np.concatenate(got), data)
    assert rb.dropped_samples == 0


def test_blocking_write_timeout_counts_only_stored() -> None:
    rb = RingBuffer(10)
    t0 = time.monotonic()
    assert rb.write(ramp(0, 15), block=True, timeout=0.05) == 10
    assert time.monotonic() - t0 >= 0.04
    assert rb.total_written == 10 and rb.dropped_samples == 0


# ---------------------------------------------------------------- close / EOF


def test_close_drain_then_eof() -> None:
    rb = RingBuffer(32)
    rb.write(ramp(0, 10))
    rb.close()
    assert rb.write(ramp(10, 5)) == 0  # closed: nothing stored
    assert not rb.eof
    np.testing.assert_array_equal(rb.read_exact(4), ramp(0, 4))
    np.testing.assert_array_equal(rb.read_exact(8), ramp(4, 6))  # short remainder
    assert rb.eof
    assert rb.read_exact(4) is None  # no hang: returns immediately at EOF
    assert rb.read_exact_with_position(4) is None
    assert rb.wait_available(1) is False


def test_read_exact_timeout_returns_none() -> None:
    rb = RingBuffer(32)
    rb.write(ramp(0, 3))
    t0 = time.monotonic()
    assert rb.read_exact(4, timeout=0.05) is None
    assert time.monotonic() - t0 >= 0.04
    assert rb.available == 3  # nothing consumed on timeout


def test_close_wakes_blocked_reader_and_writer() -> None:
    rb = RingBuffer(4)
    results: dict[str, object] = {}

    def reader() -> None:
        results["read"] = rb.read_exact(4)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.05)
    rb.close()
    t.join(2)
    assert not t.is_alive() and results["read"] is None

    rb2 = RingBuffer(4)
    rb2.write(ramp(0, 4))

    def writer() -> None:
        results["wrote"] = rb2.write(ramp(4, 4), block=True)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.05)
    rb2.close()
    t.join(2)
    assert not t.is_alive() and results["wrote"] == 0


# ---------------------------------------------------------------- threads


def test_concurrent_lossless_transfer_in_order() -> None:
    total = 2_000_000
    rb = RingBuffer(1 << 20)  # big enough that a slow consumer never forces a drop
    data = np.arange(total, dtype=np.float64).astype(np.float32)  # exact < 2**24
    chunks: list[np.ndarray] = []

    def producer() -> None:
        rng = np.random.default_rng(1)
        i = 0
        while i < total:
            k = int(rng.integers(1, 8000))
            # The ring is large, but blocking makes "never drop" a guarantee.
            assert rb.write(data[i : i + k], block=True) == min(k, total - i)
            i += k
        rb.close()

    def consumer() -> None:
        rng = np.random.default_rng(2)
        while True:
            if rng.random() < 0.5:
                x = rb.read_exact(int(rng.integers(1, 5000)), timeout=5)
                if x is None:
                    break
            else:
                x = rb.read(int(rng.integers(1, 9000)))
                if x.size == 0:
                    if rb.eof:
                        break
                    time.sleep(0.0002)
            chunks.append(x)

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    out = np.concatenate(chunks)
    assert out.shape[0] == total  # no loss, no duplicates
    np.testing.assert_array_equal(out, data)  # in order
    assert rb.dropped_samples == 0 and rb.total_read == total


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_concurrent_with_drops_exact_accounting(policy: str) -> None:
    """A slow consumer on a small ring: every sample is either read once or dropped."""
    total = 400_000
    rb = RingBuffer(4096, overflow=policy)  # type: ignore[arg-type]
    data = np.arange(total, dtype=np.float32)
    positions: list[tuple[int, np.ndarray]] = []

    def producer() -> None:
        rng = np.random.default_rng(3)
        i = 0
        while i < total:
            k = int(rng.integers(1, 3000))
            rb.write(data[i : i + k])
            i += k
        rb.close()

    def consumer() -> None:
        rng = np.random.default_rng(4)
        while not rb.eof:
            positions.append(rb.read_with_position(int(rng.integers(1, 700))))
            time.sleep(0.00005)

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    got = [(s, x) for s, x in positions if x.size]
    for start, x in got:  # reported positions are exactly the stream indices
        np.testing.assert_array_equal(x, np.arange(start, start + x.size, dtype=np.float32))
    idx = np.concatenate([x for _, x in got]).astype(np.int64)
    assert np.all(np.diff(idx) > 0)  # in order, no duplicates
    assert rb.dropped_samples > 0 and rb.overflow_events > 0  # it really had to drop
    assert idx.size + rb.dropped_samples == total == rb.total_written
    assert rb.total_read == idx.size
