import io
import sys

from sewstream.progress import LOG_INTERVAL_S, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_file_gets_rare_updates(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    bar = progress_bar(range(3), desc="x")
    assert bar.mininterval == LOG_INTERVAL_S and not bar.dynamic_ncols
    assert list(bar) == [0, 1, 2]  # still an iterable wrapper
    assert "x" in sys.stderr.getvalue()  # and it does write to stderr


def test_terminal_gets_a_live_bar_and_callers_may_override(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress_bar(total=3).mininterval == 1.0
    assert progress_bar(total=3, mininterval=5.0).mininterval == 5.0
