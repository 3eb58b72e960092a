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
import numpy as np

__all__ = ["fit_tolerance", "quiet_highs"]

DEFAULT_FEASIBILITY = 1e-7  # HiGHS's primal feasibility tolerance (absolute)
ULPS = 8  # units in the last place of the largest bound a row may miss it by

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


def fit_tolerance(highs: highspy.Highs, *bounds: np.ndarray) -> None:
    """Set HiGHS's primal feasibility tolerance to what the model's numbers can express: its
    default 1e-7, or ULPS units in the last place of the largest finite bound where that is
    coarser. A double holds 1e10 only to 1.9e-6, so a warehouse row summing ten SKUs of 1e9
    units cannot be met to 1e-7: HiGHS called a plan of valid stock infeasible (helper-47).
    Models of everyday sizes (bounds below 2**26, about 6.7e7) keep the default."""
    largest = 0.0
    for given in bounds:
        values = np.asarray(given, dtype=float)
        finite = np.abs(values[np.isfinite(values) & (np.abs(values) < highspy.kHighsInf)])
        if len(finite):
            largest = max(largest, float(finite.max()))
    tolerance = max(DEFAULT_FEASIBILITY, ULPS * float(np.spacing(largest)))
    highs.setOptionValue("primal_feasibility_tolerance", tolerance)
