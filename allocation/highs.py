"""One place that makes HiGHS instances, quiet.

The first `highspy.Highs()` of a process prints HiGHS's banner to stdout from C++, before any
option can be set; it landed in the middle of `allocast allocate`'s summary and would corrupt any
output piped from stdout. The banner comes once per process, so only the first construction runs
with file descriptor 1 pointed at /dev/null (under a lock: threads of the service may race here).
"""

from __future__ import annotations

import os
import sys
import threading

import highspy

__all__ = ["quiet_highs"]

_first = threading.Lock()
_bannered = False


def quiet_highs(threads: int = 1) -> highspy.Highs:
    """A HiGHS instance that logs nothing, on `threads` threads."""
    global _bannered
    if not _bannered:
        with _first:
            if not _bannered:
                _construct_silently()
                _bannered = True
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", threads)
    return highs


def _construct_silently() -> None:
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
