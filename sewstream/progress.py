"""Progress bars for long work: tqdm on stderr, redrawn often on a terminal and rarely in a log.

Redirected to a file, tqdm's default (a redraw every 0.1 s) turns an hour-long job's log into
megabytes of bar; there one update every 30 s is enough to see that it moves and how fast.
"""

from __future__ import annotations

import sys

LOG_INTERVAL_S = 30.0


def progress_bar(iterable=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` on stderr with the redraw interval suited to where it goes."""
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 1.0 if tty else LOG_INTERVAL_S)
    kwargs.setdefault("dynamic_ncols", tty)
    return tqdm(iterable, file=sys.stderr, **kwargs)
