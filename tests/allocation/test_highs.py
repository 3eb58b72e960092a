"""HiGHS instances print nothing: stdout stays the caller's (summaries, piped JSON)."""

from __future__ import annotations

import subprocess
import sys


def test_first_highs_of_a_process_prints_no_banner() -> None:
    code = (
        "from allocation.highs import quiet_highs\n"
        "print('before')\n"
        "h = quiet_highs()\n"
        "quiet_highs(threads=2)\n"
        "print('after', h.getOptionValue('output_flag')[1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == "before\nafter False\n"
