"""The walkthrough notebook (jupytext percent format) runs end to end as a script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_walkthrough_runs_and_writes_its_figure_and_plan(repo_root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ALLOCAST_NOTEBOOK_OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(repo_root / "notebooks" / "walkthrough.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "forecasts.png").stat().st_size > 10_000
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert plan["status"] == "optimal"
    assert "Ensemble" in result.stdout
    assert "stockout_risk" in result.stdout or "overstock" in result.stdout
